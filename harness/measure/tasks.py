"""Task types: their metrics (with directions), trivial predictors and loss functions.

A metric reported by mtrec is computed here, with scikit-learn, from exactly the arrays that
are saved to ``predictions/``, so anyone can recompute it from the files.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from mtrec.measure import ranking
from mtrec.specs import LOSSES as LOSSES  # re-exported: the core imports it from here
from mtrec.specs import RankingInfo, TaskPredictions, TaskType

HIGHER, LOWER = 1, -1


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A scalar metric of one task's predictions."""

    name: str  # key in results, e.g. "rmse"
    direction: int  # +1 higher is better, -1 lower is better
    compute: Callable[[TaskPredictions], float]  # from saved predictions only


def _accuracy(p: TaskPredictions) -> float:
    return float(skm.accuracy_score(p.y_true, p.y_pred))


def _macro_f1(p: TaskPredictions) -> float:
    return float(skm.f1_score(p.y_true, p.y_pred, average="macro", zero_division=0))


def _rmse(p: TaskPredictions) -> float:
    return float(math.sqrt(skm.mean_squared_error(p.y_true, p.y_pred)))


def _mae(p: TaskPredictions) -> float:
    return float(skm.mean_absolute_error(p.y_true, p.y_pred))


def _auc(p: TaskPredictions) -> float:
    if len(np.unique(p.y_true)) < 2:
        return float("nan")  # undefined with one class; reported as null
    return float(skm.roc_auc_score(p.y_true, _score(p)))


def _log_loss(p: TaskPredictions) -> float:
    return float(skm.log_loss(p.y_true, _score(p), labels=[0, 1]))


def _micro_f1(p: TaskPredictions) -> float:
    return float(skm.f1_score(p.y_true, p.y_pred, average="micro", zero_division=0))


def _mean_average_precision(p: TaskPredictions) -> float:
    """Macro mAP over the labels that occur in y_true (others have no defined AP)."""
    present = p.y_true.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    return float(
        skm.average_precision_score(p.y_true[:, present], _score(p)[:, present], average="macro")
    )


def _score(p: TaskPredictions) -> np.ndarray:
    if p.score is None:
        raise ValueError(f"task '{p.task}' has no scores; binary tasks save a score column")
    return p.score


_STATIC: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(name="accuracy", direction=HIGHER, compute=_accuracy),
        Metric(name="macro_f1", direction=HIGHER, compute=_macro_f1),
        Metric(name="rmse", direction=LOWER, compute=_rmse),
        Metric(name="mae", direction=LOWER, compute=_mae),
        Metric(name="auc", direction=HIGHER, compute=_auc),
        Metric(name="log_loss", direction=LOWER, compute=_log_loss),
        Metric(name="micro_f1", direction=HIGHER, compute=_micro_f1),
        Metric(name="map", direction=HIGHER, compute=_mean_average_precision),
    )
}


class _Metrics(Mapping[str, Metric]):
    """The metrics by name: the fixed ones, and the ranking figures at any cut-off
    ("ndcg@10", "recall@20", "coverage@10": see :mod:`mtrec.measure.ranking`)."""

    def __getitem__(self, name: str) -> Metric:
        metric = _STATIC.get(name)
        if metric is not None:
            return metric
        parsed = ranking.parse_metric(name)
        if parsed is None:
            raise KeyError(name)
        return Metric(
            name=name,
            direction=ranking.DIRECTIONS[parsed[0]],
            compute=lambda p: ranking.ranking_metric(p, name),
        )

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in _STATIC or ranking.parse_metric(name) is not None)

    def __iter__(self) -> Iterator[str]:
        return iter(_STATIC)

    def __len__(self) -> int:
        return len(_STATIC)


METRICS: Mapping[str, Metric] = _Metrics()

