"""Fine-tuning strategies and the non-language baselines, through real sweeps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mtrec.config import parse_suite
from mtrec.hookspecs import hookimpl
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.specs import HeadSetSpec, HeadSpec, TaskType
from tests.prepared_models import prepare_for_test

SUITE = """
name: strategies
backbones:
  - {name: tiny-bert, training: {lr: 0.001, epochs: 2}}
  - {name: tiny-bert, training: {lr: 0.001, strategy: top_k, top_k: 1}}
  - {name: tiny-bert, training: {strategy: frozen, head_lr: 0.003, epochs: 1}}
  - {name: tiny-bert, training: {strategy: frozen, head_lr: 0.003, epochs: 3}}
  - {name: "hybrid:tiny-bert", training: {strategy: frozen, head_lr: 0.003, epochs: 1}}
  - {name: id-embedding, training: {lr: 0.01}}
  - trivial
head_sets: [ecommerce-seed, click-only]
domains: [{name: synthetic-ecommerce, options: {n_interactions: 600}}]
training: {epochs: 2, batch_size: 32}
measure: {latency_min_repeats: 2, latency_min_seconds: 0.0, latency_batch_sizes: [4]}
# next-item trains on one sampled negative per positive and ranks among 19: what is tested here
# is how each strategy trains and scores, not ranking quality
evaluation: {ranking: {negatives: 19, validation_negatives: 9, train_negatives: 1}}
"""

CLICK_ONLY = SimpleNamespace(
    mtrec_register_head_sets=hookimpl(
        lambda: [
            HeadSetSpec(
                name="click-only",
                heads=(
                    HeadSpec(
                        task="click", task_type=TaskType.BINARY, label_field="click", loss="bce"
                    ),
                ),
            )
        ]
    )
)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    host = PluginHost(extra_plugins=[("click-only", CLICK_ONLY)])
    suite = parse_suite(SUITE, origin="strategies.yaml", source="file")
    out: Path = tmp_path_factory.mktemp("strategies") / "run"
    return run_sweep(suite, host, out, device="cpu")


def records(sweep: SweepResult, backbone: str, strategy: str, head_set: str = "ecommerce-seed"):
    return [
        r
        for r in sweep.document["records"]
        if r["backbone"] == backbone
        and r["head_set"] == head_set
        and r["training"].get("strategy") == strategy
    ]


def test_every_combination_ok(sweep: SweepResult) -> None:
    assert [r["error"] for r in sweep.failed] == []
    assert len(sweep.document["records"]) == 14


def test_frozen_cache_encodes_each_unique_text_once(sweep: SweepResult) -> None:
    data = next(iter(sweep.cache.rendered.values()))  # the texts the backbones read
    texts: set[str] = set()
    for split in (data.train, data.validation, data.test):
        texts.update(split.user_text)
        texts.update(split.item_text)
    # Two frozen entries (1 and 3 epochs) and the frozen hybrid over the same text backbone,
    # on two head sets: still one encoding per text.
    assert len(records(sweep, "tiny-bert", "frozen")) == 2
    assert len(records(sweep, "hybrid:tiny-bert", "frozen")) == 1
    assert sweep.cache.features.encodings == len(texts)


def test_trainable_parameters_by_strategy(sweep: SweepResult) -> None:
    full = records(sweep, "tiny-bert", "full")[0]["efficiency"]
    top_k = records(sweep, "tiny-bert", "top_k")[0]["efficiency"]
    frozen = records(sweep, "tiny-bert", "frozen")[0]["efficiency"]
    assert full["trainable_params"] == full["params"]
    assert top_k["trainable_params"] < 0.5 * full["trainable_params"]
    assert frozen["trainable_params"] < 0.05 * full["trainable_params"]
    # The frozen backbone still counts toward the deployed model's size.
    assert frozen["params"] > full["params"] * 0.9


def test_trivial_backbone_is_the_trivial_reference(sweep: SweepResult) -> None:
    for record in records(sweep, "trivial", "none"):
        for task, metrics in record["metrics"].items():
            # Same constants, computed in float32 by the model: equal to rounding.
            assert metrics == pytest.approx(record["reference"]["trivial"][task], rel=1e-6)
        assert record["training"]["epochs_run"] == 0


def test_id_embedding_beats_trivial_on_rating_and_click(sweep: SweepResult) -> None:
    record = records(sweep, "id-embedding", "full")[0]
    trivial = record["reference"]["trivial"]
    assert record["metrics"]["rating"]["rmse"] < trivial["rating"]["rmse"]
    assert record["metrics"]["click"]["auc"] > trivial["click"]["auc"]


def test_lora_trains_under_five_percent_of_minilm() -> None:

    host = PluginHost()
    spec = host.registries.backbones.get("minilm-l6")
    if spec.available():
        pytest.skip(spec.available() or "")
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=60)
    head_set = host.registries.head_sets.get("ecommerce-seed")

    def trainable(strategy: str) -> tuple[int, int]:
        prepared = prepare_for_test(spec, head_set, data, strategy=strategy, lora_r=8)
        params = list(prepared.model.parameters())
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    lora_trainable, lora_total = trainable("lora")
    full_trainable, _ = trainable("full")
    assert lora_trainable < 0.05 * full_trainable
    assert lora_total > full_trainable  # the adapters sit on top of the frozen weights


def test_architecture_weighting_and_training_options_are_recorded(tmp_path: Path) -> None:
    suite = parse_suite(
        "name: mtl\nbackbones: [{name: tiny-bert, training: {lr: 0.001}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}}]\n"
        "training: {epochs: 2, architecture: mmoe, architecture_options: {n_experts: 3},\n"
        "  loss_weighting: dwa, grad_accumulation: 2, warmup_ratio: 0.2}\n"
        "measure: {latency_min_repeats: 1, latency_min_seconds: 0}\n",
        origin="mtl.yaml",
        source="file",
    )
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    record = result.document["records"][0]
    assert record["status"] == "ok", record["error"]
    training = record["training"]
    assert training["architecture"] == "mmoe"
    assert training["loss_weighting"] == "dwa"
    assert training["precision"] == "fp32"
    tasks = {"category", "rating", "click", "next-item"}
    assert set(training["gate_weights"]) == tasks
    assert all(len(w) == 3 for w in training["gate_weights"].values())
    assert set(training["history"][0]["task_weights"]) == tasks
    # 160 training rows plus next-item's 4 sampled negatives each (800), batch 16, two
    # batches per step: 25 steps per epoch.
    assert training["steps"] == 50


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("architecture: mmeo", "did you mean 'mmoe'"),
        ("loss_weighting: pcgard", "did you mean 'pcgrad'"),
        ("architecture: mmoe, architecture_options: {n_expert: 2}", "architecture_options"),
    ],
)
def test_unknown_architecture_or_weighting_is_bad_input(override: str, message: str) -> None:
    from mtrec.errors import UsageError
    from mtrec.run.matrix import check_suite

    suite = parse_suite(
        "name: bad\nbackbones: [tiny-bert]\nhead_sets: [ecommerce-seed]\n"
        f"domains: [synthetic-ecommerce]\ntraining: {{{override}}}\n",
        origin="bad.yaml",
        source="file",
    )
    with pytest.raises(UsageError, match=message):
        check_suite(suite, PluginHost().registries)


def test_lora_wrapping_is_quiet() -> None:
    """peft's deprecated transformers call is not repeated once per LoRA combination."""
    pytest.importorskip("peft")
    import warnings

    from transformers import BertConfig, BertModel

    from mtrec.model.strategies import with_lora

    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        _, targets = with_lora(BertModel(config), 2)
    assert targets == ["query", "value"]
