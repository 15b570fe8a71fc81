"""Contract tests over every registered item: each built-in (and any installed plugin) must
honour the same promises, checked with tiny shapes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mtrec.config import TrainingConfig
from mtrec.errors import MtrecError
from mtrec.measure.tasks import LOSSES
from mtrec.model.batching import IndexedSplit, encode_split
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, task_loss
from mtrec.model.strategies import (
    FeatureCache,
    Prepared,
    accepts_segments,
    freeze_below_top_layers,
    prepare,
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

HOST = PluginHost()


def _load_if_present(spec: DomainSpec) -> DomainData | None:
    """Real datasets are only loadable once fetched; their contract is tested on fixtures."""
    try:
        return spec.load(seed=0)
    except MtrecError:
        return None


LOADED_DOMAINS = {
    entry.spec.name: data
    for entry in HOST.registries.domains
    if (data := _load_if_present(entry.spec)) is not None
}
DOMAIN_DATA = list(LOADED_DOMAINS.values())
BACKBONES = [entry.spec for entry in HOST.registries.backbones]
# A head set whose heads all belong to a larger one (ecommerce-engagement within
# ecommerce-seed) adds no contract coverage: the larger one exercises the same heads together.
HEAD_SETS = [
    spec
    for spec in (entry.spec for entry in HOST.registries.head_sets)
    if not any(set(spec.heads) < set(other.spec.heads) for other in HOST.registries.head_sets)
]
DOMAINS = [entry.spec for entry in HOST.registries.domains]


def by_name(specs: list) -> dict:
    return {"argvalues": specs, "ids": [spec.name for spec in specs]}


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
def test_domain_splits_are_aligned_and_deterministic(spec: DomainSpec) -> None:
    if spec.name not in LOADED_DOMAINS:
        pytest.skip(f"{spec.name}: data not fetched here")
    data = spec.load(seed=0)
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
    return all(
        head.label_field in domain.label_fields
        and domain.label_fields[head.label_field].task_type is head.task_type
        for head in head_set.heads
    )


def prepared_model(
    backbone_spec: BackboneSpec, head_set: HeadSetSpec, domain: DomainData, strategy: str
) -> Prepared:
    """The model and batches a combination would use, built the way the runner builds them."""
    loaded = None if backbone_spec.family is Family.TRIVIAL else backbone_spec.load()
    splits = {"train": domain.train, "validation": domain.validation, "test": domain.test}
    segments = loaded is not None and (
        backbone_spec.family is Family.ENCODER and accepts_segments(loaded.model)
    )
    return prepare(
        family=backbone_spec.family,
        backbone_name=backbone_spec.name,
        loaded=loaded,
        pooling=None,
        splits=splits,
        build_model=lambda encoder, width: MultiTaskModel(
            encoder,
            out_features=width,
            head_set=head_set,
            label_fields=domain.label_fields,
            dropout=0.0,
        ),
        strategy=strategy,
        top_k=1,
        lora_r=4,
        max_length=32,
        encoded_splits=lambda name, split: encode_split(
            split,
            loaded.tokenizer,
            32,
            segments=segments,
        ),
        features=FeatureCache(),
        device=torch.device("cpu"),
        precision="fp32",
    )


STRATEGIES = ["full", "top_k", "lora", "frozen"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("head_set", **by_name(HEAD_SETS))
@pytest.mark.parametrize("backbone_spec", **by_name(BACKBONES))
def test_forward_backward_and_loss_falls(
    backbone_spec: BackboneSpec, head_set: HeadSetSpec, strategy: str
) -> None:
    """Every backbone x head set x strategy: one encoder pass feeds every head, the loss on
    a fixed batch falls over a few steps, and only the parts meant to train get gradients."""
    if backbone_spec.available():
        pytest.skip(backbone_spec.available() or "")
    text = backbone_spec.family in (Family.ENCODER, Family.DECODER)
    if strategy != "full" and not text:
        pytest.skip("strategies apply to language backbones")
    domain = next((data for data in DOMAIN_DATA if _compatible(head_set, data)), None)
    if domain is None:
        pytest.skip(f"no registered domain provides the labels of {head_set.name}")
    torch.manual_seed(int(os.environ.get("MTREC_TEST_SEED", "0")))
    prepared = prepared_model(backbone_spec, head_set, domain, strategy)
    model = prepared.model
    model.set_target_scaling(domain.train.labels)
    fields = tuple(head.label_field for head in head_set.heads)
    batch = prepared.splits["train"].collate(np.arange(8), fields)
    calls: list[int] = []
    model.encoder.register_forward_hook(lambda *args: calls.append(1))
    outputs = model(**batch.model_inputs())
    assert len(calls) == 1
    for head in head_set.heads:
        width = len(domain.label_fields[head.label_field].classes)
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


@pytest.mark.parametrize("weighting", WEIGHTING_NAMES)
@pytest.mark.parametrize("architecture", ARCHITECTURE_NAMES)
@pytest.mark.parametrize("backbone_spec", **by_name(BACKBONES))
def test_architecture_and_weighting_train_on_one_shared_forward(
    backbone_spec: BackboneSpec, architecture: str, weighting: str
) -> None:
    """Every backbone x architecture x loss weighting: forward and backward run, the heads
    share one encoder pass, and the summed loss on a fixed batch falls over a few steps."""
    if backbone_spec.available() or backbone_spec.family is Family.TRIVIAL:
        pytest.skip(backbone_spec.available() or "the trivial predictor does not train")
    domain = LOADED_DOMAINS["synthetic-ecommerce"]
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
