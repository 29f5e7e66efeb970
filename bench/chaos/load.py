"""Load for the chaos suite: one async HTTP client (aiohttp), closed or open loop, with retries.

Closed loop (`closed_loop`) finds the capacity knee: N workers, each sends, waits, sends again.
Open loop (`open_loop`) offers a fixed arrival rate whatever the server does, which is what
overload needs: a closed loop slows down with the server and never overloads it. Every request
is recorded with its start, latency, every status it saw and whether a refusal carried
`Retry-After`, so the suite can cut the timeline into windows afterwards.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from rayline.benchmarking.stats import percentile

TRANSPORT_ERROR = 0
"""Status recorded for a connection error or a client-side timeout (no HTTP answer)."""


@dataclass(frozen=True)
class Retry:
    """Bounded retries with exponential backoff (and Retry-After, capped)."""

    attempts: int = 6
    base_s: float = 0.25
    cap_s: float = 4.0

    def delay(
        self, attempt: int, retry_after: str | None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1), jittered by
        `rng` (the module's generator without one)."""
        backoff: float = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        if retry_after is not None and retry_after.isdigit():
            backoff = max(backoff, min(self.cap_s, float(retry_after)))
        return backoff * (rng.uniform if rng else random.uniform)(0.8, 1.2)


@dataclass
class Request:
    """One logical request (all its attempts)."""

    start: float
    """Seconds since the run's t0 when the first attempt was sent."""
    latency_s: float
    """First send to final answer, including retries and backoff."""
    statuses: list[int]
    """Status of every attempt; 0 is a transport error or timeout."""
    refusals_without_retry_after: int = 0
    errors: list[str] = field(default_factory=list)
    """What each transport error was (exception class and message), for the reports."""

    @property
    def final(self) -> int:
        return self.statuses[-1]

    @property
    def ok(self) -> bool:
        return self.final == 200


@dataclass
class Run:
    """Everything one load run saw."""

    t0: float
    requests: list[Request] = field(default_factory=list)
    client_dropped: int = 0
    """Arrivals the open loop did not send because too many were already outstanding."""
    duration_s: float = 0.0
    send_late_s: list[float] = field(default_factory=list)
    """How late the open loop sent each arrival: the client's own lag, not the server's."""

    def status_counts(self, attempts: bool = False) -> dict[str, int]:
        if attempts:
            counts = Counter(s for r in self.requests for s in r.statuses)
        else:
            counts = Counter(r.final for r in self.requests)
        return {str(k): v for k, v in sorted(counts.items())}

    def transport_errors(self) -> dict[str, int]:
        """How many times each kind of transport error was seen, over all attempts."""
        return dict(Counter(e for r in self.requests for e in r.errors).most_common())


def lateness(run: Run) -> dict[str, float]:
    """How far behind its schedule the client sent (p50, p99, max seconds)."""
    late = run.send_late_s
    return {
        "p50_s": round(percentile(late, 50), 3),
        "p99_s": round(percentile(late, 99), 3),
        "max_s": round(max(late, default=math.nan), 3),
    }


def summarize(requests: list[Request], duration_s: float) -> dict[str, Any]:
    """Throughput of successes and latency percentiles (successes only), in ms."""
    ok = [r.latency_s * 1000 for r in requests if r.ok]
    return {
        "requests": len(requests),
        "ok": len(ok),
        "throughput_rps": round(len(ok) / duration_s, 2) if duration_s > 0 else math.nan,
        "p50_ms": round(percentile(ok, 50), 2),
        "p99_ms": round(percentile(ok, 99), 2),
        "mean_ms": round(sum(ok) / len(ok), 2) if ok else math.nan,
    }


async def _send(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    retry: Retry | None,
    t0: float,
    rng: random.Random | None = None,
) -> Request:
    started = time.monotonic()
    statuses: list[int] = []
    missing_retry_after = 0
    errors: list[str] = []
    attempts = retry.attempts if retry else 1
    for attempt in range(1, attempts + 1):
        retry_after: str | None = None
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            status = TRANSPORT_ERROR
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        statuses.append(status)
        if status in (429, 503) and not retry_after:
            missing_retry_after += 1
        if status == 200 or retry is None or (400 <= status < 500 and status != 429):
            break
        if attempt < attempts:
            await asyncio.sleep(retry.delay(attempt, retry_after, rng))
    return Request(started - t0, time.monotonic() - started, statuses, missing_retry_after, errors)


