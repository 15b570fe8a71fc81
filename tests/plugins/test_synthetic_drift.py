"""The synthetic domains' ``drift`` option: tastes, popularity and the users and items there
change with time, so that a model trained on the earliest rows goes stale."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mtrec.plugins.synthetic_domains import ALL_LOADERS
from mtrec.specs import DomainData, DomainSplit

# small enough for a test, dense enough that a (user, category) cell of the earliest 30% of
# rows holds a few rows
SIZES = {"n_users": 40, "n_items": 120, "n_interactions": 6000}
SEEDS = (0, 1, 2)


def _splits(data: DomainData) -> tuple[DomainSplit, DomainSplit, DomainSplit]:
    return (data.train, data.validation, data.test)


def _columns(data: DomainData, label: str, category_label: str) -> dict[str, np.ndarray]:
    """Users, items, the label and each row's item category, over all rows in time order."""
    splits = _splits(data)
    time = np.concatenate([s.timestamps for s in splits if s.timestamps is not None])
    order = np.argsort(time, kind="stable")
    users = np.concatenate([s.user_ids for s in splits])[order]
    items = np.concatenate([s.item_ids for s in splits])[order]
    filed = np.concatenate([s.labels[category_label] for s in splits])[order]
    # an item's category: the class its rows are filed under most often
    modal = {int(i): int(np.bincount(filed[items == i]).argmax()) for i in np.unique(items)}
    return {
        "user": users,
        "item": items,
        "category": np.array([modal[int(i)] for i in items]),
        "label": np.concatenate([s.labels[label] for s in splits])[order].astype(np.float64),
        "time": time[order],
    }


def _cell_means(
    users: np.ndarray, categories: np.ndarray, y: np.ndarray
) -> tuple[dict[tuple[int, int], float], dict[int, float], float]:
    cells: dict[tuple[int, int], list[float]] = {}
    per_user: dict[int, list[float]] = {}
    for u, c, value in zip(users.tolist(), categories.tolist(), y.tolist(), strict=True):
        cells.setdefault((u, c), []).append(value)
        per_user.setdefault(u, []).append(value)
    return (
        {key: float(np.mean(v)) for key, v in cells.items()},
        {key: float(np.mean(v)) for key, v in per_user.items()},
        float(np.mean(y)),
    )


def _stale_over_fresh(columns: dict[str, np.ndarray]) -> float:
    """Squared error on the last 20% of rows of a per-(user, item category) mean fit on the
    earliest 30%, over that of the same learner fit on the 50%-80% window (a user's mean,
    then the global mean, where a cell or a user is missing)."""
    n = len(columns["label"])
    cut = [round(n * f) for f in (0.3, 0.5, 0.8)]
    last = slice(cut[2], n)

    def error(window: slice) -> float:
        cells, per_user, overall = _cell_means(
            columns["user"][window], columns["category"][window], columns["label"][window]
        )
        pairs = zip(columns["user"][last].tolist(), columns["category"][last].tolist(), strict=True)
        predicted = [cells.get((u, c), per_user.get(u, overall)) for u, c in pairs]
        return float(np.mean((np.array(predicted) - columns["label"][last]) ** 2))

    return error(slice(0, cut[0])) / error(slice(cut[1], cut[2]))


def _equal_splits(a: DomainSplit, b: DomainSplit) -> None:
    for name in ("ids", "user_ids", "item_ids", "timestamps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert list(a.user_text) == list(b.user_text)
    assert list(a.item_text) == list(b.item_text)
    assert list(a.history) == list(b.history)
    for mapping in ("labels", "sensitive", "context"):
        left, right = getattr(a, mapping), getattr(b, mapping)
        assert left.keys() == right.keys()
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"{mapping}.{key}")


@pytest.mark.parametrize("domain", ["synthetic-ecommerce", "synthetic-video"])
def test_drift_zero_is_the_option_left_out(domain: str) -> None:
    options: dict[str, Any] = {"seed": 3, "n_interactions": 900, "difficulty": 0.7}
    plain = ALL_LOADERS[domain](**options)
    still = ALL_LOADERS[domain](**options, drift=0.0)
    for a, b in zip(_splits(plain), _splits(still), strict=True):
        _equal_splits(a, b)
    drifting = ALL_LOADERS[domain](**options, drift=0.5)
    assert not np.array_equal(plain.test.item_ids, drifting.test.item_ids)


