"""Group fairness metrics: ``group-gap`` and the task-type-specific gaps, on known data."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn import metrics as skm

from mtrec import FairnessContext, TaskPredictions, TaskType
from mtrec.measure.resampled import exact_metric, grouped_metric
from mtrec.measure.tasks import TASK_METRICS, primary_metric
from mtrec.plugins.group_gap import difference_interval, group_gap, sensitive_features
from mtrec.plugins.task_type_gaps import mtrec_register_fairness_metrics

N = 600
# Task types whose rows are test rows; a ranking task's rows are users, with their own fixtures
# (tests/test_ranking_fairness.py).
ROW_TYPES = tuple(kind for kind in TaskType if kind is not TaskType.RANKING)
GENDER = np.array(["f", "m"] * (N // 2), dtype=object)
AGE = np.array(["young"] * (N // 3) + ["mid"] * (N // 3) + ["old"] * (N // 3), dtype=object)


def in_age(group: str) -> np.ndarray:
    return np.asarray(np.equal(AGE, group), dtype=bool)


def _predictions(task_type: TaskType, rng: np.random.Generator) -> TaskPredictions:
    """Predictions whose quality drops for the "old" group: the planted gap."""
    old = in_age("old")
    y_true: np.ndarray
    y_pred: np.ndarray
    score = None
    if task_type is TaskType.BINARY:
        y_true = rng.integers(0, 2, N)
        noise = np.where(old, 1.5, 0.3)
        score = 1 / (1 + np.exp(-((y_true - 0.5) * 2 + rng.normal(0, noise))))
        y_pred = (score >= 0.5).astype(np.int64)
    elif task_type is TaskType.REGRESSION:
        y_true = rng.normal(3, 1, N)
        y_pred = y_true + rng.normal(0, np.where(old, 1.0, 0.2)) + 0.5 * old
    elif task_type is TaskType.MULTICLASS:
        y_true = rng.integers(0, 4, N)
        wrong = rng.random(N) < np.where(old, 0.6, 0.1)
        y_pred = np.where(wrong, (y_true + 1) % 4, y_true)
    else:
        y_true = rng.integers(0, 2, (N, 3))
        wrong = rng.random((N, 3)) < np.where(old, 0.5, 0.1)[:, None]
        y_pred = np.where(wrong, 1 - y_true, y_true)
        score = y_pred.astype(np.float64)
    return TaskPredictions(
        task=task_type.value,
        task_type=task_type,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        primary_metric=primary_metric(task_type),
    )


def _context(resamples: int = 200) -> FairnessContext:
    rng = np.random.default_rng(0)
    tasks = {kind.value: _predictions(kind, rng) for kind in ROW_TYPES}
    return FairnessContext(
        combination_key="0" * 16,
        tasks=tasks,
        sensitive={"gender": GENDER, "age": AGE},
        metrics={},
        bootstrap_resamples=resamples,
        seed=3,
    )


def test_attributes_and_their_intersection() -> None:
    features = sensitive_features(_context())
    assert list(features) == ["gender", "age", "gender&age"]
    assert set(features["gender&age"]) == {
        f"{g}&{a}" for g in "fm" for a in ("young", "mid", "old")
    }


def test_group_gap_figures_match_a_direct_computation() -> None:
    context = _context()
    result = group_gap(context)
    assert set(result) == {kind.value for kind in ROW_TYPES}
    regression = result["regression"]
    assert set(regression) == {"gender", "age", "gender&age"}
    figures = regression["age"]
    predictions = context.tasks["regression"]
    direct = {
        group: math.sqrt(
            skm.mean_squared_error(
                predictions.y_true[in_age(group)], predictions.y_pred[in_age(group)]
            )
        )
        for group in ("young", "mid", "old")
    }
    assert figures["by_group"] == pytest.approx(direct, rel=1e-12)
    assert figures["group_sizes"] == {"young": 200, "mid": 200, "old": 200}
    assert figures["difference"] == pytest.approx(max(direct.values()) - min(direct.values()))
    assert figures["ratio"] == pytest.approx(min(direct.values()) / max(direct.values()))
    assert figures["worst_group"] == "old"  # RMSE: lower is better, so the largest is worst
    assert result["binary"]["age"]["worst_group"] == "old"  # AUC: the smallest is worst
    low, high = figures["difference_ci"]
    assert 0 < low < figures["difference"] < high


def test_interval_is_absent_without_resamples() -> None:
    result = group_gap(_context(resamples=0))
    assert result["binary"]["gender"]["difference_ci"] is None


def _typed(name: str, context: FairnessContext) -> dict[str, Any]:
    spec = next(s for s in mtrec_register_fairness_metrics() if s.name == name)
    assert spec.scope == "group"
    return dict(spec.compute(context))


@pytest.mark.parametrize(
    ("name", "applies_to"),
    [
        ("demographic-parity", {"binary"}),
        ("equalized-odds", {"binary"}),
        ("error-gap", {"regression"}),
        ("accuracy-gap", {"multiclass", "multilabel"}),
    ],
)
def test_other_task_types_are_not_applicable(name: str, applies_to: set[str]) -> None:
    result = _typed(name, _context(resamples=0))
    for task, figures in result.items():
        if task in applies_to:
            assert "applicable" not in figures and "age" in figures
        else:
            assert figures["applicable"] is False
            assert task in figures["reason"] and "difference" not in figures


def test_binary_parity_and_odds_equal_fairlearn() -> None:
    context = _context()
    binary = context.tasks["binary"]
    parities = _typed("demographic-parity", context)["binary"]
    odds_all = _typed("equalized-odds", context)["binary"]
    for attribute, groups in sensitive_features(context).items():
        parity = parities[attribute]
        assert parity["difference"] == pytest.approx(
            demographic_parity_difference(binary.y_true, binary.y_pred, sensitive_features=groups)
        )
        rates = {g: float(binary.y_pred[groups == g].mean()) for g in np.unique(groups)}
        assert parity["by_group"] == pytest.approx(rates)
        odds = odds_all[attribute]
        assert odds["difference"] == pytest.approx(
            equalized_odds_difference(binary.y_true, binary.y_pred, sensitive_features=groups)
        )
        assert odds["groups_lacking_a_class"] == []
    assert odds_all["age"]["difference"] > 0.2


def test_regression_error_gap() -> None:
    context = _context()
    figures = _typed("error-gap", context)["regression"]["age"]
    predictions = context.tasks["regression"]
    errors = predictions.y_pred - predictions.y_true
    mae = {g: float(np.abs(errors[in_age(g)]).mean()) for g in ("young", "mid", "old")}
    assert figures["by_group"]["mae"] == pytest.approx(mae)
    assert figures["group_max_mae"] == pytest.approx(max(mae.values()))
    assert figures["worst_group_mae"] == figures["worst_group_rmse"] == "old"
    means = {g: float(predictions.y_pred[in_age(g)].mean()) for g in ("young", "mid", "old")}
    assert figures["mean_prediction_gap"] == pytest.approx(
        max(means.values()) - min(means.values())
    )
    low, high = figures["mean_prediction_gap_ci"]
    assert low <= figures["mean_prediction_gap"] <= high
    assert figures["mean_prediction_gap"] > figures["mean_label_gap"]  # the +0.5 shift for "old"


def test_accuracy_gap_for_classes() -> None:
    context = _context()
    result = _typed("accuracy-gap", context)
    multiclass, multilabel = result["multiclass"]["age"], result["multilabel"]["age"]
    assert multiclass["metric"] == "accuracy" and multilabel["metric"] == "micro_f1"
    predictions = context.tasks["multiclass"]
    old = in_age("old")
    assert multiclass["by_group"]["old"] == pytest.approx(
        skm.accuracy_score(predictions.y_true[old], predictions.y_pred[old])
    )
    assert multiclass["worst_group"] == multilabel["worst_group"] == "old"
    assert multiclass["difference"] > 0.3


@pytest.mark.parametrize("task_type", ROW_TYPES)
def test_resampled_metrics_equal_the_reported_ones(task_type: TaskType) -> None:
    """All-groups weighted metrics equal scikit-learn on each group's repeated rows."""
    rng = np.random.default_rng(1)
    predictions = _predictions(task_type, rng)
    if predictions.score is not None:  # coarse scores: many ties
        predictions = replace(predictions, score=np.round(predictions.score, 1))
    _, codes = np.unique(AGE, return_inverse=True)
    weights = rng.integers(0, 3, N).astype(np.float64)  # a resample: 0, 1 or 2 draws per row
    rows = np.repeat(np.arange(N), weights.astype(np.int64))
    for name in TASK_METRICS[task_type]:
        fast = grouped_metric(predictions, name, codes, 3)(weights)
        exact = exact_metric(predictions, name)
        slow = [exact(rows[codes[rows] == code]) for code in range(3)]
        assert fast == pytest.approx(slow, rel=1e-9), name


def test_fast_and_slow_intervals_agree() -> None:
    """The all-groups weighted path gives the interval the group-by-group path gives."""
    context = _context(resamples=50)
    predictions = context.tasks["binary"]
    metric = exact_metric(predictions, "auc")
    slow = difference_interval(metric, AGE, context)
    fast = difference_interval(metric, AGE, context, partial(grouped_metric, predictions, "auc"))
    assert slow is not None and fast == pytest.approx(slow, rel=1e-9)