# The metrics reported per task type; the first one is the task's primary metric. A ranking
# task's depend on its cut-offs: :func:`task_metric_names`.
TASK_METRICS: Mapping[TaskType, tuple[str, ...]] = {
    TaskType.MULTICLASS: ("accuracy", "macro_f1"),
    TaskType.REGRESSION: ("rmse", "mae"),
    TaskType.BINARY: ("auc", "log_loss", "accuracy"),
    TaskType.MULTILABEL: ("map", "micro_f1", "macro_f1"),
}


def primary_metric(task_type: TaskType, ranking_info: RankingInfo | None = None) -> str:
    if task_type is TaskType.RANKING:
        return f"ndcg@{ranking_info.k if ranking_info is not None else 10}"
    return TASK_METRICS[task_type][0]


def task_metric_names(predictions: TaskPredictions) -> tuple[str, ...]:
    """The metrics this task reports, primary first."""
    if predictions.task_type is TaskType.RANKING:
        if predictions.ranking is None:
            raise ValueError(f"ranking task '{predictions.task}' has no ranking info")
        return ranking.metric_names(predictions.ranking)
    return TASK_METRICS[predictions.task_type]


def compute_metrics(predictions: TaskPredictions) -> dict[str, float]:
    """Every metric of the task's type, in the declared order."""
    if predictions.task_type is TaskType.RANKING:
        return ranking.ranking_metrics(predictions)
    return {
        name: METRICS[name].compute(predictions) for name in TASK_METRICS[predictions.task_type]
    }


def trivial_predictions(
    task: str, task_type: TaskType, train_labels: np.ndarray, y_true: np.ndarray
) -> TaskPredictions:
    """What a model with no input would predict: majority class, mean rating, base rate,
    label frequencies."""
    n = len(y_true)
    if task_type is TaskType.MULTILABEL:
        frequency = train_labels.astype(np.float64).mean(axis=0)
        score = np.tile(frequency, (n, 1))
        y_pred = (score >= 0.5).astype(np.int64)
    elif task_type is TaskType.MULTICLASS:
        majority = np.bincount(train_labels.astype(np.int64)).argmax()
        y_pred = np.full(n, majority, dtype=np.int64)
        score = None
    elif task_type is TaskType.REGRESSION:
        y_pred = np.full(n, float(np.mean(train_labels)), dtype=np.float64)
        score = None
    else:
        rate = float(np.mean(train_labels))
        score = np.full(n, rate, dtype=np.float64)
        y_pred = (score >= 0.5).astype(np.int64)
    return TaskPredictions(
        task=task,
        task_type=task_type,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        primary_metric=primary_metric(task_type),
    )


def log_ratio(value: float, reference: float, direction: int) -> float:
    """``direction * ln(value / reference)``: positive means better than the reference.

    Between two models scored on the same split the reference cancels,
    ``log_ratio(a, t) - log_ratio(b, t) = direction * ln(a / b)``, so a task whose reference
    is tiny cannot outweigh the others; every task's 1 % relative change counts the same.
    """
    return direction * (math.log(max(value, 1e-12)) - math.log(max(reference, 1e-12)))


def selection_score(log_ratios: Sequence[float]) -> float:
    """The geometric-mean gain (%) over the trivial predictor: ``100 * (exp(mean) - 1)`` of
    the tasks' :func:`log_ratio` values; ``-inf`` without any.

    This is the score that selects checkpoints (early stopping), ``summary.score`` and the
    accuracy axis of the Pareto front (see ``SELECTION_RULE``).
    """
    if not log_ratios:
        return float("-inf")
    return 100.0 * math.expm1(math.fsum(log_ratios) / len(log_ratios))


SELECTION_RULE = (
    "geometric-mean gain over the trivial predictor: 100 * (exp(mean over tasks of "
    "direction * ln(primary metric / trivial primary metric)) - 1)"
)


def relative_gain(value: float, reference: float, direction: int) -> float:
    """100 * direction * (value - reference) / |reference|: positive means better."""
    return 100.0 * direction * (value - reference) / max(abs(reference), 1e-12)
