"""Tests for the synthetic video, social, travel and news domain plugin."""

from __future__ import annotations

import inspect
import itertools
import time
from typing import Any

import numpy as np
import pluggy
import pytest

from mtrec import hookspecs
from mtrec.plugins import synthetic_domains
from mtrec.plugins.synthetic_domains import (
    ALL_LOADERS,
    ALL_THEMES,
    CONTEXT_FIELDS,
    ENGAGE,
    HISTORY_LENGTH,
    LENGTH,
    LOADERS,
    RATING,
    THEMES,
    Theme,
    _simulate,
)
from mtrec.specs import DomainData, DomainSplit, TaskType

EACH_THEME = pytest.mark.parametrize("theme", THEMES, ids=[theme.kind for theme in THEMES])
OPTIONS = (
    "seed",
    "n_users",
    "n_items",
    "n_interactions",
    "difficulty",
    "context_effect",
    "label_noise",
    "group_disparity",
    "task_conflict",
    "drift",
    "validation_fraction",
    "test_fraction",
)
EXPECTED = {
    "synthetic-video": ("video", ("genres", "rating", "watch"), "gender", "female"),
    "synthetic-social": ("social", ("interest", "sentiment", "follow"), "region", "africa"),
    "synthetic-travel": (
        "travel",
        ("destination_type", "rating", "trip_length"),
        "age_group",
        "65+",
    ),
    "synthetic-news": ("news", ("topic", "click", "sentiment"), "age_group", "18-34"),
}


def _splits(data: DomainData) -> tuple[DomainSplit, DomainSplit, DomainSplit]:
    return (data.train, data.validation, data.test)


def _texts(split: DomainSplit) -> list[str]:
    """The user and item text of each row, as one string (what the baselines read)."""
    return [" ".join(pair) for pair in zip(split.user_text, split.item_text, strict=True)]


def _load(theme: Theme, **options: Any) -> DomainData:
    return ALL_LOADERS[theme.name](**options)


def _label(theme: Theme, role: str) -> str | None:
    """The theme's label field with ``role``, if it has one."""
    return next((name for name, r in theme.labels if r == role), None)


def _all_rows(data: DomainData, column: str, attribute: str = "") -> np.ndarray:
    """A label column (or a sensitive attribute) over all splits, in split order."""
    if attribute:
        return np.concatenate([s.sensitive[attribute] for s in _splits(data)])
    return np.concatenate([s.labels[column] for s in _splits(data)])


def _ids(data: DomainData) -> np.ndarray:
    return np.concatenate([s.ids for s in _splits(data)])


def _columns(data: DomainData) -> list[Any]:
    """Every column of every split, in a fixed order."""
    columns: list[Any] = [sorted(data.label_fields.items())]
    for split in _splits(data):
        columns += [split.ids, split.user_ids, split.item_ids]
        columns += [list(split.user_text), list(split.item_text)]
        columns += [split.labels[name] for name in sorted(split.labels)]
        columns += [split.sensitive[name] for name in sorted(split.sensitive)]
    return columns


def _assert_same(a: DomainData, b: DomainData) -> None:
    columns_a, columns_b = _columns(a), _columns(b)
    assert len(columns_a) == len(columns_b)
    assert columns_a[0] == columns_b[0]  # the label fields
    for column_a, column_b in zip(columns_a[1:], columns_b[1:], strict=True):
        np.testing.assert_array_equal(column_a, column_b)


def test_registered_through_pluggy() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(synthetic_domains)
    specs = [s for batch in pm.hook.mtrec_register_domains() for s in batch]
    assert [s.name for s in specs] == list(EXPECTED)
    for spec in specs:
        kind, labels, sensitive, disadvantaged = EXPECTED[spec.name]
        assert spec.domain_kind == kind
        assert spec.label_fields == labels
        assert spec.sensitive_attributes == (sensitive,)
        assert spec.description and "\n" not in spec.description
        data = spec.load(seed=3, n_interactions=100)
        assert isinstance(data, DomainData)
        assert tuple(data.label_fields) == labels
        assert data.sensitive_attributes == (sensitive,)
        theme = next(t for t in THEMES if t.name == spec.name)
        assert theme.disadvantaged == disadvantaged and disadvantaged in theme.groups
    assert synthetic_domains.VIDEO_DISADVANTAGED == "female"
    assert synthetic_domains.SOCIAL_DISADVANTAGED == "africa"
    assert synthetic_domains.TRAVEL_DISADVANTAGED == "65+"
    assert synthetic_domains.NEWS_DISADVANTAGED == "18-34"


