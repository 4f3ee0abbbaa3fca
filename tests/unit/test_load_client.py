"""The serving load client against a stand-in OpenAI server (tests/standins/fake_openai.py) whose delays are known:
what it measures (TTFT, TPOT, token counts), that an open loop keeps its absolute schedule whatever the server does,
that a closed loop keeps its concurrency, how failures are classified and when the circuit breaker stops a point,
the endpoint checks, and the server figures read from /metrics (bench/engines/load_client.py, openai_http.py)."""

from __future__ import annotations

import math
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.engines.load_client import LoadClient, PointRun
from bench.engines.openai_http import Endpoint, EndpointError
from bench.metrics import prometheus
from bench.metrics.arrivals import send_offsets
from bench.metrics.serving import RequestRecord, Slo, point_metrics
from tests.standins.fake_openai import fake_server

MODEL = "tiny"
TTFT_MS, ITL_MS = 50.0, 10.0
SLACK_MS = 60.0  # what a loaded 2-core machine may add to a delay
PROMPT = [11, 12, 13, 14, 15]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A well-behaved stand-in shared by the tests that only read (its counters grow across them)."""
    with fake_server(tmp_path_factory.mktemp("fake"), served_model_name=MODEL, ttft_ms=TTFT_MS,
                     itl_ms=ITL_MS) as (url, _process):
        yield url


def client(url: str, max_tokens: int = 8, timeout_s: float = 30.0, api: str = "completions") -> LoadClient:
    return LoadClient(Endpoint(url, MODEL, api=api), max_tokens=max_tokens, timeout_s=timeout_s,
                      log=lambda _line: None)


def ms(values: list[float]) -> list[float]:
    return [v * 1000.0 for v in values]


def max_in_flight(records: list[RequestRecord]) -> int:
    """The most requests whose [sent, end] intervals overlap (an end before a start at the same instant)."""
    events = sorted([(r.sent, 1) for r in records if r.end is not None]
                    + [(r.end, -1) for r in records if r.end is not None])
    peak = level = 0
    for _when, step in events:
        level += step
        peak = max(peak, level)
    return peak


def kinds(run: PointRun) -> dict[str, int]:
    return point_metrics(run.records, None, Slo()).errors_by_kind


# ---- what is measured ------------------------------------------------------------------------------------------


def test_ttft_tpot_and_token_counts_match_the_server_s_delays(server: str) -> None:
    run = client(server, max_tokens=8).run_closed([PROMPT] * 12, concurrency=4)
    assert all(r.ok for r in run.records), [r.error for r in run.records]
    assert {r.output_tokens for r in run.records} == {8}  # from usage: max_tokens, as with ignore_eos
    assert {r.prompt_tokens for r in run.records} == {len(PROMPT)}
    assert {len(r.chunks) for r in run.records} == {8}  # one chunk per token; the usage chunk is none
    ttft = statistics.median(ms([r.ttft for r in run.records if r.ttft is not None]))
    assert TTFT_MS <= ttft < TTFT_MS + SLACK_MS
    tpot = statistics.median(ms([r.tpot for r in run.records if r.tpot is not None]))
    assert ITL_MS * 0.9 <= tpot < ITL_MS + 20.0
    m = point_metrics(run.records, None, Slo()).metrics
    assert m["completed"] == 12 and m["mean_output_tokens"] == 8
    assert ITL_MS * 0.5 <= m["itl_median_ms"] < ITL_MS + 20.0


def test_64_concurrent_streams_are_served_at_once(server: str) -> None:
    # a burst: every request due at 0; a server that serialised them would take 64 × (50 + 3·10) ms ≈ 5 s
    run = client(server, max_tokens=4).run_open([PROMPT] * 64, send_offsets(64, math.inf))
    assert all(r.ok for r in run.records), kinds(run)
    assert max(r.end for r in run.records if r.end is not None) < 2.0
    assert max_in_flight(run.records) >= 32


def test_chat_api_streams_tokens(server: str) -> None:
    run = client(server, max_tokens=6, api="chat").run_closed(["how are you today"] * 4, concurrency=2)
    assert all(r.ok for r in run.records), kinds(run)
    assert {r.output_tokens for r in run.records} == {6}
    assert {r.prompt_tokens for r in run.records} == {4}
    assert TTFT_MS <= statistics.median(ms([r.ttft for r in run.records if r.ttft is not None])) < TTFT_MS + SLACK_MS


def test_chat_role_chunk_is_not_a_token(server: str) -> None:
    run = client(server, max_tokens=6, api="chat").run_closed(["hello there"] * 2, concurrency=1)
    assert {len(r.chunks) for r in run.records} == {6}


# ---- open loop: the schedule ------------------------------------------------------------------------------------


def test_open_loop_sends_track_the_absolute_schedule(server: str) -> None:
    offsets = send_offsets(40, 20.0, seed=3)
    run = client(server, max_tokens=4).run_open([PROMPT] * 40, offsets)
    assert all(r.ok for r in run.records), kinds(run)
    assert [r.scheduled for r in run.records] == offsets
    assert all(r.sent >= r.scheduled for r in run.records)  # never early: sleeps to t0 + offset
    summary = point_metrics(run.records, 20.0, Slo())
    assert summary.metrics["achieved_rate_ratio"] >= 0.95
    assert summary.invalid_reason is None, summary.invalid_reason


def test_a_slow_server_does_not_slow_the_sends(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, ttft_ms=500, itl_ms=5) as (url, _process):
        run = client(url, max_tokens=4).run_open([PROMPT] * 20, send_offsets(20, 20.0, seed=1))
    assert all(r.ok for r in run.records), kinds(run)
    assert min(r.ttft for r in run.records if r.ttft is not None) >= 0.5
    summary = point_metrics(run.records, 20.0, Slo())
    assert summary.metrics["achieved_rate_ratio"] >= 0.95  # 0.95 s of sends, not 20 × 0.5 s
    assert summary.metrics["lag_p99_ms"] < 50.0
    assert max_in_flight(run.records) >= 8  # each lasts > 0.5 s, one is due every 50 ms


# ---- closed loop -----------------------------------------------------------------------------------------------


def test_closed_loop_keeps_its_concurrency(server: str) -> None:
    run = client(server, max_tokens=4).run_closed([PROMPT] * 16, concurrency=4)
    assert all(r.ok for r in run.records), kinds(run)
    assert max_in_flight(run.records) == 4
    for record in run.records:  # a worker takes a request and sends it at once
        assert 0.0 <= record.sent - record.scheduled < 0.05


# ---- failures --------------------------------------------------------------------------------------------------


def test_http_errors_are_counted_and_kept_out_of_latencies(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, ttft_ms=20, itl_ms=2, fail_every=3) as (url, _process):
        run = client(url, max_tokens=4).run_closed([PROMPT] * 12, concurrency=1)
    summary = point_metrics(run.records, None, Slo())
    assert summary.errors_by_kind == {"http 500": 4}  # requests 3, 6, 9, 12
    assert [r.index for r in run.records if not r.ok] == [2, 5, 8, 11]
    assert run.stopped is None
    failed = [r for r in run.records if not r.ok]
    assert all(r.first_token is None and r.end is None and "fake failure" in (r.error or "") for r in failed)
    ok = [r for r in run.records if r.ok]
    assert summary.metrics["completed"] == 8
    assert summary.metrics["ttft_mean_ms"] == pytest.approx(statistics.fmean(ms([r.ttft for r in ok])))
    assert summary.metrics["goodput_pct"] == pytest.approx(100.0 * 8 / 12)


def test_an_error_event_mid_stream_is_a_failure_after_a_200(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, ttft_ms=20, itl_ms=2,
                     stream_error_every=2) as (url, _process):
        run = client(url, max_tokens=6).run_closed([PROMPT] * 8, concurrency=1)
    assert kinds(run) == {"stream error": 4}
    failed = [r for r in run.records if not r.ok]
    assert [r.index for r in failed] == [1, 3, 5, 7]
    assert all(r.chunks and "mid-stream" in (r.error or "") for r in failed)  # tokens came, then the error
    assert run.stopped is None


def test_the_circuit_breaker_stops_a_failing_point_early(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, fail_every=1) as (url, _process):
        started = time.monotonic()
        run = client(url).run_open([PROMPT] * 200, send_offsets(200, 100.0, seed=0))  # 2 s if not stopped
        elapsed = time.monotonic() - started
    assert run.stopped == "10 requests in a row failed"
    by_kind = kinds(run)
    sent = [r for r in run.records if not math.isnan(r.sent)]
    assert 10 <= by_kind["http 500"] <= len(sent) < 50
    assert by_kind["stopped"] == 200 - by_kind["http 500"]
    stopped = [r for r in run.records if r.error_kind == "stopped"]
    assert all("circuit breaker" in (r.error or "") for r in stopped)
    assert elapsed < 1.5


def test_a_server_that_dies_trips_the_breaker_with_connection_errors(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, ttft_ms=10, itl_ms=1, die_after=5) as (url, process):
        run = client(url, max_tokens=4, timeout_s=5.0).run_closed([PROMPT] * 40, concurrency=1)
        assert process.wait(timeout=5) == 3
    assert "fake server: dying after 5 requests" in (tmp_path / "fake_openai.err").read_text()
    by_kind = kinds(run)
    assert sum(r.ok for r in run.records) == 5
    assert by_kind["connection"] >= 10
    assert run.stopped == "10 requests in a row failed"
    assert by_kind["stopped"] == 40 - 5 - by_kind["connection"]


# ---- endpoint checks -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_of_an_unreachable_endpoint_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(EndpointError, match=url.replace(".", r"\.")) as caught:
        Endpoint(url, MODEL).check()
    assert time.monotonic() - started < 5.0
    assert "connection refused" in str(caught.value)


def test_check_of_a_wrong_model_name_lists_the_served_ones(server: str) -> None:
    with pytest.raises(EndpointError, match=r"does not serve a model named 'llama'; it lists: tiny"):
        Endpoint(server, "llama").check()


def test_resolve_model_picks_the_only_listed_one(server: str) -> None:
    endpoint = Endpoint(server + "/v1/")
    assert endpoint.resolve_model() == MODEL
    assert endpoint.model == MODEL
    assert endpoint.check() == MODEL


def test_a_request_for_another_model_is_a_404(server: str) -> None:
    endpoint = Endpoint(server, MODEL)
    endpoint.model = "other"  # past the check, as a misconfigured client would be
    run = LoadClient(endpoint, max_tokens=2, log=lambda _line: None).run_closed([PROMPT], concurrency=1)
    assert kinds(run) == {"http 404": 1}
    assert "does not exist" in (run.records[0].error or "")


def test_check_fails_while_the_server_starts(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name=MODEL, startup_s=1.0) as (url, _process):
        endpoint = Endpoint(url)
        assert not endpoint.health()
        with pytest.raises(EndpointError, match="HTTP 503"):
            endpoint.check()
        deadline = time.monotonic() + 10
        while not endpoint.health() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoint.check() == MODEL


# ---- /metrics --------------------------------------------------------------------------------------------------


def test_server_figures_count_the_completed_requests(tmp_path: Path) -> None:
    # fail_every=4: failures are no server successes; max_concurrency=2: the others queue inside the server
    with fake_server(tmp_path, served_model_name=MODEL, ttft_ms=300, itl_ms=5, fail_every=4,
                     max_concurrency=2) as (url, _process):
        run = client(url, max_tokens=5).run_closed([PROMPT] * 12, concurrency=6)
    assert run.server_before is not None and run.server_after is not None
    assert run.server_during, "a point over 1 s long is sampled while it runs"
    figures = prometheus.server_figures(run.server_before, run.server_after, run.server_during)
    completed = sum(r.ok for r in run.records)
    assert completed == 9 and kinds(run) == {"http 500": 3}
    assert figures["server_requests"] == completed
    assert figures["server_generation_tokens"] == 5 * completed
    assert figures["server_prompt_tokens"] == len(PROMPT) * completed
    assert figures["server_preemptions"] == 0
    assert figures["server_waiting_peak"] >= 1
    assert figures["server_running_peak"] == 2
    assert figures["server_ttft_mean_ms"] >= 300
    assert figures["server_queue_mean_ms"] > 0


def test_a_chunk_with_empty_text_is_a_token_as_vllm_bench_serve_counts_it() -> None:
    """Random weights often produce tokens that decode to nothing yet (a partial UTF-8 sequence): vLLM streams them
    as chunks with empty text, `vllm bench serve` counts them, and so do we (seen on the H200: without this, requests
    whose every chunk was empty were scored as failed)."""
    endpoint = Endpoint("http://127.0.0.1:1", "m")
    record = RequestRecord(index=0, scheduled=0.0, sent=0.0)
    for line, now in ((b'data: {"choices":[{"text":""}]}', 0.1), (b'data: {"choices":[{"text":"a"}]}', 0.2),
                      (b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}', 0.25)):
        assert endpoint._line(line, record, now) is False
    assert endpoint._line(b"data: [DONE]", record, 0.3) is True
    assert record.first_token == 0.1 and record.chunks == [0.1, 0.2] and record.output_tokens == 2
    chat = RequestRecord(index=1, scheduled=0.0, sent=0.0)
    endpoint._line(b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}', chat, 0.05)
    endpoint._line(b'data: {"choices":[{"delta":{"content":""}}]}', chat, 0.1)
    assert chat.chunks == [0.1]  # the role chunk is not a token; an empty content chunk is
