"""Typed configuration: workload parameters as dataclasses, and the plan that the entry point runs.

The plan (`RunGroup`) is plain JSON so that the same file drives a local subprocess and a Kubernetes Job. Every field
is validated on load; a bad value raises ConfigError naming the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from bench.errors import ConfigError
from bench.results.schema import Threshold

P = TypeVar("P")


def positive(default: int) -> Any:
    """A dataclass field for an integer that must be ≥ 1."""
    return field(default=default, metadata={"min": 1})


def non_negative(default: int) -> Any:
    """A dataclass field for an integer that must be ≥ 0."""
    return field(default=default, metadata={"min": 0})


def parse_params(cls: type[P], raw: dict[str, Any], where: str) -> P:
    """Build the params dataclass `cls` from `raw`, checking names, types and minimums."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(fields)}")
    hints = get_type_hints(cls)
    for name, value in raw.items():
        expected = hints[name]
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: {name} must be an integer, got {value!r}")
        if expected is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
        minimum = fields[name].metadata.get("min")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{where}: {name} must be ≥ {minimum}, got {value}")
    params = cls(**raw)
    validate = getattr(params, "validate", None)  # a params class's own checks (e.g. lists given as text)
    if validate is not None:
        validate(where)
    return params


@dataclass
class Task:
    """One benchmark × scenario with its effective parameters and gates."""

    benchmark: str
    scenario: str
    params: dict[str, Any]
    thresholds: dict[str, dict[str, dict[str, Threshold]]] = field(default_factory=dict)  # gpu key -> gates

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.scenario}"


@dataclass
class RunGroup:
    """Tasks that share one model, run by one entry-point process so the model loads once."""

    name: str
    profile: str
    model: str
    engine: dict[str, Any]
    tasks: list[Task]
    size: str = "smoke"
    notes: list[str] = field(default_factory=list)
    claims_quality: bool = False
    timeout_s: int = 900
    weights: str | None = None  # LLM groups with random weights (tiny model, load_format=dummy): which, why
    # serving groups (benchmarks with engine "server"): the OpenAI-compatible endpoint the load client drives — given
    # with --endpoint, else None and the executor starts a vLLM server for the group (a local process, or a
    # Deployment + Service) and fills it in; `served_model` is the name the server serves the model under
    endpoint: str | None = None
    served_model: str | None = None

    @property
    def benchmarks(self) -> list[str]:
        return sorted({t.benchmark for t in self.tasks})

    @property
    def uses_llm(self) -> bool:
        """Whether the group's tasks run on the profile's LLM (else the benchmark brings its own model)."""
        from bench.workloads import get_benchmark

        return any(get_benchmark(t.benchmark).engine == "llm" for t in self.tasks)

    @property
    def uses_server(self) -> bool:
        """Whether the group's tasks drive an OpenAI-compatible server (the `serving` benchmark)."""
        from bench.workloads import get_benchmark

        return any(get_benchmark(t.benchmark).engine == "server" for t in self.tasks)

    @property
    def server_timeout_s(self) -> int | None:
        """The largest `server_timeout_s` its serving tasks give (a server's model-load budget), None if none does."""
        given = [int(t.params["server_timeout_s"]) for t in self.tasks
                 if isinstance(t.params.get("server_timeout_s"), int | float)]
        return max(given, default=None)

    @property
    def starts_server(self) -> bool:
        """Whether the executor must start the group's server (no --endpoint given)."""
        return self.uses_server and self.endpoint is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # Threshold dataclasses become {"op", "value"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunGroup:
        try:
            tasks = [
                Task(
                    benchmark=t["benchmark"],
                    scenario=t["scenario"],
                    params=dict(t.get("params", {})),
                    thresholds={
                        gpu: {m: Threshold(**g) for m, g in gates.items()}
                        for gpu, gates in t.get("thresholds", {}).items()
                    },
                )
                for t in data["tasks"]
            ]
            return cls(**{**data, "tasks": tasks})
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"run config is malformed ({exc}); write it with `bench run` or RunGroup.write") from None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> RunGroup:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
