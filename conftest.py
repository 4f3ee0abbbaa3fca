"""pytest as the user interface of the benchmark suite (tests/benchmarks) — the run directory and the suite, composed
from the options that bench/pytest_plugin.py registers:

    pytest -m smoke                     every benchmark at smoke sizes on the selected executor
    pytest --full                       every benchmark at full sizes
    pytest -m overhead --candidate SPEC  the timed benchmarks under a baseline and a candidate variant, A/B repeated
                                        (tests/benchmarks/test_overhead.py; with -m smoke / --full: both)
    --profile tiny|llama3.1-8b  --model PATH_OR_ID  --executor local  --results-dir DIR  --timeout S (--bench-timeout S)
    --engine-arg KEY=VALUE (vllm.LLM keyword arguments)  --param [BENCHMARK.]KEY=VALUE (workload parameters)
    --executor kubernetes --kubeconfig PATH --parallel N ...   benchmark groups as Jobs, N at a time (README)

The profile, executor, engine and device are printed in the header before anything runs; with the kubernetes
executor the cluster is checked first (bench/executors/cluster_check.py: one usage error, not a failure per test).
Each run writes results/<run_id>/ (results.json, summary.md, logs/, junit.xml) and points results/latest at it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.executors.cluster_check import check_cluster
from bench.overhead import OverheadRun
from bench.overrides import ParamOverrides, parse_engine_args, parse_tags
from bench.pytest_plugin import PLUGIN_NAME, add_timeout_alias
from bench.results.rundir import RunDirectory, new_run_id
from bench.results.store import choose_url
from bench.suite import Choices, SuiteRun, choose
from bench.variants import Comparison, comparison_from_options
from bench.workloads import BENCHMARKS

BENCHMARK_DIR = Path(__file__).parent / "tests" / "benchmarks"
PERFORMANCE_DIR = Path(__file__).parent / "benchmarks"
OVERHEAD_TESTS = BENCHMARK_DIR / "test_overhead.py"
_CHOICES = pytest.StashKey[Choices]()
_RUN_PATH = pytest.StashKey[Path]()
_SUITE = pytest.StashKey[SuiteRun]()
_USER_JUNIT = pytest.StashKey[str]()
_COMPARISON = pytest.StashKey[Comparison]()
_OVERHEAD = pytest.StashKey[OverheadRun]()


# The suite's options come from bench/pytest_plugin.py, an entry point pytest loads before it looks for test paths
# (why: its docstring); loaded here as well for a checkout whose package is not installed with that entry point.
pytest_plugins = [PLUGIN_NAME]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_timeout_alias(parser)  # without the entry point: here, after every installed plugin (pytest-timeout) loaded


def suite_selected(config: pytest.Config) -> bool:
    marks = config.getoption("markexpr") or ""
    return bool(config.getoption("full")) or "smoke" in marks or "overhead" in marks


def _comparison(config: pytest.Config) -> Comparison | None:
    """The comparison the options ask for; `-m overhead` without a candidate is a usage error."""
    compare_file = config.getoption("compare_file")
    comparison = comparison_from_options(
        config.getoption("baseline"), config.getoption("candidate"), Path(compare_file) if compare_file else None,
        config.getoption("repeats"), config.getoption("overhead_seed"), config.getoption("aa"))
    if comparison is None and "overhead" in (config.getoption("markexpr") or ""):
        raise BenchError("-m overhead compares a candidate against a baseline: add --candidate SPEC (e.g. "
                         "--candidate container, --candidate 'wrapper=taskset -c 0') or --compare FILE")
    return comparison


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not suite_selected(config) or hasattr(config, "workerinput"):
        return
    try:
        comparison = _comparison(config)
        choices = choose(config.getoption("profile"), config.getoption("executor"), _kubernetes_options(config),
                         config.getoption("model"))
        if not (config.option.collectonly or config.option.help):  # a cluster only where tests will run
            check_cluster(choices.executor)  # one error up front, not one failed test per benchmark
    except BenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    # The run directory is named now (the header shows it, junit.xml goes there) and created once the plan is valid
    # (pytest_collection_modifyitems): a bad --param or --model leaves no empty run and `latest` where it was.
    run_path = RunDirectory.path_for(Path(config.getoption("results_dir")), new_run_id())
    config.stash[_CHOICES] = choices
    config.stash[_RUN_PATH] = run_path
    if comparison is not None:
        config.stash[_COMPARISON] = comparison
    if config.option.xmlpath:
        config.stash[_USER_JUNIT] = config.option.xmlpath
    else:
        config.option.xmlpath = str(run_path / "junit.xml")


def _kubernetes_options(config: pytest.Config) -> dict | None:
    """The kubernetes executor's options (None with another executor)."""
    if config.getoption("executor") != "kubernetes":
        return None
    from bench.executors.k8s_manifests import parse_node_selector

    selector = config.getoption("node_selector")
    return {
        "kubeconfig": config.getoption("kubeconfig"), "context": config.getoption("context"),
        "namespace": config.getoption("namespace"), "gpus": config.getoption("gpus"),
        "runtime_class": config.getoption("runtime_class"), "image": config.getoption("image"),
        "parallel": config.getoption("parallel"),
        "node_selector": parse_node_selector(selector) if selector else None,
    }


