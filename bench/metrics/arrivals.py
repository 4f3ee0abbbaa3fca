"""Arrival schedules for open-loop serving load: when each request is due, computed before the first one is sent.

Gaps are drawn from a gamma distribution with shape `burstiness` and mean 1/rate (burstiness 1: a Poisson process;
< 1 burstier, > 1 smoother; `math.inf` a constant rate), as `vllm bench serve` draws them, with numpy's PCG64 seeded
by `seed`. The offsets are then rescaled so that the last request is due at exactly (n − 1)/rate: a client that keeps
its schedule sends at exactly the requested rate ((n − 1) ÷ send window), so the achieved ÷ requested ratio measures
the client and not the draw. A rate of `math.inf` sends every request at offset 0 (a burst).
"""

from __future__ import annotations

import math


def send_offsets(n: int, rate: float, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Seconds after the start at which each of `n` requests is due (non-decreasing, the first at 0)."""
    if n < 1:
        raise ValueError(f"a load point needs at least one request, got {n}")
    if not rate > 0:
        raise ValueError(f"request rate must be > 0, got {rate}")
    if not burstiness > 0:
        raise ValueError(f"burstiness must be > 0, got {burstiness}")
    if math.isinf(rate) or n == 1:
        return [0.0] * n
    span = (n - 1) / rate
    if math.isinf(burstiness):
        return [i / rate for i in range(n)]
    import numpy as np

    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n - 1)
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    return (offsets / offsets[-1] * span).tolist()  # x / x is exactly 1: the last lands at span exactly


def parse_rate(text: str) -> float:
    """A request rate as given on the command line: a positive number of requests per second, or `inf`."""
    value = text.strip().lower()
    if value in ("inf", "infinity", "max"):
        return math.inf
    rate = float(value)
    if not rate > 0 or math.isnan(rate):
        raise ValueError(f"a request rate must be > 0 (or inf), got {text!r}")
    return rate


def rate_label(rate: float) -> str:
    """How a rate names its load point in metric names: `r4`, `r0.5`, `rinf`."""
    if math.isinf(rate):
        return "rinf"
    return f"r{rate:g}"
