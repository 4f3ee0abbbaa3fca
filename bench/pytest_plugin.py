"""The benchmark suite's pytest options, as a plugin pytest loads before it reads the command line for test paths.

The package registers this module as a `pytest11` entry point (pyproject.toml), so pytest knows every suite option,
and how many values it takes, before it loads the root conftest.py (which composes the suite from them). Without
that, pytest reads `--results-dir /data/runs`, `--kubeconfig /site/admin.conf` or `--model /models/m` as an unknown
flag followed by a test path, roots the run at that path, finds neither pyproject.toml's [tool.pytest.ini_options]
nor the root conftest.py, and ends with `unrecognized arguments`.

Knowing the options is not quite enough: pytest settles the rootdir and the configuration file from the free
arguments first and loads entry-point plugins after that (`Config.parse`, `_preparse` before pytest 9). So once the
arguments parse with these options, `pytest_load_initial_conftests` asks pytest's own `determine_setup` again; where
the answer differs (an option's value was taken for a test path), the run takes the new rootdir, configuration file
and its `addopts` — exactly what the `--opt=VALUE` spelling gets — before any conftest is looked for.

Where the entry point is not installed (a checkout put on PYTHONPATH, `PYTEST_DISABLE_PLUGIN_AUTOLOAD`), the root
conftest loads this module itself: the options then exist, and a path option needs the `--opt=VALUE` spelling, which
is why the project's own pytest invocations (Makefile, `bench bootstrap`, benchmarks/gpu_validation.sh) write it so.

PYTEST_DONT_REWRITE: no assertions here, and the root conftest imports this module before pytest's plugin loader does.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
from pathlib import Path

import pytest

PLUGIN_NAME = "bench.pytest_plugin"  # the entry point's name: the root conftest's pytest_plugins skips it when loaded


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kcloud-mlperf", "benchmark suite")
    group.addoption("--full", action="store_true", help="run the benchmark suite at full sizes")
    group.addoption("--profile", default=None, help="tiny | llama3.1-8b (default: tiny without a GPU)")
    group.addoption("--model", default=None, help="model directory or Hugging Face id (default: the profile's)")
    group.addoption("--executor", default="local", help="where benchmarks run: local (default) or kubernetes")
    group.addoption("--engine-arg", action="append", default=None, metavar="KEY=VALUE", dest="engine_arg",
                    help="a vllm.LLM keyword argument over the profile's (repeatable; JSON values)")
    group.addoption("--param", action="append", default=None, metavar="[BENCHMARK.]KEY=VALUE", dest="bench_param",
                    help="a workload parameter over the profile's sizes (repeatable)")
    group.addoption("--endpoint", default=None, metavar="URL",
                    help="serving: benchmark this OpenAI-compatible server (http://HOST:PORT) instead of starting one")
    group.addoption("--served-model", default=None, metavar="NAME",
                    help="serving with --endpoint: the model name to request (default: the only one it lists)")
    k8s = parser.getgroup("kcloud-mlperf kubernetes", "kubernetes executor (with --executor kubernetes)")
    k8s.addoption("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    k8s.addoption("--context", default=None, help="kubeconfig context (default: the current one)")
    k8s.addoption("--namespace", default=None, help="namespace of the benchmark Jobs (default: kcloud-bench)")
    k8s.addoption("--gpus", type=int, default=None, help="nvidia.com/gpu per Job (default: 1)")
    k8s.addoption("--runtime-class", default=None, help="runtimeClassName of the benchmark pods")
    k8s.addoption("--node-selector", action="append", default=None, metavar="KEY=VALUE", help="nodeSelector")
    k8s.addoption("--image", default=None, help="container image (default: the pinned official vLLM image)")
    k8s.addoption("--parallel", type=int, default=None, metavar="N",
                  help="benchmark groups (Jobs) on the cluster at the same time (default: 1)")
    cmp = parser.getgroup("kcloud-mlperf overhead", "overhead comparisons (pytest -m overhead --candidate SPEC)")
    cmp.addoption("--candidate", action="append", default=None, metavar="SPEC",
                  help="the candidate variant, one item per option: container, 'wrapper=taskset -c 0', env=K=V, "
                       "runtime-class=NAME, volume=hostPath:/src:/dst, image=REF, name=LABEL (bench/variants.py)")
    cmp.addoption("--baseline", action="append", default=None, metavar="SPEC",
                  help="the baseline variant (default: the run's own settings)")
    cmp.addoption("--compare", default=None, metavar="FILE", dest="compare_file",
                  help="YAML with baseline, candidate, repeats, seed")
    cmp.addoption("--repeats", type=int, default=None, metavar="N", help="runs per side (default: smoke 3, full 10)")
    cmp.addoption("--overhead-seed", type=int, default=None, metavar="N", help="seed of the ABBA order (default 0)")
    cmp.addoption("--aa", action="store_true", help="allow a candidate identical to the baseline (A/A self-test)")
    cmp.addoption("--node", default=None, metavar="NAME", help="kubernetes: both sides on this node")
    cmp.addoption("--max-overhead", default=None, metavar="PCT", help="throughput margin, e.g. 5%% (profile's)")
    cmp.addoption("--max-p99-delta", default=None, metavar="MS", help="latency margin, e.g. 2ms (profile's)")
    cmp.addoption("--strict-overhead", action="store_true", help="an INCONCLUSIVE verdict fails instead of skipping")
    group.addoption("--results-dir", default="results", help="run directories go here (default: results/)")
    group.addoption("--store", default=None, metavar="URL",
                    help="results store: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (default: $KCLOUD_STORE, "
                         "else sqlite:///<results-dir>/history.db; none: off)")
    group.addoption("--tag", action="append", default=None, metavar="KEY=VALUE", dest="bench_tag",
                    help="a label of the run in run.json and the store (repeatable), e.g. --tag driver=580.65")
    group.addoption("--bench-timeout", type=int, default=None, dest="bench_timeout",
                    help="seconds per workload process (default: profile's)")


def add_timeout_alias(parser: pytest.Parser) -> None:
    """`--timeout` as an alias of `--bench-timeout`, unless a plugin (pytest-timeout) already owns that name. Added
    once every installed plugin has registered its options, so that whichever loads first, the plugin keeps it."""
    with contextlib.suppress(ValueError, argparse.ArgumentError):
        parser.getgroup("kcloud-mlperf").addoption("--timeout", type=int, default=None, dest="bench_timeout",
                                                   help="alias of --bench-timeout")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    add_timeout_alias(parser)
    _rederive_rootdir(early_config, parser, args)


def _rederive_rootdir(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Give the run the rootdir and configuration file pytest finds once the suite's options are known.

    pytest has no public way to set them after the fact: this sets the Config attributes its own parse sets
    (checked on pytest 8.3, 8.4 and 9.2); tests/e2e/test_suite_paths.py fails if a release changes them."""
    from _pytest.config import findpaths

    namespace = config.known_args_namespace  # parsed again after the entry-point plugins registered their options
    wanted = {"inifile": namespace.inifilename, "override_ini": namespace.override_ini, "args": namespace.file_or_dir,
              "rootdir_cmd_arg": namespace.rootdir or None, "invocation_dir": config.invocation_params.dir}
    accepted = inspect.signature(findpaths.determine_setup).parameters  # override_ini: pytest ≥ 9
    rootpath, inipath, inicfg, *ignored = findpaths.determine_setup(
        **{k: v for k, v in wanted.items() if k in accepted})
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    old_addopts = list(config.getini("addopts"))
    ini_attr = "_inicfg" if hasattr(config, "_inicfg") else "inicfg"  # pytest 9 / pytest 8
    if not all(hasattr(config, a) for a in ("_rootpath", "_inipath", "_inicache")):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} took an option's value for a test path (rootdir {config.rootpath}) and "
            f"kcloud-mlperf cannot correct it in this pytest version: write path options as --results-dir=DIR")
    config._rootpath, config._inipath = rootpath, inipath  # type: ignore[attr-defined]
    setattr(config, ini_attr, inicfg)
    if ignored and hasattr(config, "_ignored_config_files"):
        config._ignored_config_files = ignored[0]  # type: ignore[attr-defined]
    config._inicache.clear()  # type: ignore[attr-defined]
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    # addopts of the configuration file pytest had found (if any) lead the arguments: swap in the new file's
    if args[:len(old_addopts)] == old_addopts:
        args[:] = [*config.getini("addopts"), *args[len(old_addopts):]]
    config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if config.known_args_namespace.confcutdir is None:  # as pytest sets it before this hook
        config.known_args_namespace.confcutdir = str(Path(inipath).parent if inipath else rootpath)
