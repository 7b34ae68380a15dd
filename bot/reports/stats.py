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
    return (max(0.0, centre - half), min(1.0, centre + half))


def verdict(
    counts: dict[str, int], *, min_sample: int, undecided: str = "neutral"
) -> tuple[str, str | None]:
    """('leans X' | 'mostly undecided' | 'too close to call' | 'too few replies', leader).

    A label leads only when its interval lies wholly above every other label's interval.
    """
    n = sum(counts.values())
    if n < min_sample:
        return ("too few replies", None)
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    leader, k = ranked[0]
    low, _ = wilson(k, n)
    if all(low > wilson(other, n)[1] for _, other in ranked[1:]):
        return ("mostly undecided" if leader == undecided else f"leans {leader}", leader)
    return ("too close to call", None)
