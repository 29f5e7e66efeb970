"""The benchmarks' HTTP client: the one load generator (async, closed loop, aiohttp) and
single JSON requests to the ingress.

`concurrency` workers each send a request, wait for the answer and send the next one. A warm-up
runs first and is discarded; then requests that complete within the measured window count.
`alternate` interleaves targets in short segments (A B B A ...) so drift in the machine's load
hits every target alike. Used by `jobs.benchmark` (web UI) and `bench.run_serving` (make bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from rayline.benchmarking.stats import latency_summary


@dataclass(frozen=True)
class Target:
    """One endpoint under test with the exact request it receives."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    rows_per_request: int = 1


@dataclass
class Run:
    """Raw numbers of one or more measured windows against one target."""

    target: str
    concurrency: int
    rows_per_request: int
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return latency_summary(
            self.latencies_ms, self.duration_s, self.rows_per_request, self.errors
        )

    def absorb(self, other: Run) -> None:
        self.duration_s += other.duration_s
        self.latencies_ms.extend(other.latencies_ms)
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.segments.append(other.summary())


async def _worker(
    session: aiohttp.ClientSession,
    target: Target,
    measure_from: float,
    stop_at: float,
    run: Run,
    clock: Callable[[], float],
) -> None:
    while True:
        started = clock()
        if started >= stop_at:
            return
        status = "error"
        try:
            async with session.post(target.url, data=target.body, headers=target.headers) as r:
                await r.read()
                status = str(r.status)
        except (aiohttp.ClientError, TimeoutError, OSError):
            await asyncio.sleep(0.01)  # a refused connection must not spin the loop
        finished = clock()
        if measure_from <= finished < stop_at:
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status == "200":
                run.latencies_ms.append((finished - started) * 1000.0)
            else:
                run.errors += 1


async def measure(
    target: Target,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Run:
    """Closed loop against one target: warm up, then measure for `duration_s`."""
    run = Run(target.name, concurrency, target.rows_per_request, duration_s=duration_s)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = clock()
        measure_from = start + warmup_s
        stop_at = measure_from + duration_s
        await asyncio.gather(
            *(
                _worker(session, target, measure_from, stop_at, run, clock)
                for _ in range(concurrency)
            )
        )
    return run


async def alternate(
    targets: list[Target],
    concurrency: int,
    rounds: int,
    segment_s: float,
    warmup_s: float,
) -> dict[str, Run]:
    """`rounds` segments per target, in A B / B A order, summed per target."""
    runs = {t.name: Run(t.name, concurrency, t.rows_per_request) for t in targets}
    for index in range(rounds):
        order = targets if index % 2 == 0 else list(reversed(targets))
        for target in order:
            runs[target.name].absorb(await measure(target, concurrency, segment_s, warmup_s))
    return runs


def run_sync(coroutine: Any) -> Any:
    """Run on uvloop where available: it takes less of the CPU the servers need."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def http_json(url: str, key: str | None = None, body: Any = None, timeout: float = 30) -> Any:
    """One JSON request to the ingress (or any loopback server); POST when `body` is given."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - ingress URL
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())
