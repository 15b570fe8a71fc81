"""A ranking task's saved lists: ``predictions/KEY/ranking/TASK.csv`` and ``TASK.json``.

The CSV has one row per ranked user: ``user_id``, one column per sensitive attribute (the
user's group), ``n_candidates``, ``relevant`` (the relevant item ids, space-separated),
``top`` (the max(ks) items ranked first, best first), ``scores`` (their scores, ``repr``
floats) and, under the sampled protocol, ``candidates`` (every candidate item id). The JSON
holds what is the same for every user: the cut-offs, the protocol and its seed, the relevance
rule, the catalogue and its training counts. Every ranking figure is recomputable from the
two files alone (:func:`read_ranking` reads them back into the very arrays that were scored).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.measure import ranking
from mtrec.specs import DomainSplit, RankingInfo, TaskPredictions, TaskType

FOLDER = "ranking"


def save_ranking(
    folder: Path,
    split: DomainSplit,
    predictions: TaskPredictions,
    candidates: Mapping[int, np.ndarray] | None = None,
) -> str:
    """Write the task's lists under ``folder/ranking/``; return the CSV's path relative to
    ``folder``. ``candidates`` (user -> candidate item ids) is written under "sampled"."""
    info = predictions.ranking
    if info is None or predictions.user_ids is None:
        raise ValueError(f"ranking task '{predictions.task}' has no lists to save")
    out = folder / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    attributes = sorted(split.sensitive)
    split_users = np.asarray(split.user_ids, dtype=np.int64)
    users, first = np.unique(split_users, return_index=True)
    first_row = dict(zip(users.tolist(), first.tolist(), strict=True))
    header = ["user_id", *attributes, "n_candidates", "relevant", "top", "scores"]
    sampled = info.protocol == "sampled" and candidates is not None
    if sampled:
        header.append("candidates")
    name = f"{predictions.task}.csv"
    with open(out / name, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row, user in enumerate(predictions.user_ids.tolist()):
            source = first_row.get(user)
            groups = ["" if source is None else str(split.sensitive[a][source]) for a in attributes]
            relevant = predictions.y_true[row]
            top = predictions.y_pred[row]
            scores = (
                predictions.score[row]
                if predictions.score is not None
                else np.full(len(top), np.nan)
            )
            shown = top >= 0
            line = [
                str(user),
                *groups,
                str(len(candidates[user])) if candidates is not None else "",
                " ".join(str(int(i)) for i in relevant[relevant >= 0]),
                " ".join(str(int(i)) for i in top[shown]),
                " ".join(repr(float(s)) for s in scores[shown]),
            ]
            if sampled:
                assert candidates is not None
                line.append(" ".join(str(int(i)) for i in candidates[user]))
            writer.writerow(line)
    meta = {
        "task": predictions.task,
        "type": TaskType.RANKING.value,
        "primary_metric": predictions.primary_metric,
        "ks": list(info.ks),
        "protocol": info.protocol,
        "negatives": info.negatives,
        "sampling": info.sampling,
        "relevance": info.relevance,
        "seed": info.seed,
        "head_share": ranking.HEAD_SHARE,
        "catalogue": info.catalogue.tolist(),
        "train_counts": info.train_counts.tolist(),
    }
    (out / f"{predictions.task}.json").write_text(json.dumps(meta), encoding="utf-8")
    return f"{FOLDER}/{name}"


def read_ranking(path: Path) -> TaskPredictions:
    """A ranking task's predictions from its CSV (and the JSON beside it)."""
    meta: dict[str, Any] = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    info = RankingInfo(
        ks=tuple(int(k) for k in meta["ks"]),
        protocol=str(meta["protocol"]),
        negatives=int(meta["negatives"]),
        sampling=str(meta["sampling"]),
        relevance=str(meta["relevance"]),
        seed=int(meta["seed"]),
        catalogue=np.asarray(meta["catalogue"], dtype=np.int64),
        train_counts=np.asarray(meta["train_counts"], dtype=np.int64),
    )
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    kmax = max(info.ks)
    relevant = [_ints(row["relevant"]) for row in rows]
    width = max((len(r) for r in relevant), default=1) or 1
    y_true = np.full((len(rows), width), -1, dtype=np.int64)
    y_pred = np.full((len(rows), kmax), -1, dtype=np.int64)
    score = np.full((len(rows), kmax), np.nan, dtype=np.float64)
    for index, row in enumerate(rows):
        y_true[index, : len(relevant[index])] = relevant[index]
        top = _ints(row["top"])
        y_pred[index, : len(top)] = top
        values = [float(v) for v in row["scores"].split()]
        score[index, : len(values)] = values
    return TaskPredictions(
        task=str(meta["task"]),
        task_type=TaskType.RANKING,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        primary_metric=str(meta["primary_metric"]),
        user_ids=np.asarray([int(row["user_id"]) for row in rows], dtype=np.int64),
        ranking=info,
    )


def _ints(cell: str) -> list[int]:
    return [int(v) for v in cell.split()]
