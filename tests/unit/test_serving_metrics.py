"""The serving metric definitions with hand-computed numbers: per-request TTFT/TPOT/ITL/E2E and their statistics,
throughput and goodput, the open-loop validity rule, the arrival schedule, the Prometheus figures and the circuit
breaker (bench/metrics/serving.py, arrivals.py, prometheus.py; bench/engines/load_client.py)."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from bench.engines.load_client import CircuitBreaker
from bench.metrics import prometheus
from bench.metrics.arrivals import parse_rate, rate_label, send_offsets
from bench.metrics.serving import RequestRecord, Slo, point_metrics


def ok_record(index: int, sent: float, chunks: list[float], end: float, output_tokens: int | None = None,
              prompt_tokens: int = 0, scheduled: float | None = None) -> RequestRecord:
    return RequestRecord(index=index, scheduled=sent if scheduled is None else scheduled, sent=sent,
                         first_token=chunks[0], chunks=list(chunks), end=end, ok=True,
                         prompt_tokens=prompt_tokens,
                         output_tokens=len(chunks) if output_tokens is None else output_tokens)


def failed_record(index: int, sent: float, kind: str | None, **fields: object) -> RequestRecord:
    return RequestRecord(index=index, scheduled=0.0 if math.isnan(sent) else sent, sent=sent, error_kind=kind,
                         **fields)  # type: ignore[arg-type]


# A: TTFT 100, E2E 200, TPOT (200-100)/3, ITL 20 30 40;  B: TTFT 50, E2E 100, TPOT 50, ITL 20
A = dict(index=0, sent=0.0, chunks=[0.100, 0.120, 0.150, 0.190], end=0.200, prompt_tokens=10)
B = dict(index=1, sent=0.5, chunks=[0.550, 0.570], end=0.600, prompt_tokens=6)


def two_ok() -> list[RequestRecord]:
    return [ok_record(**A), ok_record(**B)]  # type: ignore[arg-type]


def test_a_record_s_own_latencies() -> None:
    record = ok_record(**A)  # type: ignore[arg-type]
    assert record.ttft == pytest.approx(0.100)
    assert record.e2e == pytest.approx(0.200)
    assert record.tpot == pytest.approx(0.100 / 3)
    assert record.itls == pytest.approx([0.020, 0.030, 0.040])
    single = ok_record(index=2, sent=1.0, chunks=[1.2], end=1.25)
    assert single.tpot is None  # TPOT needs more than one output token
    assert single.itls == []


def test_point_latency_statistics_by_hand() -> None:
    m = point_metrics(two_ok(), requested_rate=2.0, slo=Slo()).metrics
    assert m["requests"] == 2 and m["completed"] == 2 and m["errors"] == 0
    assert m["ttft_mean_ms"] == pytest.approx(75.0)
    assert m["ttft_median_ms"] == pytest.approx(75.0)
    assert m["ttft_p90_ms"] == pytest.approx(95.0)  # linear between 50 and 100
    assert m["ttft_p99_ms"] == pytest.approx(99.5)
    assert m["tpot_mean_ms"] == pytest.approx((100.0 / 3 + 50.0) / 2)
    assert m["e2e_mean_ms"] == pytest.approx(150.0)
    assert m["e2e_p99_ms"] == pytest.approx(199.0)
    # ITL pooled over requests: 20 30 40 | 20
    assert m["itl_mean_ms"] == pytest.approx(27.5)
    assert m["itl_median_ms"] == pytest.approx(25.0)
    assert m["itl_p90_ms"] == pytest.approx(37.0)
    assert m["itl_p99_ms"] == pytest.approx(39.7)


def test_point_throughput_by_hand() -> None:
    m = point_metrics(two_ok(), requested_rate=2.0, slo=Slo()).metrics
    assert m["duration_s"] == pytest.approx(0.6)  # first send 0.0 -> last end 0.6
    assert m["request_throughput"] == pytest.approx(2 / 0.6)
    assert m["output_tokens_per_s"] == pytest.approx(6 / 0.6)
    assert m["total_tokens_per_s"] == pytest.approx((6 + 16) / 0.6)
    assert m["mean_output_tokens"] == pytest.approx(3.0)
    assert m["mean_prompt_tokens"] == pytest.approx(8.0)
    assert m["achieved_rate"] == pytest.approx(2.0)  # (2 − 1) / 0.5 s
    assert m["achieved_rate_ratio"] == pytest.approx(1.0)
    assert m["lag_p99_ms"] == pytest.approx(0.0)
    assert m["valid"] == 1.0
    assert m["goodput_pct"] == pytest.approx(100.0)


def test_output_tokens_come_from_usage_not_chunks() -> None:
    # a server that packs two tokens into some chunks: TPOT divides by the usage count
    record = ok_record(index=0, sent=0.0, chunks=[0.1, 0.2], end=0.3, output_tokens=5)
    m = point_metrics([record], requested_rate=None, slo=Slo()).metrics
    assert m["tpot_mean_ms"] == pytest.approx(200.0 / 4)
    assert m["output_tokens_per_s"] == pytest.approx(5 / 0.3)


def test_failed_requests_are_counted_by_kind_and_kept_out_of_latencies() -> None:
    records = [*two_ok(),
               failed_record(2, 0.2, "http 500", error="boom"),
               failed_record(3, 0.3, "timeout", first_token=0.31, chunks=[0.31, 0.9]),  # slow partial stream
               failed_record(4, math.nan, "stopped"),
               failed_record(5, 0.35, None)]
    summary = point_metrics(records, requested_rate=None, slo=Slo())
    m = summary.metrics
    assert m["requests"] == 6 and m["completed"] == 2 and m["errors"] == 4
    assert summary.errors_by_kind == {"error": 1, "http 500": 1, "stopped": 1, "timeout": 1}
    clean = point_metrics(two_ok(), requested_rate=None, slo=Slo()).metrics
    for name in ("ttft_mean_ms", "ttft_p99_ms", "tpot_mean_ms", "itl_mean_ms", "itl_p99_ms", "e2e_p99_ms"):
        assert m[name] == pytest.approx(clean[name]), name
    assert m["request_throughput"] == pytest.approx(2 / 0.6)  # failures are no numerator
    assert m["output_tokens_per_s"] == pytest.approx(6 / 0.6)
    assert m["goodput_pct"] == pytest.approx(100.0 * 2 / 6)  # over all requests, the unsent included
    assert m["achieved_rate"] == pytest.approx(4 / 0.5)  # 5 sent (the stopped one was not) within 0.5 s


@pytest.mark.parametrize(("slo", "good"), [
    (Slo(), 2),
    (Slo(ttft_ms=80.0), 1),  # A's TTFT 100 ms misses it
    (Slo(ttft_ms=100.0), 2),  # the limit itself is met
    (Slo(tpot_ms=40.0), 1),  # B's TPOT 50 ms misses it
    (Slo(e2e_ms=150.0), 1),  # A's E2E 200 ms misses it
    (Slo(ttft_ms=80.0, tpot_ms=40.0), 0),
], ids=["none", "ttft80", "ttft100", "tpot40", "e2e150", "ttft80-tpot40"])
def test_goodput_counts_requests_that_met_every_slo(slo: Slo, good: int) -> None:
    records = [*two_ok(), failed_record(2, 0.25, "http 500")]
    m = point_metrics(records, requested_rate=None, slo=slo).metrics
    assert m["goodput_rps"] == pytest.approx(good / 0.6)
    assert m["goodput_pct"] == pytest.approx(100.0 * good / 3)


def test_slo_p99_verdict() -> None:
    m = point_metrics(two_ok(), requested_rate=None, slo=Slo()).metrics  # ttft p99 99.5, tpot p99 ≈ 49.83
    assert Slo(ttft_ms=100.0, tpot_ms=50.0).meets_p99(m)
    assert not Slo(ttft_ms=99.0).meets_p99(m)
    assert not Slo(tpot_ms=49.0).meets_p99(m)
    assert not Slo(ttft_ms=100.0).meets_p99({})  # a figure that is missing is not met


def schedule(n: int, rate: float, lag_s: float = 0.0, stretch: float = 1.0) -> list[RequestRecord]:
    """n requests due at i/rate, sent at (i/rate)·stretch + lag, each 10 ms long."""
    records = []
    for i in range(n):
        due = i / rate
        sent = due * stretch + lag_s
        records.append(ok_record(index=i, sent=sent, chunks=[sent + 0.005, sent + 0.008], end=sent + 0.010,
                                 scheduled=due))
    return records


def test_a_client_that_lags_80ms_at_p99_is_invalid() -> None:
    summary = point_metrics(schedule(100, 10.0, lag_s=0.080), requested_rate=10.0, slo=Slo())
    m = summary.metrics
    assert m["achieved_rate_ratio"] == pytest.approx(1.0)  # the rate is kept, only late
    assert m["lag_p99_ms"] == pytest.approx(80.0)
    assert m["valid"] == 0.0
    assert summary.invalid_reason is not None
    assert "client is the bottleneck" in summary.invalid_reason
    assert "lag p99 80.0 ms > 50 ms" in summary.invalid_reason


def test_a_client_below_95pct_of_the_rate_is_invalid() -> None:
    # sends at 10 req/s where 11 were asked: ratio 0.909
    summary = point_metrics(schedule(100, 11.0, stretch=1.1), requested_rate=11.0, slo=Slo())
    m = summary.metrics
    assert m["achieved_rate"] == pytest.approx(10.0)
    assert m["achieved_rate_ratio"] == pytest.approx(10.0 / 11.0)
    assert m["valid"] == 0.0
    assert summary.invalid_reason is not None and "client is the bottleneck" in summary.invalid_reason
    assert "achieved 10.00 of 11 req/s" in summary.invalid_reason


def test_a_client_that_keeps_its_schedule_is_valid() -> None:
    # 96% of the rate asked, 10 ms late: within both limits
    summary = point_metrics(schedule(100, 10.0, lag_s=0.010), requested_rate=10.0 / 0.96, slo=Slo())
    assert summary.metrics["achieved_rate_ratio"] == pytest.approx(0.96)
    assert summary.invalid_reason is None and summary.metrics["valid"] == 1.0


def test_closed_loop_points_have_no_schedule_to_miss() -> None:
    summary = point_metrics(schedule(20, 10.0, lag_s=0.5), requested_rate=None, slo=Slo())
    assert summary.invalid_reason is None
    assert "achieved_rate_ratio" not in summary.metrics


# ---- arrival schedules -----------------------------------------------------------------------------------------


def gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(offsets)]


def cv(values: list[float]) -> float:
    return statistics.pstdev(values) / statistics.fmean(values)


@pytest.mark.parametrize(("burstiness", "expected_cv"), [(1.0, 1.0), (4.0, 0.5), (0.25, 2.0)],
                         ids=["poisson", "smoother", "burstier"])
def test_gamma_gaps_have_the_rate_and_the_spread_asked(burstiness: float, expected_cv: float) -> None:
    offsets = send_offsets(2000, 10.0, burstiness=burstiness, seed=1)
    assert len(offsets) == 2000 and offsets[0] == 0.0
    assert offsets == sorted(offsets)
    assert statistics.fmean(gaps(offsets)) == pytest.approx(0.1)
    assert cv(gaps(offsets)) == pytest.approx(expected_cv, rel=0.1)


@pytest.mark.parametrize(("n", "rate", "burstiness"), [(2000, 10.0, 1.0), (7, 3.0, 1.0), (50, 0.5, 0.3),
                                                       (2, 7.0, 2.0)])
def test_the_last_request_is_due_at_n_minus_1_over_rate(n: int, rate: float, burstiness: float) -> None:
    assert send_offsets(n, rate, burstiness=burstiness)[-1] == pytest.approx((n - 1) / rate, rel=1e-12)


def test_the_last_request_is_due_at_exactly_n_minus_1_over_rate() -> None:
    inexact = [(n, rate, seed) for n in (3, 10, 101, 2000) for rate in (0.3, 1.0, 7.0, 10.0, 33.3)
               for seed in range(30) if send_offsets(n, rate, seed=seed)[-1] != (n - 1) / rate]
    assert inexact == []


def test_infinite_burstiness_is_a_constant_rate() -> None:
    offsets = send_offsets(100, 4.0, burstiness=math.inf)
    assert gaps(offsets) == pytest.approx([0.25] * 99)
    assert offsets[-1] == 99 / 4.0


def test_the_schedule_depends_on_the_seed_only() -> None:
    assert send_offsets(100, 5.0, seed=7) == send_offsets(100, 5.0, seed=7)
    assert send_offsets(100, 5.0, seed=7) != send_offsets(100, 5.0, seed=8)


def test_an_infinite_rate_is_a_burst() -> None:
    assert send_offsets(5, math.inf) == [0.0] * 5
    assert send_offsets(1, 3.0) == [0.0]


@pytest.mark.parametrize(("n", "rate", "burstiness"), [(10, 0.0, 1.0), (10, -1.0, 1.0), (10, math.nan, 1.0),
                                                       (10, 1.0, 0.0), (10, 1.0, -2.0), (10, 1.0, math.nan),
                                                       (0, 1.0, 1.0)],
                         ids=["rate0", "rate-neg", "rate-nan", "burst0", "burst-neg", "burst-nan", "n0"])
def test_bad_schedule_arguments_raise(n: int, rate: float, burstiness: float) -> None:
    with pytest.raises(ValueError):
        send_offsets(n, rate, burstiness=burstiness)


def test_parse_rate() -> None:
    assert parse_rate("inf") == math.inf
    assert parse_rate(" INF ") == math.inf
    assert parse_rate("2.5") == 2.5
    assert parse_rate("10") == 10.0


@pytest.mark.parametrize("text", ["0", "-1", "abc", "nan", "-inf", ""])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_rate_label() -> None:
    assert rate_label(4.0) == "r4"
    assert rate_label(0.5) == "r0.5"
    assert rate_label(2.5) == "r2.5"
    assert rate_label(math.inf) == "rinf"


# ---- Prometheus ------------------------------------------------------------------------------------------------

VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 3.0
vllm:num_requests_running{engine="1",model_name="tiny"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.42
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="tiny"} 4.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="tiny"} 1200.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="tiny"} 6400.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="tiny"} 30.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="tiny"} 70.0
vllm:request_success_total{engine="0",finished_reason="abort",model_name="tiny"} 0.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="tiny"} 60.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 100.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="tiny"} 100.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="tiny"} 12.5
# HELP vllm:request_queue_time_seconds Histogram of time spent in WAITING phase for request.
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_count{engine="0",model_name="tiny"} 100.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="tiny"} 2.0
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 1234.0
process_start_time_seconds 1.7e+09
vllm:request_success_created{engine="0",finished_reason="stop",model_name="tiny"} 1.7e+09
not a metric line
vllm:broken{model_name="tiny"} notanumber
vllm:nan_gauge{model_name="tiny"} NaN
"""


