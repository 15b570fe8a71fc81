"""Fairness of a ranking task, from its real top-K lists: group gaps per user attribute,
item exposure, subtask gains, and their intervals over users.

The contexts are built by hand: a ranking task's predictions (one row per user: relevant items,
top-K list) and the test rows they came from (several per user, in shuffled order, each
carrying the user's attribute). Group A's users get perfect lists, group B's random ones: the
planted gap. Every expected figure is recomputed here with plain Python and numpy.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mtrec import FairnessContext, RankingInfo, TaskPredictions, TaskType
from mtrec.measure.bootstrap import bootstrap, debiased
from mtrec.measure.group_headlines import group_gap_headlines
from mtrec.measure.ranking import ranking_metrics
from mtrec.plugins.group_gap import context_gap, group_gap
from mtrec.plugins.item_fairness import item_exposure
from mtrec.plugins.subtask_gain import subtask_gain
from mtrec.plugins.task_type_gaps import mtrec_register_fairness_metrics as typed_gaps

K = 10
N_ITEMS = 120
RELEVANT = 3


def _info(rng: np.random.Generator) -> RankingInfo:
    return RankingInfo(
        ks=(5, K),
        protocol="full",
        negatives=0,
        sampling="",
        relevance="observed",
        seed=0,
        catalogue=np.arange(100, 100 + N_ITEMS, dtype=np.int64),  # ids need not start at 0
        train_counts=rng.integers(0, 40, N_ITEMS).astype(np.int64),
    )


def _lists(
    groups: list[str], rng: np.random.Generator, *, good: str = "A", noisy: float = 0.0
) -> TaskPredictions:
    """One user per entry of ``groups``: the ``good`` group's users get their relevant items
    on top (with probability 1 - ``noisy`` each), the others a random list."""
    info = _info(rng)
    n = len(groups)
    y_true = np.full((n, RELEVANT + 1), -1, dtype=np.int64)  # one padding column
    y_pred = np.full((n, K), -1, dtype=np.int64)
    for row, group in enumerate(groups):
        relevant = rng.choice(info.catalogue, RELEVANT, replace=False)
        y_true[row, :RELEVANT] = relevant
        others = rng.permutation(np.setdiff1d(info.catalogue, relevant))
        if group == good and rng.random() >= noisy:
            y_pred[row] = np.r_[relevant, others[: K - RELEVANT]]
        else:
            y_pred[row] = rng.choice(info.catalogue, K, replace=False)
    y_pred[0, -2:] = -1  # a short list
    score = np.sort(rng.random((n, K)), axis=1)[:, ::-1].copy()
    return TaskPredictions(
        task="next-item",
        task_type=TaskType.RANKING,
        y_true=y_true,
        y_pred=y_pred,
        score=score,
        primary_metric=f"ndcg@{K}",
        user_ids=np.arange(n, dtype=np.int64) * 7 + 3,  # user ids are not row numbers
        ranking=info,
    )


def _test_rows(
    predictions: TaskPredictions, attributes: dict[str, list[str]], rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Test rows: one to four per user, shuffled; each carries its user's attribute values."""
    assert predictions.user_ids is not None
    per_user = rng.integers(1, 5, len(predictions.user_ids))
    owner = rng.permutation(np.repeat(np.arange(len(per_user)), per_user))
    sensitive = {
        name: np.asarray(values, dtype=object)[owner] for name, values in attributes.items()
    }
    return predictions.user_ids[owner], sensitive


def _context(
    predictions: TaskPredictions,
    attributes: dict[str, list[str]],
    rng: np.random.Generator,
    **options: Any,
) -> FairnessContext:
    user_ids, sensitive = _test_rows(predictions, attributes, rng)
    return FairnessContext(
        combination_key="0" * 16,
        tasks={predictions.task: predictions},
        sensitive=sensitive,
        metrics={},
        user_ids=user_ids,
        **{"bootstrap_resamples": 300, "seed": 5, "min_group_users": 10, **options},
    )


# ---------------------------------------------------------------------------------------------
# independent figures
# ---------------------------------------------------------------------------------------------


def _per_user(predictions: TaskPredictions, family: str, k: int = K) -> list[float]:
    values = []
    for relevant_row, listed_row in zip(predictions.y_true, predictions.y_pred, strict=True):
        relevant = {int(i) for i in relevant_row if i >= 0}
        listed = [int(i) for i in listed_row[:k]]
        hit = [i >= 0 and i in relevant for i in listed]
        if family == "ndcg":
            dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hit) if h)
            ideal = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), k)))
            values.append(dcg / ideal)
        elif family == "recall":
            values.append(sum(hit) / len(relevant))
        elif family == "hr":
            values.append(float(any(hit)))
        elif family == "mrr":
            values.append(next((1 / (r + 1) for r, h in enumerate(hit) if h), 0.0))
    return values


