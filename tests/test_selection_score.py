"""The selection score (early stopping, summary.score, the Pareto front) lets every task count
alike: a task whose trivial reference is tiny no longer decides the checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mtrec.config import parse_suite
from mtrec.measure.evaluation import validation_score
from mtrec.measure.pareto import summarise
from mtrec.measure.tasks import METRICS, SELECTION_RULE, log_ratio, primary_metric, selection_score
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep
from mtrec.specs import TaskPredictions, TaskType

TYPES = {"rating": TaskType.REGRESSION, "like": TaskType.BINARY, "genres": TaskType.MULTILABEL}
# MovieLens-100k's validation references: train-mean RMSE, AUC 0.5, genre-frequency mAP.
TRIVIAL = {"rating": 1.125, "like": 0.5, "genres": 0.112}


def _tasks() -> dict[str, TaskPredictions]:
    empty = np.zeros(0)
    return {
        task: TaskPredictions(
            task=task,
            task_type=kind,
            y_true=empty,
            y_pred=empty,
            score=None,
            primary_metric=primary_metric(kind),
        )
        for task, kind in TYPES.items()
    }


def _score(values: dict[str, float], trivial: dict[str, float] = TRIVIAL) -> float:
    def wrap(figures: dict[str, float]) -> dict[str, dict[str, float]]:
        return {task: {primary_metric(TYPES[task]): v} for task, v in figures.items()}

    return validation_score(wrap(values), wrap(trivial), _tasks()).score


def test_a_task_with_a_tiny_trivial_reference_does_not_decide_the_epoch() -> None:
    # The shape of the ID-embedding run on MovieLens: later epochs memorise genres (+3 %)
    # while rating and like get worse (2.5 % each). The old mean relative gain over trivial
    # picked the later epoch, because genres' gain is divided by its trivial mAP of 0.112.
    balanced = {"rating": 0.930, "like": 0.780, "genres": 0.900}
    genres_first = {"rating": 0.930 / 0.975, "like": 0.780 * 0.975, "genres": 0.900 * 1.03}
    assert _score(balanced) > _score(genres_first)


def test_which_checkpoint_wins_does_not_depend_on_the_trivial_references() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = {task: float(rng.uniform(0.3, 1.2)) for task in TYPES}
        b = {task: float(rng.uniform(0.3, 1.2)) for task in TYPES}
        other = {task: float(rng.uniform(0.01, 2.0)) for task in TYPES}
        first = _score(a) - _score(b)
        second = _score(a, other) - _score(b, other)
        assert math.copysign(1.0, first) == math.copysign(1.0, second) or abs(first) < 1e-9


def test_score_is_unit_free_and_every_relative_change_counts_alike() -> None:
    base = {"rating": 1.0, "like": 0.75, "genres": 0.5}
    assert _score(base) == pytest.approx(
        _score({**base, "rating": 10.0}, {**TRIVIAL, "rating": 11.25})
    )  # ratings in tenths of a star: same score
    # 1 % better on any one task raises the score by the same amount
    raised = [
        _score({**base, task: base[task] * (1.01 if task != "rating" else 1 / 1.01)})
        for task in TYPES
    ]
    assert raised == pytest.approx([raised[0]] * 3)
    assert all(value > _score(base) for value in raised)


def test_geometric_mean_gain_definition() -> None:
    # accuracy 0.75 vs 0.5 (x1.5) and rmse 1 vs 2 (x2): geometric mean sqrt(3) -> +73.2 %
    ratios = [log_ratio(0.75, 0.5, METRICS["accuracy"].direction), log_ratio(1.0, 2.0, -1)]
    assert selection_score(ratios) == pytest.approx(100 * (math.sqrt(3) - 1))
    assert selection_score([]) == float("-inf")


def test_record_keeps_the_rule_and_what_the_selection_read(tmp_path: Path) -> None:
    suite = parse_suite(
        "name: s\nbackbones: [id-embedding]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 300}}]\n"
        "training: {epochs: 4, patience: 0, lr: 0.01, batch_size: 32}\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 2, latency_min_seconds: 0}\n"
        "fairness_metrics: []\n",
        origin="s.yaml",
        source="file",
    )
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    [record] = result.document["records"]
    training = record["training"]
    assert training["selection_rule"] == SELECTION_RULE
    reference = training["validation_reference"]
    directions = {
        task: METRICS[info["primary_metric"]].direction for task, info in record["tasks"].items()
    }
    recomputed = [
        selection_score(
            [
                log_ratio(value, reference[task], directions[task])
                for task, value in epoch["validation_metrics"].items()
            ]
        )
        for epoch in training["history"]
    ]
    assert recomputed == pytest.approx([epoch["validation_score"] for epoch in training["history"]])
    assert training["best_epoch"] == int(np.argmax(recomputed)) + 1
    # summary.score applies the same rule to the test metrics
    test_ratios = [
        log_ratio(
            record["metrics"][task][info["primary_metric"]],
            record["reference"]["trivial"][task][info["primary_metric"]],
            directions[task],
        )
        for task, info in record["tasks"].items()
    ]
    assert summarise(record)["score"] == pytest.approx(selection_score(test_ratios))