@pytest.mark.parametrize("value", [-0.1, 1.5, "x", True, float("nan")])
@pytest.mark.parametrize("domain", ["synthetic-ecommerce", "synthetic-news"])
def test_bad_drift_raises_value_error_naming_it(domain: str, value: Any) -> None:
    with pytest.raises(ValueError, match="drift must be in"):
        ALL_LOADERS[domain](drift=value)


def test_drift_is_deterministic_and_keeps_the_profiles() -> None:
    load = ALL_LOADERS["synthetic-travel"]
    first, again = load(seed=5, drift=0.8), load(seed=5, drift=0.8)
    for a, b in zip(_splits(first), _splits(again), strict=True):
        _equal_splits(a, b)
    # a profile is the user's, written before any drift: the late taste never shows in it
    plain = load(seed=5)
    profiles = {
        int(u): text
        for s in _splits(plain)
        for u, text in zip(s.user_ids, s.user_text, strict=True)
    }
    for split in _splits(first):
        for u, text in zip(split.user_ids, split.user_text, strict=True):
            if int(u) in profiles:
                assert profiles[int(u)] == text


# (domain, a label the user-item affinity drives, the label that files the item's category,
# the least stale / fresh error ratio with drift 1 for each seed and for their mean); the
# squared error of a 0/1 click is mostly noise, so its ratios are smaller
AFFINITY_LABELS = [
    ("synthetic-ecommerce", "rating", "category", 1.15, 1.3),
    ("synthetic-travel", "rating", "destination_type", 1.15, 1.3),
    ("synthetic-news", "click", "topic", 1.0, 1.1),
]


@pytest.mark.parametrize(
    ("domain", "label", "category_label", "floor", "mean_floor"), AFFINITY_LABELS
)
def test_with_drift_a_model_of_the_earliest_rows_goes_stale(
    domain: str, label: str, category_label: str, floor: float, mean_floor: float
) -> None:
    ratios = {}
    for drift in (0.0, 1.0):
        ratios[drift] = [
            _stale_over_fresh(
                _columns(
                    ALL_LOADERS[domain](seed=seed, drift=drift, **SIZES), label, category_label
                )
            )
            for seed in SEEDS
        ]
    # measured over seeds 0-9: without drift the two windows are alike (ratios 0.91-1.11,
    # means 1.00); with drift 1 the earliest window's squared error is 1.21-1.89 times the
    # recent one's for ratings (means 1.45 and 1.50) and 1.03-1.27 for news clicks (mean 1.18)
    assert all(0.85 < r < 1.15 for r in ratios[0.0]), ratios
    assert all(r > floor for r in ratios[1.0]), ratios
    assert np.mean(ratios[1.0]) > mean_floor, ratios


def _favourites(columns: dict[str, np.ndarray], window: slice, user: int) -> set[int] | None:
    """The two item categories ``user`` has most rows in within ``window`` (None: < 4 rows)."""
    mine = columns["category"][window][columns["user"][window] == user]
    if len(mine) < 4:
        return None
    counts = np.bincount(mine, minlength=int(columns["category"].max()) + 1)
    return set(np.argsort(-counts, kind="stable")[:2].tolist())


