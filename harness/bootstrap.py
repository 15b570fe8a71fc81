"""Bootstrap confidence intervals over test rows.

Every interval mtrec reports comes from here: resample the rows of the saved test predictions
with replacement, recompute the statistic on each resample, take percentiles. Paired
comparisons (two runs on the same rows, :func:`paired_difference`) score both runs on the same
indices, so row difficulty cancels out; independent samples (the latency timings of two runs,
:func:`unpaired_difference`) are resampled each on its own.
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
    return _percentile_interval(estimate, values, level)


def paired_difference(
    baseline: Callable[[np.ndarray], float | None],
    candidate: Callable[[np.ndarray], float | None],
    n: int,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Interval of ``candidate(rows) - baseline(rows)``, both scored on the same resampled rows.

    ``baseline`` and ``candidate`` compute a metric of one run on the given row indices; the
    rows of the two runs must be aligned (row ``i`` is the same test example in both).
    """

    def difference(rows: np.ndarray) -> float | None:
        before, after = _finite(baseline(rows)), _finite(candidate(rows))
        return None if before is None or after is None else after - before

    return bootstrap(difference, n, resamples=resamples, seed=seed, level=level)


def unpaired_difference(
    baseline: np.ndarray,
    candidate: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.median,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Interval of ``statistic(candidate) - statistic(baseline)`` for two independent samples.

    Each sample is resampled on its own (their lengths may differ), e.g. the raw latency
    timings of two runs with ``statistic=np.median``.
    """
    before, after = np.asarray(baseline, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if len(before) == 0 or len(after) == 0:
        return Interval(estimate=float("nan"), low=None, high=None, se=None, resamples=0)
    estimate = float(statistic(after)) - float(statistic(before))
    if resamples <= 0:
        return Interval(estimate=estimate, low=None, high=None, se=None, resamples=0)
    rng = np.random.default_rng(seed)
    picks_before = rng.integers(0, len(before), size=(resamples, len(before)))
    picks_after = rng.integers(0, len(after), size=(resamples, len(after)))
    values = [
        value
        for a, b in zip(picks_before, picks_after, strict=True)
        if (value := _finite(float(statistic(after[b])) - float(statistic(before[a])))) is not None
    ]
    return _percentile_interval(estimate, values, level)


def _percentile_interval(estimate: float, values: list[float], level: float) -> Interval:
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
