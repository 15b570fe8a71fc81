"""``item-exposure``: top-k recommendations, coverage, Gini of exposure, popularity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mtrec import FairnessContext, TaskPredictions, TaskType
from mtrec.plugins.item_fairness import (
    gini,
    item_exposure,
    mtrec_register_fairness_metrics,
    recommendations,
)


def _task(task_type: TaskType, y_pred: list[float], score: list[float] | None) -> TaskPredictions:
    n = len(y_pred)
    return TaskPredictions(
        task=task_type.value,
        task_type=task_type,
        y_true=np.zeros(n),
        y_pred=np.asarray(y_pred),
        score=None if score is None else np.asarray(score),
        primary_metric="auc",
    )


# Two users, three test rows each; items 0..3 exist in the catalogue of 10.
USERS = np.array([1, 1, 1, 2, 2, 2])
ITEMS = np.array([0, 1, 2, 0, 1, 3])
CLICK = [0.9, 0.8, 0.1, 0.7, 0.2, 0.95]
TRAIN_ITEMS = np.array([0] * 6 + [1] * 3 + [2] + [3])  # item 0 is the popular one


def _context(**tasks: TaskPredictions) -> FairnessContext:
    return FairnessContext(
        combination_key="0" * 16,
        tasks=tasks,
        sensitive={},
        metrics={},
        user_ids=USERS,
        item_ids=ITEMS,
        train_item_ids=TRAIN_ITEMS,
        n_items=10,
    )


def test_top_k_per_user() -> None:
    recommended, ranked = recommendations(USERS, ITEMS, np.asarray(CLICK), k=2)
    assert sorted(recommended.tolist()) == [0, 0, 1, 3]  # user 1: items 0, 1; user 2: 3, 0
    assert ranked == 2
    # An item seen twice by a user is recommended once; ties keep row order.
    recommended, ranked = recommendations(
        np.array([5, 5, 5]), np.array([7, 7, 8]), np.array([0.5, 0.5, 0.5]), k=2
    )
    assert recommended.tolist() == [7, 8] and ranked == 0


def test_gini() -> None:
    assert gini(np.array([3, 3, 3])) == 0.0
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n - 1) / n: all on one
    assert gini(np.zeros(5)) == 0.0


def test_exposure_figures() -> None:
    click = _task(TaskType.BINARY, [1, 1, 0, 1, 0, 1], CLICK)
    rating = _task(TaskType.REGRESSION, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0], None)
    category = _task(TaskType.MULTICLASS, [0, 1, 2, 0, 1, 2], None)
    result = item_exposure(k=2)(_context(click=click, rating=rating, category=category))
    figures = result["click"]
    assert figures["ranked_by"] == "score"
    assert figures["recommendations"] == 4 and figures["distinct_items"] == 3
    assert figures["coverage"] == pytest.approx(3 / 10)
    # exposure: item 0 twice, items 1 and 3 once, 7 catalogue items never
    assert figures["gini_exposure"] == pytest.approx(gini(np.array([2, 1, 1] + [0] * 7)))
    assert figures["avg_popularity_recommended"] == pytest.approx((6 + 6 + 3 + 1) / 4)
    assert figures["avg_popularity_test"] == pytest.approx((6 + 3 + 1 + 6 + 3 + 1) / 6)
    assert figures["popularity_lift"] == pytest.approx(4.0 / (20 / 6))
    # The rating head ranks by its predicted value: user 1 gets items 2, 1; user 2 gets 3, 1.
    assert result["rating"]["ranked_by"] == "y_pred"
    assert result["rating"]["avg_popularity_recommended"] == pytest.approx((1 + 3 + 1 + 3) / 4)
    assert result["category"]["applicable"] is False
    assert "multiclass" in result["category"]["reason"]


def test_not_applicable_without_item_ids() -> None:
    click = _task(TaskType.BINARY, [1, 0], [0.6, 0.4])
    context = FairnessContext(
        combination_key="0" * 16, tasks={"click": click}, sensitive={}, metrics={}
    )
    figures = item_exposure()(context)["click"]
    assert figures["applicable"] is False and "user_ids" in figures["reason"]


def test_registered_metric_takes_k_from_the_suite() -> None:
    (spec,) = mtrec_register_fairness_metrics()
    assert spec.name == "item-exposure" and spec.scope == "item"
    context = _context(click=_task(TaskType.BINARY, [1, 1, 0, 1, 0, 1], CLICK))
    assert spec.compute(replace(context, top_k=2)) == item_exposure(k=2)(context)
    assert spec.compute(context) == item_exposure(k=10)(context)
    assert spec.compute(context) != item_exposure(k=1)(context)
