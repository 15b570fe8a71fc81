from __future__ import annotations

import dataclasses

import pytest
import torch

from mtrec.config import TrainingConfig
from mtrec.model.batching import encode_split, iterate_batches
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, pool
from mtrec.model.training import train
from mtrec.plugin_host import PluginHost
from mtrec.specs import Pooling, TaskType


def test_pooling() -> None:
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert pool(hidden, mask, Pooling.CLS).flatten().tolist() == [0.0, 4.0]
    assert pool(hidden, mask, Pooling.LAST).flatten().tolist() == [2.0, 5.0]
    assert pool(hidden, mask, Pooling.MEAN).flatten().tolist() == [1.0, 4.5]


@pytest.fixture(scope="module")
def setup():
    host = PluginHost()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=200)
    seed = host.registries.head_sets.get("ecommerce-seed")
    # the row-level heads: a ranking head trains on sampled negatives the fit adds
    # (tests/test_ranking_sweep.py)
    head_set = dataclasses.replace(
        seed, heads=tuple(h for h in seed.heads if h.task_type is not TaskType.RANKING)
    )
    backbone = host.registries.backbones.get("tiny-bert").load()
    return data, head_set, backbone


def shared_bottom(data, head_set, backbone) -> MultiTaskModel:
    return MultiTaskModel(
        TextPairEncoder(backbone.model, Pooling.CLS),
        out_features=backbone.hidden_size,
        head_set=head_set,
        label_fields=data.label_fields,
        dropout=0.0,
    )


def test_heads_share_one_backbone_forward_per_batch(setup) -> None:
    data, head_set, backbone = setup
    model = shared_bottom(data, head_set, backbone)
    calls = []
    handle = model.encoder.register_forward_hook(lambda *args: calls.append(1))
    encoded = encode_split(data.train, backbone.tokenizer, 32, segments=True)
    batches = list(iterate_batches(encoded, 32))
    for batch in batches:
        outputs = model(**batch.model_inputs())
        assert set(outputs) == {"category", "rating", "click"}
    handle.remove()
    assert len(calls) == len(batches)


def test_loss_falls_and_best_epoch_is_restored(setup) -> None:
    data, head_set, _ = setup
    host = PluginHost()
    backbone = host.registries.backbones.get("tiny-bert").load()
    model = shared_bottom(data, head_set, backbone)
    model.set_target_scaling(data.train.labels)
    encoded = encode_split(data.train, backbone.tokenizer, 48, segments=True)
    # A validation score that peaks at epoch 2: the weights of epoch 2 must come back.
    scores = iter([1.0, 5.0, 2.0, 3.0])
    snapshots = []

    def validate() -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    result = train(
        model,
        encoded,
        validate,
        TrainingConfig(epochs=4, lr=1e-3, batch_size=16, patience=0),
        device=torch.device("cpu"),
        seed=0,
    )
    losses = [epoch["train_loss"] for epoch in result.history]
    assert losses[-1] < losses[0]
    assert result.best_epoch == 2
    restored = model.state_dict()
    assert all(torch.equal(restored[k], snapshots[1][k]) for k in restored)


def test_early_stopping_respects_patience(setup) -> None:
    data, head_set, backbone = setup
    model = shared_bottom(data, head_set, backbone)
    encoded = encode_split(data.train, backbone.tokenizer, 32, segments=True)
    scores = iter([3.0, 2.0, 1.0, 0.5, 0.1])
    result = train(
        model,
        encoded,
        lambda: next(scores),
        TrainingConfig(epochs=5, batch_size=64, patience=2),
        device=torch.device("cpu"),
        seed=0,
    )
    assert len(result.history) == 3
    assert result.stopped_early
    assert result.best_epoch == 1