def _gini(exposure: list[int]) -> float:
    """Mean absolute difference over twice the mean."""
    n, total = len(exposure), sum(exposure)
    spread = sum(abs(a - b) for a in exposure for b in exposure)
    return spread / (2 * n * total)


def _group_means(values: list[float], groups: list[str]) -> dict[str, float]:
    return {
        g: float(np.mean([v for v, h in zip(values, groups, strict=True) if h == g]))
        for g in sorted(set(groups))
    }


# ---------------------------------------------------------------------------------------------
# group gap
# ---------------------------------------------------------------------------------------------


def test_group_gap_of_a_ranking_task_equals_per_user_means_by_group() -> None:
    rng = np.random.default_rng(0)
    groups = ["A", "B"] * 40 + ["C"] * 6  # C: too few users to count in the gap
    region = [str(rng.choice(["north", "south"])) for _ in groups]
    predictions = _lists(groups, rng)
    context = _context(predictions, {"group": groups, "region": region}, rng)
    result = group_gap(context)["next-item"]
    assert set(result) == {"group", "region", "group&region"}
    figures = result["group"]
    expected = _group_means(_per_user(predictions, "ndcg"), groups)
    assert figures["metric"] == f"ndcg@{K}" and figures["unit"] == "users"
    assert figures["by_group"] == pytest.approx(expected, rel=1e-12)
    assert expected["A"] == pytest.approx(1.0) and expected["B"] < 0.2  # the planted gap
    # users, not test rows, are what a group's size counts
    assert figures["group_users"] == {"A": 40, "B": 40, "C": 6}
    assert figures["group_sizes"] == {"A": 40, "B": 40, "C": 6}
    assert figures["excluded_groups"] == ["C"]
    assert figures["support"] == {"groups": 2, "smallest_group_users": 40}
    assert figures["group_max"] == pytest.approx(expected["A"])
    assert figures["group_min"] == pytest.approx(expected["B"])
    assert figures["difference"] == pytest.approx(expected["A"] - expected["B"])
    assert figures["ratio"] == pytest.approx(expected["B"] / expected["A"])
    assert figures["worst_group"] == "B"
    low, high = figures["difference_ci"]
    assert 0 < low <= figures["difference"] <= high
    assert figures["users_without_group"] == 0
    # the other per-user figures, each with its own gap
    for family in ("recall", "hr", "mrr"):
        other = figures["other_metrics"][f"{family}@{K}"]
        means = _group_means(_per_user(predictions, family), groups)
        assert other["by_group"] == pytest.approx(means, rel=1e-12), family
        assert other["difference"] == pytest.approx(means["A"] - means["B"]), family
        assert other["difference_ci"][0] <= other["difference"] <= other["difference_ci"][1]
    # an intersection: each user's pair of values
    joined = [f"{g}&{r}" for g, r in zip(groups, region, strict=True)]
    assert result["group&region"]["by_group"] == pytest.approx(
        _group_means(_per_user(predictions, "ndcg"), joined), rel=1e-12
    )


def test_group_gap_without_a_planted_gap_reaches_zero() -> None:
    rng = np.random.default_rng(1)
    groups = ["A", "B"] * 60
    predictions = _lists(groups, rng, good="nobody")
    figures = group_gap(_context(predictions, {"group": groups}, rng))["next-item"]["group"]
    assert figures["difference_ci"][0] == 0.0


def test_users_a_group_cannot_be_read_for() -> None:
    rng = np.random.default_rng(2)
    groups = ["A", "B"] * 20
    predictions = _lists(groups, rng)
    context = _context(predictions, {"group": groups}, rng)
    # two ranked users have no test row: left out, and counted
    assert context.user_ids is not None and predictions.user_ids is not None
    kept = ~np.isin(context.user_ids, predictions.user_ids[:2])
    fewer = replace(
        context,
        user_ids=context.user_ids[kept],
        sensitive={"group": context.sensitive["group"][kept]},
    )
    figures = group_gap(fewer)["next-item"]["group"]
    assert figures["users_without_group"] == 2
    assert figures["group_users"] == {"A": 19, "B": 19}
    # an attribute that varies among one user's rows cannot be the user's group
    users, rows = np.unique(context.user_ids, return_counts=True)
    several = np.flatnonzero(context.user_ids == users[np.argmax(rows > 1)])
    varying = np.asarray(context.sensitive["group"]).copy()
    varying[several[0]] = "Z"
    result = group_gap(replace(context, sensitive={"group": varying}))["next-item"]["group"]
    assert result["applicable"] is False and "several groups" in result["reason"]
    # no user ids: said, not raised
    none = group_gap(replace(context, user_ids=None))["next-item"]["group"]
    assert none["applicable"] is False and "user ids" in none["reason"]


