"""Group-gap intervals under no real gap: they must reach 0 about as often as they claim.

The sensitive table is shaped like MovieLens-100k's users (five age bands, two genders, 21
occupations of very unequal size), so the pairwise intersections hold many groups of a few
users. Shuffling the table across users keeps every group's size but removes any link between
group and prediction quality: whatever gap remains is noise, and a 95% interval of it must
cover 0 in (about) 95% of shuffles, for every attribute and intersection. Groups below
``min_group_users`` stay out of the gap; a one-row group otherwise sets it, with an interval
that cannot cover 0 (its metric never moves under resampling).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pytest

from mtrec import FairnessContext, TaskPredictions, TaskType
from mtrec.measure.resampled import exact_metric, grouped_metric
from mtrec.measure.tasks import trivial_predictions
from mtrec.plugins.group_gap import (
    difference_interval,
    group_gap,
    group_support,
    sensitive_features,
)

N_USERS = 500
AGES = ["<18", "18-24", "25-34", "35-44", "45+"]
AGE_SHARE = [0.06, 0.2, 0.35, 0.2, 0.19]
# MovieLens-100k's occupation counts: a few large groups and a long tail of small ones.
OCCUPATION_COUNT = [
    196,
    105,
    95,
    79,
    67,
    66,
    51,
    45,
    32,
    31,
    28,
    27,
    26,
    14,
    12,
    12,
    9,
    7,
    7,
    7,
    28,
]


def _users(rng: np.random.Generator) -> dict[str, np.ndarray]:
    share = np.asarray(OCCUPATION_COUNT, dtype=np.float64)
    return {
        "age": rng.choice(AGES, N_USERS, p=AGE_SHARE),
        "gender": rng.choice(["F", "M"], N_USERS, p=[0.29, 0.71]),
        "occupation": rng.choice(
            [f"job{i}" for i in range(len(share))], N_USERS, p=share / share.sum()
        ),
    }


def _tasks(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, TaskPredictions]]:
    """Test rows of each user (1 to ~20) whose labels share the user's taste."""
    rows_per_user = 1 + rng.geometric(0.35, N_USERS)
    user = np.repeat(np.arange(N_USERS), rows_per_user)
    taste = rng.normal(0.0, 0.5, N_USERS)[user]
    rating = np.clip(np.round(3.5 + taste + rng.normal(0, 0.9, len(user))), 1, 5)
    click_rate = 1 / (1 + np.exp(-2 * taste))
    click = (rng.random(len(user)) < click_rate).astype(np.int64)
    score = click_rate + rng.normal(0, 0.3, len(user))
    tasks = {
        "rating": TaskPredictions(
            task="rating",
            task_type=TaskType.REGRESSION,
            y_true=rating,
            y_pred=3.5 + 0.8 * taste,
            score=None,
            primary_metric="rmse",
        ),
        "click": TaskPredictions(
            task="click",
            task_type=TaskType.BINARY,
            y_true=click,
            y_pred=(score >= 0.5).astype(np.int64),
            score=score,
            primary_metric="auc",
        ),
    }
    return user, tasks


def _null_coverage(permutations: int, resamples: int, **settings: Any) -> dict[str, float]:
    """Share of shuffles whose interval reaches 0, per task and attribute."""
    rng = np.random.default_rng(12)
    user, tasks = _tasks(rng)
    table = _users(rng)
    covered: dict[str, list[bool]] = {}
    for permutation in range(permutations):
        order = rng.permutation(N_USERS)
        context = FairnessContext(
            combination_key="null",
            tasks=tasks,
            sensitive={name: column[order][user] for name, column in table.items()},
            metrics={},
            user_ids=user,
            bootstrap_resamples=resamples,
            seed=permutation,
            **settings,
        )
        for attribute, groups in sensitive_features(context).items():
            _, supported = group_support(groups, context)
            for task, predictions in tasks.items():
                name = predictions.primary_metric
                interval = difference_interval(
                    exact_metric(predictions, name),
                    groups,
                    context,
                    partial(grouped_metric, predictions, name),
                    supported=supported,
                )
                if interval is not None:
                    covered.setdefault(f"{task}/{attribute}", []).append(interval[0] == 0.0)
    return {key: float(np.mean(hits)) for key, hits in covered.items()}


