"""Bootstrap confidence intervals over test rows.

Every interval mtrec reports comes from here: resample the rows of the saved test predictions
with replacement, recompute the statistic on each resample, take percentiles. Where the rows
come in clusters (a user's test rows share that user's tastes), the clusters are what is
resampled (:class:`Clusters`): a user drawn brings all their rows, so correlated rows do not
pass for independent evidence and the interval is not too narrow. Paired
comparisons (two runs on the same rows, :func:`paired_difference`) score both runs on the same
indices, so row difficulty cancels out; independent samples (the latency timings of two runs,
:func:`unpaired_difference`) are resampled each on its own.

A ranking task's rows are users (each with their top-K list), so resampling its rows resamples
users: ``TaskPredictions.take(rows)`` draws whole lists, and two models' lists of the same
users, lined up by user id, are scored on the same drawn users. Some figures of the lists
depend on how many *distinct* users a resample holds, about 63 % of them (catalogue coverage
and the Gini of exposure: a user drawn twice adds no new item), so their resamples sit below
the estimate and a percentile interval can miss it; :func:`debiased` moves such an interval
by the bootstrap's estimate of that bias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
    # the resampled values themselves, when asked for (``bootstrap(..., keep=True)``)
    values: tuple[float, ...] = field(default=(), compare=False, repr=False)

    def as_list(self) -> list[float] | None:
        if self.low is None or self.high is None:
            return None
        return [self.low, self.high]

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval."""
        if self.low is None or self.high is None:
            return False
        return value < self.low or value > self.high


@dataclass(frozen=True, kw_only=True)
class Clusters:
    """The units of a cluster bootstrap: each unit (a user) brings all its rows.

    ``Clusters.of(None, n)`` makes every row its own unit (the plain row bootstrap).
    """

    count: int  # number of units
    unit_of_row: np.ndarray  # the unit (0..count-1) each row belongs to

    @classmethod
    def of(cls, ids: np.ndarray | None, n: int) -> Clusters:
        """Units from the id of each of ``n`` rows (e.g. user ids); rows when ids are absent."""
        if ids is None or len(ids) != n:
            return cls(count=n, unit_of_row=np.arange(n))
        units, unit_of_row = np.unique(np.asarray(ids), return_inverse=True)
        return cls(count=len(units), unit_of_row=unit_of_row.reshape(-1))

    @property
    def rows(self) -> int:
        return len(self.unit_of_row)

    def weights(self, units: np.ndarray) -> np.ndarray:
        """How often each row is drawn when these units are (a unit brings all its rows)."""
        drawn: np.ndarray = np.bincount(units, minlength=self.count)[self.unit_of_row]
        return drawn.astype(np.float64)

    def first_row(self) -> np.ndarray:
        """A row of each unit (its first), to read unit-level labels from row-level ones."""
        first = np.zeros(self.count, dtype=np.int64)
        first[self.unit_of_row[::-1]] = np.arange(self.rows)[::-1]
        return first


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
    keep: bool = False,
) -> Interval:
    """Percentile interval of ``statistic(row_indices)`` over bootstrap resamples of ``n`` rows.

    A resample on which the statistic is undefined (None or not finite, e.g. AUC of a resample
    holding one class) is dropped; the number kept is reported. ``n`` may count clusters
    (:class:`Clusters`) as well as rows. ``keep`` keeps the resampled values in the result.
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
    interval = percentile_interval(estimate, values, level)
    return replace(interval, values=tuple(values)) if keep else interval


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
    return percentile_interval(estimate, values, level)


def percentile_interval(
    estimate: float, values: list[float], level: float = DEFAULT_LEVEL
) -> Interval:
    """The interval of ``estimate`` from resampled ``values``: their percentiles and spread."""
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


def debiased(
    interval: Interval,
    *,
    lowest: float | None = None,
    highest: float | None = None,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """``interval`` moved by the bootstrap's estimate of bias: the resampled values less
    (their mean - the estimate), kept within [``lowest``, ``highest``], then their percentiles.

    For a statistic whose resamples are shifted from the estimate by the resampling itself
    (coverage of the items listed to a resample of users). Needs the resampled values
    (``bootstrap(..., keep=True)``); with fewer than two it is returned as it is.
    """
    if len(interval.values) < 2:
        return interval
    values = np.asarray(interval.values, dtype=np.float64)
    moved = values - (values.mean() - interval.estimate)
    if lowest is not None or highest is not None:
        moved = np.clip(moved, lowest, highest)
    centred = percentile_interval(interval.estimate, moved.tolist(), level)
    return replace(centred, values=tuple(moved.tolist()))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
