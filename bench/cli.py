"""The `bench` command: run one benchmark outside pytest, build the tiny model, look at and compare results.

Every user error ends as one line `bench: error: …` naming the problem and the fix, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from bench.errors import BenchError
from bench.overrides import ParamOverrides, parse_engine_args, parse_tags
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
    run.add_argument("--num-prompts", type=_int, help="number of prompts/requests (same as --param num_prompts=N)")
    add_override_options(run)
    add_endpoint_options(run)
    run.add_argument("--full", action="store_true", help="full sizes instead of smoke sizes")
    run.add_argument("--output", type=Path, help="also write the result JSON here")
    run.add_argument("--executor", default="local", help="where to run: local (default) or kubernetes")
    add_kubernetes_options(run)
    run.add_argument("--results-dir", type=Path, default=Path("results"), help="run directories go here")
    run.add_argument("--timeout", type=_int, help="seconds before the workload is killed (default: profile's)")
    add_store_option(run)
    add_tag_option(run)

    build = sub.add_parser("build-model", help="build (or find) the embedded tiny model and print its directory; "
                                               "with --shape, write a weightless model directory of a real shape")
    build.add_argument("--shape", help="an architecture without weights: llama3.1-8b, llama3.1-70b, llama3.2-1b, tiny "
                                       "(runs with load_format=dummy: real speed, random text)")
    build.add_argument("dir", nargs="?", type=Path, help="with --shape: the directory to write")

    boot = sub.add_parser("bootstrap", help="provision the cluster (playbooks/site.yml), then run the smoke suite")
    boot.add_argument("--inventory", type=Path, required=True, help="inventory, e.g. inventory/mysite/hosts.yml")
    boot.add_argument("--smoke", action="store_true", help="after provisioning, run `pytest -m smoke` on the cluster")
    boot.add_argument("--profile", help="profile for the smoke suite (default: llama3.1-8b)")
    boot.add_argument("--results-dir", type=Path, default=Path("results"))

    res = sub.add_parser("results", help="runs in the results store: list, show, history, import, report, export",
                         description="list [--benchmark B] [--since DATE] [--trigger T] | show [RUN] | "
                                     "history BENCHMARK SCENARIO METRIC [--last N] [--key K] | import DIR... | "
                                     "report [RUN] | export [RUN] --format seed-json. RUN: a run id (or a unique "
                                     "prefix), latest, latest~N")
    res.add_argument("action", choices=["list", "show", "history", "import", "report", "export"])
    res.add_argument("args", nargs="*", metavar="ARG", help="RUN (default: latest); history: BENCHMARK SCENARIO "
                                                            "METRIC; import: run or results directories")
    res.add_argument("--results-dir", type=Path, default=Path("results"))
    add_store_option(res)
    res.add_argument("--benchmark", help="list: only runs with this benchmark")
    res.add_argument("--since", help="list: only runs started on or after this date (YYYY-MM-DD or ISO time)")
    res.add_argument("--trigger", choices=["cli", "pytest", "scheduled"], help="list: only runs started so")
    res.add_argument("--last", type=_int, default=5, help="history: the baseline band is the median of the last "
                                                          "N earlier runs (default 5)")
    res.add_argument("--key", help="history: this history key (default: the latest result's)")
    res.add_argument("--format", default="seed-json", help="export format: seed-json (resnet50 results)")
    res.add_argument("--output", type=Path, help="export: write here as well as to stdout")

    ovh = sub.add_parser("overhead", help="a candidate runtime against a baseline: A/B repeated in ABBA order, "
                                          "verdicts per metric (exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE)")
    ovh.add_argument("benchmark", nargs="+", help="benchmarks to compare: timed ones (llm_throughput, resnet50) get "
                                                  "verdicts; accuracy ones (summarization, mmlu_pro) must keep their "
                                                  "scores")
    ovh.add_argument("--scenario", action="append", help="only this scenario (repeatable; default: every scenario "
                                                         "with an overhead metric)")
    ovh.add_argument("--profile", help=f"one of: {', '.join(PROFILES)} (default: tiny without a GPU)")
    ovh.add_argument("--model", help="model directory or Hugging Face id (default: the profile's)")
    add_comparison_options(ovh)
    add_override_options(ovh)
    ovh.add_argument("--full", action="store_true", help="full sizes (and 10 repeats) instead of smoke sizes (3)")
    ovh.add_argument("--executor", default="local", help="where to run: local (default) or kubernetes")
    add_kubernetes_options(ovh)
    ovh.add_argument("--results-dir", type=Path, default=Path("results"), help="run directories go here")
    add_store_option(ovh)
    ovh.add_argument("--timeout", type=_int, help="seconds per workload run (default: profile's)")

    cmp = sub.add_parser("compare", help="a candidate run against a baseline run or history: one row per metric "
                                         "(improved / regressed / unchanged); several runs per side: overhead "
                                         "verdicts (exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE)")
    cmp.add_argument("runs", nargs="*", metavar="RUN", help="BASELINE CANDIDATE: one run per side (a run id or "
                                                            "unique prefix, latest, latest~N, or a run directory)")
    cmp.add_argument("--baseline", nargs="+", metavar="RUN", help="several runs of the baseline, one repeat each; "
                                                                  "`history`: the median of the last N runs with "
                                                                  "each result's history key")
    cmp.add_argument("--candidate", nargs="+", metavar="RUN", help="several runs of the candidate, one repeat each")
    cmp.add_argument("--results-dir", type=Path, default=Path("results"), help="where run ids are looked up")
    add_store_option(cmp)
    cmp.add_argument("--threshold", default="5%", metavar="PCT", help="one run per side: a change beyond this is "
                                                                      "improved/regressed (default 5%%)")
    cmp.add_argument("--last", type=_int, default=5, help="--baseline history: runs in the median (default 5)")
    cmp.add_argument("--fail-on-regression", action="store_true", help="one run per side: exit 1 when a metric "
                                                                       "regressed (or a result errored/is INVALID)")
    cmp.add_argument("--format", choices=["table", "markdown", "json", "csv"], default="table",
                     help="one run per side: how the rows are printed (default table)")
    cmp.add_argument("--max-overhead", metavar="PCT", help="throughput margin for every metric, e.g. 5%% "
                                                           "(default: the profile's, 5%%)")
    cmp.add_argument("--max-p99-delta", metavar="MS", help="latency margin for every metric, e.g. 2ms "
                                                           "(default: the profile's, 2 ms)")
    cmp.add_argument("--json", type=Path, metavar="FILE", help="also write the comparison as JSON here")
    cmp.add_argument("--aa", action="store_true", help="allow the same run on both sides (A/A self-test)")
    return parser


def add_comparison_options(parser: argparse.ArgumentParser) -> None:
    cmp = parser.add_argument_group("comparison (bench/variants.py lists every variant key)")
    cmp.add_argument("--candidate", action="append", metavar="SPEC",
                     help="the candidate variant, one item per option: container, 'wrapper=taskset -c 0', "
                          "env=KEY=VALUE, runtime-class=NAME, volume=hostPath:/src:/dst, image=REF, name=LABEL ...")
    cmp.add_argument("--baseline", action="append", metavar="SPEC", help="the baseline variant (default: the "
                                                                        "run's own settings), same items")
    cmp.add_argument("--compare", type=Path, metavar="FILE", dest="compare_file",
                     help="YAML with baseline, candidate, repeats, seed (the command line's options win)")
    cmp.add_argument("--repeats", type=_int, metavar="N", help="runs per side (default: smoke 3, --full 10)")
    cmp.add_argument("--seed", type=_int, help="seed of the ABBA order (default 0)")
    cmp.add_argument("--aa", action="store_true", help="allow a candidate identical to the baseline (A/A self-test)")
    cmp.add_argument("--node", metavar="NAME", help="kubernetes: run both sides on this node (default: the node "
                                                    "with the most free GPUs)")
    cmp.add_argument("--max-overhead", metavar="PCT", help="throughput margin, e.g. 5%% (default: the profile's)")
    cmp.add_argument("--max-p99-delta", metavar="MS", help="latency margin, e.g. 2ms (default: the profile's)")


def parse_margins(args: argparse.Namespace) -> dict[str, float | None]:
    from bench.metrics.overhead import parse_margins as parse

    try:
        return parse(args.max_overhead, args.max_p99_delta)
    except ValueError as exc:
        raise BenchError(str(exc)) from None


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", help="results store: sqlite:///PATH or "
                        "postgresql+psycopg://USER@HOST/DB (default: $KCLOUD_STORE, else "
                        "sqlite:///<results-dir>/history.db; none: off)")


def add_tag_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag", action="append", metavar="KEY=VALUE", help="a label of the run in run.json and the "
                        "store, e.g. --tag driver=580.65 (repeatable)")


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", metavar="URL", help="serving: benchmark this OpenAI-compatible server "
                        "(http://HOST:PORT) instead of starting one")
    parser.add_argument("--served-model", metavar="NAME", help="serving with --endpoint: the model name to request "
                        "(default: the only one the endpoint lists)")


def add_override_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine-arg", action="append", metavar="KEY=VALUE", dest="engine_arg",
                        help="a vllm.LLM keyword argument over the profile's (repeatable; JSON values: "
                             "tensor_parallel_size=2, enforce_eager=true, quantization=fp8)")
    parser.add_argument("--param", action="append", metavar="[BENCHMARK.]KEY=VALUE", dest="param",
                        help="a workload parameter over the profile's sizes (repeatable), e.g. "
                             "llm_throughput.input_len=2048 or summarization.dataset=/data/cnn_eval.json")


def add_kubernetes_options(parser: argparse.ArgumentParser) -> None:
    k8s = parser.add_argument_group("kubernetes executor")
    k8s.add_argument("--dry-run", action="store_true", help="print the manifests it would apply; submit nothing")
    k8s.add_argument("--gpus", type=_int, help="nvidia.com/gpu per Job (default 1)")
    k8s.add_argument("--runtime-class", help="runtimeClassName of the pods (e.g. the virtualized runtime under test)")
    k8s.add_argument("--namespace", help="namespace of the Jobs (default kcloud-bench)")
    k8s.add_argument("--node-selector", action="append", metavar="KEY=VALUE", help="nodeSelector entry (repeatable)")
    k8s.add_argument("--image", help="container image (default: the pinned official vLLM image)")
    k8s.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    k8s.add_argument("--context", help="kubeconfig context (default: the current one)")
    k8s.add_argument("--parallel", type=_int, metavar="N",
                     help="benchmark groups (Jobs) on the cluster at the same time (default 1)")


def kubernetes_options(args: argparse.Namespace) -> dict | None:
    """The kubernetes executor's options from `bench run` arguments (None with another executor)."""
    from bench.executors.k8s_manifests import parse_node_selector

    given = {name: getattr(args, name) for name in ("gpus", "runtime_class", "namespace", "node_selector", "image",
                                                    "kubeconfig", "context", "parallel")}
    if args.executor != "kubernetes":
        used = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None] + (
            ["--dry-run"] if args.dry_run else [])
        if used:
            raise BenchError(f"{', '.join(used)} only apply with --executor kubernetes")
        return None
    given["node_selector"] = parse_node_selector(given["node_selector"]) if given["node_selector"] else None
    return {**given, "dry_run": args.dry_run}


