"""The `bench` command: run one benchmark outside pytest, build the tiny model, look at results.

Every user error ends as one line `bench: error: …` naming the problem and the fix, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from bench.errors import BenchError
from bench.profiles import PROFILES
from bench.workloads import BENCHMARKS, check_scenario, get_benchmark


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="kcloud-mlperf: prove a GPU cluster is fit for ML inference")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one benchmark (all its scenarios unless --scenario)")
    run.add_argument("benchmark", help=f"one of: {', '.join(BENCHMARKS)}")
    run.add_argument("--scenario", help="one scenario of the benchmark (default: all)")
    run.add_argument("--profile", help=f"one of: {', '.join(PROFILES)} (default: tiny without a GPU)")
    run.add_argument("--model", help="model directory or Hugging Face id (default: the profile's)")
    run.add_argument("--num-prompts", type=_int, help="number of prompts/requests")
    run.add_argument("--full", action="store_true", help="full sizes instead of smoke sizes")
    run.add_argument("--output", type=Path, help="also write the result JSON here")
    run.add_argument("--executor", default="local", help="where to run: local (default)")
    run.add_argument("--results-dir", type=Path, default=Path("results"), help="run directories go here")
    run.add_argument("--timeout", type=_int, help="seconds before the workload is killed (default: profile's)")

    sub.add_parser("build-model", help="build (or find) the embedded tiny model and print its directory")

    res = sub.add_parser("results", help="list runs or show one run's summary")
    res.add_argument("action", choices=["list", "show"])
    res.add_argument("run", nargs="?", default="latest", help="run id (default: latest)")
    res.add_argument("--results-dir", type=Path, default=Path("results"))
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from bench.suite import SuiteRun, choose

    info = get_benchmark(args.benchmark)
    scenarios = [args.scenario] if args.scenario else list(info.scenarios)
    for scenario in scenarios:
        check_scenario(info, scenario)
    if info.engine == "llm":
        from bench.engines.vllm_offline import require_vllm

        require_vllm()
    overrides = {"num_prompts": args.num_prompts}
    choices = choose(args.profile, args.executor)
    suite = SuiteRun.prepare(
        [(args.benchmark, s) for s in scenarios], choices, args.results_dir,
        size="full" if args.full else "smoke", model=args.model, overrides=overrides, timeout_s=args.timeout,
    )
    suite.announce()
    results = suite.run_all()
    if args.output:
        payload = [r.to_dict() for r in results]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2) + "\n")
    print()
    print((suite.run_dir.path / "summary.md").read_text())
    errored = [r for r in results if r.error]
    for r in errored:
        print(f"bench: error: {r.key}: {r.error}", file=sys.stderr)
    return 1 if errored or not all(r.passed for r in results) else 0


def cmd_results(args: argparse.Namespace) -> int:
    root = args.results_dir
    if args.action == "list":
        runs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.exists() else []
        for run in runs:
            results = json.loads((run / "results.json").read_text()) if (run / "results.json").exists() else []
            passed = sum(r["passed"] for r in results)
            print(f"{run.name}  {passed}/{len(results)} passed")
        if not runs:
            print(f"no runs under {root}")
        return 0
    summary = root / args.run / "summary.md"
    if not summary.exists():
        raise BenchError(f"no run {args.run!r} under {root}: see `bench results list`")
    print(summary.read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "build-model":
            from bench.models.tiny import ensure_tiny_model

            print(ensure_tiny_model(log=lambda m: print(m, file=sys.stderr)))
            return 0
        return cmd_results(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; results of finished benchmarks are in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
