"""resnet50 — torchvision ResNet-50 under MLPerf LoadGen (`mlcommons-loadgen`, `import mlperf_loadgen`).

Scenarios Offline, Server, SingleStream and MultiStream. LoadGen issues the queries, times them and judges validity;
the result's metrics are LoadGen's own figures, read from `mlperf_log_detail.txt` (validity, samples/s, latency
percentiles, early stopping). Logs go to `<artifacts>/resnet50/<scenario>[_b<N>]/`.

Settings. `rules=mlperf` applies the MLPerf rules (600 s, 24,576 Offline samples, Server p99 ≤ 15 ms, ...) from
`resnet50_mlperf.conf` (LoadGen's mlperf.conf lines for resnet50) plus the user.conf that the run writes (targets,
then the lines of `user_conf` if given), through `TestSettings.FromConfig`. `rules=smoke` does the same with shorter
durations and query counts written into that user.conf — LoadGen still judges the run, and a run that misses a rule
says INVALID. LoadGen 6.0.17 keeps process-wide state in FromConfig: a second call in one process logs
`error_invalid_config: Multiple conf files are used` into the next test's log and no longer applies the built-in
rules. A process that runs several LoadGen tests therefore calls FromConfig once (its first test); later tests get
the same resolution of the same two files from `resolve_conf` (LoadGen's lookup order, checked against FromConfig in
the tests), set field by field. `config.loadgen.settings_source` says which happened.

Targets that LoadGen needs to size a run (Offline expected QPS, SingleStream/MultiStream expected latency) are
measured in a short calibration before the test unless given, with 1.5× headroom (LoadGen ends an Offline run that
beats its expected QPS before min_duration, and a SingleStream run faster than expected runs out of queries).
Server's target QPS is a parameter (0: half the calibrated throughput), and an untimed warm-up Server run goes first.
A stray `audit.config` in the working directory would silently change the settings: the run
refuses it unless `allow_audit_config` is set.

The SUT answers each sample with its predicted class as one float32 (4 bytes), as MLPerf's reference does.
Offline and Server go through a worker thread that keeps two batches in flight (copy/compute of one overlaps the
response handling of the other); Server batches greedily whatever queries are waiting, up to `batch_size`.
SingleStream and MultiStream run inline in LoadGen's issue call (one query in flight by definition).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import non_negative, positive
from bench.errors import ConfigError
from bench.workloads.base import Measurement, WorkloadContext

if TYPE_CHECKING:
    from bench.metrics.overhead import MetricKind

MODEL_NAME = "resnet50"
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
RULES_FILE = Path(__file__).with_name("resnet50_mlperf.conf")
RESPONSE_BYTES = 4  # one float32: the predicted class index
HEADROOM = 1.5  # calibrated targets assume the run may be this much faster than the short calibration
# What an overhead comparison (`bench compare`) holds a candidate to, per scenario: LoadGen's samples/s (higher is
# better) and, where LoadGen judges latency, its figure in ms (lower is better): Server's p99, and the early-stopping
# estimate for SingleStream (of the p90) and MultiStream (of the p99) — the percentile MLPerf reports there. A run
# that misses early stopping has no early_stopping_latency_ms and counts as invalid in the comparison.
OVERHEAD_METRICS: dict[str, dict[str, MetricKind]] = {
    "Offline": {"samples_per_s": "throughput"},
    "Server": {"samples_per_s": "throughput", "latency_p99_ms": "latency"},
    "SingleStream": {"early_stopping_latency_ms": "latency"},
    "MultiStream": {"early_stopping_latency_ms": "latency"},
}


@dataclass(frozen=True)
class Params:
    rules: str = "smoke"  # smoke: short durations below; mlperf: the MLPerf rules (600 s per scenario)
    mode: str = "performance"  # performance | accuracy (needs `dataset`)
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (fp16 on cuda, fp32 on cpu) | fp32 | fp16 | bf16
    compile: str = "auto"  # auto (on for cuda) | on | off — torch.compile default mode
    cuda_graphs: str = "auto"  # auto (on for cuda) | off — batch buckets ≤ graph_max_batch
    graph_max_batch: int = positive(1024)
    freezing: str = "auto"  # auto (on with torch.compile) | on | off — inductor freezing: conv+bn folded
    input_location: str = "device"  # cuda: device (QSL loads samples into GPU memory) | host (pinned)
    batch_size: int = positive(32)  # Offline batch
    server_batch_size: int = non_negative(0)  # Server's largest batch (0: batch_size)
    offline_batch_sizes: str = ""  # e.g. "1,8,32,1024": one Offline test per size; metrics of each as
    # <metric>_b<N>, the others those of the last size, except result_valid: 1 only when every size was VALID
    server_batch_buckets: str = ""  # Server's compiled batch sizes (default: powers of two up to batch_size)
    server_target_qps: float = 0.0  # 0: half the calibrated throughput
    offline_target_qps: float = 0.0  # 0: calibrated
    expected_latency_ms: float = 0.0  # SingleStream / MultiStream; 0: calibrated
    server_target_latency_ms: float = 0.0  # 0: the rules' 15 ms; other values make the run non-MLPerf
    server_coalesce: bool = False  # LoadGen's server_coalesce_queries: one issue call for queries due together
    server_warmup_ms: int = non_negative(2000)  # an untimed LoadGen Server run first (the first one has tails)
    min_duration_ms: int = non_negative(2000)  # smoke rules only
    min_query_count: int = non_negative(32)  # smoke rules only (Offline: samples)
    performance_samples: int = positive(1024)
    total_samples: int = positive(1024)  # synthetic: how many distinct images; ImageNet: first N of val_map
    calibration_batches: int = positive(3)
    user_conf: str = ""  # a user.conf whose lines are applied after the run's own
    dataset: str = ""  # ImageNet validation directory (empty: synthetic images)
    val_map: str = ""  # default: <dataset>/val_map.txt
    weights: str = "auto"  # auto | torchvision | random | PATH
    cpu_threads: int = non_negative(0)  # CPU runs: torch threads (0: torch's default)
    image_size: int = positive(224)  # MLPerf: 224; the CPU tiny profile uses smaller images (same network)
    seed: int = non_negative(0)
    allow_audit_config: bool = False
    enable_trace: bool = False


_CHOICES = {
    "rules": ("smoke", "mlperf"), "mode": ("performance", "accuracy"), "device": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "fp16", "bf16"), "compile": ("auto", "on", "off"),
    "cuda_graphs": ("auto", "off"), "input_location": ("device", "host"), "freezing": ("auto", "on", "off"),
}


def check_params(params: Params) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(params, name)
        if value not in allowed:
            raise ConfigError(f"resnet50: {name} must be one of {', '.join(allowed)}, got {value!r}")
    for name in ("server_target_qps", "offline_target_qps", "expected_latency_ms", "server_target_latency_ms"):
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"resnet50: {name} must be a number ≥ 0, got {value!r}")
    for name in ("allow_audit_config", "enable_trace", "server_coalesce"):
        if not isinstance(getattr(params, name), bool):
            raise ConfigError(f"resnet50: {name} must be true or false, got {getattr(params, name)!r}")
    parse_sizes(params.offline_batch_sizes, "offline_batch_sizes")
    parse_sizes(params.server_batch_buckets, "server_batch_buckets")
    if params.performance_samples > params.total_samples:
        raise ConfigError("resnet50: performance_samples must be ≤ total_samples")
    if params.dataset and params.image_size != 224:
        raise ConfigError("resnet50: ImageNet runs use MLPerf's 224×224 preprocessing: leave image_size at 224")
    if params.mode == "accuracy" and not params.dataset:
        raise ConfigError("resnet50: mode=accuracy needs dataset=DIR (ImageNet validation images + val_map.txt)")


def parse_sizes(text: str, name: str) -> list[int]:
    if not text.strip():
        return []
    try:
        sizes = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise ConfigError(f"resnet50: {name} must be comma-separated integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"resnet50: {name} must be ≥ 1 each, got {text!r}")
    return sizes


# ============================================================================================ LoadGen settings

# conf key -> (TestSettings field, multiplier, scenario the key is looked up under or None for "this scenario")
_CONF_FIELDS: dict[str, tuple[str, float, str | None]] = {
    "min_duration": ("min_duration_ms", 1, None),
    "max_duration": ("max_duration_ms", 1, None),
    "min_query_count": ("min_query_count", 1, None),
    "max_query_count": ("max_query_count", 1, None),
    "performance_sample_count_override": ("performance_sample_count_override", 1, None),
    "qsl_rng_seed": ("qsl_rng_seed", 1, None),
    "sample_index_rng_seed": ("sample_index_rng_seed", 1, None),
    "schedule_rng_seed": ("schedule_rng_seed", 1, None),
    "SingleStream.target_latency_percentile": ("single_stream_target_latency_percentile", 0.01, "SingleStream"),
    "SingleStream.target_latency": ("single_stream_expected_latency_ns", 1e6, "SingleStream"),
    "MultiStream.target_latency_percentile": ("multi_stream_target_latency_percentile", 0.01, "MultiStream"),
    "MultiStream.target_latency": ("multi_stream_expected_latency_ns", 1e6, "MultiStream"),
    "MultiStream.samples_per_query": ("multi_stream_samples_per_query", 1, "MultiStream"),
    "Server.target_latency_percentile": ("server_target_latency_percentile", 0.01, "Server"),
    "Server.target_latency": ("server_target_latency_ns", 1e6, "Server"),
    "Server.target_qps": ("server_target_qps", 1, "Server"),
    "Server.coalesce_queries": ("server_coalesce_queries", 1, "Server"),
    "Offline.target_qps": ("offline_expected_qps", 1, "Offline"),
}
_SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")  # LoadGen ignores them in a user.conf
_FLOAT_FIELDS = {"single_stream_target_latency_percentile", "multi_stream_target_latency_percentile",
                 "server_target_latency_percentile", "server_target_qps", "offline_expected_qps",
                 "single_stream_expected_latency_ns", "multi_stream_expected_latency_ns"}


def parse_conf(text: str, where: str = "conf") -> dict[str, str]:
    """LoadGen's config format: `model.scenario.key = value` lines, `#` comments; values must be numbers."""
    kv: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, value = (p.strip() for p in line.partition("="))
        if not eq or not key or not value or key.count(".") != 2:
            raise ConfigError(f"{where}:{n}: expected 'model.scenario.key = value', got {raw.strip()!r}")
        try:
            float(value) if not value.lower().startswith("0x") else int(value, 16)
        except ValueError:
            raise ConfigError(f"{where}:{n}: value must be a number, got {value!r}") from None
        kv[key] = value
    return kv


