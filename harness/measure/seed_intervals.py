"""Intervals of a figure averaged over seeds: a t-interval over seeds, or with one seed a
bootstrap over users of the saved test predictions.

The t quantile is computed here (closed form of Student's t for integer degrees of freedom,
inverted by bisection), so no statistics library is needed at run time.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.measure.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    Clusters,
    bootstrap,
    debiased,
)
from mtrec.measure.predictions import read_predictions, read_user_ids
from mtrec.measure.resampled import resampling_shifts, weighted_metric


def t_half_width(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> float:
    """Half the width of the t-interval of the mean of ``values`` (two or more):
    t(level, n - 1) * s / sqrt(n)."""
    array = np.asarray(values, dtype=np.float64)
    if len(array) < 2:
        raise ValueError("a t-interval needs two or more values")
    return t_quantile(len(array) - 1, level) * float(array.std(ddof=1)) / math.sqrt(len(array))


def t_quantile(df: int, level: float = DEFAULT_LEVEL) -> float:
    """The t such that P(|T| < t) = ``level`` for Student's t with ``df`` degrees of freedom
    (the half-width factor of a two-sided interval), by bisection on the closed form of
    P(|T| < t) for integer ``df``."""
    low, high = 0.0, 1.0
    while _central_t(high, df) < level:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if _central_t(middle, df) < level:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def _central_t(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with integer ``df`` >= 1 (closed form in the angle
    atan(t / sqrt(df)))."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        if df == 1:
            return 2.0 * theta / math.pi
        term, total = 1.0, 1.0
        for k in range(1, (df - 1) // 2):  # (2/3) cos^2, (2*4)/(3*5) cos^4, ...
            term *= (2.0 * k) / (2.0 * k + 1.0) * cos2
            total += term
        return 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    term, total = 1.0, 1.0
    for k in range(1, df // 2):  # (1/2) cos^2, (1*3)/(2*4) cos^4, ...
        term *= (2.0 * k - 1.0) / (2.0 * k) * cos2
        total += term
    return math.sin(theta) * total


def user_bootstrap(
    path: Path, record: Mapping[str, Any], task: str, metric: str, level: float = DEFAULT_LEVEL
) -> tuple[float, float] | None:
    """The percentile interval of ``task``'s ``metric`` over users (a drawn user brings
    all their test rows), from the record's saved test predictions in the run folder ``path``;
    ``fairness.bootstrap_resamples`` resamples (1000 when unset), seeded with the record's
    seed. None without the predictions. A ranking task's item-side figures (coverage, Gini,
    ...) sit off the estimate on every resample by construction: their interval is moved by
    the bootstrap's estimate of that bias (``debiased``).

    The end of a run lays the same board out three times (terminal, report.md, report.html):
    an interval is kept, in this process, under everything it is computed from (the file's
    SHA-256, the task's type, the metric, the resamples, the seed and the level).
    """
    relative = (record.get("predictions") or {}).get(task)
    file = path / "predictions" / str(relative)
    if not relative or not file.is_file():
        return None
    resamples = ((record.get("config") or {}).get("fairness") or {}).get("bootstrap_resamples")
    resamples = resamples if isinstance(resamples, int) and resamples > 0 else DEFAULT_RESAMPLES
    task_type = ((record.get("tasks") or {}).get(task) or {}).get("type")
    key = (
        hashlib.sha256(file.read_bytes()).hexdigest(),
        str(task_type),
        metric,
        resamples,
        int(record["seed"]),
        level,
    )
    if key not in _INTERVALS:
        if len(_INTERVALS) >= _KEPT:
            _INTERVALS.pop(next(iter(_INTERVALS)))
        _INTERVALS[key] = _user_bootstrap(path, record, task, metric, resamples, level)
    return _INTERVALS[key]


_KEPT = 4096  # intervals kept in this process (the oldest go first)
_INTERVALS: dict[tuple[str, str, str, int, int, float], tuple[float, float] | None] = {}


def _user_bootstrap(
    path: Path, record: Mapping[str, Any], task: str, metric: str, resamples: int, level: float
) -> tuple[float, float] | None:
    found = read_predictions(path, record, task)
    users = _user_ids(path, record, task)
    if found is None:
        return None
    _, predictions = found
    clusters = Clusters.of(users, len(predictions.y_true))
    on_weights = weighted_metric(predictions, metric)
    shifted = resampling_shifts(predictions, metric)
    interval = bootstrap(
        lambda units: on_weights(clusters.weights(units)),
        clusters.count,
        resamples=resamples,
        seed=int(record["seed"]),
        level=level,
        keep=shifted is not None,
    )
    if shifted is not None:  # a ranking task's coverage, Gini, ...: moved by the bias
        interval = debiased(interval, lowest=shifted[0], highest=shifted[1], level=level)
    if interval.low is None or interval.high is None:
        return None
    return interval.low, interval.high


def _user_ids(path: Path, record: Mapping[str, Any], task: str) -> np.ndarray | None:
    ids = read_user_ids(path, record, task)
    if ids is None:
        return None
    try:  # numeric ids as numbers: users in the order of their ids, as the run had them
        return np.array([int(i) for i in ids])
    except ValueError:
        return np.array(ids)


def paired_gain_bootstrap(
    path: Path,
    record: Mapping[str, Any],
    reference: Mapping[str, Any],
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float, float] | None:
    """(estimate, low, high) of the mean over tasks of the relative gain (%) of ``record``'s
    primary metric over ``reference``'s, both scored on the same resampled users (a paired
    bootstrap over users of the saved test predictions in the run folder ``path``).

    For a transfer: ``record`` trained on the sources first, ``reference`` the same
    combination trained on the target alone. None unless both have predictions of every task
    on the same test rows in the same order. A drawn user brings their rows of every task:
    a ranking task's one row (its list) and a row-level task's interactions alike.
    """
    from mtrec.measure.tasks import METRICS, relative_gain

    tasks = list((record.get("tasks") or {}).keys())
    if not tasks:
        return None
    pairs = []
    users: list[np.ndarray | None] = []
    rows: list[int] = []
    for task in tasks:
        mine, theirs = read_predictions(path, record, task), read_predictions(path, reference, task)
        if mine is None or theirs is None or mine[0] != theirs[0]:
            return None
        name = record["tasks"][task]["primary_metric"]
        pairs.append(
            (
                weighted_metric(mine[1], name),
                weighted_metric(theirs[1], name),
                METRICS[name].direction,
            )
        )
        users.append(_user_ids(path, record, task))
        rows.append(len(mine[1].y_true))
    weights_of = _shared_units(users, rows)
    if weights_of is None:
        return None
    count, per_task = weights_of

    def mean_gain(units: np.ndarray) -> float:
        drawn = np.bincount(units, minlength=count).astype(np.float64)
        return float(
            np.mean(
                [
                    relative_gain(a(drawn[unit_of_row]), b(drawn[unit_of_row]), sign)
                    for (a, b, sign), unit_of_row in zip(pairs, per_task, strict=True)
                ]
            )
        )

    resamples = ((record.get("config") or {}).get("fairness") or {}).get("bootstrap_resamples")
    interval = bootstrap(
        mean_gain,
        count,
        resamples=resamples if isinstance(resamples, int) and resamples > 0 else DEFAULT_RESAMPLES,
        seed=int(record["seed"]),
        level=level,
    )
    if interval.low is None or interval.high is None:
        return None
    return interval.estimate, interval.low, interval.high


def _shared_units(
    users: Sequence[np.ndarray | None], rows: Sequence[int]
) -> tuple[int, list[np.ndarray]] | None:
    """The units every task's rows are drawn by, and each task's unit of each row: the users
    of all tasks (a user brings their rows of every task), or, without users, the rows
    themselves when every task has the same rows; None when neither holds."""
    if any(ids is None or len(ids) != n for ids, n in zip(users, rows, strict=True)):
        if len(set(rows)) != 1:
            return None
        return rows[0], [np.arange(rows[0]) for _ in rows]
    known = [np.asarray(ids) for ids in users if ids is not None]
    units, inverse = np.unique(np.concatenate(known), return_inverse=True)
    bounds = np.cumsum([0, *rows])
    inverse = inverse.reshape(-1)
    return len(units), [inverse[start:end] for start, end in itertools.pairwise(bounds)]