def pytest_report_header(config: pytest.Config) -> list[str]:
    if _CHOICES not in config.stash:
        return ["kcloud-mlperf: benchmark suite not selected (use -m smoke or --full)"]
    lines = ["kcloud-mlperf", *(f"  {line}" for line in config.stash[_CHOICES].lines())]
    return [*lines, f"  results:  {config.stash[_RUN_PATH]}"]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With the suite selected (`-m smoke`, `--full`), collect only the suite: the project's own tests need the test
    tools (`make test`), which the smoke command does not install, and none of them is part of the suite."""
    if not suite_selected(config):
        return None
    if collection_path == OVERHEAD_TESTS and _COMPARISON not in config.stash:
        return True  # overhead tests exist only with a candidate: `-m smoke` alone collects what it always did
    if collection_path == PERFORMANCE_DIR:
        return True  # the project's performance benchmarks (pytest benchmarks/ --benchmark-only) are no suite test
    tests = BENCHMARK_DIR.parent
    if BENCHMARK_DIR in (collection_path, *collection_path.parents) or collection_path.name == "__init__.py":
        return None
    return True if tests in collection_path.parents else None


def _is_suite_test(item: pytest.Item) -> bool:
    return BENCHMARK_DIR in Path(item.path).parents or Path(item.path).parent == BENCHMARK_DIR


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    full = config.getoption("full")
    if full:  # --full: the benchmark suite only, every test marked `full`
        keep = [i for i in items if _is_suite_test(i) and i.get_closest_marker("full")]
    elif _CHOICES in config.stash:
        keep = items
    else:  # the project's own tests: the suite runs only when asked for
        keep = [i for i in items if not _is_suite_test(i)]
    if _COMPARISON not in config.stash:  # overhead tests only run with a candidate
        keep = [i for i in keep if not i.get_closest_marker("overhead")]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    if _CHOICES not in config.stash:
        return
    requested, compared = [], []
    for item in items:
        marker = item.get_closest_marker("suite_benchmark")
        if marker and hasattr(item, "callspec"):
            requested.append((marker.args[0], item.callspec.params["scenario"]))
        if item.get_closest_marker("overhead") and hasattr(item, "callspec"):
            pair = (item.callspec.params["bench"], item.callspec.params["scenario"])
            compared += [pair] if pair not in compared else []
    common = dict(size="full" if full else "smoke", model=config.getoption("model"),
                  params=ParamOverrides.parse(config.getoption("bench_param"), BENCHMARKS),
                  engine_args=parse_engine_args(config.getoption("engine_arg")),
                  timeout_s=config.getoption("bench_timeout"), echo=_terminal_echo(config))
    try:
        if _COMPARISON in config.stash and not compared:
            raise BenchError("--candidate was given but no overhead test is selected (check -k / -m)")
        overhead = OverheadRun.check(compared, config.stash[_CHOICES], config.stash[_COMPARISON],
                                     node=config.getoption("node"), **common, **_margins(config)) if compared else None
        results_dir = Path(config.getoption("results_dir"))
        suite = SuiteRun.prepare(requested, config.stash[_CHOICES], results_dir,
                                 run_id=config.stash[_RUN_PATH].name, endpoint=config.getoption("endpoint"),
                                 served_model=config.getoption("served_model"),
                                 store_url=choose_url(config.getoption("store"), results_dir), trigger="pytest",
                                 tags=parse_tags(config.getoption("bench_tag")), **common)
        if overhead is not None:
            config.stash[_OVERHEAD] = overhead.attach(suite.run_dir)
    except BenchError as exc:
        if _USER_JUNIT not in config.stash:
            _withdraw_junit(config)
        raise pytest.UsageError(str(exc)) from None
    config.stash[_SUITE] = suite
    for line in suite.plan_lines():  # known once the plan is: the header above was printed before collection
        suite.echo(f"  {line}")
    if _OVERHEAD in config.stash:
        for line in config.stash[_OVERHEAD].lines():
            suite.echo(f"  {line}")


def _margins(config: pytest.Config) -> dict[str, float | None]:
    from bench.metrics.overhead import parse_margins

    try:
        return parse_margins(config.getoption("max_overhead"), config.getoption("max_p99_delta"))
    except ValueError as exc:
        raise BenchError(str(exc)) from None


def _withdraw_junit(config: pytest.Config) -> None:
    """No run directory, so no junit.xml in it: pytest_configure pointed --junitxml there, and pytest's junitxml
    plugin would create the directory to write it at session end. pytest has no public way to take --junitxml back;
    this undoes what that plugin's pytest_configure did, as its own pytest_unconfigure does."""
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        del config.stash[xml_key]
        config.pluginmanager.unregister(xml)


