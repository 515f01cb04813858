"""Fixed histogram buckets, shared by the hourly rollup (which counts into them) and the
selectors (which merge and read percentiles from them). A histogram is a list of counts, one
per bucket: bucket i holds values v with EDGES[i-1] < v <= EDGES[i]; the last bucket holds
everything above the last edge. Changing an edge means running `analytics_backfill` again."""

import math

# Session length, in seconds.
DURATION_EDGES = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600]
# The person's turns (messages) in a session.
TURN_EDGES = [0, 1, 2, 3, 5, 10, 20, 50, 100]
# Latencies in ms: log-spaced, about 19% apart (2 ** (1/4)), from 10 ms to about 82 s.
LATENCY_EDGES = [round(10 * 2 ** (i / 4)) for i in range(53)]


def bucket_of(value: float, edges: list[int]) -> int:
    for index, edge in enumerate(edges):
        if value <= edge:
            return index
    return len(edges)


def empty(edges: list[int]) -> list[int]:
    return [0] * (len(edges) + 1)


def merge(into: list[int], counts: list[int]) -> list[int]:
    """Add `counts` into `into`, in place; a shorter list is padded."""
    if len(into) < len(counts):
        into.extend([0] * (len(counts) - len(into)))
    for index, count in enumerate(counts):
        into[index] += count
    return into


def percentile(counts: list[int], edges: list[int], fraction: float) -> float | None:
    """The upper edge of the bucket holding the `fraction` quantile (so never below the true
    value by more than one bucket's width); values above the last edge read as the last edge.
    None for an empty histogram."""
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return float(edges[min(index, len(edges) - 1)])
    return float(edges[-1])
