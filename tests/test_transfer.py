"""Transfer: multi-task training on source domains, then fine-tuning on the target domain.

The planted case: the source is the same e-commerce world with many interactions, the target
gets a handful of training rows. What the backbone learns on the source (category words,
quality and price words) carries over, so the transferred model beats the same combination
trained on the target alone with the same target budget.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mtrec.config import parse_suite
from mtrec.errors import UnknownNameError
from mtrec.plugin_host import PluginHost
from mtrec.run.matrix import check_suite
from mtrec.run.runner import run_sweep
from mtrec.store.results import validate_results

TRANSFER = """
name: transfer
seeds: [0]
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 60, n_items: 60, n_interactions: 600}
  - name: synthetic-ecommerce
    options: {n_users: 60, n_items: 60, n_interactions: 600}
    transfer:
      sources:
        - name: synthetic-ecommerce
          options: {n_users: 150, n_items: 150, n_interactions: 2500}
          head_set: ecommerce-seed
      epochs: 3
fairness_metrics: []
training: {epochs: 2, batch_size: 16, lr: 0.001, head_lr: 0.003, max_train_samples: 48,
           max_length: 48, patience: 0}
evaluation: {ranking: {negatives: 19, validation_negatives: 9, train_negatives: 1}}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}
"""


def test_planted_helpful_transfer_shows_a_positive_gain(tmp_path: Path) -> None:
    suite = parse_suite(TRANSFER, origin="transfer.yaml", source="file")
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    assert not result.failed, result.failed
    plain, transferred = result.document["records"]
    assert "transfer" not in plain
    transfer = transferred["transfer"]
    # the target-alone reference is the plain combination of the same suite, trained once
    assert transfer["target_alone_key"] == plain["key"]
    assert transfer["target_alone"] == plain["metrics"]
    (source,) = transfer["sources"]
    assert source["domain"] == "synthetic-ecommerce" and source["n_train"] > 1000
    assert source["steps"] > transferred["training"]["steps"]
    # same target budget on both sides
    assert transferred["training"]["n_train"] == plain["training"]["n_train"] == 48
    assert transfer["mean_gain"] > 0
    assert transfer["gain"]["category"] > 0
    assert transferred["metrics"]["category"]["accuracy"] > plain["metrics"]["category"]["accuracy"]
    validate_results(result.document)


def test_transfer_needs_a_backbone_that_trains(tmp_path: Path) -> None:
    text = TRANSFER.replace(
        "backbones: [tiny-bert]",
        "backbones: [{name: tiny-bert, training: {strategy: frozen}}, id-embedding]",
    ).replace("n_interactions: 2500", "n_interactions: 300")
    suite = parse_suite(text, origin="transfer.yaml", source="file")
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    reasons = {
        r["backbone"]: r["error"] for r in result.document["records"] if r["status"] == "failed"
    }
    assert set(reasons) == {"tiny-bert", "id-embedding"}, reasons
    assert "not frozen" in reasons["tiny-bert"]
    assert "needs a language backbone" in reasons["id-embedding"]


def test_unknown_source_domain_is_an_input_error() -> None:
    text = TRANSFER.replace(
        "- name: synthetic-ecommerce\n          options: {n_users: 150",
        "- name: synthetic-ecomerce\n          options: {n_users: 150",
    )
    suite = parse_suite(text, origin="transfer.yaml", source="file")
    with pytest.raises(UnknownNameError, match=r"domains\[1\]\.transfer\.sources\[0\]"):
        check_suite(suite, PluginHost().registries)
