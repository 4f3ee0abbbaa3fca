"""Latency percentiles, computed the way vLLM's and MLPerf's reports do (linear interpolation, numpy's default)."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy 'linear')."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lower = int(pos)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (pos - lower)


def latency_summary(seconds: Sequence[float], prefix: str = "latency") -> dict[str, float]:
    """p50/p90/p99 and mean in milliseconds, keyed `<prefix>_p50_ms` etc."""
    ms = [s * 1000.0 for s in seconds]
    return {
        f"{prefix}_p50_ms": percentile(ms, 50),
        f"{prefix}_p90_ms": percentile(ms, 90),
        f"{prefix}_p99_ms": percentile(ms, 99),
        f"{prefix}_mean_ms": sum(ms) / len(ms),
    }
