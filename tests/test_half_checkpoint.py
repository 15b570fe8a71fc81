"""A checkpoint stored in half precision trains with float32 master weights.

``from_pretrained`` keeps a float16 checkpoint in float16; an optimizer stepping float16
parameters rounds small updates away. Training upcasts what it trains (and, without autocast,
the whole model) before the optimizer is built.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch

from mtrec.config import TrainingConfig
from mtrec.model import training
from mtrec.model.batching import encode_split
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder
from mtrec.plugin_host import PluginHost
from mtrec.plugins.hub_backbones import generic
from mtrec.specs import Pooling, TaskType


@pytest.fixture(scope="module")
def half_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("half-bert")
    loaded = PluginHost().registries.backbones.get("tiny-bert").load()
    loaded.model.half().save_pretrained(folder, safe_serialization=True)
    loaded.tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("autocast", [False, True])
def test_half_checkpoint_trains_with_float32_master_weights(
    half_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, autocast: bool
) -> None:
    host = PluginHost()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=80)
    seed = host.registries.head_sets.get("ecommerce-seed")
    # the row-level heads: a ranking head trains on sampled negatives the fit adds
    head_set = dataclasses.replace(
        seed, heads=tuple(h for h in seed.heads if h.task_type is not TaskType.RANKING)
    )
    loaded = generic(str(half_checkpoint)).load()
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float16}  # stored half
    model = MultiTaskModel(
        TextPairEncoder(loaded.model, Pooling.MEAN),
        out_features=loaded.hidden_size,
        head_set=head_set,
        label_fields=data.label_fields,
        dropout=0.0,
    )
    if autocast:  # what CUDA bf16 does, simulated on the CPU
        # the embeddings stay frozen: a frozen half layer must stay half under autocast
        for parameter in loaded.model.embeddings.parameters():
            parameter.requires_grad_(False)

        def cpu_autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
            return torch.autocast("cpu", dtype=torch.bfloat16)

        monkeypatch.setattr(training, "autocast_for", cpu_autocast)
        monkeypatch.setattr(training, "effective_precision", lambda device, precision: "bf16")
    seen: list[torch.optim.Optimizer] = []
    real = training.build_optimizer

    def recording(model: MultiTaskModel, config: TrainingConfig) -> torch.optim.Optimizer:
        seen.append(real(model, config))
        return seen[-1]

    monkeypatch.setattr(training, "build_optimizer", recording)
    encoded = encode_split(data.train, loaded.tokenizer, 24, segments=True)
    result = training.train(
        model,
        encoded,
        lambda: 0.0,
        TrainingConfig(epochs=1, lr=1e-3, batch_size=16, precision="bf16"),
        device=torch.device("cpu"),
        seed=0,
    )
    [optimizer] = seen
    dtypes = {p.dtype for group in optimizer.param_groups for p in group["params"]}
    assert dtypes == {torch.float32}
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in result.history)
    frozen = {p.dtype for p in loaded.model.embeddings.parameters()}
    assert frozen == ({torch.float16} if autocast else {torch.float32})
