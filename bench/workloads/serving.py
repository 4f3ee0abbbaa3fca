"""serving — what a user of an OpenAI-compatible endpoint sees, measured by our own load client (bench/engines/).

The endpoint is a vLLM server the executor started for this group (a local process, or a Deployment + Service on
the cluster) or one given with `--endpoint`; the workload checks it first (`/v1/models` lists the served model, a
1-token completion works), sends `warmup_requests` unscored requests, then runs its load points:

- `poisson` — open loop at each of `rates` (req/s, `inf` = all at once), arrivals from a gamma process with shape
  `burstiness` (1: Poisson), `num_requests` per point (or `duration_s` × rate); the headline is the point at
  `target_rate` (0: the highest finite rate given).
- `concurrency` — closed loop at each of `concurrency` levels; the headline is the highest level.
- `sweep` — a burst of `num_requests` at once measures the server's capacity C (completed req/s), then open-loop
  points at C·k/`sweep_points` for k = 1..sweep_points; the headline is the highest rate within the SLO.

Every point reports TTFT/TPOT/ITL/E2E (mean, median, p90, p99), request and token throughput, goodput against the
SLOs (`slo_ttft_ms`, `slo_tpot_ms`, `slo_e2e_ms`; 0 = not applied), achieved vs requested rate and schedule lag
(bench/metrics/serving.py), errors by kind, and the server's own figures from `/metrics` (requests, preemptions,
queued requests, KV-cache use; bench/metrics/prometheus.py). Metrics are prefixed by the point (`r4_ttft_p99_ms`,
`c8_output_tokens_per_s`, `s3_goodput_pct`); the headline point's are also unprefixed, beside
`max_rate_within_slo` (the highest valid, error-free rate whose p99 TTFT and TPOT meet the SLO — MLPerf's Server
rule). Per-request records go to artifacts/serving/<scenario>/<point>.jsonl, every point's summary into the result's
`config.points`.

Prompts: `dataset=random` — `input_len` random token ids from the tokenizer's base vocabulary (numpy PCG64, as
llm_throughput draws them), sent as token ids so input lengths are exact; `dataset=cnn_dailymail` (the bundled
articles), `hf` or a file path — the MLPerf summarization prompt of each article, cycled. Every request asks for
`output_len` tokens with `ignore_eos`, greedy, streamed with `stream_options.include_usage`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.config import non_negative, positive
from bench.engines.load_client import LoadClient, PointRun, Prompt
from bench.engines.openai_http import APIS, Endpoint
from bench.errors import BenchError, ConfigError
from bench.metrics.arrivals import parse_rate, rate_label, send_offsets
from bench.metrics.prometheus import server_figures
from bench.metrics.serving import PointSummary, Slo, point_metrics
from bench.workloads.base import Measurement, WorkloadContext

DATASETS = ("random", "cnn_dailymail", "hf")  # or a path to a file of articles
HEADLINE = ("ttft_median_ms", "ttft_p99_ms", "tpot_median_ms", "tpot_p99_ms", "itl_p99_ms", "e2e_median_ms",
            "e2e_p99_ms", "request_throughput", "output_tokens_per_s", "total_tokens_per_s", "goodput_rps",
            "goodput_pct", "achieved_rate", "requested_rate", "achieved_rate_ratio", "lag_p99_ms", "errors",
            "valid")


@dataclass(frozen=True)
class Params:
    dataset: str = "random"
    input_len: int = positive(128)  # random prompts: tokens per prompt
    output_len: int = positive(32)
    num_requests: int = positive(64)  # per load point (the sweep's capacity burst too)
    duration_s: float = 0.0  # > 0: an open-loop point sends ceil(rate × duration_s) requests instead
    rates: str = "4"  # poisson: comma-separated req/s, `inf` for all at once
    concurrency: str = "1,4"  # concurrency: comma-separated levels
    burstiness: float = 1.0  # gamma shape of the arrival gaps (1: Poisson)
    target_rate: float = 0.0  # poisson: the headline point (0: the highest finite rate)
    sweep_points: int = positive(5)
    warmup_requests: int = non_negative(4)
    slo_ttft_ms: float = 2000.0  # MLPerf llama3.1-8b Server: TTFT p99 ≤ 2 s
    slo_tpot_ms: float = 100.0  # and TPOT p99 ≤ 100 ms
    slo_e2e_ms: float = 0.0  # 0: no end-to-end SLO
    api: str = "completions"  # or "chat" (/v1/chat/completions; the model needs a chat template)
    request_timeout_s: float = 600.0
    server_timeout_s: int = positive(600)  # the executor's budget for a server it starts to load its model
    seed: int = non_negative(0)

    def validate(self, where: str) -> None:
        units = {"slo_ttft_ms": "ms", "slo_tpot_ms": "ms", "slo_e2e_ms": "ms", "duration_s": "seconds",
                 "target_rate": "req/s"}
        for name, unit in units.items():
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                zero = "not applied" if name.startswith("slo") else "the default"
                raise ConfigError(f"{where}: {name} must be a positive number of {unit} (0: {zero}), got {value!r}")
        if not (self.burstiness > 0):
            raise ConfigError(f"{where}: burstiness must be > 0 (1: Poisson arrivals), got {self.burstiness!r}")
        if not (self.request_timeout_s > 0):
            raise ConfigError(f"{where}: request_timeout_s must be > 0, got {self.request_timeout_s!r}")
        if self.api not in APIS:
            raise ConfigError(f"{where}: api must be one of {', '.join(APIS)}, got {self.api!r}")
        if self.dataset not in DATASETS and not Path(self.dataset).expanduser().exists():
            raise ConfigError(f"{where}: dataset must be one of {', '.join(DATASETS)} or an existing file, "
                              f"got {self.dataset!r}")
        self.rate_list(where)
        self.concurrency_list(where)

    def rate_list(self, where: str = "serving") -> list[float]:
        try:
            rates = [parse_rate(item) for item in self.rates.split(",") if item.strip()]
        except ValueError as exc:
            raise ConfigError(f"{where}: rates={self.rates!r}: {exc} (e.g. rates=1,2,4 or rates=inf)") from None
        if not rates:
            raise ConfigError(f"{where}: rates is empty: give request rates, e.g. rates=1,2,4")
        return rates

    def concurrency_list(self, where: str = "serving") -> list[int]:
        try:
            levels = [int(item) for item in self.concurrency.split(",") if item.strip()]
        except ValueError:
            raise ConfigError(f"{where}: concurrency={self.concurrency!r}: give whole numbers, e.g. "
                              f"concurrency=1,4,16") from None
        if not levels or any(level < 1 for level in levels):
            raise ConfigError(f"{where}: concurrency levels must be ≥ 1, got {self.concurrency!r}")
        return levels

    def slo(self) -> Slo:
        return Slo(self.slo_ttft_ms or None, self.slo_tpot_ms or None, self.slo_e2e_ms or None)


@dataclass
class Point:
    label: str
    rate: float | None = None  # open loop (inf: a burst)
    concurrency: int | None = None  # closed loop


def run(scenario: str, params: Params, ctx: WorkloadContext) -> Measurement:
    if not ctx.endpoint:
        raise BenchError("the serving benchmark has no endpoint: the executor starts a vLLM server for it, or give "
                         "one with --endpoint URL")
    endpoint = Endpoint(ctx.endpoint, ctx.served_model, params.api)
    served = endpoint.check()
    prompts = PromptSource(params, ctx)
    client = LoadClient(endpoint, params.output_len, params.request_timeout_s, log=ctx.log)
    ctx.log(f"[serving] {scenario}: endpoint {endpoint.base_url} model {served}, prompts {prompts.describe()}, "
            f"{params.output_len} output tokens, SLO {_slo_text(params.slo())}")
    if params.warmup_requests:
        ctx.log(f"[serving] warm-up: {params.warmup_requests} requests (not scored)")
        client.run_closed(prompts.take(params.warmup_requests, -1), min(4, params.warmup_requests))
    out_dir = ctx.artifacts_dir / "serving" / scenario
    out_dir.mkdir(parents=True, exist_ok=True)
    bench = _Scenario(scenario, params, client, prompts, out_dir, ctx)
    if scenario == "poisson":
        for rate in params.rate_list():
            bench.run_point(Point(rate_label(rate), rate=rate))
        finite = [p for p in bench.points if p.rate is not None and math.isfinite(p.rate)]
        target = params.target_rate or max((p.rate for p in finite), default=0.0)
        headline = next((p for p in bench.points if p.rate == target), None)
        if headline is None and params.target_rate:
            raise ConfigError(f"serving/poisson: target_rate={params.target_rate:g} is not one of rates="
                              f"{params.rates}")
        headline = headline or bench.points[-1]
    elif scenario == "concurrency":
        for level in params.concurrency_list():
            bench.run_point(Point(f"c{level}", concurrency=level))
        headline = bench.points[-1]
    else:
        probe = bench.run_point(Point("capacity", rate=math.inf))
        capacity = bench.summaries[probe.label].metrics.get("request_throughput", 0.0)
        if capacity <= 0:
            raise BenchError("serving/sweep: the capacity burst completed no request; no rates to sweep")
        bench.metrics["saturation_rate"] = capacity
        ctx.log(f"[serving] sweep: capacity {capacity:.2f} req/s; {params.sweep_points} rates up to it")
        for k in range(1, params.sweep_points + 1):
            bench.run_point(Point(f"s{k}", rate=round(capacity * k / params.sweep_points, 4)))
        within = [p for p in bench.points[1:] if bench.within_slo(p)]
        headline = within[-1] if within else bench.points[1]
    return bench.measurement(headline, served, endpoint.base_url)


class PromptSource:
    """The prompts of a run: random token ids (exact lengths) or dataset prompts, distinct per load point."""

    def __init__(self, params: Params, ctx: WorkloadContext) -> None:
        self.params = params
        self.tokenizer = _tokenizer(ctx.model)
        self.texts: list[str] = []
        self.where = ""
        if params.dataset == "random":
            from bench.workloads.llm_throughput import candidate_token_ids

            self.candidates = candidate_token_ids(self.tokenizer)
        else:
            from bench.data.cnn_dailymail import load_articles
            from bench.workloads.summarization import build_prompt

            source = "bundled" if params.dataset == "cnn_dailymail" else params.dataset
            articles, self.where = load_articles(source)
            self.texts = [build_prompt(a.article) for a in articles]

    def describe(self) -> str:
        if self.params.dataset == "random":
            return f"random token ids × {self.params.input_len}"
        return f"{len(self.texts)} CNN/DailyMail summarization prompts ({self.where})"

    def take(self, n: int, point: int) -> list[Prompt]:
        """`n` prompts for load point number `point` (-1: the warm-up), different for every point."""
        if self.params.dataset == "random":
            from bench.workloads.llm_throughput import random_prompts

            seed = self.params.seed + 1000 * (point + 1)
            return list(random_prompts(self.candidates, n, self.params.input_len, seed))
        start = (max(point, 0) * n) % len(self.texts)
        prompts: list[Prompt] = []
        for i in range(n):
            text = self.texts[(start + i) % len(self.texts)]
            prompts.append(text if self.params.api == "chat" else self.tokenizer.encode(text))
        return prompts


class _Scenario:
    def __init__(self, scenario: str, params: Params, client: LoadClient, prompts: PromptSource, out_dir: Path,
                 ctx: WorkloadContext) -> None:
        self.scenario = scenario
        self.params = params
        self.client = client
        self.prompts = prompts
        self.out_dir = out_dir
        self.ctx = ctx
        self.points: list[Point] = []
        self.summaries: dict[str, PointSummary] = {}
        self.server: dict[str, dict[str, float]] = {}
        self.metrics: dict[str, float] = {}
        self.notes: list[str] = []
        self.records: dict[str, str] = {}

    def size(self, point: Point) -> int:
        if self.params.duration_s and point.rate is not None and math.isfinite(point.rate):
            return max(2, math.ceil(point.rate * self.params.duration_s))
        return self.params.num_requests

    def run_point(self, point: Point) -> Point:
        n = self.size(point)
        prompts = self.prompts.take(n, len(self.points))
        what = (f"{n} requests at {point.rate:g} req/s" if point.rate is not None and math.isfinite(point.rate)
                else f"{n} requests at once" if point.rate is not None else f"{n} requests, concurrency "
                f"{point.concurrency}")
        self.ctx.log(f"[serving] {self.scenario} {point.label}: {what} ...")
        if point.rate is not None:
            offsets = send_offsets(n, point.rate, self.params.burstiness, self.params.seed + len(self.points))
            run = self.client.run_open(prompts, offsets)
        else:
            run = self.client.run_closed(prompts, point.concurrency or 1)
        summary = point_metrics(run.records, point.rate, self.params.slo())
        server = server_figures(run.server_before, run.server_after, run.server_during) if (
            run.server_before is not None and run.server_after is not None) else {}
        self.points.append(point)
        self.summaries[point.label] = summary
        self.server[point.label] = server
        records = self.out_dir / f"{point.label}.jsonl"
        with open(records, "w", encoding="utf-8") as out:
            for record in run.records:
                out.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
        self.records[point.label] = str(records)
        for name, value in {**summary.metrics, **server}.items():
            self.metrics[f"{point.label}_{name}"] = value
        self._report(point, summary, server, run)
        return point

    def _report(self, point: Point, summary: PointSummary, server: dict[str, float], run: PointRun) -> None:
        m = summary.metrics
        shown = [f"{m.get('request_throughput', 0):.2f} req/s", f"{m.get('output_tokens_per_s', 0):.0f} out tok/s"]
        for name in ("ttft_median_ms", "ttft_p99_ms", "tpot_median_ms", "tpot_p99_ms"):
            if name in m:
                shown.append(f"{name.replace('_ms', '')} {m[name]:.1f} ms")
        if "achieved_rate_ratio" in m:
            shown.append(f"achieved {m['achieved_rate_ratio']:.3f} of requested")
        if m["errors"]:
            shown.append(f"errors {m['errors']:.0f} ({_kinds(summary.errors_by_kind)})")
        self.ctx.log(f"[serving] {self.scenario} {point.label}: {', '.join(shown)}"
                     + ("" if m["valid"] else " — INVALID"))
        if summary.invalid_reason:
            self.notes.append(f"{self.scenario} {point.label}: {summary.invalid_reason}")
        if server.get("server_waiting_peak", 0) > 0:
            self.notes.append(f"{self.scenario} {point.label}: the server queued up to "
                              f"{server['server_waiting_peak']:.0f} requests (vllm:num_requests_waiting): at or "
                              f"above its capacity")
        if run.stopped:
            url = self.client.endpoint.base_url
            gone = "" if self.client.endpoint.health() else f"; the server at {url} no longer answers /health"
            raise BenchError(f"serving/{self.scenario} {point.label}: stopped by the circuit breaker: {run.stopped} "
                             f"({_kinds(summary.errors_by_kind)}){gone}")

    def within_slo(self, point: Point) -> bool:
        m = self.summaries[point.label].metrics
        return bool(m["valid"]) and not m["errors"] and self.params.slo().meets_p99(m)

    def measurement(self, headline: Point, served: str, url: str) -> Measurement:
        m = self.summaries[headline.label].metrics
        metrics = {name: m[name] for name in HEADLINE if name in m}
        metrics.update({k: v for k, v in self.server[headline.label].items()})
        open_points = [p for p in self.points if p.rate is not None and math.isfinite(p.rate)]
        if open_points:
            within = [p.rate for p in open_points if self.within_slo(p) and p.rate is not None]
            metrics["max_rate_within_slo"] = max(within, default=0.0)
        metrics["points"] = float(len(self.points))
        metrics["points_invalid"] = float(sum(not self.summaries[p.label].metrics["valid"] for p in self.points))
        metrics["errors_total"] = float(sum(self.summaries[p.label].metrics["errors"] for p in self.points))
        metrics.update(self.metrics)
        config = {
            "endpoint": url, "served_model": served, "tokenizer": self.ctx.model,
            **asdict(self.params), "headline_point": headline.label,
            "sampling": {"temperature": 0.0, "ignore_eos": True, "max_tokens": self.params.output_len,
                         "stream": True, "stream_options": {"include_usage": True}},
            "points": [self._point_config(p) for p in self.points],
        }
        return Measurement(metrics=metrics, config=config, notes=self.notes)

    def _point_config(self, point: Point) -> dict[str, Any]:
        summary = self.summaries[point.label]
        return {
            "label": point.label,
            "rate": None if point.rate is None else (str(point.rate) if math.isinf(point.rate) else point.rate),
            "concurrency": point.concurrency,
            "metrics": summary.metrics,
            "server": self.server[point.label],
            "errors_by_kind": summary.errors_by_kind,
            "invalid": summary.invalid_reason,
            "within_slo": self.within_slo(point),
            "records": self.records[point.label],
        }


def _tokenizer(model: str) -> Any:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model)
    except Exception as exc:  # no local copy and no Hub, a directory without a tokenizer
        raise BenchError(f"serving: cannot load the tokenizer of {model} to build prompts ({str(exc)[:200]}); pass "
                         f"--model with a local model directory whose tokenizer matches the served model") from None


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in kinds.items()) or "none"


def _slo_text(slo: Slo) -> str:
    parts = [f"{name} ≤ {value:g} ms" for name, value in (("TTFT p99", slo.ttft_ms), ("TPOT p99", slo.tpot_ms),
                                                          ("E2E p99", slo.e2e_ms)) if value]
    return ", ".join(parts) or "none"
