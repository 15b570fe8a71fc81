"""Predicting, scoring and saving predictions.

Predictions are turned into float64/int64 numpy arrays once; metrics are computed from those
arrays and the same arrays are written to ``predictions/KEY/TASK.csv`` with round-trip float
formatting, so a recomputation from the files gives exactly the reported numbers.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mtrec.measure.ranking_files import save_ranking
from mtrec.measure.tasks import METRICS, compute_metrics, log_ratio, primary_metric, selection_score
from mtrec.model.batching import Batchable, iterate_batches
from mtrec.model.multitask import MultiTaskModel, decode_outputs
from mtrec.model.training import Validation, autocast_for
from mtrec.specs import DomainSplit, TaskPredictions, TaskType


@dataclass(frozen=True, kw_only=True)
class PredictionRun:
    """Predictions of every task on one split, and how long inference took."""

    tasks: Mapping[str, TaskPredictions]  # task -> predictions, in split row order
    seconds: float  # wall time of the whole pass (device synchronised)
    samples: int  # rows predicted


@torch.inference_mode()
def predict(
    model: MultiTaskModel,
    encoded: Batchable,
    *,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> PredictionRun:
    """Run the model over a split (length-sorted batches), return predictions in row order.

    ``precision`` is the suite's ``training.precision``: evaluation runs as training did.
    """
    model.eval()
    # Ranking heads are scored on candidate pairs (:func:`pair_scores`), not on these rows.
    heads = {
        head.spec.task: head
        for head in model.task_heads()
        if head.spec.task_type is not TaskType.RANKING
    }
    n = len(encoded)
    preds: dict[str, list[torch.Tensor]] = {task: [] for task in heads}
    scores: dict[str, list[torch.Tensor]] = {task: [] for task in heads}
    order: list[np.ndarray] = []
    started = time.perf_counter()
    for batch in iterate_batches(encoded, batch_size):
        batch = batch.to(device)
        with autocast_for(device, precision):
            outputs = model(**batch.model_inputs())
        for task, head in heads.items():
            pred, score = decode_outputs(head, outputs[task])
            preds[task].append(pred)
            if score is not None:
                scores[task].append(score)
        order.append(batch.rows)
    # One transfer per task at the end instead of a host sync per batch.
    rows = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[rows] = np.arange(n)
    result: dict[str, TaskPredictions] = {}
    for task, head in heads.items():
        kind = head.spec.task_type
        y_true = encoded.labels[head.spec.label_field]
        y_pred = torch.cat(preds[task]).cpu().numpy()[inverse] if preds[task] else np.zeros(0)
        score_array = (
            torch.cat(scores[task]).double().cpu().numpy()[inverse] if scores[task] else None
        )
        result[task] = TaskPredictions(
            task=task,
            task_type=kind,
            y_true=(
                y_true.astype(np.float64)
                if kind is TaskType.REGRESSION
                else y_true.astype(np.int64)
            ),
            y_pred=(
                y_pred.astype(np.float64)
                if kind is TaskType.REGRESSION
                else y_pred.astype(np.int64)
            ),
            score=score_array,
            primary_metric=primary_metric(kind),
        )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return PredictionRun(tasks=result, seconds=time.perf_counter() - started, samples=n)


@torch.inference_mode()
def pair_scores(
    model: MultiTaskModel,
    pairs: Batchable,
    tasks: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> dict[str, np.ndarray]:
    """Each ranking head's score (its logit) of every (user, candidate) row of ``pairs``, in
    row order; one host transfer per task at the end.

    Each batch's scores go straight into one buffer per task, allocated before the loop. Kept
    as a list of small per-batch tensors instead, they would sit in the allocator's heap
    between each batch's large, short-lived activations and pin it: on a full-catalogue
    ranking (MovieLens: 1.46 M pairs) the process grew by gigabytes that were never touched
    again.
    """
    model.eval()
    n = len(pairs)
    scores = {task: torch.empty(n, dtype=torch.float32, device=device) for task in tasks}
    for batch in iterate_batches(pairs, batch_size):
        rows = torch.from_numpy(batch.rows).to(device, non_blocking=True)
        batch = batch.to(device)
        with autocast_for(device, precision):
            result = model(**batch.model_inputs())
        for task in tasks:
            scores[task].index_copy_(0, rows, result[task].float())
    return {task: values.double().cpu().numpy() for task, values in scores.items()}


def score_tasks(tasks: Mapping[str, TaskPredictions]) -> dict[str, dict[str, float]]:
    """Every metric of every task."""
    return {task: compute_metrics(predictions) for task, predictions in tasks.items()}


def validation_score(
    metrics: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, Mapping[str, float]],
    tasks: Mapping[str, TaskPredictions],
) -> Validation:
    """The checkpoint-selection score of one validation pass (``tasks.SELECTION_RULE``).

    Each task's primary metric is compared with the trivial predictor's as a signed log
    ratio, and the score is their geometric-mean gain (%). Unlike the mean relative gain it
    replaces, two checkpoints compare by the mean relative change of each task's metric, so a
    task whose trivial reference is tiny (a multilabel mAP of 0.1) no longer decides the epoch.
    Tasks whose metric is undefined on this split (NaN) are left out.
    """
    ratios = []
    primaries: dict[str, float] = {}
    trivial: dict[str, float] = {}
    for task, predictions in tasks.items():
        name = predictions.primary_metric
        value, base = metrics[task][name], reference[task][name]
        primaries[task], trivial[task] = float(value), float(base)
        if np.isfinite(value) and np.isfinite(base):
            ratios.append(log_ratio(value, base, METRICS[name].direction))
    return Validation(score=selection_score(ratios), metrics=primaries, reference=trivial)


def save_predictions(
    folder: Path,
    split: DomainSplit,
    tasks: Mapping[str, TaskPredictions],
    candidates: Mapping[int, np.ndarray] | None = None,
) -> list[str]:
    """Write one CSV per task; return the file names.

    Columns: id, user_id, item_id, one column per sensitive attribute, y_true, y_pred, and
    ``score`` for binary and multilabel tasks (multilabel cells hold one space-separated value
    per class). Floats use ``repr`` so they read back bit-identical. A ranking task's lists go
    to ``ranking/TASK.csv`` (:mod:`~mtrec.measure.ranking_files`; ``candidates``, user ->
    candidate item ids, are written with them under the sampled protocol).
    """
    folder.mkdir(parents=True, exist_ok=True)
    attributes = sorted(split.sensitive)
    names = []
    for task, predictions in tasks.items():
        if predictions.task_type is TaskType.RANKING:
            names.append(save_ranking(folder, split, predictions, candidates))
            continue
        header = ["id", "user_id", "item_id", *attributes, "y_true", "y_pred"]
        columns: list[np.ndarray | list[str]] = [
            split.ids,
            split.user_ids,
            split.item_ids,
            *(split.sensitive[a] for a in attributes),
            predictions.y_true,
            predictions.y_pred,
        ]
        if predictions.score is not None:
            header.append("score")
            columns.append(predictions.score)
        name = f"{task}.csv"
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(zip(*(_cells(column) for column in columns), strict=True))
        names.append(name)
    return names


def _cells(column: np.ndarray | list[str]) -> list[str]:
    array = np.asarray(column)
    if array.ndim == 2:  # multilabel: one space-separated value per class
        return [" ".join(_cells(row)) for row in array]
    if array.dtype.kind == "f":
        return [repr(float(value)) for value in array]
    if array.dtype.kind in "iub":
        return [str(int(value)) for value in array]
    return [str(value) for value in array]
