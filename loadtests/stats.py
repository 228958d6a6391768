"""Pure arithmetic over what a run observed: percentiles, rates, per-issuance ratios and the
time series the plots draw. Nothing here does I/O or reads a clock."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a sample (seconds, usually); all zero for an empty sample."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks (numpy's
    default); ValueError for an empty sample or ``q`` out of range."""
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def distribution(values: Sequence[float]) -> Distribution:
    if not values:
        return Distribution(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Distribution(
        count=len(values),
        mean=sum(values) / len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=max(values),
    )


def per_issuance(counts: Mapping[str, float], issued: int) -> dict[str, float]:
    """Each count divided by the number of issued certificates (all zero when none was)."""
    return {key: (value / issued if issued else 0.0) for key, value in sorted(counts.items())}


def count_in_window(times: Iterable[float], start: float, end: float) -> int:
    """How many of ``times`` fall in ``[start, end)``."""
    return sum(1 for t in times if start <= t < end)


def cumulative(times: Iterable[float], origin: float) -> list[tuple[float, int]]:
    """``(seconds since origin, events so far)`` after each event, in time order: the
    "issued over time" curve."""
    return [(t - origin, i) for i, t in enumerate(sorted(times), start=1)]


def per_second(times: Iterable[float], origin: float, duration: float) -> list[int]:
    """Events in each whole second ``[origin + k, origin + k + 1)`` for ``k < duration``."""
    buckets = [0] * max(0, math.ceil(duration))
    for t in times:
        k = math.floor(t - origin)
        if 0 <= k < len(buckets):
            buckets[k] += 1
    return buckets
