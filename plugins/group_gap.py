"""``group-gap``: each task's primary metric per sensitive group, and the gap between groups.

Computed with fairlearn's ``MetricFrame`` from the saved test predictions: for every task and
every sensitive attribute, and every pairwise intersection of attributes (named ``a&b``, its
groups ``x&y``), the metric of each group (with its size), the group minimum and maximum, their
difference and ratio, which group is served worst, and ``difference_ci``: a 95% bootstrap
interval of the difference.

The interval comes from ``harness.bootstrap`` (``context.bootstrap_resamples`` resamples seeded
by ``context.seed``), resampling users with all their test rows within each group (a user's rows
are not independent draws). A max-min over groups is biased upward and a plain percentile
interval of it never reaches 0, so the interval is built to hold for every group pair at once
(:func:`difference_interval`): without a real gap it reaches down to 0 about 95% of the time,
with one it brackets it.

:func:`sensitive_features` and :func:`compare_groups` are shared with the task-type-specific
group metrics in :mod:`plugins.task_type_gaps`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import Any

import numpy as np

from harness import FairnessContext, FairnessMetricSpec, hookimpl
from harness.bootstrap import bootstrap
from harness.resampled import (
    GroupedMetric,
    RowsMetric,
    exact_metric,
    grouped_loop,
    grouped_metric,
)
from harness.tasks import METRICS

INTERSECTION = "&"

# Builds a metric of every group under row weights from the rows' group codes and the number
# of groups (see harness.resampled).
GroupedFactory = Callable[[np.ndarray, int], GroupedMetric]


def sensitive_features(context: FairnessContext) -> dict[str, np.ndarray]:
    """Each sensitive attribute, then each pair's intersection (``a&b``), as group labels."""
    single = {name: np.asarray(groups).astype(str) for name, groups in context.sensitive.items()}
    features = dict(single)
    for (a, groups_a), (b, groups_b) in combinations(single.items(), 2):
        joined = np.char.add(np.char.add(groups_a, INTERSECTION), groups_b)
        features[f"{a}{INTERSECTION}{b}"] = joined.astype(str)
    return features


def compare_groups(
    metric: RowsMetric,
    groups: np.ndarray,
    *,
    name: str,
    direction: int,
    context: FairnessContext,
    resampled: GroupedFactory | None = None,
) -> dict[str, Any]:
    """A metric per group (fairlearn ``MetricFrame`` over row indices) and the gap figures.

    ``resampled``, when given, builds a fast all-groups equal of ``metric`` for the bootstrap.
    """
    from fairlearn.metrics import MetricFrame

    rows = np.arange(len(groups))
    # MetricFrame is handed row indices as y_true/y_pred, so every task shape (class labels,
    # scores, multilabel matrices) goes through the same metric code mtrec reports with.
    frame = MetricFrame(
        metrics=lambda picked, _: metric(picked),
        y_true=rows,
        y_pred=rows,
        sensitive_features=np.asarray(groups, dtype=object),
    )
    by_group = {str(g): _finite(v) for g, v in frame.by_group.items()}
    names, counts = np.unique(groups, return_counts=True)
    values = [v for v in by_group.values() if v is not None]
    worst = None
    if values:
        pick = min if direction > 0 else max
        worst = next(g for g, v in by_group.items() if v == pick(values))
    return {
        "metric": name,
        "direction": "higher" if direction > 0 else "lower",
        "by_group": by_group,
        "group_sizes": {str(g): int(n) for g, n in zip(names, counts, strict=True)},
        "group_min": _finite(frame.group_min()),
        "group_max": _finite(frame.group_max()),
        "difference": _finite(frame.difference(method="between_groups")),
        "ratio": _finite(frame.ratio(method="between_groups")),
        "worst_group": worst,
        "difference_ci": difference_interval(metric, groups, context, resampled),
    }


def difference_interval(
    metric: RowsMetric,
    groups: np.ndarray,
    context: FairnessContext,
    resampled: GroupedFactory | None = None,
) -> list[float] | None:
    """95% interval of the max-min gap, simultaneous over all group pairs.

    On each resample (users, or rows, resampled within groups) every group's metric moves
    away from its value on all rows; the largest pairwise change is the range of those moves.
    With c its 95th percentile, every pairwise difference, and so the largest one, lies
    within c of its estimate: the interval is [max(0, gap - c), gap + c].
    """
    labels = np.asarray(groups)
    names, codes = np.unique(labels, return_inverse=True)
    by_group = (resampled or partial(grouped_loop, metric))(codes, len(names))
    units = SamplingUnits.of(labels, context.user_ids)
    full = by_group(np.ones(len(labels)))
    if np.isfinite(full).sum() < 2:
        return None
    gap = float(np.nanmax(full) - np.nanmin(full))

    def largest_change(picked_units: np.ndarray) -> float | None:
        moves = by_group(units.weights(picked_units)) - full
        moves = moves[np.isfinite(moves)]
        return float(moves.max() - moves.min()) if len(moves) >= 2 else None

    spread = bootstrap(
        largest_change,
        units.count,
        resamples=context.bootstrap_resamples,
        seed=context.seed,
        level=0.90,  # its upper bound is the 95th percentile
        strata=units.groups,
    )
    if spread.high is None:
        return None
    return [max(0.0, gap - spread.high), gap + spread.high]


@dataclass(frozen=True, kw_only=True)
class SamplingUnits:
    """What a bootstrap resamples: users with all their test rows, or single rows.

    A user's rows share the user's tastes, so they are not independent draws; resampling rows
    would make intervals too narrow. Rows are the units only when there are no user ids or a
    user falls in more than one group (a row-level attribute).
    """

    count: int  # number of units
    groups: np.ndarray  # the group of each unit (bootstrap strata)
    unit_of_row: np.ndarray  # the unit each row belongs to

    @classmethod
    def of(cls, labels: np.ndarray, user_ids: np.ndarray | None) -> SamplingUnits:
        n = len(labels)
        by_row = cls(count=n, groups=labels, unit_of_row=np.arange(n))
        if user_ids is None or len(user_ids) != n:
            return by_row
        users, unit = np.unique(np.asarray(user_ids), return_inverse=True)
        _, label_codes = np.unique(labels, return_inverse=True)
        if len(np.unique(np.stack([unit, label_codes]), axis=1)[0]) != len(users):
            return by_row  # some user is in several groups
        first_row = np.zeros(len(users), dtype=np.int64)
        first_row[unit[::-1]] = np.arange(n)[::-1]
        return cls(count=len(users), groups=labels[first_row], unit_of_row=unit)

    def weights(self, units: np.ndarray) -> np.ndarray:
        """How often each row is drawn when these units are (a unit brings all its rows)."""
        drawn: np.ndarray = np.bincount(units, minlength=self.count)[self.unit_of_row]
        return drawn.astype(np.float64)


def group_gap(context: FairnessContext) -> dict[str, Any]:
    """Task -> attribute (and intersection) -> the primary metric's group figures."""
    features = sensitive_features(context)
    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        name = predictions.primary_metric
        metric = exact_metric(predictions, name)
        resampled = partial(grouped_metric, predictions, name)
        result[task] = {
            attribute: compare_groups(
                metric,
                groups,
                name=name,
                direction=METRICS[name].direction,
                context=context,
                resampled=resampled,
            )
            for attribute, groups in features.items()
        }
    return result


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    return [
        FairnessMetricSpec(
            name="group-gap",
            scope="group",
            compute=group_gap,
            description="per-group primary metric of each task, the max-min gap and its "
            "bootstrap interval, per attribute and intersection (fairlearn)",
        )
    ]
