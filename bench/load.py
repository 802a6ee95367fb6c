"""Closed-loop load: N callers, each making one call after another, for a fixed time.

Each caller waits for its reply before the next call, as real clients do, so throughput and
latency trade against each other the way those clients would see them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

Call = Callable[[], Awaitable[None]]


class ExhaustedError(Exception):
    """A call raises it when it has nothing left to send (each request can go only once):
    its caller stops, and the run ends when the others have, so the figures cover a shorter
    time instead of failing."""


@dataclass(frozen=True)
class Measurement:
    calls: int
    calls_per_second: float
    seconds: float  # how long the measured run lasted: shorter than asked if it ran out
    p50_ms: float
    p99_ms: float


async def measure(
    call: Call, concurrency: int, seconds: float, warmup_seconds: float
) -> Measurement:
    """Warms up first (connection, lazy setup on both sides); only the second run counts."""
    await _run(call, concurrency, warmup_seconds)
    latencies, elapsed = await _run(call, concurrency, seconds)
    latencies.sort()
    return Measurement(
        calls=len(latencies),
        calls_per_second=len(latencies) / elapsed,
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest rank: always a latency that was observed, never an interpolated one."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


async def _run(call: Call, concurrency: int, seconds: float) -> tuple[list[float], float]:
    """Returns every call's latency and the wall time until the last caller finished."""
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    try:
        async with asyncio.TaskGroup() as callers:
            for _ in range(concurrency):
                callers.create_task(_caller(call, deadline, latencies))
    except* Exception as failures:
        # The first failure cancels the other callers; report it as itself, not as a group.
        raise failures.exceptions[0] from None
    return latencies, time.perf_counter() - started


async def _caller(call: Call, deadline: float, latencies: list[float]) -> None:
    while (started := time.perf_counter()) < deadline:
        try:
            await call()
        except ExhaustedError:
            return
        latencies.append(time.perf_counter() - started)
