"""Group gaps that only make sense for some task types, one fairness metric each.

* ``demographic-parity`` (binary): selection rate (share of predicted positives) per group;
  fairlearn's ``demographic_parity_difference`` and ``_ratio``.
* ``equalized-odds`` (binary): true and false positive rates per group; fairlearn's
  ``equalized_odds_difference`` and ``_ratio`` (the worse of the two rate gaps).
* ``error-gap`` (regression): MAE, RMSE, mean prediction and mean label per group; the
  worst group's MAE and RMSE (group max) and the max-min gap of the mean prediction.
* ``accuracy-gap`` (multiclass: accuracy; multilabel: micro-F1): the metric per group and its
  max-min gap.

Each covers every sensitive attribute and pairwise intersection (:func:`sensitive_features`).
A task of another type is reported as ``{"applicable": false, "reason": ...}``, never a
number; a ranking task (rows are users' top-K lists) never applies, and its reason points to
``group-gap``, which compares per-user ranking figures between groups. Gaps of group rates
carry a bootstrap ``difference_ci`` as in ``group-gap``, and as there the gaps cover only
the groups with at least ``fairness.min_group_users`` users (``group_users``,
``excluded_groups``); every group keeps its figures in ``by_group``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import mtrec
from mtrec import FairnessContext, FairnessMetricSpec, TaskPredictions, TaskType, hookimpl
from mtrec.plugins.group_gap import compare_groups, group_support, sensitive_features

TaskFigures = Callable[[TaskPredictions, FairnessContext], dict[str, Any]]


def per_task(supported: tuple[TaskType, ...], figures: TaskFigures) -> Callable[..., Any]:
    """A fairness metric computing ``figures`` for tasks of the ``supported`` types only."""
    kinds = " and ".join(kind.value for kind in supported)

    def compute(context: FairnessContext) -> dict[str, Any]:
        return {
            task: (
                figures(predictions, context)
                if predictions.task_type in supported
                else {"applicable": False, "reason": _not_applicable(task, predictions, kinds)}
            )
            for task, predictions in context.tasks.items()
        }

    return compute


def _not_applicable(task: str, predictions: TaskPredictions, kinds: str) -> str:
    reason = f"defined for {kinds} tasks; '{task}' is {predictions.task_type.value}"
    if predictions.task_type is TaskType.RANKING:
        # say where a ranking task's group figures are instead
        reason += (
            ": its rows are users' top-K lists, with no decision, label or error per test "
            "row to compare; group-gap compares its per-user NDCG, recall, HR and MRR"
        )
    return reason


def demographic_parity(predictions: TaskPredictions, context: FairnessContext) -> dict[str, Any]:
    from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio

    decided = predictions.y_pred.astype(np.float64)
    result = {}
    for attribute, groups in sensitive_features(context).items():
        figures = compare_groups(
            lambda rows: float(decided[rows].mean()) if len(rows) else math.nan,
            groups,
            name="selection_rate",
            direction=mtrec.HIGHER,
            context=context,
            resampled=partial(mtrec.grouped_mean, decided),
        )
        kept = _supported_rows(groups, context)
        common = {
            "y_true": predictions.y_true[kept],
            "y_pred": predictions.y_pred[kept],
            "sensitive_features": np.asarray(groups)[kept],
        }
        enough = figures["difference"] is not None  # two supported groups or more
        figures["difference"] = float(demographic_parity_difference(**common)) if enough else None
        figures["ratio"] = float(demographic_parity_ratio(**common)) if enough else None
        del figures["worst_group"], figures["direction"]  # neither rate is "better"
        result[attribute] = figures
    return result


def equalized_odds(predictions: TaskPredictions, context: FairnessContext) -> dict[str, Any]:
    from fairlearn.metrics import (
        MetricFrame,
        equalized_odds_difference,
        equalized_odds_ratio,
        false_positive_rate,
        true_positive_rate,
    )

    y_true, y_pred = predictions.y_true, predictions.y_pred
    result = {}
    for attribute, groups in sensitive_features(context).items():
        frame = MetricFrame(
            metrics={
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=np.asarray(groups, dtype=object),
        )
        # fairlearn reports a rate of 0 for a group without positives (or negatives); say so.
        lacking = sorted(
            str(g) for g in np.unique(groups) if len(np.unique(y_true[groups == g])) < 2
        )
        names, counts = np.unique(groups, return_counts=True)
        users, supported = group_support(groups, context)
        kept = np.isin(np.asarray(groups).astype(str), supported)
        common = {
            "y_true": y_true[kept],
            "y_pred": y_pred[kept],
            "sensitive_features": groups[kept],
        }
        enough = len(supported) >= 2
        result[attribute] = {
            "by_group": {
                rate: {str(g): float(v) for g, v in frame.by_group[rate].items()}
                for rate in ("true_positive_rate", "false_positive_rate")
            },
            "group_sizes": {str(g): int(n) for g, n in zip(names, counts, strict=True)},
            "group_users": users,
            "min_group_users": context.min_group_users,
            "excluded_groups": sorted(set(users) - set(supported)),
            "difference": float(equalized_odds_difference(**common)) if enough else None,
            "ratio": float(equalized_odds_ratio(**common)) if enough else None,
            "groups_lacking_a_class": lacking,
        }
    return result


def error_gap(predictions: TaskPredictions, context: FairnessContext) -> dict[str, Any]:
    errors = predictions.y_pred - predictions.y_true
    result = {}
    for attribute, groups in sensitive_features(context).items():
        mae = compare_groups(
            lambda rows: float(np.abs(errors[rows]).mean()),
            groups, name="mae", direction=mtrec.LOWER, context=context,
            resampled=partial(mtrec.grouped_metric, predictions, "mae"),
        )  # fmt: skip
        rmse = compare_groups(
            lambda rows: float(np.sqrt(np.mean(errors[rows] ** 2))),
            groups, name="rmse", direction=mtrec.LOWER, context=context,
            resampled=partial(mtrec.grouped_metric, predictions, "rmse"),
        )  # fmt: skip
        mean_prediction = compare_groups(
            lambda rows: float(predictions.y_pred[rows].mean()),
            groups, name="mean_prediction", direction=mtrec.HIGHER, context=context,
            resampled=partial(mtrec.grouped_mean, predictions.y_pred.astype(np.float64)),
        )  # fmt: skip
        labels = {str(g): float(predictions.y_true[groups == g].mean()) for g in np.unique(groups)}
        result[attribute] = {
            "by_group": {
                "mae": mae["by_group"],
                "rmse": rmse["by_group"],
                "mean_prediction": mean_prediction["by_group"],
                "mean_label": labels,
            },
            "group_sizes": mae["group_sizes"],
            "group_users": mae["group_users"],
            "min_group_users": mae["min_group_users"],
            "excluded_groups": mae["excluded_groups"],
            "group_max_mae": mae["group_max"],
            "worst_group_mae": mae["worst_group"],
            "group_max_rmse": rmse["group_max"],
            "worst_group_rmse": rmse["worst_group"],
            "mae_difference": mae["difference"],
            "mae_difference_ci": mae["difference_ci"],
            "mean_prediction_gap": mean_prediction["difference"],
            "mean_prediction_gap_ci": mean_prediction["difference_ci"],
            "mean_label_gap": _gap([labels[g] for g in labels if g not in mae["excluded_groups"]]),
        }
    return result


def _supported_rows(groups: np.ndarray, context: FairnessContext) -> np.ndarray:
    """Rows of the groups with enough users to count in a gap."""
    _, supported = group_support(groups, context)
    return np.isin(np.asarray(groups).astype(str), supported)


def _gap(values: list[float]) -> float | None:
    return max(values) - min(values) if len(values) >= 2 else None


def accuracy_gap(predictions: TaskPredictions, context: FairnessContext) -> dict[str, Any]:
    name = "micro_f1" if predictions.task_type is TaskType.MULTILABEL else "accuracy"
    metric = mtrec.exact_metric(predictions, name)
    resampled = partial(mtrec.grouped_metric, predictions, name)
    return {
        attribute: compare_groups(
            metric, groups, name=name, direction=mtrec.HIGHER, context=context, resampled=resampled
        )
        for attribute, groups in sensitive_features(context).items()
    }


@hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    binary, regression = (TaskType.BINARY,), (TaskType.REGRESSION,)
    classes = (TaskType.MULTICLASS, TaskType.MULTILABEL)
    return [
        FairnessMetricSpec(
            name="demographic-parity",
            scope="group",
            compute=per_task(binary, demographic_parity),
            description="binary tasks: selection-rate gap between groups (fairlearn)",
        ),
        FairnessMetricSpec(
            name="equalized-odds",
            scope="group",
            compute=per_task(binary, equalized_odds),
            description="binary tasks: worst TPR/FPR gap between groups (fairlearn)",
        ),
        FairnessMetricSpec(
            name="error-gap",
            scope="group",
            compute=per_task(regression, error_gap),
            description="regression tasks: worst group's MAE/RMSE, mean-prediction gap",
        ),
        FairnessMetricSpec(
            name="accuracy-gap",
            scope="group",
            compute=per_task(classes, accuracy_gap),
            description="multiclass accuracy / multilabel micro-F1 gap between groups",
        ),
    ]
