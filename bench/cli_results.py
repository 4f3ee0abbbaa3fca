"""`bench results ...` and `bench compare ...`: the commands over finished runs — the results store (list, show,
history, import, report), the seed-platform export, and comparisons (run against run, run against history, repeats
against repeats). bench/cli.py parses; this module does the work and prints."""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.results.rundir import load_results
from bench.results.schema import Result
from bench.results.store import Store, StoredRun, StoreError, choose_url


def open_store(args: argparse.Namespace, required: bool = True, create: bool = False) -> Store | None:
    """The store the options name; `required=False`: None when it is off or (SQLite) not written yet."""
    url = choose_url(args.store, args.results_dir)
    if url is None:
        if required:
            raise StoreError("this command reads the results store, and --store none turns it off: give "
                             "--store URL (or KCLOUD_STORE)")
        return None
    try:
        return Store.open(url, create=create)
    except StoreError as exc:
        if required or "no results store at" not in str(exc):
            raise
        return None


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BenchError(f"--since {text!r} is not a date: use YYYY-MM-DD or an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "–"


def _one(args: argparse.Namespace, what: str) -> str:
    if len(args.args) > 1:
        raise BenchError(f"bench results {args.action} takes one {what}, got {len(args.args)}: {' '.join(args.args)}")
    return args.args[0] if args.args else "latest"


def results(args: argparse.Namespace) -> int:
    action = args.action
    if action == "export":
        from bench.results.export import export

        print(export(args.results_dir, _one(args, "run"), args.format, args.output), end="")
        return 0
    if action == "import":
        return _import(args)
    store = open_store(args, required=action not in ("report", "show"))
    try:
        if action == "list":
            return _list(args, store)
        if action == "show":
            return _show(args, store)
        if action == "history":
            return _history(args, store)
        return _report(args, store)
    finally:
        if store is not None:
            store.close()


def _import(args: argparse.Namespace) -> int:
    from bench.results.store import import_runs

    if not args.args:
        raise BenchError("bench results import needs run directories or a results directory: "
                         "bench results import results/")
    store = open_store(args)
    assert store is not None
    try:
        count = import_runs(store, [Path(a) for a in args.args])
        totals = store.counts()
    finally:
        store.close()
    print(f"{count} run(s) imported into {store.url}; it holds {totals['runs']} run(s), {totals['results']} "
          f"result(s), {totals['hardware']} hardware fingerprint(s)")
    return 0


def _list(args: argparse.Namespace, store: Store | None) -> int:
    assert store is not None
    runs = store.runs(benchmark=args.benchmark, since=_since(args.since), trigger=args.trigger)
    if not runs:
        on_disk = [p for p in args.results_dir.iterdir() if (p / "results.json").is_file()] \
            if args.results_dir.is_dir() else []
        hint = f"; {len(on_disk)} run directories under {args.results_dir}: `bench results import " \
               f"{args.results_dir}` indexes them" if on_disk else ""
        print(f"no runs in {store.url}" + (" matching the filters" if args.benchmark or args.since or args.trigger
                                           else "") + hint)
        return 0
    print(f"{'run':<22} {'started (UTC)':<19}  {'trigger':<9} {'profile':<12} {'passed':>7}  {'commit':<16}  tags")
    for run in runs:
        commit = (run.git_commit or "–")[:10] + ("+dirty" if run.git_dirty else "")
        tags = " ".join(f"{k}={v}" for k, v in sorted(run.tags.items()))
        print(f"{run.run_id:<22} {_when(run.started_at):<19}  {run.trigger or '–':<9} {run.profile or '–':<12} "
              f"{run.results_passed:>3}/{run.results_total:<3}  {commit:<16}  {tags}".rstrip())
    print(f"{len(runs)} run(s) in {store.url}")
    return 0


def _show(args: argparse.Namespace, store: Store | None) -> int:
    spec = _one(args, "run")
    if store is None or _is_run_dir(spec, args.results_dir):
        print((_run_path(spec, args.results_dir, store) / "summary.md").read_text())
        return 0
    run = _stored_run(spec, args.results_dir, store)
    commit = (run.git_commit or "–") + (" (dirty)" if run.git_dirty else "")
    print(f"run {run.run_id}: started {_when(run.started_at)} UTC, finished {_when(run.finished_at)}, "
          f"trigger {run.trigger or '–'}, commit {commit}, harness {run.harness_version or '–'}")
    print(f"directory: {run.path}")
    summary = Path(run.path or "") / "summary.md"
    if run.path and summary.is_file():
        print(summary.read_text())
        return 0
    print("(the run directory is gone; from the store:)")
    for stored in store.results(run.run_id):
        metrics = ", ".join(f"{k} = {v:.4g}" for k, v in stored.result.metrics.items()
                            if k in stored.result.thresholds)
        print(f"- {stored.key}: {stored.status}" + (f" ({stored.result.error})" if stored.result.error else "")
              + (f": {metrics}" if metrics else ""))
    return 0


def _history(args: argparse.Namespace, store: Store | None) -> int:
    assert store is not None
    if len(args.args) != 3:
        raise BenchError("bench results history BENCHMARK SCENARIO METRIC, e.g. bench results history resnet50 "
                         "Offline samples_per_s")
    benchmark, scenario, metric = args.args
    found = [s for s in store.results(benchmark=benchmark, scenario=scenario) if not s.result.variant]
    if not found:
        known = sorted({s.key for s in store.results()})
        raise BenchError(f"no {benchmark}/{scenario} results in {store.url}"
                         + (f"; it holds: {', '.join(known)}" if known else ""))
    keys = list(dict.fromkeys(s.history_key for s in reversed(found)))  # latest first
    key = args.key or keys[0]
    if key not in keys:
        raise BenchError(f"history key {key!r} has no {benchmark}/{scenario} results; its keys: {', '.join(keys)}")
    mine = [s for s in found if s.history_key == key]
    if not any(metric in s.result.metrics for s in mine):
        names = sorted({m for s in mine for m in s.result.metrics})
        raise BenchError(f"{benchmark}/{scenario} has no metric {metric!r}; it has: {', '.join(names)}")
    print(f"{benchmark}/{scenario} {metric}, history key {key} ({len(mine)} run(s); band = median of the last "
          f"{args.last} earlier valid runs)")
    print(f"{'run':<22} {'started (UTC)':<19}  {'value':>12}  {'baseline':>12}  {'change':>8}  status")
    earlier: list[float] = []
    for stored in mine:
        value = stored.result.metrics.get(metric)
        band = statistics.median(earlier[-args.last:]) if earlier else None
        change = f"{(value - band) / abs(band) * 100:+.1f}%" if value is not None and band else "–"
        status = stored.status + ("" if stored.valid is not False else " INVALID")
        print(f"{stored.run_id:<22} {_when(stored.run_started_at):<19}  {_fmt(value):>12}  {_fmt(band):>12}  "
              f"{change:>8}  {status}")
        if value is not None and stored.status != "ERROR" and stored.valid is not False:
            earlier.append(value)
    others = [k for k in keys if k != key]
    if others:
        print(f"other history keys of {benchmark}/{scenario} (another config or hardware): {', '.join(others)} "
              "(--key K)")
    return 0


def _fmt(value: float | None) -> str:
    return "–" if value is None else (f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4g}")


def _report(args: argparse.Namespace, store: Store | None) -> int:
    from bench.results.history import write_run_report

    spec = _one(args, "run")
    path = _run_path(spec, args.results_dir, store)
    print(write_run_report(path, store))
    return 0


def _run_path(spec: str, results_dir: Path, store: Store | None) -> Path:
    """A run directory: a path, a run id (or `latest`) under results_dir, else a run the store resolves."""
    for path in (Path(spec), results_dir / spec):
        if (path / "results.json").is_file():
            return path.resolve()
    run = _stored_run(spec, results_dir, store)
    if run.path and (Path(run.path) / "results.json").is_file():
        return Path(run.path)
    raise BenchError(f"run {run.run_id} is in the store but its directory {run.path} is gone")


def _stored_run(spec: str, results_dir: Path, store: Store | None) -> StoredRun:
    """A run the store resolves (`latest~N`, a prefix), when no run directory has that name."""
    missing = f"no run {spec!r} under {results_dir} (nor a run directory at {spec})"
    if store is None:
        raise BenchError(f"{missing}: see `bench results list`")
    try:
        return store.run(store.resolve(spec))
    except StoreError as exc:
        raise BenchError(f"{missing}, and {exc}") from None


def _results_of(spec: str, args: argparse.Namespace, store: Store | None) -> tuple[str, list[Result]]:
    path = _run_path(spec, args.results_dir, store)
    return path.name, load_results(path)


def compare_two(args: argparse.Namespace, base_spec: str, cand_spec: str) -> int:
    """One run per side: the change table (bench/results/changes.py)."""
    from bench.results.changes import compare_results, render
    from bench.results.compare import NotComparable

    threshold = _threshold(args.threshold)
    store = None
    try:
        needs_store = any(not _is_run_dir(s, args.results_dir) for s in (base_spec, cand_spec))
        store = open_store(args, required=False) if needs_store else None
        base_id, base = _results_of(base_spec, args, store)
        cand_id, cand = _results_of(cand_spec, args, store)
    finally:
        if store is not None:
            store.close()
    if base_id == cand_id and not args.aa:
        raise BenchError(f"run {base_id} is on both sides: a candidate identical to the baseline is allowed only "
                         "with --aa (the A/A self-test)")
    changes = compare_results(base, cand, base_id, cand_id, threshold)
    if not changes.rows:
        raise NotComparable(f"not comparable: nothing in common (A: {', '.join(r.key for r in base) or 'none'}; "
                            f"B: {', '.join(r.key for r in cand) or 'none'})")
    if not changes.comparable:
        raise NotComparable(changes.rows[0].verdict + f" in {changes.rows[0].key}, A = run {base_id}, B = run "
                                                      f"{cand_id}")
    print(render(changes, args.format), end="")
    if args.json:
        _write_json(args.json, changes.to_dict())
    return changes.exit_code(args.fail_on_regression)


def compare_history(args: argparse.Namespace, cand_spec: str) -> int:
    from bench.results.changes import render
    from bench.results.history import run_changes

    threshold = _threshold(args.threshold)
    store = open_store(args)
    assert store is not None
    try:
        path = _run_path(cand_spec, args.results_dir, store)
        store.record(path)  # the candidate is in the store (a run directory never imported)
        changes = run_changes(store, path, last=args.last, threshold=threshold)
    finally:
        store.close()
    if not changes.rows:
        raise BenchError(f"run {path.name}: no earlier run in the store shares a history key with it (same "
                         "benchmark, scenario, config and hardware): nothing to compare against")
    print(render(changes, args.format), end="")
    if args.json:
        _write_json(args.json, changes.to_dict())
    return changes.exit_code(args.fail_on_regression)


def _is_run_dir(spec: str, results_dir: Path) -> bool:
    return any((p / "results.json").is_file() for p in (Path(spec), results_dir / spec))


def _threshold(text: str) -> float:
    raw = text.strip().rstrip("%")
    try:
        value = float(raw) / (100 if text.strip().endswith("%") or float(raw) >= 1 else 1)
    except ValueError:
        raise BenchError(f"--threshold {text!r} is not a percentage: e.g. 5%") from None
    if not 0 < value < 1:
        raise BenchError(f"--threshold {text!r} must lie between 0% and 100%")
    return value


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def compare_repeats(args: argparse.Namespace, specs: dict[str, list[str]], margins: dict[str, float | None]
                    ) -> int:
    """Several runs per side: the overhead verdicts (bench/results/compare.py)."""
    from bench.results.compare import compare_runs, render, resolve_run

    sides = {side: [resolve_run(spec, args.results_dir) for spec in given] for side, given in specs.items()}
    for side, runs in sides.items():
        seen = [run.path for run in runs]
        twice = next((run for i, run in enumerate(runs) if run.path in seen[:i]), None)
        if twice:
            raise BenchError(f"run {twice.run_id} is given twice on the {side} side: each run is one repeat")
    same = [run.run_id for run in sides["candidate"] if run.path in {b.path for b in sides["baseline"]}]
    if same and not args.aa:
        raise BenchError(f"run {same[0]} is on both sides: a candidate identical to the baseline is allowed only "
                         "with --aa (the A/A self-test)")
    comparison = compare_runs(sides["baseline"], sides["candidate"], **margins)
    print(render(comparison), end="")
    if args.json:
        _write_json(args.json, comparison.to_dict())
    return comparison.exit_code
