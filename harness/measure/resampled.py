"""Task metrics of every group at once, fast enough for bootstrap intervals.

A bootstrap interval of a group gap needs every group's metric on every resample: with
intersections that is hundreds of groups times a thousand resamples. A resample is a count
per row (how often the row was drawn), so each metric here is a *weighted* metric of the
original rows, all groups in one pass: sums per group for metrics that decompose over rows
(accuracy, errors, log loss, micro-F1), and, for the ranking metrics (AUC, average precision),
cumulative sums along an order of (group, score) sorted once. With integer weights the values
equal scikit-learn's on the repeated rows (tests compare them), with one deliberate exception:
a macro metric averages over a label set fixed on all rows (mAP: the labels with a positive in
the group; macro-F1: the labels scikit-learn averages over on all rows), never over whichever
labels a resample happens to contain. A label of the set that a resample leaves without a
positive keeps its value on all rows (it is unobserved there, not zero), so a label with one
positive test row cannot swing an interval by dropping in and out. Reported point figures still
come from :mod:`mtrec.measure.tasks`; these functions only feed resamples (group gaps, subtask
gains, ``mtrec compare``).

A ranking task's rows are users (:mod:`mtrec.measure.ranking`): its accuracy figures (NDCG,
recall, ...) are means of a per-user value, so they decompose like accuracy; its item-side
figures (coverage, Gini, popularity lift, tail share) are computed from each item's exposure
weighted by how often its users were drawn, which equals the figure on the repeated rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtrec.measure import ranking
from mtrec.measure.tasks import METRICS
from mtrec.specs import TaskPredictions, TaskType

RowsMetric = Callable[[np.ndarray], float]  # a metric of the test rows with these indices
GroupedMetric = Callable[[np.ndarray], np.ndarray]  # row weights -> the metric of each group


def grouped_metric(
    predictions: TaskPredictions, name: str, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    """Metric ``name`` of each group (rows coded 0..n_groups-1) under row weights."""
    y_true, y_pred, score = predictions.y_true, predictions.y_pred, predictions.score
    if predictions.task_type is TaskType.RANKING:
        return _grouped_ranking(predictions, name, codes, n_groups)
    if name == "accuracy" and y_true.ndim == 1:
        return grouped_mean((y_true == y_pred).astype(np.float64), codes, n_groups)
    if name == "mae":
        return grouped_mean(np.abs(y_pred - y_true), codes, n_groups)
    if name == "rmse":
        squared = grouped_mean((y_pred - y_true) ** 2, codes, n_groups)
        return lambda weights: np.sqrt(squared(weights))
    if name == "log_loss" and score is not None:
        eps = np.finfo(score.dtype).eps
        p = np.clip(score, eps, 1 - eps)
        loss = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))
        return grouped_mean(loss, codes, n_groups)
    if name == "auc" and score is not None:
        return _grouped_auc(y_true, score, codes, n_groups)
    if name == "micro_f1" and y_true.ndim == 2:
        return _grouped_micro_f1(y_true, y_pred, codes, n_groups)
    if name == "macro_f1":
        return _grouped_macro_f1(y_true, y_pred, codes, n_groups)
    if name == "map" and score is not None and y_true.ndim == 2:
        return _grouped_map(y_true, score, codes, n_groups)
    return grouped_loop(exact_metric(predictions, name), codes, n_groups)


def _grouped_ranking(
    predictions: TaskPredictions, name: str, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    """A ranking figure of each group of users under user weights."""
    parsed = ranking.parse_metric(name)
    if parsed is None:
        raise ValueError(f"'{name}' is not a ranking figure (task '{predictions.task}')")
    family, k = parsed
    if family not in ranking.ITEM_SIDE:
        return grouped_mean(ranking.per_user(predictions, family, k), codes, n_groups)
    info = predictions.ranking
    if info is None:
        raise ValueError(f"ranking task '{predictions.task}' has no ranking info")
    listed = predictions.y_pred[:, :k]
    shown = listed >= 0
    owner = np.repeat(np.arange(len(listed)), shown.sum(axis=1))
    positions = np.searchsorted(info.catalogue, listed[shown])
    counts = info.train_counts.astype(np.float64)
    n_items = len(info.catalogue)
    tail = np.zeros(n_items, dtype=bool)
    tail[ranking.tail_positions(counts)] = True
    mean_count = max(float(counts.mean()), 1e-12) if n_items else 1.0

    def one_group(weight: np.ndarray) -> float:
        """The figure of the listed items under per-item weights (their user's)."""
        total = float(weight.sum())
        if total <= 0 or n_items == 0:
            return float("nan")
        if family == "pop_lift":
            return float((weight * counts[positions]).sum() / total / mean_count)
        if family == "tail_share":
            return float((weight * tail[positions]).sum() / total)
        exposure = np.bincount(positions, weights=weight, minlength=n_items)
        if family == "coverage":
            return float((exposure > 0).sum() / n_items)
        return ranking.gini(exposure)

    item_codes = codes[owner]

    def compute(weights: np.ndarray) -> np.ndarray:
        per_item = np.asarray(weights, dtype=np.float64)[owner]
        return np.array(
            [one_group(np.where(item_codes == g, per_item, 0.0)) for g in range(n_groups)]
        )

    return compute


def grouped_mean(per_row: np.ndarray, codes: np.ndarray, n_groups: int) -> GroupedMetric:
    """Weighted mean of a per-row value in each group (NaN for a group without weight)."""

    def compute(weights: np.ndarray) -> np.ndarray:
        total = np.bincount(codes, weights=weights * per_row, minlength=n_groups)
        return _ratio(total, np.bincount(codes, weights=weights, minlength=n_groups))

    return compute


def _grouped_micro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    true, pred = y_true.astype(bool), y_pred.astype(bool)
    tp = (true & pred).sum(axis=1)
    wrong = (true ^ pred).sum(axis=1)  # false positives plus false negatives

    def compute(weights: np.ndarray) -> np.ndarray:
        hits = 2.0 * np.bincount(codes, weights=weights * tp, minlength=n_groups)
        errors = np.bincount(codes, weights=weights * wrong, minlength=n_groups)
        drawn = np.bincount(codes, weights=weights, minlength=n_groups)
        f1 = np.where(hits + errors > 0, _ratio(hits, hits + errors), 0.0)  # zero_division=0
        return np.where(drawn > 0, f1, np.nan)

    return compute


def _grouped_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    """Macro-F1 per group over a label set fixed on all rows (zero_division=0).

    Multilabel: every column, as scikit-learn does; multiclass: the classes in y_true or
    y_pred of each group's rows.
    """
    if y_true.ndim == 2:
        true, pred = y_true.astype(bool), y_pred.astype(bool)
    else:
        classes = np.union1d(y_true, y_pred)
        true, pred = y_true[:, None] == classes, y_pred[:, None] == classes
    tp, wrong = (true & pred).astype(np.float64), (true ^ pred).astype(np.float64)
    onehot = np.zeros((len(codes), n_groups))
    onehot[np.arange(len(codes)), codes] = 1.0
    # labels that occur (as truth or prediction) in a group's rows: the group's label set
    in_set = (onehot.T @ (true | pred).astype(np.float64)) > 0

    def per_label(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F1 of each (group, label), and whether the label occurs in the drawn rows."""
        by_group = onehot * weights[:, None]
        hits, errors = 2.0 * (by_group.T @ tp), by_group.T @ wrong
        seen = hits + errors > 0
        return np.where(seen, _ratio(hits, hits + errors), 0.0), seen

    on_all_rows, _ = per_label(np.ones(len(codes)))

    def compute(weights: np.ndarray) -> np.ndarray:
        f1, seen = per_label(weights)
        kept = np.where(seen, f1, on_all_rows)  # not drawn here: its all-rows value
        summed = np.where(in_set, kept, 0.0).sum(axis=1)
        macro = _ratio(summed, in_set.sum(axis=1).astype(np.float64))
        drawn = np.bincount(codes, weights=weights, minlength=n_groups)
        return np.where(drawn > 0, macro, np.nan)

    return compute


def _grouped_auc(
    y_true: np.ndarray, score: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    """Weighted Mann-Whitney AUC per group; tied scores count one half."""
    blocks = _ScoreBlocks(score, codes, n_groups, descending=False)
    positive = (y_true == 1).astype(np.float64)

    def compute(weights: np.ndarray) -> np.ndarray:
        pos = blocks.sums(weights * positive)
        neg = blocks.sums(weights * (1.0 - positive))
        below = blocks.cumulative(neg) - neg  # negatives scored lower, same group
        wins = np.bincount(blocks.group, weights=pos * (below + 0.5 * neg), minlength=n_groups)
        pairs = blocks.per_group(pos) * blocks.per_group(neg)
        return _ratio(wins, pairs)

    return compute


def _grouped_map(
    y_true: np.ndarray, score: np.ndarray, codes: np.ndarray, n_groups: int
) -> GroupedMetric:
    """Macro step-wise average precision per group, over the labels with a positive among
    the group's rows (all of them, not just the resampled ones)."""
    blocks = _ScoreBlocks(score, codes, n_groups, descending=True)
    positives = y_true.astype(np.float64)
    shape = (score.shape[1], n_groups)

    def per_label(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Average precision of each (label, group), and whether the label has a positive."""
        hits = blocks.sums(weights[:, None] * positives)
        drawn = blocks.sums(np.broadcast_to(weights[:, None], positives.shape))
        precision = _ratio(blocks.cumulative(hits), blocks.cumulative(drawn))
        gained = np.where(hits > 0, hits * precision, 0.0)  # recall gained x precision
        total = blocks.per_group(hits).reshape(shape)
        return _ratio(blocks.per_group(gained).reshape(shape), total), total > 0

    on_all_rows, label_set = per_label(np.ones(len(codes)))
    size = label_set.sum(axis=0).astype(np.float64)

    def compute(weights: np.ndarray) -> np.ndarray:
        precisions, present = per_label(weights)
        kept = np.where(present, precisions, on_all_rows)  # absent here: its all-rows value
        macro = _ratio(np.where(label_set, kept, 0.0).sum(axis=0), size)
        drawn = np.bincount(codes, weights=weights, minlength=n_groups)
        return np.where(drawn > 0, macro, np.nan)

    return compute


class _ScoreBlocks:
    """Rows sorted by (group, score), cut into blocks of one group and one score value.

    With a 2-D score (one column per label) every label gets its own blocks, side by side,
    and its own copy of the groups (label j, group g is group j * n_groups + g).
    """

    def __init__(
        self, score: np.ndarray, codes: np.ndarray, n_groups: int, *, descending: bool
    ) -> None:
        columns = score.reshape(len(codes), -1)
        self.block = np.empty(columns.shape, dtype=np.int64)  # block of each row and label
        groups = []
        offset = 0
        for j in range(columns.shape[1]):
            key = -columns[:, j] if descending else columns[:, j]
            order = np.lexsort((key, codes))
            sorted_key, sorted_codes = key[order], codes[order]
            new = np.ones(len(order), dtype=bool)
            new[1:] = (sorted_key[1:] != sorted_key[:-1]) | (sorted_codes[1:] != sorted_codes[:-1])
            self.block[order, j] = offset + np.cumsum(new) - 1
            groups.append(sorted_codes[new] + j * n_groups)
            offset += int(new.sum())
        self.group = np.concatenate(groups)  # group of each block, in block order
        self.n_blocks = offset
        self.n_groups = n_groups * columns.shape[1]

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per-row (and per-label) values summed per block."""
        flat = np.asarray(values, dtype=np.float64).reshape(self.block.shape).ravel()
        return np.bincount(self.block.ravel(), weights=flat, minlength=self.n_blocks)

    def per_group(self, block_values: np.ndarray) -> np.ndarray:
        return np.bincount(self.group, weights=block_values, minlength=self.n_groups)

    def cumulative(self, block_values: np.ndarray) -> np.ndarray:
        """Running sum over each group's blocks, up to and including the block."""
        running = np.cumsum(block_values)
        totals = self.per_group(block_values)
        before_group = np.cumsum(totals) - totals
        result: np.ndarray = running - before_group[self.group]
        return result


def grouped_loop(metric: RowsMetric, codes: np.ndarray, n_groups: int) -> GroupedMetric:
    """Any metric, group by group, on the rows repeated by their weights (slow path)."""

    def compute(weights: np.ndarray) -> np.ndarray:
        rows = np.repeat(np.arange(len(codes)), weights.astype(np.int64))
        picked = codes[rows]
        return np.array([float(metric(rows[picked == code])) for code in range(n_groups)])

    return compute


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def exact_metric(predictions: TaskPredictions, name: str) -> RowsMetric:
    """Metric ``name`` on a subset of rows through mtrec's own (scikit-learn) code."""
    metric = METRICS[name]
    return lambda rows: metric.compute(predictions.take(rows))


def weighted_metric(predictions: TaskPredictions, name: str) -> Callable[[np.ndarray], float]:
    """Metric ``name`` of all rows under row weights (how often a resample drew each row).

    The same weighted computation as the grouped metrics, with one group; with a cluster
    bootstrap (:class:`mtrec.measure.bootstrap.Clusters`) a drawn user weighs all their rows. NaN
    where the metric is undefined on the resample.
    """
    n = len(predictions.y_true)
    one_group = grouped_metric(predictions, name, np.zeros(n, dtype=np.int64), 1)
    return lambda weights: float(one_group(np.asarray(weights, dtype=np.float64))[0])


def resampling_shifts(predictions: TaskPredictions, name: str) -> tuple[float, float | None] | None:
    """The range of figure ``name`` where its resamples sit off the estimate by construction,
    so its bootstrap intervals are to be moved by the bias (``mtrec.measure.bootstrap.debiased``
    kept within the range); None for every other figure.

    A ranking task's item-side figures (coverage, Gini, popularity lift, tail share) are of
    the items listed to the drawn users, and a resample holds about 63 % of them distinct
    (a user drawn twice adds no new item): coverage sits lower, Gini higher.
    """
    if predictions.task_type is not TaskType.RANKING:
        return None
    parsed = ranking.parse_metric(name)
    if parsed is None or parsed[0] not in ranking.ITEM_SIDE:
        return None
    return 0.0, None if parsed[0] == "pop_lift" else 1.0


def resampled_metric(predictions: TaskPredictions, name: str) -> Callable[[np.ndarray], float]:
    """Metric ``name`` of the rows with these indices (a bootstrap resample), fast."""
    n = len(predictions.y_true)
    on_weights = weighted_metric(predictions, name)
    return lambda rows: on_weights(np.bincount(rows, minlength=n).astype(np.float64))
