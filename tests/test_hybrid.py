"""Hybrid backbones (``hybrid:<backbone>``): a language model's text vector combined with
learned user and item ID embeddings and biases, under full, lora and frozen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mtrec.config import TrainingConfig
from mtrec.errors import ConfigError, UnknownNameError
from mtrec.model.batching import WithIds
from mtrec.model.multitask import HybridEncoder
from mtrec.model.training import build_optimizer
from mtrec.plugin_host import PluginHost
from mtrec.specs import Family
from tests.prepared_models import prepare_for_test

DOMAIN = {"n_users": 30, "n_items": 30, "n_interactions": 160}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(scope="module")
def data(host: PluginHost) -> Any:
    return host.registries.domains.get("synthetic-ecommerce").load(seed=0, **DOMAIN)


def test_the_family_resolves_to_the_text_backbone_with_an_id_side(
    host: PluginHost,
) -> None:
    backbones = host.registries.backbones
    assert "hybrid:tiny-bert" in backbones and "hybrid:minilm-l6" in backbones
    spec = backbones.get("hybrid:tiny-gpt2")
    assert spec.name == "hybrid:tiny-gpt2" and spec.family is Family.DECODER
    assert spec.pretrained is backbones.get("tiny-gpt2").pretrained
    loaded = spec.load(id_dim=4, id_hidden=8, bias_dim=2)
    assert loaded.with_ids is not None and loaded.tokenizer is not None
    assert loaded.with_ids(16).out_features == 8 + 2 * 2
    assert backbones.get("tiny-gpt2").load().with_ids is None


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (
            "hybrid:tiny-bret",
            UnknownNameError,
            "its text backbone: unknown backbone 'tiny-bret'",
        ),
        ("hybrid:id-embedding", ConfigError, "'id-embedding' reads no text"),
        ("hybrid:hybrid:tiny-bert", ConfigError, "a hybrid of a hybrid"),
    ],
)
def test_a_bad_inner_backbone_is_a_clear_error(
    host: PluginHost, name: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        host.registries.backbones.get(name)


def test_a_bad_inner_backbone_in_a_suite_is_bad_input(tmp_path: Path, cli: Any) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: h\nbackbones: [hybrid:tiny-bret]\nhead_sets: [ecommerce-seed]\n"
        "domains: [synthetic-ecommerce]\n"
    )
    result = cli("run", str(suite), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "backbones[0]: backbone 'hybrid:tiny-bret': its text backbone: unknown backbone" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("strategy", ["full", "lora", "frozen"])
def test_the_model_reads_both_the_ids_and_the_text(
    host: PluginHost, data: Any, strategy: str
) -> None:
    spec = host.registries.backbones.get("hybrid:tiny-bert")
    head_set = host.registries.head_sets.get("ecommerce-seed")
    torch.manual_seed(0)
    prepared = prepare_for_test(spec, head_set, data, strategy=strategy)
    model = prepared.model.eval()
    assert isinstance(model.encoder, HybridEncoder)
    assert prepared.details["hybrid"] is True and prepared.details["strategy"] == strategy
    split = prepared.splits["test"]
    assert isinstance(split, WithIds)
    batch = split.collate(np.arange(8))

    def rating(**changes: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out: torch.Tensor = model(**{**batch.inputs, **changes})["rating"]
        return out

    seen = rating()
    other_users = (batch.inputs["user_ids"] + 7) % 30
    assert not torch.allclose(seen, rating(user_ids=other_users))  # the IDs reach the output
    assert not torch.allclose(seen, rating(item_ids=(batch.inputs["item_ids"] + 5) % 30))
    if strategy == "frozen":  # the text arrives as rows of the feature cache
        text = {"user_rows": batch.inputs["user_rows"].flip(0)}
        assert prepared.serving is not None  # and serving runs the same ID side
        assert isinstance(prepared.serving.encoder, HybridEncoder)
        assert prepared.serving.encoder.id_side is model.encoder.id_side
    else:
        text = {"input_ids": batch.inputs["input_ids"].flip(0)}
    assert not torch.allclose(seen, rating(**text))  # and so does the text
    # The ID side is new: it trains at head_lr, the text backbone at lr.
    optimizer = build_optimizer(model, TrainingConfig(lr=1e-5, head_lr=1e-2))
    id_params = {id(p) for p in model.encoder.id_side.parameters()}
    for group in optimizer.param_groups:
        if any(id(p) in id_params for p in group["params"]):
            assert group["lr"] == 1e-2
    assert any(id(p) in id_params for g in optimizer.param_groups for p in g["params"])


def test_the_hybrid_trains_under_each_strategy(tmp_path: Path, cli: Any) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: hybrid\nbackbones:\n"
        "  - {name: hybrid:tiny-bert, options: {id_dim: 8, id_hidden: 16}}\n"
        "  - {name: hybrid:tiny-bert, options: {id_dim: 8, id_hidden: 16},"
        " training: {strategy: lora}}\n"
        "  - {name: hybrid:tiny-bert, options: {id_dim: 8, id_hidden: 16},"
        " training: {strategy: frozen}}\n"
        "head_sets: [ecommerce-seed]\n"
        f"domains: [{{name: synthetic-ecommerce, options: {json.dumps(DOMAIN)}}}]\n"
        "fairness_metrics: []\n"
        "training: {epochs: 2, batch_size: 32, lr: 0.001, head_lr: 0.01, max_length: 32}\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0,"
        " flops: false}\n"
    )
    out = tmp_path / "run"
    result = cli("run", str(suite), "--out", str(out), "--quiet", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["training"]["strategy"] for r in records] == ["full", "lora", "frozen"]
    for record in records:
        assert record["status"] == "ok"
        assert record["training"]["hybrid"] is True
        assert record["training"]["steps"] > 0
        # the frozen text backbone is counted once, as serving cost
        assert record["efficiency"]["params"] > record["training"]["id_side_params"]
    assert records[2]["efficiency"]["latency_ms"]  # the uncached path (text -> IDs) ran