def test_row_level_gaps_and_scenes_skip_a_ranking_task_with_a_reason() -> None:
    rng = np.random.default_rng(3)
    groups = ["A", "B"] * 20
    predictions = _lists(groups, rng)
    context = _context(predictions, {"group": groups}, rng)
    for spec in typed_gaps():
        figures = spec.compute(context)["next-item"]
        assert figures["applicable"] is False, spec.name
        assert "ranking" in figures["reason"] and "group-gap" in figures["reason"]
    assert context.user_ids is not None
    scene_by_row = replace(
        context, context={"device": rng.choice(["phone", "desk"], len(context.user_ids))}
    )
    skipped = context_gap(scene_by_row)["next-item"]
    assert skipped["applicable"] is False and "ranking" in skipped["reason"]
    # a scene that is the same on all a user's rows can be compared, as a sensitive attribute
    scene_by_user = replace(context, context={"plan": context.sensitive["group"]})
    figures = context_gap(scene_by_user)["next-item"]["plan"]
    assert figures["by_group"] == pytest.approx(
        _group_means(_per_user(predictions, "ndcg"), groups), rel=1e-12
    )


def test_group_gap_interval_narrows_with_more_users() -> None:
    widths = []
    for users in (60, 600):
        rng = np.random.default_rng(4)
        groups = ["A", "B"] * (users // 2)
        predictions = _lists(groups, rng, noisy=0.5)  # A half perfect, half random
        figures = group_gap(_context(predictions, {"group": groups}, rng))["next-item"]["group"]
        low, high = figures["difference_ci"]
        assert low <= figures["difference"] <= high
        widths.append(high - low)
    assert widths[1] < 0.6 * widths[0]  # about 1 / sqrt(10) in theory


# ---------------------------------------------------------------------------------------------
# item exposure
# ---------------------------------------------------------------------------------------------


def _binary_head(n_rows: int, rng: np.random.Generator) -> TaskPredictions:
    return TaskPredictions(
        task="click",
        task_type=TaskType.BINARY,
        y_true=rng.integers(0, 2, n_rows),
        y_pred=rng.integers(0, 2, n_rows),
        score=rng.random(n_rows),
        primary_metric="auc",
    )


def test_item_exposure_from_the_lists_equals_an_independent_count() -> None:
    rng = np.random.default_rng(5)
    groups = ["A", "B"] * 50
    predictions = _lists(groups, rng)
    context = _context(predictions, {"group": groups}, rng)
    assert predictions.ranking is not None and context.user_ids is not None
    n_rows = len(context.user_ids)
    context = replace(
        context,
        tasks={"click": _binary_head(n_rows, rng), "next-item": predictions},
        item_ids=rng.choice(predictions.ranking.catalogue, n_rows),
        train_item_ids=np.repeat(predictions.ranking.catalogue, predictions.ranking.train_counts),
        n_items=N_ITEMS,
    )
    result = item_exposure()(context)
    figures = result["next-item"]
    catalogue = predictions.ranking.catalogue.tolist()
    counts = dict(zip(catalogue, predictions.ranking.train_counts.tolist(), strict=True))
    listed = [int(i) for row in predictions.y_pred for i in row[:K] if i >= 0]
    exposure = [listed.count(item) for item in catalogue]
    # the tail: the catalogue outside its most popular 20 % (ties: the lower id is more popular)
    by_popularity = sorted(catalogue, key=lambda item: (-counts[item], item))
    tail = set(by_popularity[math.ceil(0.2 * len(catalogue)) :])
    mean_count = sum(counts.values()) / len(counts)
    assert figures["source"] == "ranked lists" and figures["headline"] is True
    assert figures["k"] == K and figures["n_users"] == 100
    assert figures["recommendations"] == len(listed)
    assert figures["distinct_items"] == len(set(listed))
    assert figures["coverage"] == pytest.approx(len(set(listed)) / N_ITEMS)
    assert figures["gini_exposure"] == pytest.approx(_gini(exposure), rel=1e-9)
    assert figures["popularity_lift"] == pytest.approx(
        sum(counts[i] for i in listed) / len(listed) / mean_count
    )
    assert figures["tail_share"] == pytest.approx(sum(i in tail for i in listed) / len(listed))
    # the same numbers as the task's own item-side metrics
    metrics = ranking_metrics(predictions)
    for reported, name in (
        ("coverage", f"coverage@{K}"),
        ("gini_exposure", f"gini@{K}"),
        ("popularity_lift", f"pop_lift@{K}"),
        ("tail_share", f"tail_share@{K}"),
    ):
        assert figures[f"{reported}_metric"] == name
        assert figures[reported] == pytest.approx(metrics[name], rel=1e-12)
        low, high = figures[f"{reported}_ci"]
        assert low <= figures[reported] <= high, reported
    # the binary head re-orders each user's own test rows, and says so; the lists lead
    click = result["click"]
    assert click["source"] == "test rows" and "own test rows" in click["note"]
    assert click["headline"] is False and click["superseded_by"] == "next-item"
    assert "users_ranked" in click


def test_item_exposure_intervals_narrow_with_more_users() -> None:
    widths: dict[str, list[float]] = {"popularity_lift": [], "tail_share": [], "gini_exposure": []}
    for users in (40, 800):
        rng = np.random.default_rng(6)
        predictions = _lists(["B"] * users, rng)
        context = _context(predictions, {"group": ["B"] * users}, rng)
        figures = item_exposure()(context)["next-item"]
        for name, found in widths.items():
            low, high = figures[f"{name}_ci"]
            assert low <= figures[name] <= high, name
            found.append(high - low)
    for name, (few, many) in widths.items():
        assert many < 0.5 * few, name


# ---------------------------------------------------------------------------------------------
# subtask gain
# ---------------------------------------------------------------------------------------------


def test_subtask_gain_lines_up_a_ranking_baseline_by_user() -> None:
    rng = np.random.default_rng(7)
    groups = ["A", "B"] * 40
    multi = _lists(groups, rng)
    single = _lists(groups, np.random.default_rng(8), noisy=0.7)
    single = replace(single, y_true=multi.y_true)  # the same users and relevant items
    # the baseline ranked the users in another order, and one user fewer
    order = np.random.default_rng(9).permutation(len(groups))[1:]
    baseline = single.take(order)
    context = FairnessContext(
        combination_key="0" * 16,
        tasks={"next-item": multi},
        sensitive={},
        metrics={},
        baselines={"next-item": [baseline]},
        bootstrap_resamples=300,
        seed=1,
    )
    result = subtask_gain(context)
    figures = result["tasks"]["next-item"]
    common = np.sort(order)
    mine = float(np.mean(np.asarray(_per_user(multi, "ndcg"))[common]))
    theirs = float(np.mean(np.asarray(_per_user(single, "ndcg"))[common]))
    assert figures["users"] == len(groups) - 1 and figures["users_left_out"] == 1
    assert figures["multi_task"] == pytest.approx(mine)
    assert figures["baseline"] == pytest.approx(theirs)
    assert figures["gain"] == pytest.approx(100 * (mine - theirs) / theirs)
    assert figures["resampled"] == "users" and result["skipped"] == {}
    low, high = figures["ci"]
    assert low <= figures["gain"] <= high
    # paired: scored against itself on the same drawn users, the gain never moves
    itself = replace(context, baselines={"next-item": [multi.take(order)]})
    assert subtask_gain(itself)["tasks"]["next-item"]["ci"] == [0.0, 0.0]
    # runs that cannot be lined up are skipped with the reason, not raised
    anonymous = replace(context, baselines={"next-item": [replace(baseline, user_ids=None)]})
    skipped = subtask_gain(anonymous)
    assert skipped["tasks"] == {} and "user ids" in skipped["skipped"]["next-item"]


def test_debiased_interval_holds_a_coverage_estimate() -> None:
    """Coverage of a resample of users is biased low (duplicates add no item): the plain
    percentile interval misses the estimate, the moved one holds it, within [0, 1]."""
    rng = np.random.default_rng(10)
    lists = rng.integers(0, 1000, (300, 2))

    def coverage(rows: np.ndarray) -> float:
        return len(np.unique(lists[rows])) / 1000

    plain = bootstrap(coverage, len(lists), resamples=200, seed=0, keep=True)
    assert plain.low is not None and plain.high is not None and plain.high < plain.estimate
    moved = debiased(plain, lowest=0.0, highest=1.0)
    assert moved.low is not None and moved.high is not None
    assert moved.low <= moved.estimate <= moved.high and moved.estimate == plain.estimate
    assert moved.high - moved.low == pytest.approx(plain.high - plain.low, rel=0.2)
    assert np.mean(moved.values) == pytest.approx(plain.estimate)
    capped = debiased(replace(plain, estimate=1.0), highest=1.0)
    assert capped.high == 1.0
    assert debiased(bootstrap(coverage, len(lists), resamples=0)).low is None


def test_a_ranking_task_has_a_group_gap_headline_in_its_own_metric() -> None:
    rng = np.random.default_rng(11)
    groups = ["A", "B"] * 30
    predictions = _lists(groups, rng)
    result = group_gap(_context(predictions, {"group": groups}, rng))
    (headline,) = group_gap_headlines({"fairness": {"group-gap": result}})
    figures = result["next-item"]["group"]
    assert (headline.task, headline.metric, headline.attribute) == ("next-item", "ndcg@10", "group")
    assert headline.difference == figures["difference"] and headline.worst_group == "B"
    assert headline.interval == tuple(figures["difference_ci_all"])
    assert headline.support() == "2 groups, \u2265 30 users"