def _lookup(kv: dict[str, str], scenario: str, key: str) -> str | None:
    for candidate in (f"{MODEL_NAME}.{scenario}.{key}", f"*.{scenario}.{key}", f"{MODEL_NAME}.*.{key}", f"*.*.{key}"):
        if candidate in kv:
            return kv[candidate]
    return None


def resolve_conf(scenario: str, rules: dict[str, str], user: dict[str, str]) -> dict[str, Any]:
    """TestSettings fields for `scenario`: the rules, then the user.conf (which may not set the seeds)."""
    unknown = sorted({k.split(".", 2)[2] for k in user} - {k.split(".")[-1] for k in _CONF_FIELDS} - {"mode"})
    if unknown:  # LoadGen ignores unknown keys silently (mlcommons/inference#493); say so instead
        raise ConfigError(f"user.conf: unknown key(s) {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    for conf_key, (name, mult, fixed) in _CONF_FIELDS.items():
        key = conf_key.split(".")[-1]
        look_scenario = fixed or scenario
        value = _lookup(rules, look_scenario, key)
        if key not in _SEED_KEYS:
            value = _lookup(user, look_scenario, key) or value
        if value is None:
            continue
        fields[name] = _conf_number(value, mult, name)
    return fields


def _conf_number(value: str, mult: float, name: str) -> Any:
    try:
        exact: int | None = int(value, 0)  # seeds exceed float precision: keep integers exact
    except ValueError:
        exact = None
    if name in _FLOAT_FIELDS:
        return (exact if exact is not None else float(value)) * mult
    if name == "server_coalesce_queries":
        return bool(float(value))
    return exact * int(mult) if exact is not None else int(float(value) * mult)


_FROMCONFIG_USED = False  # LoadGen's FromConfig is process-wide state: once per process (see the module doc)


def build_settings(
    lg: Any, scenario: str, accuracy: bool, user_conf: Path, calibrated: dict[str, float],
) -> tuple[Any, dict[str, Any], str]:
    """The TestSettings for one test, the effective fields, and how they were made."""
    global _FROMCONFIG_USED
    rules = parse_conf(RULES_FILE.read_text(), str(RULES_FILE))
    user = parse_conf(user_conf.read_text(), str(user_conf))
    fields = resolve_conf(scenario, rules, user)
    fields.update(calibrated)  # measured targets, set as user.conf would (with sub-millisecond precision)
    settings = lg.TestSettings()
    source = "resolve_conf (FromConfig already used in this process)"
    if not _FROMCONFIG_USED:
        _FROMCONFIG_USED = True
        rc = settings.FromConfig(str(user_conf), MODEL_NAME, scenario)
        if rc != 0:
            raise ConfigError(f"LoadGen's FromConfig rejected {user_conf} (code {rc})")
        source = "TestSettings.FromConfig(user.conf) over LoadGen's built-in mlperf.conf"
        mismatched = [n for n, v in fields.items() if n not in calibrated and not _same(getattr(settings, n), v)]
        if mismatched:
            raise ConfigError(
                "LoadGen's built-in rules differ from bench/workloads/resnet50_mlperf.conf for "
                + ", ".join(f"{n} ({getattr(settings, n)} vs {fields[n]})" for n in mismatched)
            )
    for name, value in fields.items():
        setattr(settings, name, value)
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.AccuracyOnly if accuracy else lg.TestMode.PerformanceOnly
    return settings, fields, source


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def write_user_conf(path: Path, scenario: str, params: Params, overrides: dict[str, float]) -> str:
    """The run's user.conf: smoke overrides, targets from params, then the user's own file."""
    lines = [f"# written by bench for {MODEL_NAME} {scenario} (rules={params.rules})"]
    if params.rules == "smoke":
        lines.append(f"{MODEL_NAME}.{scenario}.min_duration = {params.min_duration_ms}")
        lines.append(f"{MODEL_NAME}.{scenario}.min_query_count = {params.min_query_count}")
    for key, value in overrides.items():
        lines.append(f"{MODEL_NAME}.{scenario}.{key} = {value:g}")
    if params.user_conf:
        extra = Path(params.user_conf).expanduser()
        if not extra.is_file():
            raise ConfigError(f"resnet50: user_conf {params.user_conf} does not exist")
        parse_conf(extra.read_text(), str(extra))
        lines += [f"# from {extra}", extra.read_text().rstrip()]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def check_audit_config(allow: bool) -> str | None:
    """Refuse a stray audit.config in the working directory (LoadGen would silently apply it)."""
    audit = Path.cwd() / "audit.config"
    if not audit.exists():
        return None
    if not allow:
        raise ConfigError(
            f"{audit} exists: LoadGen would silently override the test settings with it (compliance tests). "
            "Remove it, run from another directory, or set allow_audit_config=true"
        )
    return hashlib.sha256(audit.read_bytes()).hexdigest()


# ============================================================================================ log parsing


def read_detail_log(path: Path) -> dict[str, Any]:
    """`:::MLLOG {json}` lines → {key: value} (last wins) plus `_errors` / `_warnings` (message lists)."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        try:
            entry = json.loads(line[len(":::MLLOG"):])
        except json.JSONDecodeError:
            continue
        key, value = entry.get("key"), entry.get("value")
        values[key] = value
        meta = entry.get("metadata", {})
        if meta.get("is_error"):
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning") and "Logging allocation detected" not in str(value):
            warnings.append(f"{key}: {value}")
    values["_errors"] = errors
    values["_warnings"] = warnings
    return values


_PERCENTILES = {"50.00": "p50", "90.00": "p90", "95.00": "p95", "97.00": "p97", "99.00": "p99", "99.90": "p999"}


def metrics_from_log(log: dict[str, Any], scenario: str) -> dict[str, float]:
    """LoadGen's figures as flat metrics (latencies in ms)."""
    m: dict[str, float] = {}
    if "result_validity" in log:
        m["result_valid"] = 1.0 if log["result_validity"] == "VALID" else 0.0
    for key, name in (("result_min_duration_met", "min_duration_met"), ("result_min_queries_met", "min_queries_met"),
                      ("early_stopping_met", "early_stopping_met"),
                      ("result_perf_constraints_met", "perf_constraints_met")):
        if key in log and isinstance(log[key], bool):
            m[name] = float(log[key])
    if scenario == "Server":
        throughput = log.get("result_completed_samples_per_sec", log.get("result_scheduled_samples_per_sec"))
        if log.get("result_scheduled_samples_per_sec") is not None:
            m["scheduled_samples_per_s"] = float(log["result_scheduled_samples_per_sec"])
    else:
        throughput = log.get("result_samples_per_second")
    if throughput is not None:
        m["samples_per_s"] = float(throughput)
    for key, name in (("result_qps_with_loadgen_overhead", "qps_with_loadgen_overhead"),
                      ("result_qps_without_loadgen_overhead", "qps_without_loadgen_overhead")):
        if key in log:
            m[name] = float(log[key])
    for pct, name in _PERCENTILES.items():
        key = f"result_{pct}_percentile_latency_ns"
        if key in log:
            m[f"latency_{name}_ms"] = float(log[key]) / 1e6
    for key, name in (("result_mean_latency_ns", "latency_mean_ms"), ("result_min_latency_ns", "latency_min_ms"),
                      ("result_max_latency_ns", "latency_max_ms")):
        if key in log:
            m[name] = float(log[key]) / 1e6
    # early-stopping latency estimate (ns in both keys): SingleStream's p90 and MultiStream's p99
    es_key = {"SingleStream": "early_stopping_latency_ss", "MultiStream": "early_stopping_latency_ms"}.get(scenario)
    if es_key and isinstance(log.get(es_key), int | float) and log.get("early_stopping_met"):
        m["early_stopping_latency_ms"] = float(log[es_key]) / 1e6
    if isinstance(log.get("result_overlatency_query_count"), int | float):
        m["overlatency_queries"] = float(log["result_overlatency_query_count"])
    if isinstance(log.get("result_query_count"), int | float):
        m["query_count"] = float(log["result_query_count"])
    effective = log.get("effective_target_qps") if scenario in ("Server", "Offline") else None
    if isinstance(effective, int | float):
        m["target_qps"] = float(effective)
    m["loadgen_errors"] = float(len(log.get("_errors", [])))
    return m


def accuracy_from_log(path: Path, labels: Sequence[int]) -> dict[str, float]:
    """Top-1 from mlperf_log_accuracy.json (float32 class per sample), as MLPerf's accuracy-imagenet.py does."""
    import numpy as np

    entries = json.loads(path.read_text())
    seen: dict[int, float] = {}
    duplicates = 0
    for entry in entries:
        idx = int(entry["qsl_idx"])
        pred = float(np.frombuffer(bytes.fromhex(entry["data"]), np.float32)[0])
        duplicates += idx in seen
        seen[idx] = pred
    good = sum(int(pred) == int(labels[idx]) for idx, pred in seen.items())
    return {
        "accuracy_top1_pct": 100.0 * good / max(len(seen), 1),
        "accuracy_samples": float(len(seen)),
        "accuracy_duplicates": float(duplicates),
    }


# ============================================================================================ QSL and SUT


class ImageLibrary:
    """The QSL: `total` samples, of which LoadGen loads sets into memory (untimed) before issuing queries."""

    def __init__(self, source: Callable[[Sequence[int]], Any], total: int, performance: int, runner: Any) -> None:
        import numpy as np

        self.source = source
        self.total = total
        self.performance = performance
        self.runner = runner
        self.slot_of = np.full(total, -1, dtype=np.int64)
        self.loads: list[list[int]] = []
        self.unloads: list[list[int]] = []

    def load(self, indices: list[int]) -> None:
        import numpy as np

        self.loads.append(list(indices))
        self.runner.set_store(self.source(indices))
        self.slot_of[:] = -1
        self.slot_of[np.asarray(indices, dtype=np.int64)] = np.arange(len(indices), dtype=np.int64)

    def unload(self, indices: list[int]) -> None:
        self.unloads.append(list(indices))
        self.runner.clear_store()
        self.slot_of[:] = -1

    def slots(self, indices: Sequence[int]) -> Any:
        import numpy as np

        slots = self.slot_of[np.asarray(indices, dtype=np.int64)]
        if (slots < 0).any():
            raise RuntimeError("LoadGen issued a sample that is not loaded")
        return slots


_STOP = object()


class SystemUnderTest:
    """Answers LoadGen's queries with `runner` (see the module doc for the threading)."""

    def __init__(self, lg: Any, runner: Any, qsl: ImageLibrary, max_batch: int, inline: bool,
                 record: bool = False) -> None:
        self.lg = lg
        self.runner = runner
        self.qsl = qsl
        self.max_batch = max_batch
        self.inline = inline
        self.record: list[tuple[int, int, float]] | None = [] if record else None
        self.issued = 0
        self.completed = 0
        self.batches: list[int] = []
        self.complete_s = 0.0  # time spent building responses and in QuerySamplesComplete
        self.wait_s = 0.0  # worker time blocked on the GPU
        self.max_wait_s = 0.0  # longest single wait on the GPU
        self.done_at: list[float] = []  # completion times (perf_counter), for stall diagnosis
        self.failure: BaseException | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if not inline:
            self._thread = threading.Thread(target=self._worker, name="resnet50-sut", daemon=True)
            self._thread.start()

    # LoadGen's fast issue callback: parallel lists of response ids and sample indices
    def issue(self, ids: list[int], indices: list[int]) -> None:
        self.issued += len(ids)
        if self.inline:
            self._run_now(ids, indices)
            return
        for start in range(0, len(ids), self.max_batch):
            self._queue.put((ids[start:start + self.max_batch], indices[start:start + self.max_batch]))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self.failure is not None:
            raise RuntimeError(f"the SUT failed: {self.failure!r}") from self.failure

    def _run_now(self, ids: list[int], indices: list[int]) -> None:
        try:
            preds = self.runner.predict(self.qsl.slots(indices))
        except BaseException as exc:  # answer anyway so LoadGen ends; the failure is raised after the test
            self.failure = self.failure or exc
            preds = None
        self._complete(ids, indices, preds)

    def _complete(self, ids: list[int], indices: list[int], preds: Any) -> None:
        import numpy as np

        lg = self.lg
        if preds is None:
            preds = np.full(len(ids), -1.0, dtype=np.float32)
        t0 = time.perf_counter()
        base = preds.ctypes.data
        responses = [lg.QuerySampleResponse(rid, base + RESPONSE_BYTES * k, RESPONSE_BYTES)
                     for k, rid in enumerate(ids)]
        lg.QuerySamplesComplete(responses)
        t1 = time.perf_counter()
        self.complete_s += t1 - t0
        self.done_at.append(t1)
        self.completed += len(ids)
        self.batches.append(len(ids))
        if self.record is not None:
            self.record.extend(zip(ids, indices, preds[: len(ids)].tolist(), strict=True))

    def _worker(self) -> None:
        pending: list[tuple[list[int], list[int], Any]] = []
        stopping = False
        while True:
            item = None
            if not stopping:
                try:
                    item = self._queue.get(block=not pending)
                except queue.Empty:
                    item = None
            if item is _STOP:
                stopping, item = True, None
            if item is not None:
                ids, indices = item
                if len(ids) < self.max_batch:  # Server: take whatever else is waiting, up to max_batch
                    ids, indices = list(ids), list(indices)
                    while len(ids) < self.max_batch:
                        try:
                            more = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if more is _STOP:
                            stopping = True
                            break
                        ids += more[0]
                        indices += more[1]
                    if len(ids) > self.max_batch:  # a coalesced query can overshoot: requeue the tail
                        self._queue.put((ids[self.max_batch:], indices[self.max_batch:]))
                        ids, indices = ids[: self.max_batch], indices[: self.max_batch]
                try:
                    pending.append((ids, indices, self.runner.submit(self.qsl.slots(indices))))
                except BaseException as exc:
                    self.failure = self.failure or exc
                    self._complete(ids, indices, None)
            if pending and (item is None or len(pending) >= 2):
                ids, indices, handle = pending.pop(0)
                try:
                    t0 = time.perf_counter()
                    preds = handle.wait()
                    waited = time.perf_counter() - t0
                    self.wait_s += waited
                    self.max_wait_s = max(self.max_wait_s, waited)
                except BaseException as exc:
                    self.failure = self.failure or exc
                    preds = None
                self._complete(ids, indices, preds)
            if stopping and not pending:
                return


@dataclass
class TestOutcome:
    scenario: str
    outdir: Path
    log: dict[str, Any]
    metrics: dict[str, float]
    settings: dict[str, Any]
    settings_source: str
    user_conf: str
    sut_stats: dict[str, Any] = field(default_factory=dict)


def run_loadgen_test(
    lg: Any, scenario: str, runner: Any, qsl: ImageLibrary, outdir: Path, params: Params,
    max_batch: int, calibrated: dict[str, float], conf_overrides: dict[str, float] | None = None,
    record: bool = False,
) -> tuple[TestOutcome, SystemUnderTest]:
    """One LoadGen test: settings, SUT, QSL, StartTest, then LoadGen's figures from the detail log."""
    outdir.mkdir(parents=True, exist_ok=True)
    audit_sha = check_audit_config(params.allow_audit_config)
    user_conf_path = outdir / "user.conf"
    overrides = dict(conf_overrides or {})
    if qsl.performance != 1024:  # the rules' performance_sample_count_override; smaller sets are non-compliant
        overrides.setdefault("performance_sample_count_override", qsl.performance)
    user_conf = write_user_conf(user_conf_path, scenario, params, overrides)
    settings, fields, source = build_settings(lg, scenario, params.mode == "accuracy", user_conf_path, calibrated)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(outdir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = params.enable_trace
    inline = scenario in ("SingleStream", "MultiStream")
    sut = SystemUnderTest(lg, runner, qsl, max_batch, inline=inline, record=record)
    sut_handle = lg.ConstructFastSUT(sut.issue, sut.flush)
    qsl_handle = lg.ConstructQSL(qsl.total, qsl.performance, qsl.load, qsl.unload)
    # Python's cyclic GC (a full pass over torch.compile's object graph takes tens of ms) and the GIL's 5 ms
    # switch interval both show up as latency outliers under LoadGen: freeze/disable the one, shorten the other
    gc.collect()
    gc.freeze()
    gc.disable()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log_settings,
                                    "audit.config" if audit_sha else "")
    finally:
        sys.setswitchinterval(switch)
        gc.enable()
        gc.unfreeze()
        try:
            sut.close()
        finally:
            lg.DestroyQSL(qsl_handle)
            lg.DestroyFastSUT(sut_handle)
    detail = read_detail_log(outdir / "mlperf_log_detail.txt")
    metrics = metrics_from_log(detail, scenario)
    stats = {"issued": sut.issued, "completed": sut.completed, "batches": len(sut.batches),
             "mean_batch": round(sum(sut.batches) / max(len(sut.batches), 1), 2), "qsl_loads": len(qsl.loads),
             "complete_s": round(sut.complete_s, 3), "gpu_wait_s": round(sut.wait_s, 3),
             "max_gpu_wait_ms": round(sut.max_wait_s * 1e3, 3),
             "max_gap_between_completions_ms": round(1e3 * max(
                 (b - a for a, b in zip(sut.done_at, sut.done_at[1:], strict=False)), default=0.0), 3)}
    if audit_sha:
        stats["audit_config_sha256"] = audit_sha
    outcome = TestOutcome(scenario, outdir, detail, metrics, fields, source, user_conf, stats)
    return outcome, sut


# ============================================================================================ the workload


def import_loadgen() -> Any:
    try:
        import mlperf_loadgen
    except ImportError:
        raise ConfigError("mlperf_loadgen is not installed: pip install mlcommons-loadgen "
                          "(in the cpu and gpu extras of this project)") from None
    return mlperf_loadgen


_RUNNER_CACHE: dict[tuple, tuple[Any, Any]] = {}  # one model (and its compiled buckets) per process


def _execution(params: Params) -> dict[str, Any]:
    from bench.models.resnet50 import resolve_device

    device = resolve_device(params.device)
    cuda = device == "cuda"
    precision = params.precision if params.precision != "auto" else ("fp16" if cuda else "fp32")
    compile_model = params.compile == "on" or (params.compile == "auto" and cuda)
    graphs = cuda and params.cuda_graphs == "auto"
    return {"device": device, "precision": precision, "compile_model": compile_model, "cuda_graphs": graphs,
            "graph_max_batch": params.graph_max_batch, "input_location": params.input_location,
            "image_size": params.image_size, "freezing": compile_model and params.freezing != "off"}


def get_runner(params: Params, buckets: list[int], log: Callable[[str], None]) -> tuple[Any, Any]:
    from bench.models.resnet50 import TorchRunner, build_resnet50

    execution = _execution(params)
    key = (params.weights, params.seed, *sorted(execution.items()))
    if key not in _RUNNER_CACHE:
        if execution["device"] == "cpu" and params.cpu_threads:
            import torch

            torch.set_num_threads(params.cpu_threads)
        loaded = build_resnet50(params.weights, seed=params.seed, log=log)
        runner = TorchRunner(loaded.module, log=log, **execution)
        _RUNNER_CACHE[key] = (loaded, runner)
    loaded, runner = _RUNNER_CACHE[key]
    missing = sorted(set(buckets) - set(runner.buckets))
    if missing:
        runner.prepare(sorted(set(runner.buckets) | set(missing)) if runner.is_cuda else buckets)
    return loaded, runner


def sample_source(params: Params) -> tuple[Callable[[Sequence[int]], Any], int, Any]:
    """(load function, total sample count, labels or None)."""
    import numpy as np

    if params.dataset:
        from bench.data.imagenet import ImageNetVal

        data = ImageNetVal.open(params.dataset, params.val_map, params.total_samples)
        cache: dict[int, Any] = {}

        def load_images(indices: Sequence[int]) -> Any:
            out = np.empty((len(indices), 3, 224, 224), dtype=np.float32)  # MLPerf's crop
            for k, i in enumerate(indices):
                if i not in cache:
                    cache[i] = data.load(i)
                out[k] = cache[i]
            return out

        return load_images, len(data), data.labels

    from bench.data.imagenet import synthetic_images

    pool = synthetic_images(min(params.total_samples, 256), seed=params.seed, size=params.image_size)

    def load_synthetic(indices: Sequence[int]) -> Any:
        # distinct images per index, cheap to make: a seeded pool, each index a different roll of one pool image
        idx = np.asarray(indices, dtype=np.int64)
        out = pool[idx % len(pool)]
        shifts = (idx // len(pool)) % params.image_size
        return np.stack([np.roll(img, int(s), axis=-1) for img, s in zip(out, shifts, strict=True)]) if len(idx) \
            else out

    return load_synthetic, params.total_samples, None


def calibrate(runner: Any, batch: int, batches: int) -> tuple[float, float]:
    """(samples/s, seconds per batch) at `batch` on throwaway synthetic data — sizes LoadGen's run."""
    import numpy as np

    from bench.data.imagenet import synthetic_images

    runner.set_store(synthetic_images(batch, seed=12345, size=runner.image_size))
    slots = np.arange(batch, dtype=np.int64)
    runner.predict(slots)  # warm
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        runner.predict(slots)
        times.append(time.perf_counter() - t0)
    runner.clear_store()
    per_batch = sorted(times)[len(times) // 2]
    return batch / per_batch, per_batch


def run(scenario: str, params: Params, ctx: WorkloadContext) -> Measurement:
    check_params(params)
    lg = import_loadgen()
    check_audit_config(params.allow_audit_config)  # before the model loads
    offline_sizes = parse_sizes(params.offline_batch_sizes, "offline_batch_sizes") or [params.batch_size]
    server_batch = params.server_batch_size or params.batch_size
    if scenario == "Offline":
        buckets = offline_sizes
    elif scenario == "Server":
        from bench.models.resnet50 import default_buckets

        buckets = parse_sizes(params.server_batch_buckets, "server_batch_buckets") or default_buckets(
            server_batch)
    elif scenario == "SingleStream":
        buckets = [1]
    else:
        buckets = [8]
    ctx.log(f"[resnet50] {scenario}: preparing model (batch buckets {buckets})")
    loaded, runner = get_runner(params, buckets, ctx.log)
    source, total, labels = sample_source(params)
    performance = min(params.performance_samples, total)
    qsl = ImageLibrary(source, total, performance, runner)
    artifacts = Path(ctx.artifacts_dir) / "resnet50"

    tests: list[tuple[str, int, dict[str, float], dict[str, float]]] = []  # (label, batch, calibrated, conf)
    calibration: dict[str, Any] = {}
    if scenario == "Offline":
        for b in offline_sizes:
            qps = params.offline_target_qps
            if not qps:
                measured, per_batch = calibrate(runner, b, params.calibration_batches)
                qps = measured * HEADROOM  # a run faster than calibrated would end before min_duration
                calibration[f"b{b}"] = {"samples_per_s": round(measured, 2), "batch_s": round(per_batch, 6),
                                        "expected_qps": round(qps, 2)}
            tests.append((f"Offline_b{b}" if len(offline_sizes) > 1 else "Offline", b,
                          {"offline_expected_qps": float(qps)}, {}))
    elif scenario == "Server":
        qps = params.server_target_qps
        if not qps:
            throughput, per_batch = calibrate(runner, server_batch, params.calibration_batches)
            qps = 0.5 * throughput
            calibration["server"] = {"samples_per_s_at_batch": round(throughput, 2), "target_qps": round(qps, 2)}
        calibrated: dict[str, Any] = {"server_target_qps": float(qps)}
        if params.server_coalesce:
            calibrated["server_coalesce_queries"] = True
        if params.server_target_latency_ms:
            calibrated["server_target_latency_ns"] = int(params.server_target_latency_ms * 1e6)
        tests.append(("Server", max(buckets), calibrated, {}))
    else:
        b = 1 if scenario == "SingleStream" else 8
        latency_ms = params.expected_latency_ms
        if not latency_ms:
            _, per_batch = calibrate(runner, b, params.calibration_batches)
            latency_ms = per_batch * 1000 / HEADROOM  # else a faster run runs out of generated queries
            calibration[scenario] = {"latency_ms": round(per_batch * 1000, 4),
                                     "expected_latency_ms": round(latency_ms, 4)}
        name = "single_stream_expected_latency_ns" if b == 1 else "multi_stream_expected_latency_ns"
        tests.append((scenario, b, {name: latency_ms * 1e6}, {}))

    metrics: dict[str, float] = {}
    notes: list[str] = []
    outcomes: list[TestOutcome] = []
    warmup: dict[str, Any] = {}
    if scenario == "Server" and params.server_warmup_ms:
        # On the H100 the first LoadGen Server test of a process showed latency tails (p99.9 ~48 ms) that later
        # tests at higher load did not: a short untimed Server run takes them (its logs are kept beside)
        _, batch, calibrated, conf = tests[0]
        warm_params = replace(params, rules="smoke", min_duration_ms=params.server_warmup_ms, min_query_count=1)
        ctx.log(f"[resnet50] Server: warm-up run ({params.server_warmup_ms} ms, not measured)")
        warm, _ = run_loadgen_test(lg, scenario, runner, qsl, artifacts / "Server_warmup", warm_params, batch,
                                   calibrated, conf)
        warmup = {"logs": str(warm.outdir), "validity": warm.log.get("result_validity"),
                  "latency_p99_ms": warm.metrics.get("latency_p99_ms")}
    for label, batch, calibrated, conf in tests:
        ctx.log(f"[resnet50] {label}: LoadGen {params.rules} run, batch {batch}, {calibrated}")
        outcome, _ = run_loadgen_test(lg, scenario, runner, qsl, artifacts / label, params, batch, calibrated, conf)
        outcomes.append(outcome)
        if len(tests) > 1:
            for name in ("samples_per_s", "result_valid", "latency_p99_ms"):
                if name in outcome.metrics:
                    metrics[f"{name}_b{batch}"] = outcome.metrics[name]
        for err in outcome.log.get("_errors", []):
            notes.append(f"{label}: LoadGen error: {err}")
        if outcome.log.get("result_validity") not in (None, "VALID"):
            reason = (str(outcome.log.get("result_invalid_reason") or "").strip()
                      or " ".join(str(outcome.log.get("early_stopping_result") or "").split())
                      or "see mlperf_log_summary.txt")
            notes.append(f"{label}: LoadGen says {outcome.log.get('result_validity')}: {str(reason).strip()}")
        ctx.log(f"[resnet50] {label}: {outcome.log.get('result_validity')} "
                + ", ".join(f"{k}={v:.4g}" for k, v in outcome.metrics.items() if k in _SHOWN))
    primary = outcomes[-1]
    metrics = {**primary.metrics, **metrics, "batch_size": float(tests[-1][1])}
    if len(tests) > 1:  # several Offline batch sizes: result_valid speaks for all of them, not the last one
        invalid = [batch for (_, batch, _, _), o in zip(tests, outcomes, strict=True)
                   if o.metrics.get("result_valid") != 1.0]
        metrics["result_valid"] = 0.0 if invalid else 1.0
        metrics["invalid_batch_size_count"] = float(len(invalid))
        if invalid:
            notes.append(f"{scenario}: result_valid is 0 because LoadGen did not call batch size(s) "
                         f"{', '.join(map(str, invalid))} VALID (of {', '.join(str(t[1]) for t in tests)}); "
                         "see result_valid_b<N> and the notes above")
    if params.mode == "accuracy":
        from bench.models.resnet50 import ACCURACY_GATE

        acc = accuracy_from_log(primary.outdir / "mlperf_log_accuracy.json", labels)
        metrics.update(acc)
        metrics["accuracy_meets_mlperf_gate"] = float(acc["accuracy_top1_pct"] >= ACCURACY_GATE)
        notes.append(f"top-1 {acc['accuracy_top1_pct']:.3f} % vs MLPerf's gate {ACCURACY_GATE:.3f} % "
                     f"(99 % of 76.46 %) over {acc['accuracy_samples']:.0f} images")
        if acc["accuracy_samples"] != total:
            notes.append(f"accuracy log holds {acc['accuracy_samples']:.0f} of {total} samples")
    if loaded.info.get("random_weights"):
        notes.append("random weights: performance only, no accuracy claim")
    if params.rules == "smoke":
        notes.append(f"smoke rules: min_duration {params.min_duration_ms} ms and min_query_count "
                     f"{params.min_query_count} instead of MLPerf's 600 s / rule counts — not a compliant run")
    if scenario == "Server" and params.server_target_latency_ms:
        notes.append(f"Server latency bound set to {params.server_target_latency_ms:g} ms instead of MLPerf's 15 ms")

    config = {
        **asdict(params),
        "model": loaded.info,
        "execution": runner.choices(),
        "data": "ImageNet validation (MLPerf PyTorch preprocessing)" if params.dataset else
                f"synthetic (numpy PCG64 seed {params.seed})",
        "loadgen": {
            "version": lg_version(primary.log),
            "settings_source": primary.settings_source,
            "rules_file": f"bench/workloads/{RULES_FILE.name}",
            "rules_sha256": hashlib.sha256(RULES_FILE.read_bytes()).hexdigest(),
            "effective_settings": {k: v for k, v in primary.log.items() if k.startswith("effective_")},
            "user_conf": primary.user_conf,
            "calibration": calibration,
            "warmup": warmup,
            "tests": [{"name": o.outdir.name, "logs": str(o.outdir), "validity": o.log.get("result_validity"),
                       "sut": o.sut_stats,
                       "early_stopping_result": o.log.get("early_stopping_result")} for o in outcomes],
        },
    }
    return Measurement(metrics=metrics, config=config, notes=notes)


_SHOWN = ("samples_per_s", "latency_p90_ms", "latency_p99_ms", "early_stopping_latency_ms")


def lg_version(log: dict[str, Any]) -> str | None:
    version = log.get("loadgen_version")
    return str(version) if version is not None else None
