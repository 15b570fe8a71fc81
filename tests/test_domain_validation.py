"""``mtrec.run.domain_checks``: each defect of a loaded domain is found and named.

The end-to-end cases (a plugin returning such data fails its combination, nothing written)
are in ``tests/test_bad_input.py`` with the corpus in ``tests/bad_inputs/plugins/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from mtrec.plugin_host import PluginHost
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce
from mtrec.run.domain_checks import describe_problems, domain_problems
from mtrec.specs import DomainData, DomainSplit, LabelField, TaskType

DECLARED = {
    "declared_labels": ("category", "rating", "click"),
    "declared_sensitive": ("age_group",),
}


@pytest.fixture(scope="module")
def data() -> DomainData:
    return load_synthetic_ecommerce(seed=0, n_users=20, n_items=20, n_interactions=150)


def _labels(data: DomainData, split: str, **changes: np.ndarray) -> DomainData:
    part = getattr(data, split)
    return replace(data, **{split: replace(part, labels={**part.labels, **changes})})


def load_synthetic_video() -> DomainData:
    spec = PluginHost().registries.domains.get("synthetic-video")
    return spec.load(seed=0, n_users=20, n_items=20, n_interactions=150)


def test_sound_domains_pass(data: DomainData) -> None:
    assert domain_problems(data, **DECLARED) == []
    video = load_synthetic_video()
    assert domain_problems(video) == []  # multilabel genres


CASES: dict[str, tuple[Callable[[DomainData], object], str]] = {
    "not DomainData": (lambda d: {"train": d.train}, "returned dict from its loader"),
    "float ids": (
        lambda d: replace(d, test=replace(d.test, ids=d.test.ids.astype(float))),
        "split 'test', field 'ids': expected a 1-d integer array",
    ),
    "text list too long": (
        lambda d: replace(d, train=replace(d.train, user_text=[*d.train.user_text, "x"])),
        "split 'train', field 'user_text': 121 values for 120 ids",
    ),
    "string labels": (
        lambda d: _labels(d, "train", click=d.train.labels["click"].astype(str)),
        "field 'labels.click': expected numbers, got dtype <U",
    ),
    "infinite rating": (
        lambda d: _labels(d, "test", rating=np.full(len(d.test), np.inf)),
        "split 'test', field 'labels.rating': non-finite value at row 0",
    ),
    "binary value 2": (
        lambda d: _labels(d, "validation", click=np.full(len(d.validation), 2)),
        "field 'labels.click': value 2 at row 0 is outside [0, 1] (0/1 labels; 15 rows)",
    ),
    "negative class": (
        lambda d: _labels(d, "test", category=-np.ones(len(d.test), dtype=np.int64)),
        "field 'labels.category': value -1 at row 0 is outside [0, 5]",
    ),
    "fractional class": (
        lambda d: _labels(d, "test", category=np.full(len(d.test), 0.5)),
        "expected integer class values for a multiclass field",
    ),
    "undeclared label": (
        lambda d: _labels(d, "train", extra=np.zeros(len(d.train))),
        "split 'train', field 'labels.extra': present in this split but not declared",
    ),
    "declared field missing": (
        lambda d: replace(
            d, label_fields={k: v for k, v in d.label_fields.items() if k != "click"}
        ),
        "label field 'click' is declared in the registration but missing",
    ),
    "split without a label": (
        lambda d: replace(
            d,
            test=replace(d.test, labels={k: v for k, v in d.test.labels.items() if k != "rating"}),
        ),
        "split 'test', field 'labels.rating': declared in label_fields but missing",
    ),
    "id in two splits": (
        lambda d: replace(d, test=replace(d.test, ids=d.train.ids[: len(d.test)])),
        "is also in split 'train'",
    ),
    "missing sensitive attribute": (
        lambda d: replace(d, validation=replace(d.validation, sensitive={})),
        "split 'validation', field 'sensitive.age_group': declared in sensitive_attributes",
    ),
}


@pytest.mark.parametrize(("corrupt", "expected"), CASES.values(), ids=list(CASES))
def test_each_defect_is_named(
    data: DomainData, corrupt: Callable[[DomainData], object], expected: str
) -> None:
    problems = domain_problems(corrupt(data), **DECLARED)
    assert problems, expected
    assert expected in describe_problems(problems)


def test_multilabel_width_must_match_the_classes() -> None:
    video = load_synthetic_video()
    field = next(f for f in video.label_fields.values() if f.task_type is TaskType.MULTILABEL)
    narrow = video.train.labels[field.name][:, :-1]
    bad = replace(
        video, train=replace(video.train, labels={**video.train.labels, field.name: narrow})
    )
    (problem,) = domain_problems(bad)
    assert f"field 'labels.{field.name}'" in problem
    assert f"{len(field.classes) - 1} columns for {len(field.classes)} declared classes" in problem


def test_one_line_counts_the_rest(data: DomainData) -> None:
    bad = _labels(
        data, "train", click=np.full(len(data.train), 5), rating=np.full(len(data.train), np.nan)
    )
    line = describe_problems(domain_problems(bad, **DECLARED))
    assert line.endswith("(and 1 more problem)")
    assert "\n" not in line
    assert isinstance(data.label_fields["click"], LabelField)


# --------------------------------------------------------------------------------------
# context, history and timestamps
# --------------------------------------------------------------------------------------


def _with_scene(data: DomainData) -> DomainData:
    """``data`` with one context field, one earlier interaction per row and timestamps."""

    def scene(split: DomainSplit) -> DomainSplit:
        n = len(split)
        return replace(
            split,
            context={"device": np.asarray(["mobile", "desktop"] * n, dtype=object)[:n]},
            history=[("Heat (1995) 4/5",)] * n,
            timestamps=np.arange(n, dtype=np.int64),
        )

    return replace(
        data,
        train=scene(data.train),
        validation=scene(data.validation),
        test=scene(data.test),
        context_fields=("device",),
    )


def _split(data: DomainData, name: str, **changes: object) -> DomainData:
    return replace(data, **{name: replace(getattr(data, name), **changes)})


SCENE_CASES: dict[str, tuple[Callable[[DomainData], DomainData], str]] = {
    "short context": (
        lambda d: _split(d, "test", context={"device": d.test.context["device"][:-1]}),
        "split 'test', field 'context.device': 14 values for 15 ids",
    ),
    "numbers as context": (
        lambda d: _split(d, "train", context={"device": np.zeros(len(d.train))}),
        "split 'train', field 'context.device': expected one str per row",
    ),
    "undeclared context field": (
        lambda d: _split(
            d,
            "validation",
            context={**d.validation.context, "city": d.validation.context["device"]},
        ),
        "split 'validation', field 'context.city': present here but not in context_fields",
    ),
    "missing context field": (
        lambda d: _split(d, "test", context={}),
        "split 'test', field 'context.device': declared in context_fields but missing",
    ),
    "context fields not the registration's": (
        lambda d: replace(d, context_fields=()),
        "context_fields [] differ from the registration's context_fields ['device']",
    ),
    "history too short": (
        lambda d: _split(d, "train", history=list(d.train.history)[:-1]),
        "split 'train', field 'history': 119 rows for 120 ids",
    ),
    "history of bare strings": (
        lambda d: _split(d, "test", history=["Heat (1995) 4/5"] * len(d.test)),
        "split 'test', field 'history': row 0: expected a sequence of str, got str",
    ),
    "history phrase not a str": (
        lambda d: _split(d, "test", history=[(4,)] * len(d.test)),
        "split 'test', field 'history': row 0: expected str phrases",
    ),
    "timestamps too short": (
        lambda d: _split(d, "validation", timestamps=np.arange(3, dtype=np.int64)),
        "split 'validation', field 'timestamps': 3 values for 15 ids",
    ),
    "float timestamps": (
        lambda d: _split(d, "test", timestamps=np.zeros(len(d.test))),
        "split 'test', field 'timestamps': expected a 1-d integer array or None",
    ),
}


def test_a_sound_scene_passes(data: DomainData) -> None:
    assert domain_problems(_with_scene(data), **DECLARED, declared_context=("device",)) == []


@pytest.mark.parametrize(("corrupt", "expected"), SCENE_CASES.values(), ids=list(SCENE_CASES))
def test_each_scene_defect_is_named(
    data: DomainData, corrupt: Callable[[DomainData], DomainData], expected: str
) -> None:
    problems = domain_problems(corrupt(_with_scene(data)), **DECLARED, declared_context=("device",))
    assert problems, expected
    assert any(expected in problem for problem in problems), problems
