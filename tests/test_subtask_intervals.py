"""Subtask-gain intervals: users resampled, seed spread included, macro label sets fixed.

A user's test rows share the user's tastes, so resampling rows treats correlated rows as
independent evidence and gives too narrow an interval; the training seed moves a gain as much
as the test rows do when a suite runs several baseline seeds; and a macro metric must average
over one label set per run, not over whichever labels a resample happens to contain.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mtrec import TaskPredictions, TaskType
from mtrec.measure.resampled import weighted_metric
from mtrec.plugins.subtask_gain import task_gain

USERS, ROWS_PER_USER = 60, 10


def _regression(y_pred: np.ndarray, y_true: np.ndarray) -> TaskPredictions:
    return TaskPredictions(
        task="rating",
        task_type=TaskType.REGRESSION,
        y_true=y_true,
        y_pred=y_pred,
        score=None,
        primary_metric="rmse",
    )


def _clustered_null(
    rng: np.random.Generator,
) -> tuple[np.ndarray, TaskPredictions, TaskPredictions]:
    """Two runs of equal expected RMSE whose errors each carry a per-user offset."""
    user = np.repeat(np.arange(USERS), ROWS_PER_USER)
    y_true = np.zeros(len(user))
    multi = rng.normal(0, 1.0, USERS)[user] + rng.normal(0, 0.3, len(user))
    alone = rng.normal(0, 1.0, USERS)[user] + rng.normal(0, 0.3, len(user))
    return user, _regression(multi, y_true), _regression(alone, y_true)


def _coverage(by_users: bool, replications: int = 80) -> float:
    """Share of replications whose interval holds 0, the true (expected) gain."""
    rng = np.random.default_rng(5)
    hits = []
    for replication in range(replications):
        user, multi, alone = _clustered_null(rng)
        figures = task_gain(
            multi, [alone], resamples=100, seed=replication, user_ids=user if by_users else None
        )
        low, high = figures["ci"]
        hits.append(low <= 0.0 <= high)
    return float(np.mean(hits))


def test_users_are_resampled_and_cover_where_rows_undercover() -> None:
    user, multi, alone = _clustered_null(np.random.default_rng(0))
    assert task_gain(multi, [alone], resamples=20, seed=0, user_ids=user)["resampled"] == "users"
    assert task_gain(multi, [alone], resamples=20, seed=0)["resampled"] == "rows"
    rows, users = _coverage(by_users=False), _coverage(by_users=True)
    print(f"null coverage: rows {rows:.2f}, users {users:.2f}")
    assert rows < 0.7  # ten correlated rows per user pass for ten independent ones
    assert users >= 0.85, (rows, users)


def test_the_interval_holds_the_spread_over_baseline_seeds() -> None:
    """Test rows that barely move the gain, baseline seeds that move it a lot."""
    rng = np.random.default_rng(1)
    y_true = rng.normal(3.0, 1.0, 4000)
    noise = rng.normal(0, 1.0, 4000)
    multi = _regression(y_true + 0.8 * noise, y_true)
    seeds = [_regression(y_true + scale * noise, y_true) for scale in (0.6, 0.8, 1.0)]
    figures = task_gain(multi, seeds, resamples=300, seed=0)
    per_seed_gains = [task_gain(multi, [one], resamples=0, seed=0)["gain"] for one in seeds]
    low, high = figures["ci"]
    assert figures["seed_se"] is not None and figures["seed_se"] > 5 * (high - low) / 50
    assert low < min(per_seed_gains) and max(per_seed_gains) < high
    single = task_gain(multi, seeds[1:2], resamples=300, seed=0)
    assert single["seed_se"] is None  # one seed: no spread to estimate


def _multilabel(y_true: np.ndarray, score: np.ndarray) -> TaskPredictions:
    return TaskPredictions(
        task="genres",
        task_type=TaskType.MULTILABEL,
        y_true=y_true,
        y_pred=(score >= 0.5).astype(np.int64),
        score=score,
        primary_metric="map",
    )


def test_macro_map_keeps_the_run_label_set_on_every_resample() -> None:
    """A genre with one positive row stays in the average when a resample drops that row."""
    rng = np.random.default_rng(2)
    n = 200
    y_true = (rng.random((n, 4)) < 0.3).astype(np.int64)
    y_true[:, 3] = 0
    y_true[7, 3] = 1  # the rare genre: one positive test row
    score = np.clip(0.6 * y_true + rng.normal(0.2, 0.25, (n, 4)), 0, 1)
    predictions = _multilabel(y_true, score)
    on_weights = weighted_metric(predictions, "map")
    everything = skm.average_precision_score(y_true, score, average=None)
    assert on_weights(np.ones(n)) == pytest.approx(np.mean(everything), rel=1e-12)
    weights = rng.integers(0, 3, n).astype(np.float64)
    weights[7] = 0.0  # this resample did not draw the rare genre's positive row
    rows = np.repeat(np.arange(n), weights.astype(np.int64))
    common = skm.average_precision_score(y_true[rows][:, :3], score[rows][:, :3], average=None)
    expected = (common.sum() + everything[3]) / 4  # the rare genre keeps its all-rows AP
    assert on_weights(weights) == pytest.approx(expected, rel=1e-12)


def test_macro_f1_keeps_the_run_class_set_on_every_resample() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 3])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 3])  # class 3: one row, predicted right
    predictions = TaskPredictions(
        task="category",
        task_type=TaskType.MULTICLASS,
        y_true=y_true,
        y_pred=y_pred,
        score=None,
        primary_metric="accuracy",
    )
    on_weights = weighted_metric(predictions, "macro_f1")
    full = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert on_weights(np.ones(7)) == pytest.approx(full, rel=1e-12)
    weights = np.array([1, 1, 1, 1, 1, 1, 0], dtype=np.float64)  # class 3 not drawn
    drawn = skm.f1_score(y_true[:6], y_pred[:6], labels=[0, 1, 2], average=None, zero_division=0)
    everything = skm.f1_score(y_true, y_pred, average=None, zero_division=0)
    expected = (drawn.sum() + everything[3]) / 4  # class 3 keeps its all-rows F1
    assert on_weights(weights) == pytest.approx(expected, rel=1e-12)
