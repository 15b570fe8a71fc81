"""Efficiency measurements: FLOPs against an analytic count, timing discipline, memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from mtrec.config import parse_suite
from mtrec.measure.efficiency import current_rss_mb, flops_per_sample, time_calls, track_memory
from mtrec.model.batching import EncodedSplit, TokenizedSplit
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import Silent, run_sweep
from mtrec.specs import HeadSetSpec, HeadSpec, LabelField, Pooling, TaskType

HIDDEN, LAYERS, INTERMEDIATE, LENGTH = 64, 2, 256, 48


def tiny_bert_model() -> MultiTaskModel:
    config = BertConfig(
        vocab_size=500,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=128,
    )
    head_set = HeadSetSpec(
        name="h",
        heads=(HeadSpec(task="y", task_type=TaskType.REGRESSION, label_field="y", loss="mse"),),
    )
    return MultiTaskModel(
        TextPairEncoder(BertModel(config, add_pooling_layer=False), Pooling.CLS),
        out_features=HIDDEN,
        head_set=head_set,
        label_fields={"y": LabelField(name="y", task_type=TaskType.REGRESSION)},
        dropout=0.0,
    )


def test_flops_per_sample_matches_analytic_count() -> None:
    model = tiny_bert_model()
    rows = 8
    split = EncodedSplit(
        tokens=TokenizedSplit(
            input_ids=[np.arange(1, LENGTH + 1, dtype=np.int64) for _ in range(rows)],
            token_type_ids=None,
            lengths=np.full(rows, LENGTH, dtype=np.int64),
            pad_id=0,
        ),
        labels={},
    )
    counted = flops_per_sample(model, split, torch.device("cpu"))
    per_token_linear = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE)
    per_token_attention = 2 * 2 * LENGTH * HIDDEN  # QK^T and AV
    analytic = LAYERS * LENGTH * (per_token_linear + per_token_attention) + 2 * HIDDEN
    assert counted == pytest.approx(analytic, rel=0.10)
    # Attention is counted too (fused SDPA kernels are invisible to the counter).
    assert counted > LAYERS * LENGTH * per_token_linear


def test_timing_reaches_both_count_and_duration() -> None:
    calls: list[int] = []

    def call() -> None:
        calls.append(1)
        time.sleep(0.004)

    few = time_calls(call, warmup=2, min_repeats=3, min_seconds=0.06, device=torch.device("cpu"))
    assert len(few) >= 10  # the duration dominated
    assert len(calls) == len(few) + 2  # warm-up calls are not timed
    many = time_calls(call, warmup=0, min_repeats=20, min_seconds=0.0, device=torch.device("cpu"))
    assert len(many) == 20  # the count dominated
    assert all(sample >= 4.0 for sample in many)


def test_phase_memory_sees_a_transient_allocation() -> None:
    before = current_rss_mb()
    with track_memory(torch.device("cpu")) as memory:
        block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
        time.sleep(0.05)
        del block
    assert memory.peak_rss_mb >= before + 250
    assert memory.cuda_peak_allocated_mb is None
    assert current_rss_mb() < memory.peak_rss_mb - 200


class RssAfterEach(Silent):
    def __init__(self) -> None:
        self.rss: list[float] = []

    def combination_finished(self, record: dict[str, Any]) -> None:
        self.rss.append(current_rss_mb())


def test_no_memory_growth_across_a_sweep(tmp_path: Path) -> None:
    entries = "\n".join(
        f"  - {{name: tiny-bert, training: {{lr: {0.001 + i * 1e-5:.5f}}}}}" for i in range(12)
    )
    suite = parse_suite(
        f"name: leak\nbackbones:\n{entries}\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 150}}]\n"
        "training: {epochs: 1, batch_size: 32}\n"
        # no single-task baselines: each would train 4 more models per combination, and the
        # growth checked here is the sweep's, combination after combination
        "fairness: {baseline_seeds: 0}\n"
        "evaluation: {ranking: {negatives: 9, validation_negatives: 9, train_negatives: 1}}\n"
        "measure: {latency_batch_sizes: [2], latency_min_repeats: 2, latency_min_seconds: 0}\n",
        origin="leak.yaml",
        source="file",
    )
    reporter = RssAfterEach()
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu", reporter=reporter)
    assert not result.failed
    assert len(reporter.rss) == 12
    assert reporter.rss[11] <= reporter.rss[1] * 1.10, reporter.rss


def test_every_ok_record_has_the_efficiency_fields(tmp_path: Path) -> None:
    suite = parse_suite(
        "name: e\nbackbones: [tiny-gpt2, id-embedding]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 150}}]\n"
        "training: {epochs: 1}\nmeasure: {latency_min_repeats: 3, latency_min_seconds: 0}\n",
        origin="e.yaml",
        source="file",
    )
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    for record in result.document["records"]:
        efficiency = record["efficiency"]
        for size in ("1", "32"):
            assert {"p50", "p90", "p95", "p99", "mean", "std", "samples"} <= set(
                efficiency["latency_ms"][size]
            )
        assert efficiency["train_samples_per_s"] > 0
        assert efficiency["inference_samples_per_s"] > 0
        assert efficiency["memory"]["train"]["peak_rss_mb"] > 0
        assert efficiency["peak_memory_mb"] >= efficiency["memory"]["inference"]["peak_rss_mb"]
        assert efficiency["flops_per_sample"] > 0
        assert efficiency["mfu"] is None  # CPU