def _taste_gaps(columns: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """Users whose two favourite categories in the earliest 30% of rows and in the latest 30%
    have nothing in common: their share (of the users with rows in both), and the label's
    mean on their late favourites minus that on their early ones, within the latest and
    within the earliest rows (averaged over those users)."""
    n = len(columns["label"])
    early, late = slice(0, round(0.3 * n)), slice(round(0.7 * n), n)
    gaps: dict[str, list[float]] = {"late": [], "early": []}
    both = moved = 0
    for user in np.unique(columns["user"]).tolist():
        before, after = _favourites(columns, early, user), _favourites(columns, late, user)
        if before is None or after is None:
            continue
        both += 1
        if before & after:
            continue
        moved += 1
        for name, window in (("late", late), ("early", early)):
            mine = columns["user"][window] == user
            category, y = columns["category"][window], columns["label"][window]
            old = y[mine & np.isin(category, sorted(before))]
            new = y[mine & np.isin(category, sorted(after))]
            if len(old) and len(new):
                gaps[name].append(float(new.mean() - old.mean()))
    late_gap = float(np.mean(gaps["late"])) if gaps["late"] else 0.0
    early_gap = float(np.mean(gaps["early"])) if gaps["early"] else 0.0
    return moved / max(both, 1), late_gap, early_gap


@pytest.mark.parametrize(
    ("domain", "label", "category_label", "gap"),
    [
        ("synthetic-ecommerce", "rating", "category", 0.25),
        ("synthetic-news", "click", "topic", 0.05),
    ],
)
def test_with_drift_labels_follow_the_taste_at_the_rows_time(
    domain: str, label: str, category_label: str, gap: float
) -> None:
    for seed in SEEDS:
        load = ALL_LOADERS[domain]
        still = _taste_gaps(_columns(load(seed=seed, **SIZES), label, category_label))
        moved, late_gap, early_gap = _taste_gaps(
            _columns(load(seed=seed, drift=1.0, **SIZES), label, category_label)
        )
        # measured over seeds 0-5: no user's favourites move without drift; with drift 1,
        # 96-100% of them do, and the new favourites score higher late (ratings +0.48 to
        # +0.81 stars, clicks +0.10 to +0.23) and lower early (-0.48 to -0.75, -0.11 to -0.26);
        # labels stuck on the early taste would score them lower late too
        assert still[0] < 0.1, (seed, still)
        assert moved > 0.8, (seed, moved)
        assert late_gap > gap and early_gap < -gap, (seed, late_gap, early_gap)


def _users_and_items(data: DomainData) -> tuple[np.ndarray, np.ndarray]:
    """Each row's user and item, in time order."""
    splits = _splits(data)
    time = np.concatenate([s.timestamps for s in splits if s.timestamps is not None])
    order = np.argsort(time, kind="stable")
    users = np.concatenate([s.user_ids for s in splits])[order]
    return users, np.concatenate([s.item_ids for s in splits])[order]


@pytest.mark.parametrize("domain", ["synthetic-ecommerce", "synthetic-social"])
def test_with_drift_new_users_and_items_appear_late(domain: str) -> None:
    unseen: dict[float, tuple[int, int]] = {}
    for drift in (0.0, 0.5, 1.0):
        users, items = _users_and_items(ALL_LOADERS[domain](seed=1, drift=drift, **SIZES))
        n = len(users)
        early, late = slice(0, n // 2), slice(round(0.8 * n), n)
        unseen[drift] = (
            len(set(users[late].tolist()) - set(users[early].tolist())),
            len(set(items[late].tolist()) - set(items[early].tolist())),
        )
    # measured (users, items) unseen in the first half, among 40 users and 120 items:
    # drift 0: (0, 0), drift 0.5: ~(5, 15), drift 1: ~(11, 35)
    users_unseen, items_unseen = zip(*(unseen[d] for d in (0.0, 0.5, 1.0)), strict=True)
    assert users_unseen[0] == 0 and items_unseen[0] <= 1, unseen
    assert 0 < users_unseen[1] < users_unseen[2], unseen
    assert 0 < items_unseen[1] < items_unseen[2], unseen
    assert users_unseen[2] >= 6 and items_unseen[2] >= 18, unseen


@pytest.mark.parametrize("domain", ["synthetic-video", "synthetic-news"])
def test_with_drift_popular_items_change(domain: str) -> None:
    correlation = {}
    for drift in (0.0, 1.0):
        values = []
        for seed in SEEDS:
            _, items = _users_and_items(ALL_LOADERS[domain](seed=seed, drift=drift, **SIZES))
            half = len(items) // 2
            first = np.bincount(items[:half], minlength=SIZES["n_items"])
            second = np.bincount(items[half:], minlength=SIZES["n_items"])
            values.append(float(np.corrcoef(first, second)[0, 1]))
        correlation[drift] = values
    # measured: an item's row count in the first half and in the second correlate by 0.15-0.65
    # without drift and by -0.2 to -0.4 with drift 1 (items popular early fade, others rise)
    assert min(correlation[0.0]) > 0.05, correlation
    assert max(correlation[1.0]) < -0.05, correlation
