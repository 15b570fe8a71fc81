"""The files beside the saved predictions, and reading saved test predictions back.

:func:`mtrec.measure.evaluation.save_predictions` writes one CSV per task; the figures of a record
that need more than those rows get it here, written beside them so that every figure can be
recomputed from the run folder alone:

* ``train_labels.json``: per task, the training-label statistics the trivial reference is
  fitted on (majority class and class counts, mean target, positive rate, label frequencies);
* ``items.csv``: the catalogue (every item id of any split) with its training interaction
  count, for the item-exposure coverage and popularity figures;
* ``validation/epoch-E/TASK.csv`` (written by ``save_predictions`` too): each epoch's
  validation predictions, behind the validation history and the selected epoch.

Reading back: :func:`read_predictions`, :func:`read_user_ids` (the users the bootstraps
draw), and :func:`aligned_predictions` to line up two runs' predictions row by row for paired
statistics. A ranking task's file (``KEY/ranking/TASK.csv``, :mod:`mtrec.measure.ranking_files`)
has one row per user: its row id is the user id, so every reader here resamples and pairs
users."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.measure.ranking_files import read_ranking
from mtrec.specs import DomainData, HeadSpec, TaskPredictions, TaskType

TRAIN_LABELS = "train_labels.json"
ITEMS = "items.csv"


def save_train_labels(
    folder: Path, heads: Sequence[HeadSpec], train_labels: Mapping[str, np.ndarray]
) -> str:
    """Write ``train_labels.json``: what the trivial predictor of each task is fitted on.

    Floats are written by ``json`` (shortest round-trip repr): read back, they are the very
    numbers the trivial reference was computed from. Returns the file name.
    """
    statistics: dict[str, dict[str, Any]] = {}
    for head in heads:
        labels = np.asarray(train_labels[head.label_field])
        entry: dict[str, Any] = {
            "type": head.task_type.value,
            "label_field": head.label_field,
            "n_train": len(labels),
        }
        if head.task_type is TaskType.MULTICLASS:
            counts = np.bincount(labels.astype(np.int64))
            entry["class_counts"] = counts.tolist()
            entry["majority_class"] = int(counts.argmax())
        elif head.task_type is TaskType.MULTILABEL:
            entry["frequencies"] = labels.astype(np.float64).mean(axis=0).tolist()
        elif head.task_type is TaskType.REGRESSION:
            entry["mean"] = float(np.mean(labels))
        else:
            entry["positive_rate"] = float(np.mean(labels))
        statistics[head.task] = entry
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRAIN_LABELS).write_text(json.dumps(statistics, indent=1), encoding="utf-8")
    return TRAIN_LABELS


def save_item_counts(folder: Path, data: DomainData) -> str:
    """Write ``items.csv``: every catalogue item (any split) and its training interactions."""
    catalogue = np.unique(
        np.concatenate(
            [np.asarray(split.item_ids) for split in (data.train, data.validation, data.test)]
        ).astype(np.int64)
    )
    train_items, train_counts = np.unique(
        np.asarray(data.train.item_ids, dtype=np.int64), return_counts=True
    )
    counts = dict(zip(train_items.tolist(), train_counts.tolist(), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ITEMS, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "train_interactions"])
        writer.writerows((item, counts.get(item, 0)) for item in catalogue.tolist())
    return ITEMS


Rows = list[dict[str, str]]
Parsed = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # y_true, y_pred, score


def read_predictions(
    run_dir: Path, record: Mapping[str, Any], task: str
) -> tuple[list[str], TaskPredictions] | None:
    """Row ids and predictions of one task of a record, from ``predictions/KEY/TASK.csv``
    (a ranking task: ``KEY/ranking/TASK.csv``, whose rows are users and whose row ids are
    the user ids).

    None when the record names no such file or the file is missing or empty. Floats were
    written with ``repr``, so the arrays are bit-identical to the ones the metrics saw.
    """
    relative = (record.get("predictions") or {}).get(task)
    info = (record.get("tasks") or {}).get(task)
    if not relative or not info:
        return None
    path = run_dir / "predictions" / relative
    if not path.is_file():
        return None
    if info.get("type") == TaskType.RANKING.value:
        return _read_ranking(path, task)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    task_type = TaskType(info["type"])
    y_true, y_pred, score = _PARSERS[task_type](rows)
    predictions = TaskPredictions(
        task=task,
        task_type=task_type,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        primary_metric=info["primary_metric"],
    )
    return [row["id"] for row in rows], predictions


def _read_ranking(path: Path, task: str) -> tuple[list[str], TaskPredictions] | None:
    if not path.with_suffix(".json").is_file():
        return None
    predictions = read_ranking(path)
    users = predictions.user_ids
    if users is None or len(users) == 0:
        return None
    if predictions.task != task:  # a record's task is its own, whatever the file says
        predictions = replace(predictions, task=task)
    return [str(user) for user in users.tolist()], predictions


def read_user_ids(run_dir: Path, record: Mapping[str, Any], task: str) -> list[str] | None:
    """The ``user_id`` of each row of one task's saved test predictions, as written (a
    ranking task's file has one row per user).

    None when the record names no such file, the file cannot be read or is empty, or a row
    has no user (the user-level bootstraps then have nothing to draw).
    """
    relative = (record.get("predictions") or {}).get(task)
    if not relative:
        return None
    try:
        with open(run_dir / "predictions" / str(relative), newline="", encoding="utf-8") as handle:
            users = [row.get("user_id") for row in csv.DictReader(handle)]
    except OSError:
        return None
    if not users or any(user is None for user in users):
        return None
    return [str(user) for user in users]


def aligned_predictions(
    baseline: tuple[Path, Mapping[str, Any]],
    candidate: tuple[Path, Mapping[str, Any]],
    task: str,
) -> tuple[TaskPredictions, TaskPredictions] | None:
    """Two runs' predictions of ``task`` on the test rows they share, in the same order.

    Each side is (run folder, record). None when either file is missing, fewer than two rows
    are shared, or the shared rows disagree on a label (different test data: nothing to pair).
    A ranking task's rows are users, paired by user id; they agree when each user has the same
    relevant items on both sides.
    """
    old_side = read_predictions(baseline[0], baseline[1], task)
    new_side = read_predictions(candidate[0], candidate[1], task)
    if old_side is None or new_side is None:
        return None
    (old_ids, old), (new_ids, new) = old_side, new_side
    position = {row_id: i for i, row_id in enumerate(new_ids)}
    shared = [(i, position[row_id]) for i, row_id in enumerate(old_ids) if row_id in position]
    if len(shared) < 2:
        return None
    old = old.take(np.array([i for i, _ in shared]))
    new = new.take(np.array([j for _, j in shared]))
    if old.task_type is TaskType.RANKING or new.task_type is TaskType.RANKING:
        if old.task_type is not new.task_type or not _same_relevant(old.y_true, new.y_true):
            return None
        return old, new
    if not np.array_equal(old.y_true, new.y_true):
        return None
    return old, new


def _same_relevant(old: np.ndarray, new: np.ndarray) -> bool:
    """Whether two ranking tasks' relevant items (-1 padded rows) agree user by user; the
    padding's width depends on the file's other users, so it is not compared."""
    width = max(old.shape[1], new.shape[1])

    def padded(values: np.ndarray) -> np.ndarray:
        out = np.full((len(values), width), -1, dtype=np.int64)
        out[:, : values.shape[1]] = values
        return np.sort(out, axis=1)

    return bool(np.array_equal(padded(old), padded(new)))


def _column(rows: Rows, name: str, kind: type) -> np.ndarray:
    return np.array([kind(float(row[name])) for row in rows])


def _matrix(rows: Rows, name: str, kind: type) -> np.ndarray:
    """A multilabel column: one space-separated value per class in each cell."""
    return np.array([[kind(float(cell)) for cell in row[name].split()] for row in rows])


_PARSERS: Mapping[TaskType, Callable[[Rows], Parsed]] = {
    TaskType.REGRESSION: lambda rows: (
        _column(rows, "y_true", float), _column(rows, "y_pred", float), None,
    ),
    TaskType.MULTICLASS: lambda rows: (
        _column(rows, "y_true", int), _column(rows, "y_pred", int), None,
    ),
    TaskType.BINARY: lambda rows: (
        _column(rows, "y_true", int), _column(rows, "y_pred", int), _column(rows, "score", float),
    ),
    TaskType.MULTILABEL: lambda rows: (
        _matrix(rows, "y_true", int), _matrix(rows, "y_pred", int), _matrix(rows, "score", float),
    ),
}  # fmt: skip
