"""Repeated measurements of one quantity (timed passes of one process, rounds of a side-by-side benchmark): the
median as the figure to report, and the spread beside it, so a reader sees how far one figure can be trusted."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Repeats:
    """Median, extremes and spread of n ≥ 1 values. `spread_pct` = (max − min) / median × 100 (the range relative to
    the median: with n = 3 it is what one outlier can move); `cv_pct` = sample standard deviation / mean × 100."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("Repeats needs at least one value")

    @classmethod
    def of(cls, values: Sequence[float]) -> Repeats:
        return cls(tuple(float(v) for v in values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def spread_pct(self) -> float:
        return (self.max - self.min) / self.median * 100 if self.median else 0.0

    @property
    def cv_pct(self) -> float:
        if self.n < 2:
            return 0.0
        mean = statistics.fmean(self.values)
        return statistics.stdev(self.values) / mean * 100 if mean else 0.0

    def describe(self, fmt: str = ".1f") -> str:
        """`3091.2 (median of 3; 3012.0–3125.4, spread 3.7%)`, or the value alone for n = 1."""
        if self.n == 1:
            return format(self.values[0], fmt)
        return (f"{self.median:{fmt}} (median of {self.n}; {self.min:{fmt}}–{self.max:{fmt}}, "
                f"spread {self.spread_pct:.1f}%)")