def cmd_run(args: argparse.Namespace) -> int:
    from bench.suite import SuiteRun, choose

    info = get_benchmark(args.benchmark)
    scenarios = [args.scenario] if args.scenario else list(info.scenarios)
    for scenario in scenarios:
        check_scenario(info, scenario)
    k8s_options = kubernetes_options(args)
    in_process = info.engine == "llm" or (info.engine == "server" and not args.endpoint)
    if in_process and k8s_options is None:  # on Kubernetes, vLLM is in the image
        from bench.engines.vllm_offline import require_vllm

        require_vllm()
    items = [f"num_prompts={args.num_prompts}"] if args.num_prompts is not None else []
    params = ParamOverrides.parse(items + (args.param or []), BENCHMARKS)
    engine_args = parse_engine_args(args.engine_arg)
    requested = [(args.benchmark, s) for s in scenarios]
    size = "full" if args.full else "smoke"
    choices = choose(args.profile, args.executor, k8s_options, args.model)
    if k8s_options and k8s_options["dry_run"]:
        return dry_run(args, requested, choices, size, params, engine_args)
    from bench.executors.cluster_check import check_cluster

    check_cluster(choices.executor)  # a missing kubeconfig or a silent API server: one error before anything runs
    from bench.results.store import choose_url

    suite = SuiteRun.prepare(requested, choices, args.results_dir, size=size, model=args.model, params=params,
                             engine_args=engine_args, timeout_s=args.timeout, endpoint=args.endpoint,
                             served_model=args.served_model, store_url=choose_url(args.store, args.results_dir),
                             tags=parse_tags(args.tag))
    suite.announce()
    results = suite.run_all()
    suite.conclude()
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