def test_parse_sums_label_sets_and_skips_comments() -> None:
    totals = prometheus.parse(VLLM_METRICS)
    assert totals["vllm:num_requests_running"] == 5.0  # two engines summed
    assert totals["vllm:request_success_total"] == 100.0  # finished reasons summed
    assert totals["vllm:kv_cache_usage_perc"] == 0.42
    assert totals["vllm:time_to_first_token_seconds_sum"] == 12.5
    assert totals["vllm:time_to_first_token_seconds_count"] == 100.0
    assert totals["process_start_time_seconds"] == 1.7e9  # a sample without labels
    assert "vllm:broken" not in totals and "vllm:nan_gauge" not in totals
    assert not any(name.startswith(("#", "not")) for name in totals)


def test_server_figures_with_vllm_s_current_names() -> None:
    before = prometheus.parse(VLLM_METRICS)
    after = dict(before)
    after.update({"vllm:request_success_total": 140.0, "vllm:num_preemptions_total": 6.0,
                  "vllm:prompt_tokens_total": 1600.0, "vllm:generation_tokens_total": 9000.0,
                  "vllm:time_to_first_token_seconds_sum": 16.5, "vllm:time_to_first_token_seconds_count": 140.0,
                  "vllm:request_queue_time_seconds_sum": 2.0, "vllm:request_queue_time_seconds_count": 140.0,
                  "vllm:num_requests_waiting": 0.0, "vllm:kv_cache_usage_perc": 0.10})
    during = [{"vllm:num_requests_waiting": 12.0, "vllm:kv_cache_usage_perc": 0.9, "vllm:num_requests_running": 8.0},
              {"vllm:num_requests_waiting": 3.0, "vllm:kv_cache_usage_perc": 0.95}]
    figures = prometheus.server_figures(before, after, during)
    assert figures["server_requests"] == 40.0
    assert figures["server_preemptions"] == 2.0
    assert figures["server_prompt_tokens"] == 400.0
    assert figures["server_generation_tokens"] == 2600.0
    assert figures["server_ttft_mean_ms"] == pytest.approx(1000.0 * 4.0 / 40)
    assert figures["server_queue_mean_ms"] == pytest.approx(0.0)
    assert "server_itl_mean_ms" not in figures  # not exposed
    assert figures["server_waiting_peak"] == 12.0
    assert figures["server_running_peak"] == 8.0
    assert figures["server_kv_cache_peak_pct"] == pytest.approx(95.0)