@pytest.mark.slow
def test_intervals_cover_a_null_gap_for_every_attribute_and_intersection() -> None:
    coverage = _null_coverage(permutations=150, resamples=100)
    assert len(coverage) == 2 * 6  # two tasks, three attributes and three intersections
    assert min(coverage.values()) >= 0.9, coverage


@pytest.mark.slow
def test_without_a_minimum_support_small_intersections_undercover() -> None:
    """The same check with every group counted fails: the minimum is what fixes it."""
    coverage = _null_coverage(permutations=80, resamples=100, min_group_users=1)
    assert min(coverage.values()) < 0.9, coverage


def _trivial_context(**settings: Any) -> FairnessContext:
    """No-input predictions on MovieLens-shaped users, plus the one-row user of MovieLens's
    "45+&none" group, rated 1 where the trivial predictor says about 3.5."""
    rng = np.random.default_rng(3)
    user, tasks = _tasks(rng)
    table = _users(rng)
    table["occupation"][-1], table["age"][-1] = "none", "45+"
    user = np.append(user[user != N_USERS - 1], N_USERS - 1)  # that user keeps one row
    rating = np.append(tasks["rating"].y_true[: len(user) - 1], 1.0)
    click = np.append(tasks["click"].y_true[: len(user) - 1], 1)
    genres = (rng.random((len(user), 6)) < [0.4, 0.3, 0.2, 0.1, 0.05, 0.01]).astype(np.int64)
    train = rng.random((500, 6)) < [0.4, 0.3, 0.2, 0.1, 0.05, 0.01]
    trivial = {
        "rating": trivial_predictions("rating", TaskType.REGRESSION, rating[:400], rating),
        "click": trivial_predictions("click", TaskType.BINARY, click[:400], click),
        "genres": trivial_predictions("genres", TaskType.MULTILABEL, train, genres),
    }
    return FairnessContext(
        combination_key="trivial",
        tasks=trivial,
        sensitive={"age": table["age"][user], "occupation": table["occupation"][user]},
        metrics={},
        user_ids=user,
        bootstrap_resamples=200,
        seed=0,
        **settings,
    )


def test_trivial_predictor_headlines_cover_zero_per_task_with_support() -> None:
    from mtrec.measure.group_headlines import group_gap_headlines

    context = _trivial_context()
    gaps = group_gap(context)
    headlines = {h.task: h for h in group_gap_headlines({"fairness": {"group-gap": gaps}})}
    # one headline per task, each in its own metric: never a largest gap across units
    assert {task: h.metric for task, h in headlines.items()} == {
        "rating": "rmse",
        "click": "auc",
        "genres": "map",
    }
    for headline in headlines.values():
        assert headline.interval is not None and headline.interval[0] == 0.0, headline
        assert headline.groups is not None and headline.groups >= 2
        assert headline.smallest_group_users is not None
        assert headline.smallest_group_users >= 20 == headline.min_group_users
    one_row = gaps["rating"]["age&occupation"]
    mean_rating = context.tasks["rating"].y_pred[-1]
    assert one_row["by_group"]["45+&none"] == pytest.approx(mean_rating - 1.0)  # reported ...
    assert one_row["group_users"]["45+&none"] == 1
    assert "45+&none" in one_row["excluded_groups"]  # ... and marked, not counted
    assert one_row["group_max"] < 2.0 and one_row["worst_group"] != "45+&none"
    assert headlines["click"].difference == 0.0  # a constant score: AUC 0.5 in every group


def test_one_row_group_sets_the_gap_when_every_group_counts() -> None:
    """What the minimum support prevents: the one-row group sets the rating gap, its
    interval clear of 0, for a predictor that knows nothing about anyone."""
    gaps = group_gap(replace(_trivial_context(min_group_users=1), bootstrap_resamples=100))
    figures = gaps["rating"]["age&occupation"]
    assert figures["worst_group"] == "45+&none"
    assert figures["difference_ci"][0] > 0.0
