"""``group-gap``: each task's primary metric per sensitive group, and the gap between groups.

Computed with fairlearn's ``MetricFrame`` from the saved test predictions: for every task and
every sensitive attribute, the metric of each group (with its size), the group minimum and
maximum, their difference and ratio, and which group is served worst.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from harness import FairnessContext, FairnessMetricSpec, TaskPredictions, hookimpl
from harness.tasks import METRICS


def _metric_on_rows(predictions: TaskPredictions) -> Callable[..., float]:
    """The task's primary metric on a subset of rows.

    MetricFrame is handed row indices as y_true/y_pred, so every task shape (class labels,
    scores, multilabel matrices) goes through the same metric code mtrec reports with.
    """
    metric = METRICS[predictions.primary_metric]

    def compute(rows: Any, _: Any) -> float:
        rows = np.asarray(rows, dtype=np.int64)
        return metric.compute(
            TaskPredictions(
                task=predictions.task,
                task_type=predictions.task_type,
                y_true=predictions.y_true[rows],
                y_pred=predictions.y_pred[rows],
                score=None if predictions.score is None else predictions.score[rows],
                primary_metric=metric.name,
            )
        )

    return compute


def group_gap(context: FairnessContext) -> dict[str, Any]:
    from fairlearn.metrics import MetricFrame

    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        metric = METRICS[predictions.primary_metric]
        rows = np.arange(len(predictions.y_true))
        per_attribute: dict[str, Any] = {}
        for attribute, groups in context.sensitive.items():
            frame = MetricFrame(
                metrics=_metric_on_rows(predictions),
                y_true=rows,
                y_pred=rows,
                sensitive_features=np.asarray(groups, dtype=object),
            )
            by_group = {str(g): _finite(v) for g, v in frame.by_group.items()}
            names, counts = np.unique(np.asarray(groups, dtype=str), return_counts=True)
            sizes = {str(g): int(n) for g, n in zip(names, counts, strict=True)}
            values = [v for v in by_group.values() if v is not None]
            worst = None
            if values:
                pick = min if metric.direction > 0 else max
                worst = next(g for g, v in by_group.items() if v == pick(values))
            per_attribute[attribute] = {
                "metric": metric.name,
                "direction": "higher" if metric.direction > 0 else "lower",
                "by_group": by_group,
                "group_sizes": sizes,
                "group_min": _finite(frame.group_min()),
                "group_max": _finite(frame.group_max()),
                "difference": _finite(frame.difference(method="between_groups")),
                "ratio": _finite(frame.ratio(method="between_groups")),
                "worst_group": worst,
            }
        result[task] = per_attribute
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
            description="per-group primary metric of each task and the max-min gap (fairlearn)",
        )
    ]
