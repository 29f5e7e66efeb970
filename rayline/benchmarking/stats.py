"""Pure statistics for benchmark results: percentiles, latency summaries and ratios."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default).

    NaN for no values, so an empty run reads as "no data" rather than as zero latency."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(
    latencies_ms: Sequence[float], duration_s: float, rows_per_request: int, errors: int
) -> dict[str, Any]:
    """The serving figures of one closed-loop run: successful requests only count as done."""
    done = len(latencies_ms)
    rps = done / duration_s if duration_s > 0 else math.nan
    return {
        "throughput_rps": round(rps, 2),
        "rows_per_s": round(rps * rows_per_request, 1),
        "p50_ms": round(percentile(latencies_ms, 50), 3),
        "p90_ms": round(percentile(latencies_ms, 90), 3),
        "p99_ms": round(percentile(latencies_ms, 99), 3),
        "mean_ms": round(sum(latencies_ms) / done, 3) if done else math.nan,
        "errors": errors,
        "requests": done + errors,
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """numerator ÷ denominator, or None where either is missing, zero or NaN."""
    if numerator is None or denominator is None:
        return None
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return None
    return round(numerator / denominator, digits)


def median(values: Iterable[float]) -> float:
    return percentile(list(values), 50)


def finite(value: Any) -> Any:
    """JSON has no NaN: NaN and infinities become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