def test_server_figures_with_vllm_s_old_names() -> None:
    before = {"vllm:gpu_cache_usage_perc": 0.0, "vllm:num_preemptions": 1.0, "vllm:request_success_total": 5.0,
              "vllm:time_per_output_token_seconds_sum": 1.0, "vllm:time_per_output_token_seconds_count": 100.0}
    after = {"vllm:gpu_cache_usage_perc": 0.25, "vllm:num_preemptions": 4.0, "vllm:request_success_total": 15.0,
             "vllm:time_per_output_token_seconds_sum": 3.0, "vllm:time_per_output_token_seconds_count": 300.0}
    figures = prometheus.server_figures(before, after, [{"vllm:gpu_cache_usage_perc": 0.5}])
    assert figures["server_preemptions"] == 3.0
    assert figures["server_requests"] == 10.0
    assert figures["server_kv_cache_peak_pct"] == pytest.approx(50.0)
    assert figures["server_itl_mean_ms"] == pytest.approx(10.0)  # 2 s over 200 tokens


def test_a_server_without_vllm_metrics_gives_no_figures() -> None:
    text = "# TYPE python_info gauge\npython_info{version=\"3.12\"} 1.0\n"
    assert prometheus.server_figures(prometheus.parse(text), prometheus.parse(text)) == {}