@EACH_THEME
def test_loader_options_are_keyword_only(theme: Theme) -> None:
    parameters = inspect.signature(LOADERS[theme.name]).parameters.values()
    assert tuple(p.name for p in parameters) == OPTIONS
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    with pytest.raises(TypeError):
        LOADERS[theme.name](0)


@EACH_THEME
def test_same_seed_identical_different_seed_differs(theme: Theme) -> None:
    _assert_same(_load(theme, seed=7), _load(theme, seed=7))
    a, b = _load(theme, seed=7), _load(theme, seed=8)
    assert list(a.train.user_text) != list(b.train.user_text)
    assert list(a.train.item_text) != list(b.train.item_text)
    first = next(iter(a.label_fields))
    assert not np.array_equal(a.train.labels[first], b.train.labels[first])


def test_domains_with_one_seed_are_independent() -> None:
    social, travel = _load(THEMES[1], seed=0), _load(THEMES[2], seed=0)
    # both have six categories: an unsalted generator would give them identical item layouts
    assert not np.array_equal(
        social.train.labels["interest"], travel.train.labels["destination_type"]
    )


@EACH_THEME
def test_shapes_dtypes_and_ranges(theme: Theme) -> None:
    data = _load(theme, seed=1, n_interactions=1000)
    assert [len(s) for s in _splits(data)] == [800, 100, 100]
    ids = _ids(data)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(np.sort(ids), np.arange(1000))
    fields = data.label_fields
    for split in _splits(data):
        n = len(split)
        assert all(
            c.dtype == np.int64 and c.shape == (n,) for c in (split.user_ids, split.item_ids)
        )
        words = [len(t.split()) if isinstance(t, str) else 0 for t in split.user_text]
        assert len(words) == n and min(words) >= 6 and max(words) <= 30
        words = [len(t.split()) if isinstance(t, str) else 0 for t in split.item_text]
        assert len(words) == n and min(words) >= 8 and max(words) <= 45
        for name, values in split.labels.items():
            field = fields[name]
            assert field.name == name
            if field.task_type is TaskType.MULTICLASS:
                assert values.dtype == np.int64 and values.shape == (n,)
                assert ((values >= 0) & (values < len(field.classes))).all()
            elif field.task_type is TaskType.MULTILABEL:
                assert values.dtype == np.int64 and values.shape == (n, len(field.classes))
                assert set(np.unique(values)) <= {0, 1}
                assert ((values.sum(axis=1) >= 1) & (values.sum(axis=1) <= 5)).all()  # 3 + 2 liked
            elif field.task_type is TaskType.REGRESSION:
                assert values.dtype == np.float64 and values.shape == (n,)
                assert ((values >= 1) & (values <= 5)).all()
                np.testing.assert_array_equal(values, np.round(values))
            else:
                assert field.task_type is TaskType.BINARY and not field.classes
                assert values.dtype == np.int64 and set(np.unique(values)) <= {0, 1}
        groups = split.sensitive[theme.sensitive]
        assert groups.dtype == object and groups.shape == (n,)
        assert set(groups) <= set(theme.groups)
    for name, values in data.train.labels.items():
        field = fields[name]
        if field.task_type is TaskType.BINARY:
            assert 0.3 <= values.mean() <= 0.7
        elif field.task_type is TaskType.MULTILABEL:
            assert len(field.classes) == 8 and (values.sum(axis=0) > 0).all()
            assert 1.3 < values.sum(axis=1).mean() < 2.2
        elif field.task_type is TaskType.MULTICLASS:
            counts = np.bincount(values, minlength=len(field.classes))
            assert (counts > 0).all() and counts.max() < 0.6 * len(values)
    assert set(_all_rows(data, "", theme.sensitive)) == set(theme.groups)


def test_class_names() -> None:
    fields = {theme.kind: _load(theme, n_interactions=50).label_fields for theme in THEMES}
    tone = ("negative", "neutral", "positive")
    assert fields["social"]["sentiment"].classes == tone
    assert fields["news"]["sentiment"].classes == tone
    assert fields["travel"]["trip_length"].classes == ("weekend", "one-week", "two-weeks-plus")
    assert {"beach", "city", "mountain", "countryside", "cultural"} <= set(
        fields["travel"]["destination_type"].classes
    )
    assert len(fields["news"]["topic"].classes) == 7
    assert len(fields["social"]["interest"].classes) == 6
    assert fields["video"]["genres"].task_type is TaskType.MULTILABEL
    for kind in fields:
        for field in fields[kind].values():
            assert len(set(field.classes)) == len(field.classes)
            assert bool(field.classes) == (
                field.task_type in (TaskType.MULTICLASS, TaskType.MULTILABEL)
            )


