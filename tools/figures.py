"""Summaries the benchmarks print."""

from __future__ import annotations

import statistics


def median_p95(values: list[float], digits: int = 3) -> dict:
    """Median, 95th percentile (nearest rank) and count of *values*; None figures when empty."""
    if not values:
        return {"median": None, "p95": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), digits), "p95": round(p95, digits), "n": len(ordered)}
