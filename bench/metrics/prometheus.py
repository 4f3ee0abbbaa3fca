"""A server's Prometheus `/metrics` text, parsed into totals per metric name, and the serving figures a load point
reads from it: counter deltas between a scrape before and after the point, gauge peaks from scrapes taken during it.

vLLM renamed some metrics over its releases; each figure lists the names it accepts, newest first
(`vllm:kv_cache_usage_perc` was `vllm:gpu_cache_usage_perc`, `vllm:num_preemptions_total` was
`vllm:num_preemptions`). A server that exposes none of them (not vLLM) simply yields no server-side figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")

# figure -> accepted metric names (newest first)
COUNTERS: dict[str, tuple[str, ...]] = {
    "server_requests": ("vllm:request_success_total",),
    "server_preemptions": ("vllm:num_preemptions_total", "vllm:num_preemptions"),
    "server_prompt_tokens": ("vllm:prompt_tokens_total",),
    "server_generation_tokens": ("vllm:generation_tokens_total",),
}
GAUGES: dict[str, tuple[str, ...]] = {
    "server_running_peak": ("vllm:num_requests_running",),
    "server_waiting_peak": ("vllm:num_requests_waiting",),
    "server_kv_cache_peak_pct": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}
# figure -> histogram base names: mean over the point = Δ_sum / Δ_count, in ms
HISTOGRAM_MEANS: dict[str, tuple[str, ...]] = {
    "server_ttft_mean_ms": ("vllm:time_to_first_token_seconds",),
    "server_queue_mean_ms": ("vllm:request_queue_time_seconds",),
    "server_itl_mean_ms": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
}


def parse(text: str) -> dict[str, float]:
    """Metric name -> sum over its label sets (comments and unparsable lines skipped)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[match.group(1)] = totals.get(match.group(1), 0.0) + value
    return totals


def _first(sample: Mapping[str, float], names: Sequence[str]) -> str | None:
    return next((n for n in names if n in sample), None)


def server_figures(before: Mapping[str, float], after: Mapping[str, float],
                   during: Sequence[Mapping[str, float]] = ()) -> dict[str, float]:
    """The server-side figures of one load point (only those the server exposes)."""
    figures: dict[str, float] = {}
    for figure, names in COUNTERS.items():
        name = _first(after, names)
        if name is not None:
            figures[figure] = after[name] - before.get(name, 0.0)
    for figure, names in HISTOGRAM_MEANS.items():
        base = _first(after, [f"{n}_count" for n in names])
        if base is None:
            continue
        stem = base[: -len("_count")]
        count = after[base] - before.get(base, 0.0)
        if count > 0 and f"{stem}_sum" in after:
            figures[figure] = 1000.0 * (after[f"{stem}_sum"] - before.get(f"{stem}_sum", 0.0)) / count
    samples = [*during, after]
    for figure, names in GAUGES.items():
        seen = [s[n] for s in samples if (n := _first(s, names)) is not None]
        if seen:
            figures[figure] = max(seen) * (100.0 if figure.endswith("_pct") else 1.0)
    return figures
