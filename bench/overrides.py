"""Overrides from the command line: `--engine-arg KEY=VALUE` (keyword arguments of `vllm.LLM`) and `--param
[BENCHMARK.]KEY=VALUE` (a workload's parameters), both repeatable, shared by `bench run` and pytest.

Engine arguments have no schema here (vLLM's own parser checks them: `bench.engines.vllm_args`), so their values parse
as JSON where they can (`2`, `true`, `0.85`, `{"mode": 3}`) and stay text otherwise (`fp8`, `dummy`). Workload
parameters are typed dataclasses, so their text is converted to the field's type, and a wrong name or type is a
ConfigError that names the option, the benchmark and what it accepts.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin, get_type_hints

from bench.errors import ConfigError


def split_assignment(item: str, option: str, example: str) -> tuple[str, str]:
    """`"KEY=VALUE"` → (key, value text); a missing `=` or key is a one-line error naming the option."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} {example}")
    return key, value.strip()


def json_value(text: str) -> Any:
    """JSON where the text is JSON (numbers, true/false/null, lists, objects), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_engine_args(items: Iterable[str] | None) -> dict[str, Any]:
    """`--engine-arg` items → keyword arguments for `vllm.LLM` (`max-model-len` is read as `max_model_len`)."""
    parsed: dict[str, Any] = {}
    for item in items or ():
        key, text = split_assignment(item, "--engine-arg", "tensor_parallel_size=2")
        parsed[key.replace("-", "_")] = json_value(text)
    return parsed


def format_assignments(values: dict[str, Any]) -> str:
    """`{"a": 1, "b": "x"}` → `a=1 b=x`, as a user would type them."""
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items())


@dataclass
class ParamOverrides:
    """`--param` items: those aimed at one benchmark (`summarization.dataset=...`) and those for every benchmark
    of the run that has the parameter (`num_prompts=20`). Values stay text until the benchmark's type is known."""

    everywhere: dict[str, str] = field(default_factory=dict)
    per_benchmark: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Iterable[str] | None, benchmarks: Iterable[str]) -> ParamOverrides:
        known = list(benchmarks)
        out = cls()
        for item in items or ():
            key, text = split_assignment(item, "--param", "llm_throughput.input_len=2048")
            target, dot, name = key.rpartition(".")
            if not dot:
                out.everywhere[name] = text
                continue
            if target not in known:
                raise ConfigError(f"--param {item}: unknown benchmark {target!r}; choose one of {', '.join(known)} "
                                  f"(or leave the prefix out to set {name} wherever it exists)")
            out.per_benchmark.setdefault(target, {})[name] = text
        return out

    def check(self, params_of: Callable[[str], type], run: Iterable[str]) -> None:
        """Every override names a parameter of its benchmark — or, without a prefix, of some benchmark of this run.
        An override aimed at a benchmark this run leaves out (`pytest -k`) is checked, then has nothing to do."""
        for benchmark, values in self.per_benchmark.items():
            allowed = param_names(params_of(benchmark))
            for name in values:
                if name not in allowed:
                    raise ConfigError(f"--param {benchmark}.{name}: {benchmark} has no parameter {name!r}; "
                                      f"its parameters: {', '.join(allowed)}")
        run = list(run)
        for name in self.everywhere:
            if not any(name in param_names(params_of(b)) for b in run):
                listing = "; ".join(f"{b}: {', '.join(param_names(params_of(b)))}" for b in run)
                raise ConfigError(f"--param {name}: no benchmark of this run has a parameter {name!r} ({listing})")

    def for_benchmark(self, benchmark: str, params_cls: type) -> dict[str, Any]:
        """The overrides that apply to `benchmark`, converted to its parameter types."""
        names = param_names(params_cls)
        texts = {k: v for k, v in self.everywhere.items() if k in names}
        texts.update(self.per_benchmark.get(benchmark, {}))
        hints = get_type_hints(params_cls)
        return {name: convert(text, hints[name], f"--param {benchmark}.{name}={text}") for name, text in texts.items()}


def param_names(params_cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(params_cls)]  # type: ignore[arg-type]


def convert(text: str, expected: Any, where: str) -> Any:
    """Parameter text → the field's type (int, float, bool, str, or an optional of one; anything else as JSON)."""
    if get_origin(expected) in (Union, types.UnionType):
        options = [a for a in get_args(expected) if a is not type(None)]
        if text.lower() in ("null", "none", ""):
            return None
        expected = options[0] if len(options) == 1 else Any
    if expected is str:
        return text
    if expected is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false")
    if expected is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer") from None
    if expected is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a number") from None
    return json_value(text)


def parse_tags(items: list[str] | None) -> dict[str, str]:
    """`--tag KEY=VALUE` items (bench run and pytest): the run's labels in run.json and the store."""
    return dict(split_assignment(item, "--tag", "driver=580.65") for item in items or [])
