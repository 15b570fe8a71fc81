"""Tests for the synthetic-ecommerce domain plugin."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pluggy
import pytest

from mtrec import hookspecs
from mtrec.plugins import synthetic_ecommerce
from mtrec.plugins.synthetic_ecommerce import CATEGORIES, load_synthetic_ecommerce
from mtrec.specs import DomainData, DomainSplit, TaskType

LABELS = ("category", "rating", "click")


def _splits(data: DomainData) -> list[DomainSplit]:
    return [data.train, data.validation, data.test]


def _texts(split: DomainSplit) -> list[str]:
    return [u + " " + i for u, i in zip(split.user_text, split.item_text, strict=True)]


def _assert_same(a: DomainData, b: DomainData) -> None:
    for sa, sb in zip(_splits(a), _splits(b), strict=True):
        for name in ("ids", "user_ids", "item_ids"):
            np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name))
        assert list(sa.user_text) == list(sb.user_text)
        assert list(sa.item_text) == list(sb.item_text)
        for label in LABELS:
            np.testing.assert_array_equal(sa.labels[label], sb.labels[label])
        np.testing.assert_array_equal(sa.sensitive["age_group"], sb.sensitive["age_group"])


def test_registered_through_pluggy() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(synthetic_ecommerce)
    specs = [s for batch in pm.hook.mtrec_register_domains() for s in batch]
    assert [s.name for s in specs] == ["synthetic-ecommerce"]
    spec = specs[0]
    assert spec.label_fields == LABELS
    assert spec.sensitive_attributes == ("age_group",)
    assert spec.domain_kind == "e-commerce"
    assert spec.description and "\n" not in spec.description
    assert isinstance(spec.load(seed=3, n_interactions=100), DomainData)


def test_same_seed_identical_different_seed_differs() -> None:
    _assert_same(load_synthetic_ecommerce(seed=7), load_synthetic_ecommerce(seed=7))
    a, b = load_synthetic_ecommerce(seed=7), load_synthetic_ecommerce(seed=8)
    assert list(a.train.user_text) != list(b.train.user_text)
    assert not np.array_equal(a.train.labels["rating"], b.train.labels["rating"])


def test_shapes_dtypes_and_ranges() -> None:
    data = load_synthetic_ecommerce(seed=1, n_interactions=1000)
    assert data.sensitive_attributes == ("age_group",)
    fields = data.label_fields
    assert set(fields) == set(LABELS)
    assert fields["category"].task_type is TaskType.MULTICLASS
    assert fields["category"].classes == CATEGORIES
    assert fields["rating"].task_type is TaskType.REGRESSION
    assert fields["click"].task_type is TaskType.BINARY
    sizes = [len(s) for s in _splits(data)]
    assert sizes == [800, 100, 100]
    ids = np.concatenate([s.ids for s in _splits(data)])
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(np.sort(ids), np.arange(1000))
    for split in _splits(data):
        n = len(split)
        assert split.user_ids.dtype == np.int64 and split.item_ids.dtype == np.int64
        assert len(split.user_text) == len(split.item_text) == n
        assert all(isinstance(t, str) and t for t in [*split.user_text, *split.item_text])
        assert all(6 <= len(t.split()) <= 30 for t in split.user_text)
        category, rating, click = (split.labels[k] for k in LABELS)
        assert category.dtype == np.int64 and category.shape == (n,)
        assert ((category >= 0) & (category < len(CATEGORIES))).all()
        assert rating.dtype == np.float64 and rating.shape == (n,)
        assert ((rating >= 1) & (rating <= 5)).all()
        np.testing.assert_array_equal(rating, np.round(rating))
        assert click.dtype == np.int64 and set(np.unique(click)) <= {0, 1}
        groups = split.sensitive["age_group"]
        assert groups.dtype == object and groups.shape == (n,)
        assert set(groups) <= {"18-34", "35-54", "55+"}
    click_rate = data.train.labels["click"].mean()
    assert 0.3 <= click_rate <= 0.55


def test_generation_is_fast() -> None:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        load_synthetic_ecommerce(seed=0, n_interactions=1500)
        best = min(best, time.perf_counter() - start)
    assert best < 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_simple_model_beats_trivial_baselines(seed: int) -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import roc_auc_score

    data = load_synthetic_ecommerce(seed=seed, n_interactions=3000)
    vec = CountVectorizer()
    x_train = vec.fit_transform(_texts(data.train))
    x_test = vec.transform(_texts(data.test))
    train, test = data.train.labels, data.test.labels

    model = LogisticRegression(max_iter=1000).fit(x_train, train["category"])
    accuracy = float((model.predict(x_test) == test["category"]).mean())
    majority = float((test["category"] == np.bincount(train["category"]).argmax()).mean())
    assert accuracy > majority + 0.2

    pred = Ridge(alpha=1.0).fit(x_train, train["rating"]).predict(x_test)
    rmse = float(np.sqrt(np.mean((pred - test["rating"]) ** 2)))
    trivial = float(np.sqrt(np.mean((test["rating"] - train["rating"].mean()) ** 2)))
    assert rmse < 0.9 * trivial

    clf = LogisticRegression(max_iter=1000).fit(x_train, train["click"])
    assert roc_auc_score(test["click"], clf.predict_proba(x_test)[:, 1]) > 0.6


def _mae_gap(seed: int, group_disparity: float) -> float:
    """Ridge rating MAE of group 55+ minus that of the other groups, on the test split."""
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import Ridge

    data = load_synthetic_ecommerce(seed=seed, n_interactions=3000, group_disparity=group_disparity)
    vec = CountVectorizer()
    model = Ridge(alpha=1.0).fit(vec.fit_transform(_texts(data.train)), data.train.labels["rating"])
    err = np.abs(model.predict(vec.transform(_texts(data.test))) - data.test.labels["rating"])
    old = data.test.sensitive["age_group"] == "55+"
    return float(err[old].mean() - err[~old].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_disparity_hurts_only_the_55_plus_group(seed: int) -> None:
    assert _mae_gap(seed, 2.0) > 0.3
    assert abs(_mae_gap(seed, 0.0)) < 0.15


def test_label_noise_changes_only_some_labels() -> None:
    clean = load_synthetic_ecommerce(seed=4)
    noisy = load_synthetic_ecommerce(seed=4, label_noise=0.5)
    assert list(clean.train.item_text) == list(noisy.train.item_text)
    changed = clean.train.labels["category"] != noisy.train.labels["category"]
    assert 0.2 < changed.mean() < 0.6


def _all_rows(data: DomainData, label: str) -> np.ndarray:
    return np.concatenate([s.labels[label] for s in _splits(data)])


def test_task_conflict_zero_is_the_default_and_changes_only_clicks() -> None:
    plain = load_synthetic_ecommerce(seed=5)
    _assert_same(plain, load_synthetic_ecommerce(seed=5, task_conflict=0.0))
    conflicted = load_synthetic_ecommerce(seed=5, task_conflict=0.7)
    assert list(plain.train.item_text) == list(conflicted.train.item_text)
    for label in ("category", "rating"):
        np.testing.assert_array_equal(_all_rows(plain, label), _all_rows(conflicted, label))
    assert not np.array_equal(_all_rows(plain, "click"), _all_rows(conflicted, "click"))


@pytest.mark.parametrize("seed", [0, 1])
def test_task_conflict_turns_clicks_against_ratings(seed: int) -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    corr = {}
    for conflict in (0.0, 1.0):
        data = load_synthetic_ecommerce(seed=seed, n_interactions=3000, task_conflict=conflict)
        click = _all_rows(data, "click")
        corr[conflict] = float(np.corrcoef(click, _all_rows(data, "rating"))[0, 1])
        assert 0.3 <= click.mean() <= 0.55
    assert corr[0.0] > 0.15
    assert corr[1.0] < -0.1
    # still learnable: the conflict reverses the click signal, it does not remove it
    vec = CountVectorizer()
    clf = LogisticRegression(max_iter=1000).fit(
        vec.fit_transform(_texts(data.train)), data.train.labels["click"]
    )
    score = clf.predict_proba(vec.transform(_texts(data.test)))[:, 1]
    assert roc_auc_score(data.test.labels["click"], score) > 0.6


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"n_users": 0}, "n_users"),
        ({"n_items": 3}, "n_items"),
        ({"n_interactions": 1}, "n_interactions"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"label_noise": 1.5}, "label_noise"),
        ({"group_disparity": -0.1}, "group_disparity"),
        ({"group_disparity": float("nan")}, "group_disparity"),
        ({"task_conflict": 1.5}, "task_conflict"),
        ({"task_conflict": -0.1}, "task_conflict"),
        ({"task_conflict": float("nan")}, "task_conflict"),
        ({"validation_fraction": 0.0}, "validation_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "validation_fraction"),
        ({"n_interactions": 5}, "n_interactions"),
    ],
)
def test_bad_options_raise_value_error_naming_them(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_synthetic_ecommerce(**options)