def _terminal_echo(config: pytest.Config):
    """Stream workload output live, past pytest's output capture."""
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def echo(line: str) -> None:
        if capture is None or reporter is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return echo


@pytest.fixture(scope="session")
def overhead_run(pytestconfig: pytest.Config) -> OverheadRun:
    if _OVERHEAD not in pytestconfig.stash:
        pytest.skip("overhead tests run with --candidate SPEC (or --compare FILE)")
    return pytestconfig.stash[_OVERHEAD]


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> Iterator[SuiteRun]:
    if _SUITE not in pytestconfig.stash:
        pytest.skip("the benchmark suite runs with -m smoke or --full")
    yield pytestconfig.stash[_SUITE]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Groups started in parallel that no test waited for (e.g. `-x`): wait for them — or, after Ctrl-C, stop them
    and delete their Jobs."""
    suite = session.config.stash.get(_SUITE, None)
    if suite is not None:
        suite.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The overhead table (metric | baseline | candidate | overhead | verdict) and the overall verdict, at the end."""
    overhead = config.stash.get(_OVERHEAD, None)
    if overhead is None or not overhead.records:
        return
    from bench.results.compare import table_lines

    terminalreporter.section("overhead")
    if overhead.verdicts is not None:
        for line in table_lines(overhead.verdicts):
            terminalreporter.write_line(line)
    verdict = {0: "PASS", 1: "FAIL", 2: f"NOT COMPARABLE ({overhead.refused})", 3: "INCONCLUSIVE"}[overhead.exit_code]
    terminalreporter.write_line(f"overall: {verdict} — details, every repeat and the plots in {overhead.run_dir.path}")


def pytest_unconfigure(config: pytest.Config) -> None:
    suite = config.stash.get(_SUITE, None)
    user_junit = config.stash.get(_USER_JUNIT, None)
    if suite is not None and user_junit and Path(user_junit).exists():
        shutil.copyfile(user_junit, suite.run_dir.junit)
