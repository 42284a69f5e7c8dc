"""Confidence intervals for the report: bootstrap for means of per-question
scores, Wilson for accuracies (proportions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95 %: the z value of the standard normal.
Z_95 = 1.959963984540054
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 42


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % interval over n finite values."""

    mean: float
    low: float
    high: float
    n: int

    def format(self, digits: int = 2) -> str:
        if self.n == 0:
            return "–"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] n={self.n}"


def bootstrap_mean(
    values: list[float] | np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> Estimate:
    """Percentile bootstrap of the mean. NaN and None are not values: callers
    count them as failures before they get here."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if n == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    samples = rng.choice(data, size=(resamples, n), replace=True).mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return Estimate(mean, float(low), float(high), n)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> Estimate:
    """Wilson score interval for a proportion: well-behaved near 0 and 1 and for
    small n, unlike the normal approximation."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def bootstrap_mean_of_means(
    groups: list[list[float]], *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> Estimate:
    """Mean of the group means (e.g. the balanced refusal accuracy), each group
    resampled on its own; empty groups are left out. n is all values used."""
    arrays = [np.asarray(g, dtype=float) for g in groups]
    arrays = [a[np.isfinite(a)] for a in arrays]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return Estimate(math.nan, math.nan, math.nan, 0)
    n = sum(int(a.size) for a in arrays)
    mean = float(np.mean([a.mean() for a in arrays]))
    rng = np.random.default_rng(seed)
    samples = np.mean([rng.choice(a, size=(resamples, a.size), replace=True).mean(axis=1) for a in arrays], axis=0)
    low, high = np.quantile(samples, [0.025, 0.975])
    return Estimate(mean, float(low), float(high), n)


# Below this many values an interval is not read as a verdict: the percentile
# bootstrap's interval is too narrow at small n (it under-covers; Efron &
# Tibshirani 1993, ch. 13), and one question moves a mean by 10 points or more.
MIN_ITEMS_FOR_VERDICT = 10


def paired_difference(
    a: dict[str, float | None],
    b: dict[str, float | None],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """Mean of A − B over the items (e.g. question ids) both have a finite
    value for, with a percentile bootstrap interval of that mean (the items
    are resampled as pairs, so what the two share cancels out)."""
    diffs = [
        float(a[key]) - float(b[key])  # type: ignore[arg-type]
        for key in a
        if key in b and _finite(a[key]) and _finite(b[key])
    ]
    return bootstrap_mean(diffs, resamples=resamples, seed=seed)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def verdict(difference: Estimate, higher_is_better: bool | None, a: str, b: str) -> str:
    """The difference A − B in words; says when the data give no verdict."""
    if difference.n == 0:
        return "no verdict: no question has a value for both"
    if difference.n < MIN_ITEMS_FOR_VERDICT:
        return f"no verdict: too few paired questions (n={difference.n} < {MIN_ITEMS_FOR_VERDICT})"
    if difference.low <= 0.0 <= difference.high:
        if difference.low == difference.high == 0.0:
            return "no difference on these questions"
        return "no verdict: the interval includes 0"
    higher, lower = (a, b) if difference.low > 0 else (b, a)
    if higher_is_better is None:
        return f"{higher} higher than {lower}"
    better = higher if higher_is_better else lower
    return f"{better} better ({higher} higher than {lower})"
