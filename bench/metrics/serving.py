"""What a user of an endpoint sees, from per-request records: the metrics of one serving load point.

Definitions (those of `vllm bench serve`, so numbers compare with its reports):
- TTFT = first streamed chunk − send; E2E = last byte − send; TPOT = (E2E − TTFT) / (output tokens − 1) over
  requests with more than one output token; ITL = every gap between consecutive chunks, pooled over requests.
- duration = first send → last end (the drain included); request throughput = completed ÷ duration, output and total
  tok/s likewise (tokens from the server's `usage`).
- goodput: a request is good when it succeeded and met every SLO given (TTFT, TPOT, E2E, in ms); good ÷ duration, and
  good as a % of all requests sent.
- achieved rate = (sent − 1) ÷ (last send − first send) (the arrival schedule puts the last request at exactly
  (n − 1)/rate, bench/metrics/arrivals.py); schedule lag = send − due time.
- validity: the client kept its schedule — achieved ≥ 95% of the requested rate and lag p99 ≤ 50 ms. A point that
  missed either measured the client, not the server, and says so.
Failed requests are counted by kind and kept out of every latency statistic and every numerator.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.metrics.latency import percentile

MIN_RATE_RATIO = 0.95
MAX_LAG_P99_MS = 50.0
STATS = (("mean", None), ("median", 50.0), ("p90", 90.0), ("p99", 99.0))


@dataclass
class RequestRecord:
    """One request of a load point; times in seconds from the point's start (the client's monotonic clock)."""

    index: int
    scheduled: float  # when it was due (closed loop: when a worker took it)
    sent: float = math.nan
    first_token: float | None = None
    chunks: list[float] = field(default_factory=list)  # arrival of every streamed chunk that carried a choice
    end: float | None = None
    ok: bool = False
    error_kind: str | None = None  # "http 503", "timeout", "connection", "stream error", "cancelled", ...
    error: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.sent

    @property
    def e2e(self) -> float | None:
        return None if self.end is None else self.end - self.sent

    @property
    def tpot(self) -> float | None:
        if self.output_tokens < 2 or self.ttft is None or self.e2e is None:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)

    @property
    def itls(self) -> list[float]:
        return [b - a for a, b in zip(self.chunks, self.chunks[1:], strict=False)]

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Slo:
    """Per-request service-level objectives in ms (None: not applied)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met_by(self, record: RequestRecord) -> bool:
        if not record.ok:
            return False
        checks = ((self.ttft_ms, record.ttft), (self.tpot_ms, record.tpot), (self.e2e_ms, record.e2e))
        return all(limit is None or value is None or value * 1000.0 <= limit for limit, value in checks)

    def meets_p99(self, metrics: dict[str, float]) -> bool:
        """Whether a load point's p99 TTFT and TPOT are within the SLO (MLPerf's Server rule: the 99th percentile)."""
        for limit, name in ((self.ttft_ms, "ttft_p99_ms"), (self.tpot_ms, "tpot_p99_ms"), (self.e2e_ms,
                                                                                          "e2e_p99_ms")):
            if limit is not None and (name not in metrics or metrics[name] > limit):
                return False
        return True


@dataclass
class PointSummary:
    metrics: dict[str, float]
    errors_by_kind: dict[str, int]
    invalid_reason: str | None


def _stats(name: str, seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ms = [s * 1000.0 for s in seconds]
    out = {}
    for label, q in STATS:
        out[f"{name}_{label}_ms"] = sum(ms) / len(ms) if q is None else percentile(ms, q)
    return out


def point_metrics(records: Sequence[RequestRecord], requested_rate: float | None, slo: Slo) -> PointSummary:
    """The metrics of one load point (`requested_rate`: req/s for an open-loop point, inf for a burst, None for a
    closed-loop one)."""
    sent = [r for r in records if not math.isnan(r.sent)]
    ok = [r for r in sent if r.ok]
    failed = [r for r in records if not r.ok]
    metrics: dict[str, float] = {
        "requests": float(len(records)),
        "completed": float(len(ok)),
        "errors": float(len(failed)),
    }
    ttfts = [t for r in ok if (t := r.ttft) is not None]
    metrics.update(_stats("ttft", ttfts))
    metrics.update(_stats("tpot", [t for r in ok if (t := r.tpot) is not None]))
    metrics.update(_stats("itl", [g for r in ok for g in r.itls]))
    metrics.update(_stats("e2e", [t for r in ok if (t := r.e2e) is not None]))
    ends = [r.end for r in sent if r.end is not None]
    if sent and ends:
        duration = max(ends) - min(r.sent for r in sent)
        metrics["duration_s"] = duration
        if duration > 0:
            out_tokens = sum(r.output_tokens for r in ok)
            metrics["request_throughput"] = len(ok) / duration
            metrics["output_tokens_per_s"] = out_tokens / duration
            metrics["total_tokens_per_s"] = (out_tokens + sum(r.prompt_tokens for r in ok)) / duration
            good = sum(slo.met_by(r) for r in records)
            metrics["goodput_rps"] = good / duration
            metrics["goodput_pct"] = 100.0 * good / len(records)
    if ok:
        metrics["mean_output_tokens"] = sum(r.output_tokens for r in ok) / len(ok)
        metrics["mean_prompt_tokens"] = sum(r.prompt_tokens for r in ok) / len(ok)
    reasons = []
    if len(sent) >= 2:
        window = max(r.sent for r in sent) - min(r.sent for r in sent)
        lags = [(r.sent - r.scheduled) * 1000.0 for r in sent]
        metrics["lag_p50_ms"] = percentile(lags, 50)
        metrics["lag_p99_ms"] = percentile(lags, 99)
        metrics["lag_max_ms"] = max(lags)
        if window > 0:
            metrics["achieved_rate"] = (len(sent) - 1) / window
        if requested_rate is not None and math.isfinite(requested_rate):
            metrics["requested_rate"] = requested_rate
            ratio = metrics.get("achieved_rate", math.inf) / requested_rate
            metrics["achieved_rate_ratio"] = ratio
            if ratio < MIN_RATE_RATIO:
                reasons.append(f"achieved {metrics['achieved_rate']:.2f} of {requested_rate:g} req/s "
                               f"({ratio:.3f} < {MIN_RATE_RATIO})")
        if requested_rate is not None and metrics["lag_p99_ms"] > MAX_LAG_P99_MS:
            reasons.append(f"schedule lag p99 {metrics['lag_p99_ms']:.1f} ms > {MAX_LAG_P99_MS:g} ms")
    invalid = None
    if reasons:
        invalid = ("the load client fell behind its schedule: " + ", ".join(reasons)
                   + " — the client is the bottleneck (give it more CPU, or lower the rate); "
                     "these figures measure the client, not the server")
    metrics["valid"] = 0.0 if invalid else 1.0
    kinds = Counter(r.error_kind or "error" for r in failed)
    return PointSummary(metrics, dict(sorted(kinds.items())), invalid)
