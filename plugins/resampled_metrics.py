"""Task metrics on many row subsets, fast enough for bootstrap intervals.

A bootstrap interval of a group gap evaluates a metric on every group of every resample: tens
of thousands of calls, where scikit-learn's input checks cost more than the arithmetic. Here
each metric is precomputed per row where it decomposes (accuracy, errors, log loss, micro-F1
counts) and computed from ranks where it does not (AUC, average precision), giving the values
scikit-learn gives on the same rows (tests compare them). Reported point figures still come
from :mod:`harness.tasks`; these functions only feed resamples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness import TaskPredictions
from harness.tasks import METRICS

RowsMetric = Callable[[np.ndarray], float]  # a metric of the test rows with these indices


def rows_metric(predictions: TaskPredictions, name: str) -> RowsMetric:
    """Metric ``name`` of a task's predictions, as a function of row indices."""
    y_true, y_pred, score = predictions.y_true, predictions.y_pred, predictions.score
    if name == "accuracy" and y_true.ndim == 1:
        return _mean_of((y_true == y_pred).astype(np.float64))
    if name == "mae":
        return _mean_of(np.abs(y_pred - y_true))
    if name == "rmse":
        squared = _mean_of((y_pred - y_true) ** 2)
        return lambda rows: float(np.sqrt(squared(rows)))
    if name == "log_loss" and score is not None:
        eps = np.finfo(score.dtype).eps
        p = np.clip(score, eps, 1 - eps)
        return _mean_of(-(y_true * np.log(p) + (1 - y_true) * np.log1p(-p)))
    if name == "auc" and score is not None:
        return lambda rows: _auc(y_true[rows], score[rows])
    if name == "micro_f1" and y_true.ndim == 2:
        return _micro_f1(y_true, y_pred)
    if name == "map" and score is not None and y_true.ndim == 2:
        return lambda rows: _mean_average_precision(y_true[rows], score[rows])
    return exact_metric(predictions, name)


def _mean_of(per_row: np.ndarray) -> RowsMetric:
    return lambda rows: float(per_row[rows].mean()) if len(rows) else float("nan")


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties (what roc_auc_score gives)."""
    positives = y_true == 1
    n_pos = int(positives.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(score)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values)  # tied values get their mean rank whatever their order
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> RowsMetric:
    true, pred = y_true.astype(bool), y_pred.astype(bool)
    tp = (true & pred).sum(axis=1)
    wrong = (true ^ pred).sum(axis=1)  # false positives plus false negatives

    def compute(rows: np.ndarray) -> float:
        hits = 2.0 * tp[rows].sum()
        denominator = hits + wrong[rows].sum()
        return float(hits / denominator) if denominator else 0.0

    return compute


def _average_precision(y_true: np.ndarray, score: np.ndarray) -> float:
    """Step-wise AP over distinct thresholds, highest first (average_precision_score)."""
    order = np.argsort(-score, kind="stable")
    score, y_true = score[order], y_true[order]
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # end of each threshold
    tps = np.cumsum(y_true)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _mean_average_precision(y_true: np.ndarray, score: np.ndarray) -> float:
    present = np.flatnonzero(y_true.sum(axis=0) > 0)
    if len(present) == 0:
        return float("nan")
    return float(np.mean([_average_precision(y_true[:, j], score[:, j]) for j in present]))


def exact_metric(predictions: TaskPredictions, name: str) -> RowsMetric:
    """Metric ``name`` on a subset of rows through mtrec's own (scikit-learn) code."""
    metric = METRICS[name]

    def compute(rows: np.ndarray) -> float:
        return metric.compute(
            TaskPredictions(
                task=predictions.task,
                task_type=predictions.task_type,
                y_true=predictions.y_true[rows],
                y_pred=predictions.y_pred[rows],
                score=None if predictions.score is None else predictions.score[rows],
                primary_metric=predictions.primary_metric,
            )
        )

    return compute
