"""Bootstrap confidence intervals over test rows.

Every interval mtrec reports comes from here: resample the rows of the saved test predictions
with replacement, recompute the statistic on each resample, take percentiles. Paired
comparisons (two runs on the same rows) pass a statistic that scores both runs on the same
indices, so row difficulty cancels out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A statistic on all rows and its bootstrap distribution's summary."""

    estimate: float  # the statistic on the rows as they are
    low: float | None  # lower percentile bound (None: no valid resample)
    high: float | None  # upper percentile bound
    se: float | None  # standard deviation of the resampled statistic
    resamples: int  # how many resamples gave a finite value

    def as_list(self) -> list[float] | None:
        if self.low is None or self.high is None:
            return None
        return [self.low, self.high]

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval."""
        if self.low is None or self.high is None:
            return False
        return value < self.low or value > self.high


def resample_indices(
    n: int, resamples: int, seed: int, *, strata: np.ndarray | None = None
) -> np.ndarray:
    """``resamples`` rows of ``n`` indices drawn with replacement.

    With ``strata``, each stratum (e.g. a sensitive group) is resampled within itself, so every
    resample keeps the group sizes and no group vanishes from a small sample.
    """
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(resamples, n))
    labels = np.asarray(strata)
    out = np.empty((resamples, n), dtype=np.int64)
    position = 0
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        picks = rng.integers(0, len(members), size=(resamples, len(members)))
        out[:, position : position + len(members)] = members[picks]
        position += len(members)
    return out


def bootstrap(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    strata: np.ndarray | None = None,
) -> Interval:
    """Percentile interval of ``statistic(row_indices)`` over bootstrap resamples of ``n`` rows.

    A resample on which the statistic is undefined (None or not finite, e.g. AUC of a resample
    holding one class) is dropped; the number kept is reported.
    """
    estimate = _finite(statistic(np.arange(n)))
    if estimate is None:
        return Interval(estimate=float("nan"), low=None, high=None, se=None, resamples=0)
    if resamples <= 0 or n == 0:
        return Interval(estimate=estimate, low=None, high=None, se=None, resamples=0)
    values = [
        value
        for rows in resample_indices(n, resamples, seed, strata=strata)
        if (value := _finite(statistic(rows))) is not None
    ]
    if len(values) < 2:
        return Interval(estimate=estimate, low=None, high=None, se=None, resamples=len(values))
    array = np.asarray(values)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(array, [tail, 100.0 - tail])
    return Interval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        se=float(array.std(ddof=1)),
        resamples=len(values),
    )


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
