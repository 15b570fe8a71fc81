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


def _metric_function(predictions: TaskPredictions) -> Callable[..., float]:
    metric = METRICS[predictions.primary_metric]
    kind, name = predictions.task_type, predictions.task

    def compute(y_true: Any, y_pred: Any) -> float:
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        # Binary metrics rank scores: MetricFrame passes the score column as y_pred.
        return metric.compute(
            TaskPredictions(
                task=name,
                task_type=kind,
                y_true=y_true,
                y_pred=y_pred,
                score=y_pred,
                primary_metric=metric.name,
            )
        )

    return compute


def group_gap(context: FairnessContext) -> dict[str, Any]:
    from fairlearn.metrics import MetricFrame

    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        metric = METRICS[predictions.primary_metric]
        scored = predictions.score if predictions.score is not None else predictions.y_pred
        per_attribute: dict[str, Any] = {}
        for attribute, groups in context.sensitive.items():
            frame = MetricFrame(
                metrics=_metric_function(predictions),
                y_true=predictions.y_true,
                y_pred=scored,
                sensitive_features=np.asarray(groups, dtype=object),
            )
            by_group = {str(g): _finite(v) for g, v in frame.by_group.items()}
            sizes = {
                str(g): int(n) for g, n in zip(*np.unique(groups, return_counts=True), strict=True)
            }
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