def dry_run(args: argparse.Namespace, requested: list[tuple[str, str]], choices, size: str,
            params: ParamOverrides, engine_args: dict) -> int:
    """Print the manifests `bench run --executor kubernetes` would apply; no cluster, no run directory."""
    from bench.results.rundir import new_run_id
    from bench.suite import plan_run

    plan, notes = plan_run(requested, choices, size, args.model, params, engine_args, args.timeout, args.endpoint,
                           args.served_model)
    print(f"# bench run {args.benchmark} --dry-run: {choices.executor.describe()}; nothing submitted")
    for note in [*choices.profile.notes, *notes]:
        print(f"# note: {note}")
    print(choices.executor.dry_run_yaml(plan, new_run_id()), end="")
    return 0


def cmd_overhead(args: argparse.Namespace) -> int:
    from bench.overhead import OverheadRun
    from bench.variants import comparison_from_options
    from bench.workloads import overhead_metrics

    comparison = comparison_from_options(args.baseline, args.candidate, args.compare_file, args.repeats, args.seed,
                                         args.aa)
    if comparison is None:
        raise BenchError("bench overhead needs a candidate: --candidate SPEC (e.g. --candidate container) or "
                         "--compare FILE")
    requested = []
    for name in args.benchmark:
        info = get_benchmark(name)
        declared = overhead_metrics(name)
        for scenario in args.scenario or []:
            check_scenario(info, scenario)
        # a timed benchmark: its scenarios with an overhead metric; an accuracy benchmark: its scores, compared
        scenarios = [s for s in (args.scenario or info.scenarios) if s in declared or not declared]
        if not scenarios:
            raise BenchError(f"{name} has no overhead metric for {', '.join(args.scenario or info.scenarios)}: "
                             f"its timed scenarios are {', '.join(declared)}")
        requested += [(name, s) for s in scenarios if (name, s) not in requested]
    margins = parse_margins(args)
    k8s_options = kubernetes_options(args)
    if k8s_options and k8s_options.pop("dry_run"):
        raise BenchError("--dry-run applies to `bench run`; `bench overhead` checks the cluster before it starts")
    from bench.executors.cluster_check import check_cluster
    from bench.results.store import choose_url
    from bench.suite import choose

    choices = choose(args.profile, args.executor, k8s_options, args.model)
    check_cluster(choices.executor)
    run = OverheadRun.prepare(
        requested, choices, args.results_dir, comparison, size="full" if args.full else "smoke", model=args.model,
        params=ParamOverrides.parse(args.param or [], BENCHMARKS), engine_args=parse_engine_args(args.engine_arg),
        timeout_s=args.timeout, node=args.node, store_url=choose_url(args.store, args.results_dir), **margins)
    print("kcloud-mlperf overhead")
    for line in [*run.choices.lines(), *run.lines()]:
        print(f"  {line}")
    print(f"  results:  {run.run_dir.path}")
    run.run()
    print()
    print((run.run_dir.path / "summary.md").read_text().split("## Overhead", 1)[-1].strip())
    verdict = {0: "PASS", 1: "FAIL", 2: "NOT COMPARABLE", 3: "INCONCLUSIVE"}[run.exit_code]
    print(f"\nbench overhead: {verdict} (overhead.json, plots and every repeat in {run.run_dir.path})")
    return run.exit_code


