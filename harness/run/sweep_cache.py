"""What one sweep shares between its combinations, and the test predictions variants leave.

Everything a combination needs from earlier work (domain data, tokenized splits, frozen
features, the predictions of single-task baselines and target-alone runs) comes from a
:class:`SweepCache`, so a domain is generated once and a split is tokenized once per
(tokenizer, domain, max length), whatever the number of head sets and seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.cache_files import read_arrays, write_arrays
from mtrec.model.strategies import FeatureCache
from mtrec.model.token_cache import TokenCache
from mtrec.paths import cache_dir
from mtrec.specs import (
    DomainData,
    HeadSpec,
    RankingInfo,
    TaskPredictions,
    TaskType,
)


@dataclass
class SweepCache:
    """Work shared between the combinations of one sweep (in this process)."""

    domains: dict[str, DomainData] = field(default_factory=dict)  # as the plugins returned them
    # the same, rendered under a combination's input options (mtrec.model.inputs)
    rendered: dict[str, DomainData] = field(default_factory=dict)
    tokens: TokenCache = field(default_factory=lambda: TokenCache(cache_dir() / "tokens"))
    features: FeatureCache = field(default_factory=FeatureCache)  # frozen-backbone features
    # Test predictions of variants (baselines, target-alone runs, plain combinations) by key.
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    baseline_trainings: int = 0  # single-task baselines trained (not reused) in this sweep
    # Ranking candidates per (domain data, seed, evaluation.ranking): identical for every
    # backbone of the sweep (mtrec.run.ranking.ranking_setup).
    rankings: dict[tuple[int, int, str], Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What a variant leaves for others to compare against: its test predictions.

    Only predictions: labels are not determined by the variant's key alone (a plugin can
    change its data), so they are attached from the test split being scored now
    (:meth:`on`), never stored with the predictions.
    """

    tasks: Mapping[str, OutcomeTask]

    @classmethod
    def of(cls, tasks: Mapping[str, TaskPredictions], heads: Sequence[HeadSpec]) -> Outcome:
        fields = {head.task: head.label_field for head in heads}
        return cls(
            tasks={
                task: OutcomeTask(
                    task_type=p.task_type,
                    label_field=fields[task],
                    primary_metric=p.primary_metric,
                    y_pred=p.y_pred,
                    score=p.score,
                    user_ids=p.user_ids,
                )
                for task, p in tasks.items()
            }
        )

    def on(
        self, labels: Mapping[str, np.ndarray], ranked: RankingTruth | None = None
    ) -> dict[str, TaskPredictions]:
        """The predictions paired with ``labels`` (label field -> values of the test split);
        a ranking task's lists with the relevant items of ``ranked`` (the test problem)."""
        out: dict[str, TaskPredictions] = {}
        for task, info in self.tasks.items():
            if info.task_type is TaskType.RANKING:
                if ranked is None:
                    raise ValueError(f"ranking task '{task}' needs the relevant items")
                out[task] = TaskPredictions(
                    task=task,
                    task_type=info.task_type,
                    y_true=ranked.y_true,
                    y_pred=info.y_pred,
                    score=info.score,
                    primary_metric=info.primary_metric,
                    user_ids=info.user_ids,
                    ranking=ranked.info,
                )
                continue
            out[task] = TaskPredictions(
                task=task,
                task_type=info.task_type,
                y_true=label_array(info.task_type, labels[info.label_field]),
                y_pred=info.y_pred,
                score=info.score,
                primary_metric=info.primary_metric,
            )
        return out

    def fits(self, labels: Mapping[str, np.ndarray], ranked: RankingTruth | None = None) -> bool:
        """Whether every task has a label column of the same length as its predictions, and
        every ranking task lists the very users of ``ranked``."""
        for info in self.tasks.values():
            if info.task_type is TaskType.RANKING:
                if (
                    ranked is None
                    or info.user_ids is None
                    or not np.array_equal(info.user_ids, ranked.user_ids)
                ):
                    return False
            elif info.label_field not in labels or len(labels[info.label_field]) != len(
                info.y_pred
            ):
                return False
        return True

    def save(self, path: Path, key: str) -> None:
        """One ``.npz`` (arrays, task table, key and checksum), written atomically."""
        arrays: dict[str, Any] = {}
        table: dict[str, Any] = {}
        for task, p in self.tasks.items():
            arrays[f"{task}.y_pred"] = p.y_pred
            if p.score is not None:
                arrays[f"{task}.score"] = p.score
            if p.user_ids is not None:
                arrays[f"{task}.user_ids"] = p.user_ids
            table[task] = {
                "type": p.task_type.value,
                "label_field": p.label_field,
                "primary_metric": p.primary_metric,
            }
        arrays["__tasks__"] = np.asarray(json.dumps(table))
        write_arrays(path, key, arrays)

    @classmethod
    def load(cls, path: Path, key: str) -> Outcome | None:
        """The outcome stored under ``key``; None when absent, damaged or of another key."""
        archive = read_arrays(path, key)
        if archive is None:
            return None
        try:
            table = json.loads(str(archive["__tasks__"]))
            tasks = {
                task: OutcomeTask(
                    task_type=TaskType(info["type"]),
                    label_field=info["label_field"],
                    primary_metric=info["primary_metric"],
                    y_pred=archive[f"{task}.y_pred"],
                    score=archive.get(f"{task}.score"),
                    user_ids=archive.get(f"{task}.user_ids"),
                )
                for task, info in table.items()
            }
        except (KeyError, ValueError, TypeError):
            return None  # an older layout: train it again
        return cls(tasks=tasks)


@dataclass(frozen=True, kw_only=True)
class OutcomeTask:
    """One task of an outcome: predictions and which label column they are scored against."""

    task_type: TaskType  # decides metrics and the label dtype
    label_field: str  # the domain label column holding y_true
    primary_metric: str  # the metric that ranks this task
    y_pred: np.ndarray  # predicted class / 0-1 decision / value, in test row order
    score: np.ndarray | None  # probabilities where the task has them
    user_ids: np.ndarray | None = None  # ranking: the user of each list


@dataclass(frozen=True, kw_only=True)
class RankingTruth:
    """What a ranking task's saved lists are scored against: the test problem's users,
    their relevant items and the protocol (``mtrec.measure.ranking``)."""

    user_ids: np.ndarray  # int64 [users]
    y_true: np.ndarray  # int64 [users, R], -1 padded
    info: RankingInfo


def label_array(task_type: TaskType, values: np.ndarray) -> np.ndarray:
    """Labels as predictions carry them: float64 targets, int64 classes and 0/1 flags."""
    return np.asarray(values, dtype=np.float64 if task_type is TaskType.REGRESSION else np.int64)
