"""Our serving load client: drives an Endpoint with one load point at a time and returns its per-request records.

- open loop (`run_open`): every request's due time is computed before the first is sent (bench/metrics/arrivals.py)
  and the dispatcher sleeps to each absolute time (`t0 + offset`), never by relative sleeps, so it cannot drift behind
  (the `vllm bench serve` bug #21104: 183.5 of 200 req/s); each request runs in its own task, so a slow response
  never delays the next send.
- closed loop (`run_closed`): `concurrency` workers, each sending its next request when the last one ended.
- a circuit breaker stops a point that mostly fails (`CircuitBreaker`: 10 failures in a row, or more than half of
  the last 20 finished); requests it stopped are recorded as failed with kind `stopped`.
- while a point runs, the server's /metrics is sampled every second (gauge peaks: queued requests, KV-cache use).

One aiohttp session per point, no connection limit (an open-loop point may have every request in flight at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.engines.openai_http import Endpoint
from bench.metrics.serving import RequestRecord

Prompt = list[int] | str
SAMPLE_EVERY_S = 1.0


@dataclass
class CircuitBreaker:
    consecutive: int = 10
    window: int = 20
    max_fraction: float = 0.5
    _recent: deque[bool] = field(default_factory=deque)
    _in_a_row: int = 0
    tripped: str | None = None

    def record(self, ok: bool) -> bool:
        """Add one finished request; True when the point must stop."""
        self._in_a_row = 0 if ok else self._in_a_row + 1
        self._recent.append(ok)
        if len(self._recent) > self.window:
            self._recent.popleft()
        if self.tripped is None:
            failures = self._recent.count(False)
            if self._in_a_row >= self.consecutive:
                self.tripped = f"{self._in_a_row} requests in a row failed"
            elif len(self._recent) == self.window and failures > self.max_fraction * self.window:
                self.tripped = f"{failures} of the last {self.window} requests failed"
        return self.tripped is not None


@dataclass
class PointRun:
    records: list[RequestRecord]
    server_before: dict[str, float] | None
    server_after: dict[str, float] | None
    server_during: list[dict[str, float]]
    stopped: str | None  # why the circuit breaker stopped the point


class LoadClient:
    def __init__(self, endpoint: Endpoint, max_tokens: int, timeout_s: float = 600.0,
                 log: Callable[[str], None] = print) -> None:
        self.endpoint = endpoint
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.log = log

    def run_open(self, prompts: Sequence[Prompt], offsets: Sequence[float]) -> PointRun:
        return asyncio.run(self._point(prompts, offsets=offsets))

    def run_closed(self, prompts: Sequence[Prompt], concurrency: int) -> PointRun:
        return asyncio.run(self._point(prompts, concurrency=concurrency))

    async def _point(self, prompts: Sequence[Prompt], offsets: Sequence[float] | None = None,
                     concurrency: int | None = None) -> PointRun:
        import aiohttp

        before = await asyncio.to_thread(self.endpoint.scrape)
        during: list[dict[str, float]] = []
        breaker = CircuitBreaker()
        records = [RequestRecord(index=i, scheduled=offsets[i] if offsets is not None else 0.0)
                   for i in range(len(prompts))]
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            stop = asyncio.Event()
            sampler = asyncio.create_task(self._sample(during, stop)) if before is not None else None
            start = time.perf_counter()

            def clock() -> float:
                return time.perf_counter() - start

            async def one(record: RequestRecord) -> None:
                try:
                    await self.endpoint.stream(session, record, prompts[record.index], self.max_tokens, clock,
                                               self.timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a client bug must not pass as a server figure, nor go unseen
                    record.ok = False
                    record.error_kind, record.error = "client error", f"{type(exc).__name__}: {exc}"[:300]
                if breaker.record(record.ok):
                    stop.set()

            try:
                if offsets is not None:
                    await self._open(records, one, start, stop)
                else:
                    await self._closed(records, one, concurrency or 1, clock, stop)
            finally:
                stop.set()
                if sampler is not None:
                    await sampler
        after = await asyncio.to_thread(self.endpoint.scrape) if before is not None else None
        for record in records:
            if not record.ok and record.error_kind in (None, "cancelled"):
                record.error_kind = "stopped"
                record.error = (f"stopped by the circuit breaker ({breaker.tripped})" if breaker.tripped
                                else "not sent")
        return PointRun(records, before, after, during, breaker.tripped)

    @staticmethod
    async def _open(records: list[RequestRecord], one: Callable, start: float, stop: asyncio.Event) -> None:
        tasks = []
        for record in records:
            delay = start + record.scheduled - time.perf_counter()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            if stop.is_set():
                break
            tasks.append(asyncio.create_task(one(record)))
        await _finish(tasks, stop)

    @staticmethod
    async def _closed(records: list[RequestRecord], one: Callable, concurrency: int, clock: Callable[[], float],
                      stop: asyncio.Event) -> None:
        queue = deque(records)

        async def worker() -> None:
            while queue and not stop.is_set():
                record = queue.popleft()
                record.scheduled = clock()
                await one(record)

        await _finish([asyncio.create_task(worker()) for _ in range(min(concurrency, len(records)))], stop)

    async def _sample(self, into: list[dict[str, float]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=SAMPLE_EVERY_S)
            except TimeoutError:
                sample = await asyncio.to_thread(self.endpoint.scrape, 1.0)
                if sample is not None:
                    into.append(sample)


async def _finish(tasks: list[asyncio.Task], stop: asyncio.Event) -> None:
    """Wait for every task; once the breaker trips (`stop`), cancel those still running."""
    pending = set(tasks)
    while pending:
        stopper = asyncio.create_task(stop.wait())
        done, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            pending.discard(stopper)
            if pending:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            return
        stopper.cancel()
        pending.discard(stopper)
