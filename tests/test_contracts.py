"""Contract tests over every registered item: each built-in (and any installed plugin) must
honour the same promises, checked with tiny shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.model import MultiTaskModel
from harness.plugin_host import PluginHost
from harness.specs import (
    BackboneSpec,
    DomainData,
    DomainSpec,
    HeadSetSpec,
    LabelField,
    LoadedBackbone,
    TaskType,
)
from harness.tasks import LOSSES

HOST = PluginHost()
BACKBONES = [entry.spec for entry in HOST.registries.backbones]
HEAD_SETS = [entry.spec for entry in HOST.registries.head_sets]
DOMAINS = [entry.spec for entry in HOST.registries.domains]


def by_name(specs: list) -> dict:
    return {"argvalues": specs, "ids": [spec.name for spec in specs]}


@pytest.fixture(scope="module")
def loaded() -> dict[str, LoadedBackbone]:
    return {}


@pytest.mark.parametrize("spec", **by_name(BACKBONES))
def test_backbone_loads_through_from_pretrained(
    spec: BackboneSpec, loaded: dict[str, LoadedBackbone]
) -> None:
    reason = spec.available()
    if reason:
        pytest.skip(reason)
    backbone = spec.load()
    loaded[spec.name] = backbone
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


@pytest.mark.parametrize("head_set", **by_name(HEAD_SETS))
@pytest.mark.parametrize("backbone_spec", **by_name(BACKBONES))
def test_model_forward_backward_with_tiny_shapes(
    backbone_spec: BackboneSpec, head_set: HeadSetSpec
) -> None:
    """Every backbone under every head set: one forward, one backward, right output shapes."""
    if backbone_spec.available():
        pytest.skip(backbone_spec.available() or "")
    domain = next((d.load(seed=0) for d in DOMAINS if _compatible(head_set, d.load(seed=0))), None)
    if domain is None:
        pytest.skip(f"no registered domain provides the labels of {head_set.name}")
    backbone = backbone_spec.load()
    model = MultiTaskModel(
        backbone.model,
        hidden_size=backbone.hidden_size,
        pooling=backbone.pooling,
        head_set=head_set,
        label_fields=domain.label_fields,
        dropout=0.0,
    )
    split = domain.train
    encoded = backbone.tokenizer(
        list(split.user_text[:3]),
        list(split.item_text[:3]),
        padding=True,
        truncation=True,
        max_length=32,
        return_tensors="pt",
    )
    outputs = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    for head in head_set.heads:
        expected = (
            (3, len(domain.label_fields[head.label_field].classes))
            if (head.task_type is TaskType.MULTICLASS)
            else (3,)
        )
        assert tuple(outputs[head.task].shape) == expected
    sum(output.float().sum() for output in outputs.values()).backward()  # type: ignore[union-attr]
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and torch.count_nonzero(g) > 0 for g in grads)
