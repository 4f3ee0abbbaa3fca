"""The result contract (DESIGN.md): one Result per benchmark × scenario, one to_dict/from_dict path."""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field
from typing import Any

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Threshold:
    """A gate on one metric: `metric <op> value`."""

    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"threshold op must be one of {', '.join(_OPS)}, got {self.op!r}")

    def holds(self, measured: float) -> bool:
        return not math.isnan(measured) and _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Result:
    benchmark: str
    scenario: str
    profile: str
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    passed: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    duration_s: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    variant: str | None = None  # an overhead comparison's side (its variant's name); None outside comparisons
    repeat: int | None = None  # which repeat of that variant (1-based)

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.scenario}"

    def failed_thresholds(self) -> list[str]:
        """Human-readable reasons the thresholds did not hold (a missing metric counts as a failure)."""
        reasons = []
        for name, gate in self.thresholds.items():
            if name not in self.metrics:
                reasons.append(f"{name} was not measured (gate {gate})")
            elif not gate.holds(self.metrics[name]):
                reasons.append(f"{name} = {self.metrics[name]:.6g}, gate {gate}")
        return reasons

    def evaluate(self) -> None:
        """Set `passed`: no error and every threshold holds."""
        self.passed = self.error is None and not self.failed_thresholds()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["thresholds"] = {k: {"op": t.op, "value": t.value} for k, t in self.thresholds.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown result fields: {', '.join(sorted(unknown))}")
        data = dict(data)
        data["thresholds"] = {k: Threshold(**v) for k, v in data.get("thresholds", {}).items()}
        return cls(**data)

    @classmethod
    def failure(cls, benchmark: str, scenario: str, profile: str, error: str, **kwargs: Any) -> Result:
        """A result for a task that could not produce its metrics; `error` is one line."""
        first_line = error.strip().splitlines()[0] if error.strip() else "unknown error"
        return cls(benchmark=benchmark, scenario=scenario, profile=profile, error=first_line, passed=False, **kwargs)