def test_generation_is_fast() -> None:
    for theme in THEMES:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            _load(theme, seed=0, n_interactions=1500)
            best = min(best, time.perf_counter() - start)
        assert best < 0.5, theme.name


@pytest.mark.parametrize("seed", [0, 1])
@EACH_THEME
def test_simple_model_beats_trivial_baselines(theme: Theme, seed: int) -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier

    data = _load(theme, seed=seed, n_interactions=3000)
    vec = CountVectorizer()
    x_train = vec.fit_transform(_texts(data.train))
    x_test = vec.transform(_texts(data.test))
    for name, field in data.label_fields.items():
        y_train, y_test = data.train.labels[name], data.test.labels[name]
        if field.task_type is TaskType.MULTICLASS:
            model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
            accuracy = float((model.predict(x_test) == y_test).mean())
            majority = float((y_test == np.bincount(y_train).argmax()).mean())
            assert accuracy > majority + 0.1, name
        elif field.task_type is TaskType.REGRESSION:
            pred = Ridge(alpha=1.0).fit(x_train, y_train).predict(x_test)
            rmse = float(np.sqrt(np.mean((pred - y_test) ** 2)))
            trivial = float(np.sqrt(np.mean((y_test - y_train.mean()) ** 2)))
            assert rmse < 0.9 * trivial, name
        elif field.task_type is TaskType.BINARY:
            model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
            assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.6, name
        else:
            model = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(x_train, y_train)
            f1 = f1_score(y_test, model.predict(x_test), average="micro")
            # trivial: the most frequent label set of the train split, for every test row
            sets, counts = np.unique(y_train, axis=0, return_counts=True)
            constant = np.tile(sets[counts.argmax()], (len(y_test), 1))
            assert f1 > f1_score(y_test, constant, average="micro") + 0.2, name


def _gap(theme: Theme, seed: int, group_disparity: float, role: str) -> float:
    """How much more the disadvantaged group's labels stray from the noise-free signal.

    Rating: mean |stars - expected stars| of the group minus that of the others. Binary: AUC
    of the noise-free probability on the others' labels minus that on the group's labels.
    """
    from sklearn.metrics import roc_auc_score

    sim = _simulate(theme, seed=seed, n_interactions=3000, group_disparity=group_disparity)
    ids = _ids(sim.data)
    label = _label(theme, role)
    assert label is not None
    values = _all_rows(sim.data, label)
    in_group = _all_rows(sim.data, "", theme.sensitive) == theme.disadvantaged
    if role == RATING:
        err = np.abs(values - sim.signals["rating"][ids])
        return float(err[in_group].mean() - err[~in_group].mean())
    prob = sim.signals["engage"][ids]
    return float(
        roc_auc_score(values[~in_group], prob[~in_group])
        - roc_auc_score(values[in_group], prob[in_group])
    )


@pytest.mark.parametrize("seed", [0, 1])
@EACH_THEME
def test_group_disparity_hurts_only_the_disadvantaged_group(theme: Theme, seed: int) -> None:
    pytest.importorskip("sklearn")
    roles = [role for role in (RATING, ENGAGE) if _label(theme, role)]
    assert roles
    for role in roles:
        planted, none = (0.4, 0.15) if role == RATING else (0.15, 0.1)
        assert _gap(theme, seed, 2.0, role) > planted, role
        assert abs(_gap(theme, seed, 0.0, role)) < none, role


@EACH_THEME
def test_group_disparity_changes_nothing_outside_the_group(theme: Theme) -> None:
    fair, unfair = _load(theme, seed=2), _load(theme, seed=2, group_disparity=2.0)
    assert list(fair.train.user_text) == list(unfair.train.user_text)
    in_group = _all_rows(fair, "", theme.sensitive) == theme.disadvantaged
    assert in_group.any() and not in_group.all()
    changed = np.zeros(len(in_group), dtype=bool)
    for name in fair.label_fields:
        a, b = _all_rows(fair, name), _all_rows(unfair, name)
        differs = a != b if a.ndim == 1 else (a != b).any(axis=1)
        assert not differs[~in_group].any(), name
        changed |= differs
    assert changed[in_group].mean() > 0.3


