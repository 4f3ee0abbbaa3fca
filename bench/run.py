"""The workload entry point, the same locally and in a Kubernetes Job:

    python -m bench.run BENCHMARK [BENCHMARK ...] --config cfg.json --output result.json

Runs the tasks of one RunGroup (benchmarks sharing one model, so it loads once), writes the list of results to
--output after every task (a crash keeps what finished), and exits 0 when every task produced its metrics (passed or
not), 1 when a task errored, 2 on bad input — with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import environment
from bench.config import RunGroup, Task, parse_params
from bench.engines import EnginePool
from bench.errors import BenchError
from bench.models import resolve_model
from bench.profiles import gate_notes, select_gates
from bench.results.schema import Result
from bench.workloads import get_benchmark
from bench.workloads.base import WorkloadContext

RESULT_LINE_PREFIX = "BENCH_RESULT "  # one line per finished task on stdout: executors that only see the log (a
# Kubernetes pod deleted right after it ends) still get every result


def log(message: str) -> None:
    print(message, flush=True)


def write_results(path: Path, results: list[Result]) -> None:
    """Atomic write, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    os.replace(tmp, path)


def run_task(task: Task, group: RunGroup, ctx: WorkloadContext, env: dict) -> Result:
    info = get_benchmark(task.benchmark)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.perf_counter()
    gpu = environment.gpu_name(env)
    thresholds = select_gates(task.thresholds, gpu)
    result = Result(
        benchmark=task.benchmark, scenario=task.scenario, profile=group.profile, thresholds=thresholds,
        environment=env, started_at=started_at,
        notes=[*group.notes, *gate_notes(task.thresholds, gpu, task.benchmark, task.scenario)],
    )
    try:
        module = info.load()
        params = parse_params(module.Params, task.params, f"{task.key} parameters")
        measurement = module.run(task.scenario, params, ctx)
        result.metrics = measurement.metrics
        result.config = measurement.config
        result.notes += measurement.notes
    except BenchError as exc:
        result.error = str(exc)
    except Exception as exc:  # a workload crash becomes a failed result; the traceback goes to the log
        traceback.print_exc()
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    result.config = {"profile_model": group.model, "size": group.size,
                     **({"weights": group.weights} if group.weights else {}), **result.config}
    result.duration_s = round(time.perf_counter() - start, 3)
    if env.get("device") == "cuda":  # clocks, temperature, throttling right after the measurement
        result.environment = {**env, "gpu_state": environment.gpu_state()}
    result.evaluate()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="+", help="benchmarks of the config to run")
    parser.add_argument("--config", type=Path, required=True, help="RunGroup JSON written by `bench run` or pytest")
    parser.add_argument("--output", type=Path, required=True, help="where to write the list of results")
    args = parser.parse_args(argv)

    try:
        group = RunGroup.read(args.config)
        for name in args.benchmarks:
            get_benchmark(name)
        tasks = [t for t in group.tasks if t.benchmark in args.benchmarks]
        if not tasks:
            raise BenchError(f"the config has no tasks for {', '.join(args.benchmarks)}")
        env = environment.collect()
        model = resolve_model(group.model, log=log) if any(
            get_benchmark(t.benchmark).engine in ("llm", "server") for t in tasks  # server: its tokenizer
        ) else group.model
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    pool = EnginePool(log=log)
    ctx = WorkloadContext(
        model=model, engine_kind="vllm", engine_kwargs=group.engine, pool=pool,
        artifacts_dir=args.output.parent / "artifacts", log=log, endpoint=group.endpoint,
        served_model=group.served_model,
    )
    results: list[Result] = []
    for task in tasks:
        log(f"[bench] running {task.key} ({group.profile}, {group.size}) ...")
        result = run_task(task, group, ctx, env)
        for engine in pool.loaded()[:1]:
            result.config["engine_load"] = {
                "instance_id": engine.info.instance_id, "load_s": round(engine.info.load_s, 2),
                "loads_in_process": pool.loads, **engine.info.extra,
            }
        results.append(result)
        write_results(args.output, results)
        log(RESULT_LINE_PREFIX + json.dumps(result.to_dict(), separators=(",", ":")))
        status = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
        shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if k in result.thresholds)
        log(f"[bench] {task.key}: {status} {shown}{' — ' + result.error if result.error else ''}")
    pool.close()
    errored = [r for r in results if r.error]
    if errored:
        print(f"error: {errored[0].key}: {errored[0].error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
