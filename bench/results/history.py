"""One run seen against the store: each key metric's values over time (its history key's points, this run last) and
its change against the median of the earlier runs — what the HTML report draws and tabulates — and the writing of
that report at the end of a run or by `bench results report RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.results.changes import DEFAULT_THRESHOLD, HISTORY_RUNS, Changes, compare_history, key_metrics, result_key
from bench.results.fingerprint import history_key
from bench.results.rundir import load_results
from bench.results.store import Store


def run_history(store: Store, run_path: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """result key → metric → [{run_id, started_at, value, valid}], oldest first, up to and including this run."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    run_id = run_path.resolve().name
    for result in load_results(run_path):
        series = {}
        for metric, points in store.series(history_key(result), key_metrics(result)).items():
            upto = next((i for i, p in enumerate(points) if p["run_id"] == run_id), len(points) - 1)
            if points:
                series[metric] = points[:upto + 1]
        if series:
            out[result_key(result)] = series
    return out


def run_changes(store: Store, run_path: Path, last: int = HISTORY_RUNS, threshold: float = DEFAULT_THRESHOLD
                ) -> Changes:
    """This run's results against the median of the last `last` earlier runs of each history key."""
    run_id = run_path.resolve().name
    return compare_history(load_results(run_path), run_id,
                           lambda key, metric: store.history(key, metric, before=run_id), last=last,
                           threshold=threshold)


def write_run_report(run_path: Path, store: Store | None) -> Path:
    """report.html of one run, with history and changes from the store when there is one."""
    from bench.results.report import write_report

    if store is None:
        return write_report(run_path)
    return write_report(run_path, history=run_history(store, run_path),
                        changes=run_changes(store, run_path).by_result())