# ---- circuit breaker -------------------------------------------------------------------------------------------


def feed(breaker: CircuitBreaker, outcomes: list[bool]) -> list[bool]:
    return [breaker.record(ok) for ok in outcomes]


def test_ten_failures_in_a_row_trip_the_breaker() -> None:
    breaker = CircuitBreaker()
    assert feed(breaker, [True] * 5 + [False] * 9) == [False] * 14
    assert breaker.record(False) is True
    assert breaker.tripped == "10 requests in a row failed"
    assert breaker.record(True) is True  # once tripped, it stays tripped


def test_eleven_of_the_last_twenty_failed_trips_the_breaker() -> None:
    breaker = CircuitBreaker()
    outcomes = [False, True] * 9 + [False, False]  # 11 failures, never 10 in a row
    assert feed(breaker, outcomes) == [False] * 19 + [True]
    assert breaker.tripped == "11 of the last 20 requests failed"


def test_ten_of_twenty_failed_does_not_trip_the_breaker() -> None:
    breaker = CircuitBreaker()
    assert not any(feed(breaker, [False, True] * 50))
    assert breaker.tripped is None


def test_the_breaker_window_slides() -> None:
    breaker = CircuitBreaker()
    # 9 early failures fall out of the window before 11 later ones would count with them
    assert not any(feed(breaker, [False] * 9 + [True] * 20 + [False, True] * 10))
