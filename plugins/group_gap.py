"""``group-gap``: each task's primary metric per sensitive group, and the gap between groups.

Computed with fairlearn's ``MetricFrame`` from the saved test predictions: for every task and
every sensitive attribute, and every pairwise intersection of attributes (named ``a&b``, its
groups ``x&y``), the metric of each group (with its size), the group minimum and maximum, their
difference and ratio, which group is served worst, and ``difference_ci``: a 95% bootstrap
interval of the difference.

The interval resamples test rows within each group (``harness.bootstrap`` with the groups as
strata, ``context.bootstrap_resamples`` resamples seeded by ``context.seed``). A max-min over
groups is biased upward, more so on resamples, so the interval is the *basic* bootstrap one:
the percentile interval reflected around the estimate, floored at 0. Without a real gap it
reaches down to 0; with one it brackets it.

:func:`sensitive_features` and :func:`compare_groups` are shared with the task-type-specific
group metrics in :mod:`plugins.task_type_gaps`.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np

from harness import FairnessContext, FairnessMetricSpec, hookimpl
from harness.bootstrap import bootstrap
from harness.tasks import METRICS
from plugins.resampled_metrics import RowsMetric, exact_metric, rows_metric

INTERSECTION = "&"


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
    resampled: RowsMetric | None = None,
) -> dict[str, Any]:
    """A metric per group (fairlearn ``MetricFrame`` over row indices) and the gap figures.

    ``resampled``, when given, is a faster equal of ``metric`` used for the bootstrap.
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
        "difference_ci": difference_interval(resampled or metric, groups, context),
    }


def difference_interval(
    metric: RowsMetric, groups: np.ndarray, context: FairnessContext
) -> list[float] | None:
    """Basic bootstrap interval of the max-min gap, resampling rows within groups."""
    labels = np.asarray(groups)
    names = np.unique(labels)

    def gap(rows: np.ndarray) -> float | None:
        picked = labels[rows]
        values = [
            value for group in names if math.isfinite(value := float(metric(rows[picked == group])))
        ]
        return max(values) - min(values) if len(values) >= 2 else None

    interval = bootstrap(
        gap,
        len(labels),
        resamples=context.bootstrap_resamples,
        seed=context.seed,
        strata=labels,
    )
    if interval.low is None or interval.high is None:
        return None
    reflected = (2.0 * interval.estimate - interval.high, 2.0 * interval.estimate - interval.low)
    return [max(0.0, reflected[0]), max(0.0, reflected[1])]


def group_gap(context: FairnessContext) -> dict[str, Any]:
    features = sensitive_features(context)
    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        name = predictions.primary_metric
        metric, resampled = exact_metric(predictions, name), rows_metric(predictions, name)
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
