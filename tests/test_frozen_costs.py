"""A frozen backbone's cost includes the backbone: serving a request with new texts encodes
them. The cached-feature cost is reported next to it, and the Pareto front reads end-to-end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mtrec.config import parse_suite
from mtrec.measure.efficiency import eager_attention
from mtrec.measure.pareto import summarise
from mtrec.plugin_host import PluginHost
from mtrec.reports.summary import compact, number
from mtrec.run.runner import run_sweep

DOMAIN = {"n_interactions": 200}
MAX_LENGTH = 48


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    suite = parse_suite(
        "name: f\nbackbones: [tiny-bert, {name: tiny-bert, training: {strategy: frozen}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}}]\n"
        f"training: {{epochs: 1, max_length: {MAX_LENGTH}}}\n"
        "measure: {latency_batch_sizes: [1, 4], latency_min_repeats: 5, latency_min_seconds: 0}\n"
        "fairness_metrics: []\n",
        origin="f.yaml",
        source="file",
    )
    result = run_sweep(suite, PluginHost(), tmp_path_factory.mktemp("f") / "run", device="cpu")
    return result.document


@pytest.fixture(scope="module")
def records(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_strategy = {record["training"]["strategy"]: record for record in document["records"]}
    assert all(record["status"] == "ok" for record in by_strategy.values())
    return by_strategy


def _backbone_flops_per_sample() -> float:
    """The tiny BERT encoding the user text and the item text of the first 16 test rows,
    counted here without mtrec's model (the same rows mtrec's FLOP count uses)."""
    host = PluginHost()
    loaded = host.registries.backbones.get("tiny-bert").load()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, **DOMAIN)
    rows = range(min(16, len(data.test)))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), eager_attention(loaded.model), counter:
        for texts in (data.test.user_text, data.test.item_text):
            batch = loaded.tokenizer(
                [texts[row] for row in rows],
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
                return_token_type_ids=False,
            )
            loaded.model(**batch)
    return float(counter.get_total_flops()) / len(rows)


def test_frozen_flops_include_the_backbone(records: dict[str, dict[str, Any]]) -> None:
    efficiency = records["frozen"]["efficiency"]
    backbone = _backbone_flops_per_sample()
    assert backbone > 0
    assert efficiency["flops_per_sample"] >= backbone
    assert efficiency["flops_per_sample"] > efficiency["flops_per_sample_cached"] > 0
    # the cached path is only the heads: far below one backbone pass
    assert efficiency["flops_per_sample_cached"] < 0.1 * backbone


def test_frozen_latency_is_end_to_end_with_the_cached_figure_beside_it(
    records: dict[str, dict[str, Any]],
) -> None:
    efficiency = records["frozen"]["efficiency"]
    for size in ("1", "4"):
        end_to_end = efficiency["latency_ms"][size]["p50"]
        cached = efficiency["latency_ms_cached"][size]["p50"]
        assert end_to_end > cached > 0
    # the Pareto front reads the end-to-end serving cost
    assert summarise(records["frozen"])["latency_p50_ms"] == efficiency["latency_ms"]["1"]["p50"]


def test_strategies_without_a_cache_have_no_cached_figures(
    records: dict[str, dict[str, Any]],
) -> None:
    efficiency = records["full"]["efficiency"]
    assert efficiency["latency_ms_cached"] is None
    assert efficiency["flops_per_sample_cached"] is None
    assert np.isfinite(efficiency["flops_per_sample"])


def test_reports_show_both_figures(document: dict[str, Any]) -> None:
    from mtrec.reports.markdown import render_markdown

    frozen = next(r for r in document["records"] if r["training"]["strategy"] == "frozen")
    text = render_markdown(document)
    assert "The Pareto front uses the end-to-end cost" in text
    cached = frozen["efficiency"]["latency_ms_cached"]["1"]["p50"]
    assert f"(cached {number(cached, 3)})" in text
    assert f"(cached {compact(frozen['efficiency']['flops_per_sample_cached'])})" in text
