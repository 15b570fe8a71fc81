"""Harness training epoch vs a hand-written minimal torch loop, same model and batches.

The harness adds per-batch collation from pre-tokenized rows, length bucketing, gradient
clipping and a once-per-epoch loss read; the plain loop gets pre-padded batches for free.
Target: ratio <= 1.05.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from mtrec.config import TrainingConfig
from mtrec.model.batching import batch_rows, encode_split
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder, task_loss
from mtrec.model.training import build_optimizer, train
from mtrec.plugin_host import PluginHost
from mtrec.specs import Pooling

ROUNDS = 3


def _setup():
    host = PluginHost()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=1200)
    head_set = host.registries.head_sets.get("ecommerce-seed")
    backbone = host.registries.backbones.get("tiny-bert").load()
    model = MultiTaskModel(
        TextPairEncoder(backbone.model, Pooling.CLS),
        out_features=backbone.hidden_size,
        head_set=head_set,
        label_fields=data.label_fields,
        dropout=0.1,
    )
    model.set_target_scaling(data.train.labels)
    encoded = encode_split(data.train, backbone.tokenizer, 64, segments=True)
    return model, encoded


def test_epoch_vs_plain_torch_loop(benchmark, record_ratio) -> None:
    model, encoded = _setup()
    config = TrainingConfig(epochs=1, batch_size=16, lr=1e-3, patience=0, grad_clip=1.0)
    device = torch.device("cpu")
    fields = ("category", "click", "rating")
    rows = batch_rows(
        encoded.lengths, config.batch_size, shuffle=True, rng=np.random.default_rng(0)
    )
    batches = [encoded.collate(r, fields) for r in rows]
    heads = {head.spec.task: head for head in model.task_heads()}

    def plain_epoch() -> None:
        model.train()
        optimizer = build_optimizer(model, config)
        for batch in batches:
            outputs = model(**batch.model_inputs())
            loss = sum(
                task_loss(h, outputs[t], batch.labels[h.spec.label_field]) for t, h in heads.items()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

    def harness_epoch() -> None:
        train(model, encoded, lambda: 0.0, config, device=device, seed=0)

    plain_epoch()  # warm-up both paths
    harness_epoch()
    plain, harness = [], []
    for _ in range(ROUNDS):  # interleaved so drift hits both alike
        started = time.perf_counter()
        plain_epoch()
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        harness_epoch()
        harness.append(time.perf_counter() - started)
    benchmark.pedantic(harness_epoch, rounds=1, iterations=1)
    ratio = float(np.median(harness) / np.median(plain))
    benchmark.extra_info["ratio_vs_plain_loop"] = ratio
    record_ratio(
        "harness_epoch_vs_plain_loop",
        ratio,
        {
            "plain_s": float(np.median(plain)),
            "harness_s": float(np.median(harness)),
            "target": "<= 1.05",
        },
    )
