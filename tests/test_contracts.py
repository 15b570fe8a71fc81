"""Contract tests over every registered item: each built-in (and any installed plugin) must
honour the same promises, checked with tiny shapes.

The training contracts run a pairwise (all-pairs) selection of the full products: every pair
of values of any two dimensions that can meet at all (a backbone and a head set, a head set
and a domain, a backbone and a strategy, ...) meets in at least one case, so each item is
exercised with every item of every other kind, without paying for every triple.
``test_pairwise_cases_cover_every_pair`` checks that claim for the cases generated here.
Domains are loaded when a test first needs one (and once per session), not at import.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from itertools import combinations, product
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mtrec.config import TrainingConfig
from mtrec.errors import MtrecError
from mtrec.measure import ranking
from mtrec.measure.tasks import LOSSES
from mtrec.model.batching import IndexedSplit, encode_split
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, missing_labels, task_loss
from mtrec.model.strategies import (
    Prepared,
    freeze_below_top_layers,
)
from mtrec.model.training import build_optimizer
from mtrec.plugin_host import PluginHost
from mtrec.specs import (
    BackboneSpec,
    DomainData,
    DomainSpec,
    Family,
    HeadSetSpec,
    LabelField,
    LoadedBackbone,
    TaskType,
)
from tests.prepared_models import prepare_for_test

HOST = PluginHost()


_LOADED: dict[str, DomainData | None] = {}


def load_domain(spec: DomainSpec) -> DomainData | None:
    """The domain's data at seed 0, loaded on first use and kept for the session; None for a
    real dataset not fetched here (its contract is tested on fixtures)."""
    if spec.name not in _LOADED:
        try:
            _LOADED[spec.name] = spec.load(seed=0)
        except MtrecError:
            _LOADED[spec.name] = None
    return _LOADED[spec.name]


@pytest.fixture
def loaded_domain() -> Callable[[DomainSpec], DomainData | None]:
    return load_domain


BACKBONES = [entry.spec for entry in HOST.registries.backbones]
# A head set whose heads all belong to a larger one (ecommerce-engagement within
# ecommerce-seed) adds no contract coverage: the larger one exercises the same heads together.
HEAD_SETS = [
    spec
    for spec in (entry.spec for entry in HOST.registries.head_sets)
    if not any(set(spec.heads) < set(other.spec.heads) for other in HOST.registries.head_sets)
]
DOMAINS = [entry.spec for entry in HOST.registries.domains]


def by_name(specs: list[Any]) -> dict[str, Any]:
    return {"argvalues": specs, "ids": [spec.name for spec in specs]}


Case = dict[str, Any]


def pairs_of(case: Case) -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    """Every pair of (dimension, value) in one case."""
    items = sorted(case.items())
    return set(combinations(items, 2))


def pairwise(dimensions: dict[str, Sequence[Any]], valid: Callable[[Case], bool]) -> list[Case]:
    """Valid cases, few of them, in which every pair of values that meets in some valid case
    of the full product meets at least once (greedy: most pairs not yet covered first)."""
    names = list(dimensions)
    candidates = [
        case
        for values in product(*(dimensions[name] for name in names))
        if valid(case := dict(zip(names, values, strict=True)))
    ]
    candidate_pairs = [pairs_of(case) for case in candidates]
    uncovered = set().union(*candidate_pairs)
    chosen: list[Case] = []
    while uncovered:
        best = max(range(len(candidates)), key=lambda i: len(candidate_pairs[i] & uncovered))
        chosen.append(candidates[best])
        uncovered -= candidate_pairs[best]
    return chosen


def uncovered_pairs(
    cases: Iterable[Case], dimensions: dict[str, Sequence[Any]], valid: Callable[[Case], bool]
) -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    """The pairs of the full valid product that none of ``cases`` brings together."""
    names = list(dimensions)
    needed: set[tuple[tuple[str, Any], tuple[str, Any]]] = set()
    for values in product(*(dimensions[name] for name in names)):
        if valid(case := dict(zip(names, values, strict=True))):
            needed |= pairs_of(case)
    for case in cases:
        needed -= pairs_of(case)
    return needed


def case_id(case: Case) -> str:
    return "-".join(str(value) for value in case.values())


TEXT_BACKBONES = [spec for spec in BACKBONES if spec.family in (Family.ENCODER, Family.DECODER)]


@pytest.mark.parametrize("spec", **by_name(TEXT_BACKBONES))
def test_language_backbone_loads_through_from_pretrained(spec: BackboneSpec) -> None:
    reason = spec.available()
    if reason:
        pytest.skip(reason)
    backbone: LoadedBackbone = spec.load()
    folder = Path(backbone.source)
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()  # safetensors, never pickle
    assert backbone.tokenizer.pad_token_id is not None
    encoded = backbone.tokenizer(
        ["a shopper who likes books"], ["acme paperback novel"], return_tensors="pt"
    )
    with torch.no_grad():
        hidden = backbone.model(
            input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]
        ).last_hidden_state
    assert hidden.shape[-1] == backbone.hidden_size


@pytest.mark.parametrize("spec", **by_name(HEAD_SETS))
def test_head_set_is_consistent(spec: HeadSetSpec) -> None:
    assert spec.heads
    tasks = [head.task for head in spec.heads]
    assert len(tasks) == len(set(tasks))
    for head in spec.heads:
        assert head.loss == LOSSES[head.task_type]
        assert head.loss_weight > 0


@pytest.mark.parametrize("spec", **by_name(DOMAINS))
def test_domain_splits_are_aligned_and_deterministic(
    spec: DomainSpec, loaded_domain: Callable[[DomainSpec], DomainData | None]
) -> None:
    data = loaded_domain(spec)
    if data is None:
        pytest.skip(f"{spec.name}: data not fetched here")
    again = spec.load(seed=0)
    assert set(data.label_fields) == set(spec.label_fields)
    assert set(data.sensitive_attributes) == set(spec.sensitive_attributes)
    ids = []
    for split, twin in (
        (data.train, again.train),
        (data.validation, again.validation),
        (data.test, again.test),
    ):
        n = len(split)
        assert n > 0
        for column in (split.user_ids, split.item_ids, split.user_text, split.item_text):
            assert len(column) == n
        for name, values in split.labels.items():
            assert len(values) == n
            np.testing.assert_array_equal(values, twin.labels[name])
        for values in split.sensitive.values():
            assert len(values) == n
        assert list(split.item_text) == list(twin.item_text)
        ids.extend(split.ids.tolist())
    assert len(ids) == len(set(ids)), "interaction ids must be unique across splits"
    for field in data.label_fields.values():
        assert isinstance(field, LabelField)
        if field.task_type is TaskType.MULTICLASS:
            assert int(data.train.labels[field.name].max()) < len(field.classes)


def _compatible(head_set: HeadSetSpec, domain: DomainData) -> bool:
    # a ranking head reads the relevance column the harness derives, from any domain
    return all(
        head.task_type is TaskType.RANKING
        or (
            head.label_field in domain.label_fields
            and domain.label_fields[head.label_field].task_type is head.task_type
        )
        for head in head_set.heads
    )


def with_relevance(domain: DomainData, negatives: int) -> DomainData:
    """The training split with the ranking heads' column and ``negatives`` sampled negatives
    per row appended, as a fit with ranking heads trains (the trivial predictor: none)."""
    train = ranking.with_negatives(
        domain.train,
        ranking.catalogue_of(domain),
        relevance="observed",
        per_positive=negatives,
        seed=0,
        missing=missing_labels,
    )
    return dataclasses.replace(domain, train=train)


def prepared_model(
    backbone_spec: BackboneSpec, head_set: HeadSetSpec, domain: DomainData, strategy: str
) -> Prepared:
    """The model and batches a combination would use, built the way the runner builds them."""
    return prepare_for_test(backbone_spec, head_set, domain, strategy=strategy)


STRATEGIES = ["full", "top_k", "lora", "frozen"]
TEXT_FAMILIES = (Family.ENCODER, Family.DECODER)
# Backbones that cannot load here (not cached, or a family rather than a model) keep one case
# each, which reports why it is skipped; the pairs are drawn among those that load.
READY_BACKBONES = [spec for spec in BACKBONES if not spec.available()]
UNREADY_BACKBONES = [spec for spec in BACKBONES if spec.available()]
DOMAIN_SPECS = {spec.name: spec for spec in DOMAINS}
HEAD_SET_SPECS = {spec.name: spec for spec in HEAD_SETS}
BACKBONE_SPECS = {spec.name: spec for spec in BACKBONES}


def _provides(domain: DomainSpec, head_set: HeadSetSpec) -> bool:
    return all(
        head.task_type is TaskType.RANKING or head.label_field in domain.label_fields
        for head in head_set.heads
    )


TRAINING_DIMENSIONS: dict[str, Sequence[Any]] = {
    "backbone": [spec.name for spec in READY_BACKBONES],
    "head_set": [spec.name for spec in HEAD_SETS],
    "domain": [spec.name for spec in DOMAINS],
    "strategy": STRATEGIES,
}


def training_case_is_valid(case: Case) -> bool:
    """A head set trains on a domain that provides its labels; strategies other than full
    fine-tuning apply to language backbones only."""
    backbone = BACKBONE_SPECS[case["backbone"]]
    if case["strategy"] != "full" and backbone.family not in TEXT_FAMILIES:
        return False
    return _provides(DOMAIN_SPECS[case["domain"]], HEAD_SET_SPECS[case["head_set"]])


TRAINING_CASES = pairwise(TRAINING_DIMENSIONS, training_case_is_valid) + [
    {"backbone": spec.name, "head_set": HEAD_SETS[0].name, "domain": "", "strategy": "full"}
    for spec in UNREADY_BACKBONES
]


@pytest.mark.parametrize("case", TRAINING_CASES, ids=[case_id(c) for c in TRAINING_CASES])
def test_forward_backward_and_loss_falls(
    case: Case, loaded_domain: Callable[[DomainSpec], DomainData | None]
) -> None:
    """Backbone x head set x domain x strategy, all pairs: one encoder pass feeds every head,
    the loss on a fixed batch falls over a few steps, and only the parts meant to train get
    gradients."""
    backbone_spec = BACKBONE_SPECS[case["backbone"]]
    head_set = HEAD_SET_SPECS[case["head_set"]]
    strategy = case["strategy"]
    if backbone_spec.available():
        pytest.skip(backbone_spec.available() or "")
    # A real dataset not fetched here stands aside for another domain with the same labels:
    # the case's other pairs still run.
    providers = [DOMAIN_SPECS[case["domain"]]] + [
        spec for spec in DOMAINS if _provides(spec, head_set)
    ]
    domain = next((data for spec in providers if (data := loaded_domain(spec)) is not None), None)
    if domain is None:
        pytest.skip(f"no registered domain here provides the labels of {head_set.name}")
    assert _compatible(head_set, domain), (head_set.name, case["domain"])
    ranks = any(head.task_type is TaskType.RANKING for head in head_set.heads)
    negatives = 1 if ranks and backbone_spec.family is not Family.TRIVIAL else 0
    source = domain  # target scaling reads the domain's own rows, as a fit does
    if ranks:
        domain = with_relevance(domain, negatives)
    torch.manual_seed(int(os.environ.get("MTREC_TEST_SEED", "0")))
    prepared = prepared_model(backbone_spec, head_set, domain, strategy)
    model = prepared.model
    model.set_target_scaling(source.train.labels)
    fields = tuple(head.label_field for head in head_set.heads)
    # positives first, the sampled negatives (no other label) appended after them
    rows = np.r_[0:4, len(domain.train) - 4 : len(domain.train)] if negatives else np.arange(8)
    batch = prepared.splits["train"].collate(rows, fields)
    calls: list[int] = []
    model.encoder.register_forward_hook(lambda *args: calls.append(1))
    outputs = model(**batch.model_inputs())
    assert len(calls) == 1
    for head in head_set.heads:
        field = domain.label_fields.get(head.label_field)
        width = 0 if field is None else len(field.classes)
        expected = {
            TaskType.MULTICLASS: (8, width),
            TaskType.MULTILABEL: (8, width),
        }.get(head.task_type, (8,))
        assert tuple(outputs[head.task].shape) == expected
    if not prepared.trains:
        assert not any(p.requires_grad and p.grad is not None for p in model.parameters())
        return
    heads = {h.spec.task: h for h in model.task_heads()}
    # The harness's own optimizer: gentle on the backbone, brisk on the heads.
    optimizer = build_optimizer(model, TrainingConfig(lr=1e-4, head_lr=3e-3, weight_decay=0.0))
    model.eval()  # no dropout: the loss on a fixed batch must fall step by step
    losses = []
    for _ in range(10):
        outputs = model(**batch.model_inputs())
        loss = sum(
            task_loss(heads[t], outputs[t], batch.labels[heads[t].spec.label_field]) for t in heads
        )
        optimizer.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
        losses.append(float(loss.detach()))  # type: ignore[union-attr]
    assert losses[-1] < losses[0], losses
    if strategy == "top_k":
        frozen = [n for n, p in model.encoder.named_parameters() if not p.requires_grad]
        assert any("embed" in n or "wte" in n for n in frozen)


ARCHITECTURE_NAMES = HOST.registries.architectures.names()
WEIGHTING_NAMES = HOST.registries.loss_weightings.names()
ECOMMERCE = HOST.registries.head_sets.get("ecommerce-seed")
TOWER_DIMENSIONS: dict[str, Sequence[Any]] = {
    "backbone": [spec.name for spec in READY_BACKBONES if spec.family is not Family.TRIVIAL],
    "architecture": ARCHITECTURE_NAMES,
    "weighting": WEIGHTING_NAMES,
}


def tower_case_is_valid(case: Case) -> bool:
    return True


TOWER_CASES = pairwise(TOWER_DIMENSIONS, tower_case_is_valid) + [
    {"backbone": spec.name, "architecture": ARCHITECTURE_NAMES[0], "weighting": "equal"}
    for spec in UNREADY_BACKBONES
]


@pytest.mark.parametrize(
    ("dimensions", "valid", "cases"),
    [
        (TRAINING_DIMENSIONS, training_case_is_valid, TRAINING_CASES),
        (TOWER_DIMENSIONS, tower_case_is_valid, TOWER_CASES),
    ],
    ids=["training", "towers"],
)
def test_pairwise_cases_cover_every_pair(
    dimensions: dict[str, Sequence[Any]], valid: Callable[[Case], bool], cases: list[Case]
) -> None:
    assert all(valid(case) for case in cases if case["backbone"] in dimensions["backbone"])
    assert not uncovered_pairs(cases, dimensions, valid)
    # and the selection is worth having: fewer cases than the full valid product
    full = [
        v for v in product(*dimensions.values()) if valid(dict(zip(dimensions, v, strict=True)))
    ]
    assert len(cases) < len(full)


def test_pairwise_check_finds_a_missing_pair() -> None:
    dimensions: dict[str, Sequence[Any]] = {"a": [1, 2], "b": ["x", "y"], "c": [True, False]}
    cases = pairwise(dimensions, lambda case: True)
    assert not uncovered_pairs(cases, dimensions, lambda case: True)
    assert len(cases) < 8
    assert uncovered_pairs(cases[1:], dimensions, lambda case: True)


@pytest.mark.parametrize("case", TOWER_CASES, ids=[case_id(c) for c in TOWER_CASES])
def test_architecture_and_weighting_train_on_one_shared_forward(
    case: Case, loaded_domain: Callable[[DomainSpec], DomainData | None]
) -> None:
    """Backbone x architecture x loss weighting, all pairs: forward and backward run, the
    heads share one encoder pass, and the summed loss on a fixed batch falls over a few
    steps."""
    backbone_spec = BACKBONE_SPECS[case["backbone"]]
    architecture, weighting = case["architecture"], case["weighting"]
    if backbone_spec.available():
        pytest.skip(backbone_spec.available() or "")
    domain = loaded_domain(DOMAIN_SPECS["synthetic-ecommerce"])
    assert domain is not None
    torch.manual_seed(0)
    loaded = backbone_spec.load()
    if backbone_spec.pretrained and loaded.tokenizer is not None:
        # Tiny shapes: a pretrained backbone trains only its top block here (PCGrad's
        # per-task gradients over all 22M MiniLM weights would cost seconds per step).
        freeze_below_top_layers(loaded.model, 1)
    encoder = (
        TextPairEncoder(loaded.model, loaded.pooling)
        if loaded.tokenizer is not None
        else loaded.model
    )
    model = MultiTaskModel(
        encoder,
        out_features=loaded.hidden_size,
        head_set=ECOMMERCE,
        label_fields=domain.label_fields,
        dropout=0.0,
        architecture=HOST.registries.architectures.get(architecture),
    )
    model.set_target_scaling(domain.train.labels)
    if loaded.tokenizer is not None:
        split = encode_split(domain.train, loaded.tokenizer, 32, segments=False)
        batch = split.collate(np.arange(8), ("category", "rating", "click"))
    else:
        batch = IndexedSplit(
            columns={"user_ids": domain.train.user_ids, "item_ids": domain.train.item_ids},
            labels=domain.train.labels,
        ).collate(np.arange(8), ("category", "rating", "click"))
    tasks = ("category", "rating", "click")
    options = {"temperature": 1e3} if weighting == "max-min" else {}
    combine = HOST.registries.loss_weightings.get(weighting).build(tasks=tasks, **options)
    optimizer = build_optimizer(model, TrainingConfig(lr=1e-4, head_lr=3e-3, weight_decay=0.0))
    for group in combine.param_groups():
        optimizer.add_param_group(group)
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    heads = {h.spec.task: h for h in model.task_heads()}
    calls: list[int] = []
    model.encoder.register_forward_hook(lambda *args: calls.append(1))
    model.eval()
    totals = []
    for _ in range(10):
        outputs = model(**batch.model_inputs())
        losses = {t: task_loss(heads[t], outputs[t], batch.labels[t]) for t in tasks}
        totals.append(float(sum(loss.detach() for loss in losses.values())))
        optimizer.zero_grad()
        combine.backward(losses, shared)
        optimizer.step()
    assert len(calls) == 10  # one encoder pass per step, whatever the heads and tower
    assert totals[-1] < totals[0], totals
