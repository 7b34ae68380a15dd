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


def lead_p_value(leader: int, runner_up: int) -> float:
    """Two-sided exact binomial test: could the leader's and the runner-up's members be an even
    split of the members who chose one of the two? (p-value)"""
    from scipy.stats import binomtest

    n = leader + runner_up
    return 1.0 if n == 0 else float(binomtest(leader, n, 0.5).pvalue)


def verdict(
    counts: dict[str, int], *, min_sample: int, undecided: str = "neutral"
) -> tuple[str, str | None]:
    """('leans X' | 'mostly undecided' | 'too close to call' | 'too few replies', leader).

    A label leads only when an exact binomial test of its members against the runner-up's
    rejects an even split at the 5% level.
    """
    n = sum(counts.values())
    if n < min_sample:
        return ("too few replies", None)
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    leader, k = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if lead_p_value(k, runner_up) < 0.05:
        return ("mostly undecided" if leader == undecided else f"leans {leader}", leader)
    return ("too close to call", None)