@EACH_THEME
def test_task_conflict_turns_engagement_against_the_rating_signal(theme: Theme) -> None:
    """Binary (or trip length) label vs rating (or the aligned affinity signal)."""
    corr = {}
    for conflict in (0.0, 1.0):
        sim = _simulate(theme, seed=3, n_interactions=3000, task_conflict=conflict)
        target = _label(theme, ENGAGE) or _label(theme, LENGTH)
        assert target is not None
        rating = _label(theme, RATING)
        if rating is not None:
            reference = _all_rows(sim.data, rating)
        else:
            reference = sim.signals["aligned"][_ids(sim.data)]
        corr[conflict] = float(np.corrcoef(_all_rows(sim.data, target), reference)[0, 1])
    assert corr[0.0] > 0.15
    assert corr[1.0] < -0.1
    assert corr[1.0] < corr[0.0] - 0.3


@EACH_THEME
def test_task_conflict_changes_only_the_engagement_label(theme: Theme) -> None:
    plain = _load(theme, seed=5)
    _assert_same(plain, _load(theme, seed=5, task_conflict=0.0))
    conflicted = _load(theme, seed=5, task_conflict=0.7)
    assert list(plain.test.item_text) == list(conflicted.test.item_text)
    target = _label(theme, ENGAGE) or _label(theme, LENGTH)
    for name in plain.label_fields:
        same = np.array_equal(_all_rows(plain, name), _all_rows(conflicted, name))
        assert same == (name != target), name


@EACH_THEME
def test_label_noise_changes_only_some_labels(theme: Theme) -> None:
    clean = _load(theme, seed=4)
    noisy = _load(theme, seed=4, label_noise=0.5)
    assert list(clean.train.item_text) == list(noisy.train.item_text)
    for name in clean.label_fields:
        a, b = clean.train.labels[name], noisy.train.labels[name]
        changed = (a != b) if a.ndim == 1 else (a != b).any(axis=1)
        assert 0.15 < changed.mean() < 0.6, name


# option -> values it refuses (with the other options at their defaults)
REFUSED: dict[str, tuple[Any, ...]] = {
    "seed": (-1, 1.5, True),
    "n_users": (1, 0),
    "n_items": (3, 2.5),
    "n_interactions": (1, 5),  # 5 rows leave the 10% validation and test splits empty
    "label_noise": (1.5, -0.1),
    "group_disparity": (-0.1, float("nan"), float("inf")),
    "task_conflict": (1.5, -0.2, float("nan")),
    "drift": (1.5, -0.1, float("nan")),
    "validation_fraction": (0.0, 1.0),
    "test_fraction": (1.0, -0.5),
}
BAD_OPTIONS = [({name: value}, name) for name, values in REFUSED.items() for value in values]
BAD_OPTIONS.append(({"validation_fraction": 0.5, "test_fraction": 0.5}, "validation_fraction"))