def cmd_build_model(args: argparse.Namespace) -> int:
    def log(message: str) -> None:
        print(message, file=sys.stderr)

    if args.shape is None:
        if args.dir is not None:
            raise BenchError("a directory is given only with --shape NAME (the tiny model lives in the cache)")
        from bench.models.tiny import ensure_tiny_model

        print(ensure_tiny_model(log=log))
        return 0
    if args.dir is None:
        raise BenchError(f"--shape {args.shape} needs a directory: bench build-model --shape {args.shape} DIR")
    from bench.models.shapes import build_shape

    out = build_shape(args.shape, args.dir, log=log)
    log(f"use it with --model {out} (weights are random: load_format=dummy is applied automatically)")
    print(out)
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from bench.bootstrap import bootstrap

    return bootstrap(args.inventory, smoke=args.smoke, profile=args.profile, results_dir=args.results_dir)


def cmd_results(args: argparse.Namespace) -> int:
    from bench import cli_results as commands

    return commands.results(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from bench import cli_results as commands

    positional = len(args.runs) == 2 and not args.baseline and not args.candidate
    if args.baseline and args.baseline[0] == "history":  # nargs="+" takes the candidate along when it follows
        candidate = [*args.baseline[1:], *args.runs, *(args.candidate or [])]
        if len(candidate) != 1:
            raise BenchError("--baseline history compares one candidate run: `bench compare --baseline history RUN`")
        return commands.compare_history(args, candidate[0])
    if not positional and (args.runs or not (args.baseline and args.candidate)):
        raise BenchError("give two runs (`bench compare BASELINE CANDIDATE`), a run against history (`bench compare "
                         "--baseline history RUN`) or several per side (`bench compare --baseline RUN [RUN ...] "
                         "--candidate RUN [RUN ...]`)")
    margins = parse_margins(args)  # checked whichever comparison runs
    specs = {"baseline": args.baseline or args.runs[:1], "candidate": args.candidate or args.runs[1:]}
    if len(specs["baseline"]) == 1 and len(specs["candidate"]) == 1:
        return commands.compare_two(args, specs["baseline"][0], specs["candidate"][0])
    return commands.compare_repeats(args, specs, margins)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse binds `results ACTION [ARG ...]` before it sees options: `results export --format F RUN` leaves RUN
    # over
    if extra and args.command == "results" and not any(e.startswith("-") for e in extra):
        args.args += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "bootstrap":
            return cmd_bootstrap(args)
        if args.command == "build-model":
            return cmd_build_model(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "overhead":
            return cmd_overhead(args)
        return cmd_results(args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; results of finished benchmarks are in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