def _session(connections: int, timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
    )


async def closed_loop(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    timeout_s: float = 60,
) -> Run:
    """`concurrency` workers for warm-up + `duration_s`; only requests that end inside the
    measured window are kept."""
    t0 = time.monotonic()
    measure_from, stop_at = t0 + warmup_s, t0 + warmup_s + duration_s
    run = Run(t0, duration_s=duration_s)
    async with _session(concurrency, timeout_s) as session:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                request = await _send(session, url, body, headers, None, t0)
                if measure_from <= t0 + request.start + request.latency_s < stop_at:
                    run.requests.append(request)
                if request.final == TRANSPORT_ERROR:
                    await asyncio.sleep(0.05)  # a refused connection must not spin the loop

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return run


async def open_loop(
    url: str,
    body: bytes,
    headers: dict[str, str],
    phases: list[tuple[float, float]],
    retry: Retry | None = None,
    max_outstanding: int = 4000,
    connections: int = 1024,
    timeout_s: float = 90,
    drain_s: float = 120,
    seed: int | None = None,
) -> Run:
    """Arrivals at a fixed rate per phase: `phases` is [(rate per s, seconds), ...]. Requests
    still outstanding `drain_s` after the last arrival are cancelled and count as transport
    errors. Stops sending (counts `client_dropped`) past `max_outstanding`. With `seed`, the
    retries' jitter of the n-th arrival follows from (seed, n), whatever order answers come in."""
    t0 = time.monotonic()
    run = Run(t0, duration_s=sum(seconds for _, seconds in phases))
    tasks: dict[asyncio.Task[Request], float] = {}  # outstanding → its start (s since t0)
    async with _session(connections, timeout_s) as session:

        def record(task: asyncio.Task[Request]) -> None:
            tasks.pop(task, None)
            if not task.cancelled() and task.exception() is None:
                run.requests.append(task.result())

        phase_start = t0
        arrivals = 0
        for rate, seconds in phases:
            interval = 1.0 / rate
            count = max(1, int(rate * seconds))
            for index in range(count):
                due = phase_start + index * interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                run.send_late_s.append(max(0.0, time.monotonic() - due))
                arrivals += 1
                if len(tasks) >= max_outstanding:
                    run.client_dropped += 1
                    continue
                rng = random.Random(f"{seed}/{arrivals}") if seed is not None else None
                task = asyncio.create_task(_send(session, url, body, headers, retry, t0, rng))
                tasks[task] = time.monotonic() - t0
                task.add_done_callback(record)
            phase_start += seconds
        deadline = time.monotonic() + drain_s
        while tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        now = time.monotonic() - t0
        for task, started in list(tasks.items()):  # never answered in time
            tasks.pop(task)
            task.cancel()
            unanswered = f"no answer within {drain_s:g} s after the last arrival"
            run.requests.append(Request(started, now - started, [TRANSPORT_ERROR], 0, [unanswered]))
        await asyncio.sleep(0)
    return run


def windows(
    requests: list[Request], start_s: float, end_s: float, width_s: float
) -> list[dict[str, Any]]:
    """Per window of request start time: count, successes, p99 of successes (ms)."""
    result = []
    edge = start_s
    while edge < end_s - 1e-9:
        inside = [r for r in requests if edge <= r.start < edge + width_s]
        ok = [r.latency_s * 1000 for r in inside if r.ok]
        result.append(
            {
                "t": round(edge, 2),
                "requests": len(inside),
                "ok": len(ok),
                "p99_ms": round(percentile(ok, 99), 2),
                "statuses": dict(sorted(Counter(str(r.final) for r in inside).items())),
            }
        )
        edge += width_s
    return result
