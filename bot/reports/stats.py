"""Small, exact statistics for reports: Wilson score intervals and a verdict rule."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n; (0, 1) when n is 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Rounding can put a bound a hair inside p at 0 or 1; the interval always contains p.
    return (min(max(0.0, centre - half), p), max(min(1.0, centre + half), p))


def difference_interval(k1: int, k2: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Interval for p1 - p2 when both shares come from the same n people (multinomial)."""
    if n <= 0:
        return (-1.0, 1.0)
    p1, p2 = k1 / n, k2 / n
    d = p1 - p2
    half = z * math.sqrt(max(p1 + p2 - d * d, 0.0) / n)
    return (max(-1.0, d - half), min(1.0, d + half))


def verdict(
    counts: dict[str, int], *, min_sample: int, undecided: str = "neutral"
) -> tuple[str, str | None]:
    """('leans X' | 'mostly undecided' | 'too close to call' | 'too few replies', leader).

    A label leads only when the 95% interval of its lead over the runner-up excludes zero.
    """
    n = sum(counts.values())
    if n < min_sample:
        return ("too few replies", None)
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    leader, k = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if difference_interval(k, runner_up, n)[0] > 0:
        return ("mostly undecided" if leader == undecided else f"leans {leader}", leader)
    return ("too close to call", None)