@pytest.mark.parametrize(("options", "name"), BAD_OPTIONS)
@EACH_THEME
def test_bad_options_raise_value_error_naming_them(
    theme: Theme, options: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        _load(theme, **options)


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _load(THEMES[0], n_user=10)


@pytest.mark.parametrize("domain", ["synthetic-ecommerce", *(theme.name for theme in THEMES)])
def test_evidence_words_are_in_the_text_and_carry_the_label(domain: str) -> None:
    from mtrec.plugins.synthetic_domains import evidence_words

    if domain == "synthetic-ecommerce":
        from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce as load
    else:
        load = LOADERS[domain]
    data = load(seed=0, n_interactions=300)
    text = " ".join(_texts(data.train)).lower()
    for field in data.label_fields:
        words = evidence_words(domain, field)
        assert words and all(w == w.lower() and " " not in w for w in words), field
        assert "and" not in words and "the" not in words
        assert sum(w in text for w in words) > 0.5 * len(words), field
    with pytest.raises(KeyError):
        evidence_words(domain, "no-such-label")
    with pytest.raises(KeyError):
        evidence_words("no-such-domain", next(iter(data.label_fields)))


# --------------------------------------------------------------------------------------
# scene, history and timestamps; the difficulty and context_effect options
# --------------------------------------------------------------------------------------

ALL = pytest.mark.parametrize("theme", ALL_THEMES, ids=[theme.kind for theme in ALL_THEMES])


@ALL
def test_each_domain_declares_its_scene_and_head_set(theme: Theme) -> None:
    from mtrec.plugin_host import PluginHost

    host = PluginHost()
    spec = host.registries.domains.get(theme.name)
    assert spec.context_fields == theme.context_fields
    assert len(spec.context_fields) >= 2 and set(spec.context_fields) <= set(CONTEXT_FIELDS)
    assert spec.head_set is not None
    heads = host.registries.head_sets.get(spec.head_set).heads
    row_level = [head for head in heads if head.task_type is not TaskType.RANKING]
    assert [head.label_field for head in row_level] == list(spec.label_fields)
    # and every built-in domain head set ranks (ecommerce-engagement is no domain's own)
    assert [head.task for head in heads if head.task_type is TaskType.RANKING] == ["next-item"]
    data = spec.load(seed=0, n_interactions=200)
    assert data.context_fields == spec.context_fields
    for split in _splits(data):
        assert tuple(split.context) == spec.context_fields
        for values in split.context.values():
            assert values.dtype == object and len(values) == len(split)
            assert all(isinstance(v, str) and v for v in values)
        # the profile alone: no scene and no history rendered into it
        assert not any(" | " in t or "earlier:" in t for t in split.user_text)


@ALL
def test_history_holds_only_earlier_rows_of_the_same_user(theme: Theme) -> None:
    data = _load(theme, seed=1, n_interactions=600)
    splits = _splits(data)
    # time order: train earliest, test latest
    for early, late in itertools.pairwise(splits):
        assert early.timestamps is not None and late.timestamps is not None
        assert (
            early.timestamps.dtype == np.int64 and early.timestamps.max() <= late.timestamps.min()
        )
    rows = [
        (int(t), int(row_id), int(u), item_text)
        for s in splits
        for t, row_id, u, item_text in zip(
            np.asarray(s.timestamps), s.ids, s.user_ids, s.item_text, strict=True
        )
    ]
    by_id = {row_id: (t, u) for t, row_id, u, _ in rows}
    with_history = 0
    for s in splits:
        for row_id, history in zip(s.ids, s.history, strict=True):
            t, u = by_id[int(row_id)]
            earlier = sorted(
                ((when, text) for when, other, user, text in rows
                 if user == u and (when, other) < (t, int(row_id))),
                reverse=True,
            )  # fmt: skip
            assert len(history) == min(HISTORY_LENGTH, len(earlier))
            for phrase, (_, item_text) in zip(history, earlier, strict=False):
                title = phrase.rsplit(" ", 1)[0] if phrase.endswith("/5") else phrase.split(" (")[0]
                assert title in item_text, (phrase, item_text)
            with_history += bool(history)
    assert with_history > 0.7 * len(rows)  # all but each user's first row


def _engage_by_scene(theme: Theme, context_effect: float) -> float:
    """Engagement probability where the scene favours the item's format minus where it
    disfavours it (the noise-free probability the labels are drawn from)."""
    sim = _simulate(theme, seed=0, n_interactions=4000, context_effect=context_effect)
    ids = _ids(sim.data)
    fit = sim.signals["scene_fit"][ids]
    prob = sim.signals["engage"][ids]
    return float(prob[fit > 0].mean() - prob[fit < 0].mean())


@ALL
def test_context_effect_is_planted_and_can_be_switched_off(theme: Theme) -> None:
    assert _engage_by_scene(theme, 1.0) > 0.15
    assert abs(_engage_by_scene(theme, 0.0)) < 0.05
    plain, flat = _load(theme, seed=3), _load(theme, seed=3, context_effect=0.0)
    target = _label(theme, ENGAGE) or _label(theme, LENGTH)
    for name in plain.label_fields:
        same = np.array_equal(_all_rows(plain, name), _all_rows(flat, name))
        assert same == (name != target), name
    for a, b in zip(_splits(plain), _splits(flat), strict=True):
        assert list(a.history) == list(b.history) and list(a.user_text) == list(b.user_text)
        for name in a.context:
            np.testing.assert_array_equal(a.context[name], b.context[name])


@ALL
def test_difficulty_hides_the_evidence(theme: Theme) -> None:
    def named(difficulty: float) -> float:
        """Share of profiles that name one of the theme's category words."""
        data = _load(theme, seed=2, n_users=200, n_interactions=400, difficulty=difficulty)
        words = [w for synonyms in theme.category_words for w in synonyms]
        return float(np.mean([any(w in t for w in words) for t in data.train.user_text]))

    assert named(0.0) > 0.95 and named(1.0) < 0.6
    easy = _load(theme, seed=2, difficulty=0.0)
    hard = _load(theme, seed=2, difficulty=1.0)
    assert np.mean([len(t) for t in hard.train.item_text]) > np.mean(
        [len(t) for t in easy.train.item_text]
    )  # more distractor sentences


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True])
def test_bad_difficulty_is_named(value: object) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        _load(THEMES[0], difficulty=value)


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan")])
def test_bad_context_effect_is_named(value: float) -> None:
    with pytest.raises(ValueError, match="context_effect"):
        _load(THEMES[0], context_effect=value)
