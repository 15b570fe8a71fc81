"""Saved models (``output.save_model``): the files, their digests, and the same predictions
from the model loaded back, for every strategy a checkpoint supports."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest
import torch
from safetensors import safe_open

import mtrec
from mtrec.config import parse_suite
from mtrec.errors import CheckpointError
from mtrec.hookspecs import hookimpl
from mtrec.model.inputs import InputOptions
from mtrec.model.multitask import MultiTaskModel
from mtrec.plugin_host import PluginHost
from mtrec.run.checkpoints import (
    ModelDescription,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from mtrec.run.matrix import check_suite
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.specs import (
    BackboneSpec,
    DomainSplit,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    Pooling,
    TaskType,
)
from mtrec.store.results import validate_results

SUITE = """
name: checkpoints
backbones:
  - {name: tiny-bert, training: {lr: 0.001}}
  - {name: tiny-bert, training: {lr: 0.001, strategy: top_k, top_k: 1}}
  - {name: tiny-bert, training: {strategy: frozen, head_lr: 0.003}}
  - {name: "hybrid:tiny-bert", training: {strategy: frozen, head_lr: 0.003}}
  - {name: "hybrid:tiny-bert", training: {lr: 0.001}}
  - {name: id-embedding, training: {lr: 0.01}}
  - trivial
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_interactions: 150}}]
training: {epochs: 1, batch_size: 32}
measure: {latency_min_repeats: 1, latency_min_seconds: 0.0, latency_batch_sizes: [4], flops: false}
fairness: {baseline_seeds: 0, bootstrap_resamples: 0}
fairness_metrics: []
evaluation: {ranking: {negatives: 9, validation_negatives: 9, train_negatives: 1}}
"""
LORA = importlib.util.find_spec("peft") is not None  # the lora extra
MATRIX = (
    SUITE.replace(
        "  - trivial\n",
        "  - trivial\n  - {name: tiny-bert, training: {lr: 0.001, strategy: lora, lora_r: 2}}\n",
    )
    if LORA
    else SUITE
)
SAVING = MATRIX + "output: {save_model: true}\n"
# Absolute tolerance on reloaded predictions. The same weights over the same batches give the
# same numbers; a frozen model reloads as its serving path, whose backbone encodes each batch's
# texts instead of reading the run's feature table (other padding, same vectors to rounding).
EXACT, SERVED = 0.0, 1e-5


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    suite = parse_suite(SAVING, origin="checkpoints.yaml", source="file")
    out: Path = tmp_path_factory.mktemp("checkpoints") / "run"
    return run_sweep(suite, PluginHost(), out, device="cpu")


def record_of(sweep: SweepResult, backbone: str, strategy: str) -> dict[str, Any]:
    records: list[dict[str, Any]] = sweep.document["records"]
    (record,) = [
        r
        for r in records
        if r["backbone"] == backbone and r["training"].get("strategy") == strategy
    ]
    return record


def test_every_ok_combination_saves_its_model_with_its_digest(sweep: SweepResult) -> None:
    assert [r["error"] for r in sweep.failed] == []
    records = sweep.document["records"]
    assert len(records) == 7 + LORA
    for record in records:
        entry = record["model"]
        folder = sweep.run_dir / entry["path"]
        assert entry["path"] == f"models/{record['key']}"
        weights = folder / "model.safetensors"
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == entry["sha256"]
        assert weights.stat().st_size == entry["bytes"]
        saved = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
        assert saved["weights"]["sha256"] == entry["sha256"]
        assert saved["key"] == record["key"]
        assert saved["mtrec"] == mtrec.__version__
        assert saved["backbone"]["name"] == record["backbone"]
        assert [h["task"] for h in saved["heads"]] == list(record["tasks"])
    # Nothing half-written is left beside the checkpoints.
    assert sorted(p.name for p in (sweep.run_dir / "models").iterdir()) == sorted(
        r["key"] for r in records
    )
    validate_results(sweep.document)
    broken = json.loads(json.dumps(sweep.document))
    broken["records"][0]["model"]["sha256"] = "not a digest"
    with pytest.raises(jsonschema.ValidationError):
        validate_results(broken)


def test_a_frozen_checkpoint_holds_the_heads_not_the_backbone(sweep: SweepResult) -> None:
    frozen = record_of(sweep, "tiny-bert", "frozen")
    full = record_of(sweep, "tiny-bert", "full")
    with safe_open(str(sweep.run_dir / frozen["model"]["path"] / "model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert names and not any(name.startswith("encoder.") for name in names)
    assert frozen["model"]["bytes"] < full["model"]["bytes"] / 20
    saved = json.loads(
        (sweep.run_dir / frozen["model"]["path"] / "checkpoint.json").read_text(encoding="utf-8")
    )
    assert len(saved["backbone"]["frozen_sha256"]) == 64


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, np.ndarray] = {}
    for column in ("id", "y_pred", "score"):
        if column in rows[0]:
            columns[column] = np.array(
                [[float(value) for value in row[column].split()] for row in rows]
            ).squeeze(-1 if all(len(row[column].split()) == 1 for row in rows) else ())
    return columns


def rendered_test_split(sweep: SweepResult) -> DomainSplit:
    (data,) = sweep.cache.rendered.values()  # the texts every backbone of the run read
    return data.test


@pytest.mark.parametrize(
    ("backbone", "strategy", "tolerance"),
    [
        ("tiny-bert", "full", EXACT),
        ("tiny-bert", "top_k", EXACT),
        ("tiny-bert", "frozen", SERVED),
        ("hybrid:tiny-bert", "frozen", SERVED),
        ("hybrid:tiny-bert", "full", EXACT),
        ("id-embedding", "full", EXACT),
        ("trivial", "none", EXACT),
        pytest.param(
            "tiny-bert",
            "lora",
            EXACT,
            marks=pytest.mark.skipif(not LORA, reason="strategy lora needs peft"),
        ),
    ],
)
def test_the_reloaded_model_predicts_what_the_run_saved(
    sweep: SweepResult, backbone: str, strategy: str, tolerance: float
) -> None:
    record = record_of(sweep, backbone, strategy)
    saved = mtrec.load_model(sweep.run_dir / record["model"]["path"])
    assert not saved.model.training
    assert saved.metadata["key"] == record["key"]
    split = rendered_test_split(sweep)
    predicted = saved.predict(split)
    compared = 0
    for task, name in record["predictions"].items():
        if record["tasks"][task]["type"] == "ranking":
            continue  # ranked lists come from candidate pairs, not from these rows
        run = read_predictions(sweep.run_dir / "predictions" / name)
        np.testing.assert_array_equal(run["id"], split.ids)
        np.testing.assert_allclose(predicted[task].y_pred, run["y_pred"], atol=tolerance, rtol=0)
        if "score" in run:
            score = predicted[task].score
            assert score is not None
            np.testing.assert_allclose(score, run["score"], atol=tolerance, rtol=0)
        compared += 1
    assert compared >= 3


def test_reloaded_top_k_trains_the_layers_it_trained(sweep: SweepResult) -> None:
    record = record_of(sweep, "tiny-bert", "top_k")
    model = mtrec.load_model(sweep.run_dir / record["model"]["path"]).model
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == record["efficiency"]["trainable_params"]


def copy_of(sweep: SweepResult, backbone: str, strategy: str, tmp_path: Path) -> Path:
    source = sweep.run_dir / record_of(sweep, backbone, strategy)["model"]["path"]
    return Path(shutil.copytree(source, tmp_path / "model"))


def test_altered_weights_are_refused_naming_the_file(sweep: SweepResult, tmp_path: Path) -> None:
    folder = copy_of(sweep, "id-embedding", "full", tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit pattern in the last weight
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=re.escape(f"{weights}: SHA-256 does not match")):
        mtrec.load_model(folder)


def edit_metadata(folder: Path, change: Any) -> None:
    path = folder / "checkpoint.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    change(metadata)
    path.write_text(json.dumps(metadata), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("heads"), "field 'heads' is missing"),
        (lambda m: m.update(mtrec="99.0.0"), "saved by mtrec 99.0.0"),
        (lambda m: m["strategy"].update(name="adapters"), "strategy 'adapters' cannot be"),
        (lambda m: m["backbone"].update(frozen_sha256="0" * 64), "now loads other weights"),
        (lambda m: m.update(strategy="full"), "field 'strategy' must be an object"),
        (lambda m: m["heads"][0].pop("type"), "a head is malformed .KeyError: 'type'"),
        (lambda m: m["backbone"].update(name="no-such-backbone"), "unknown backbone"),
        (
            lambda m: m["heads"][0]["classes"].append("one more"),
            "model.safetensors: does not fit the rebuilt model: .*size mismatch",
        ),
        (lambda m: m["weights"].update(aliases={"a": "b"}), "aliases names tensors not stored"),
    ],
)
def test_bad_metadata_is_refused_naming_the_file(
    sweep: SweepResult, tmp_path: Path, change: Any, message: str
) -> None:
    folder = copy_of(sweep, "tiny-bert", "frozen", tmp_path)
    edit_metadata(folder, change)
    with pytest.raises(CheckpointError, match=message) as raised:
        mtrec.load_model(folder)
    # checkpoint.json, or the weights file it no longer fits
    named = "model.safetensors" if message.startswith("model.safetensors") else "checkpoint.json"
    assert str(raised.value).startswith(f"{folder / named}: ")
    assert "\n" not in str(raised.value)


def test_a_folder_without_a_checkpoint_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: not found"):
        mtrec.load_model(tmp_path)


def test_save_model_does_not_change_the_keys() -> None:
    host = PluginHost()
    plain = check_suite(parse_suite(MATRIX, origin="a.yaml", source="file"), host.registries)
    saving = check_suite(parse_suite(SAVING, origin="b.yaml", source="file"), host.registries)
    assert [c.key for c in plain] == [c.key for c in saving]
    assert [c.output.save_model for c in saving] == [True] * len(saving)


TRIVIAL = """
name: trivial-only
backbones: [trivial]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_interactions: 150}}]
measure: {latency_min_repeats: 1, latency_min_seconds: 0.0, latency_batch_sizes: [4], flops: false}
fairness: {baseline_seeds: 0, bootstrap_resamples: 0}
fairness_metrics: []
evaluation: {ranking: {negatives: 9, validation_negatives: 9, train_negatives: 1}}
"""


def test_without_save_model_no_models_folder(tmp_path: Path) -> None:
    suite = parse_suite(TRIVIAL, origin="t.yaml", source="file")
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    assert [r["status"] for r in result.document["records"]] == ["ok"]
    assert "model" not in result.document["records"][0]
    assert not (tmp_path / "run" / "models").exists()


def test_a_combination_failing_after_its_save_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mtrec.run.execute as execute

    def fails(*args: Any, **kwargs: Any) -> Any:
        # after run_combination returned: the model is on disk by now
        assert any((tmp_path / "run" / "models").iterdir())
        raise RuntimeError("planted failure after the save")

    monkeypatch.setattr(execute, "combination_fingerprint", fails)
    suite = parse_suite(TRIVIAL + "output: {save_model: true}\n", origin="t.yaml", source="file")
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    (record,) = result.document["records"]
    assert record["status"] == "failed" and "planted failure" in record["error"]
    assert "model" not in record
    assert list((tmp_path / "run" / "models").iterdir()) == []


def test_a_record_reused_from_the_store_brings_its_model(tmp_path: Path) -> None:
    from mtrec.store.database import Store

    store = Store(tmp_path / "runs.sqlite")
    plain = parse_suite(TRIVIAL, origin="t.yaml", source="file")
    saving = parse_suite(TRIVIAL + "output: {save_model: true}\n", origin="t.yaml", source="file")
    # A record that saved no model is not reused by a run that saves models: it is run again.
    run_sweep(plain, PluginHost(), tmp_path / "a", device="cpu", store=store)
    second = run_sweep(saving, PluginHost(), tmp_path / "b", device="cpu", store=store, resume=True)
    (record,) = second.document["records"]
    assert "resumed_from" not in record
    # That one did save: the next run copies the record in, and its model folder with it.
    third = run_sweep(saving, PluginHost(), tmp_path / "c", device="cpu", store=store, resume=True)
    (copied,) = third.document["records"]
    assert copied["resumed_from"] and copied["model"] == record["model"]
    weights = tmp_path / "c" / copied["model"]["path"] / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["model"]["sha256"]


class TiedIds(torch.nn.Module):
    """An ID backbone whose user and item tables are one tensor (tied weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.users = torch.nn.Embedding(16, 8)
        self.items = torch.nn.Embedding(16, 8)
        self.items.weight = self.users.weight

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.users(user_ids % 16), self.items(item_ids % 16)], dim=-1)


class Compiled(torch.nn.Module):
    """Names its module's state as ``torch.compile``'s wrapper does (``_orig_mod.``), without
    the compiler's start-up cost."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self._orig_mod = module

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._orig_mod(**inputs)
        return out


TIED = SimpleNamespace(
    mtrec_register_backbones=hookimpl(
        lambda: [
            BackboneSpec(
                name="tied-ids",
                family=Family.ID_EMBEDDING,
                pooling=Pooling.CLS,
                load=lambda: LoadedBackbone(
                    model=TiedIds(),
                    tokenizer=None,
                    hidden_size=16,
                    pooling=Pooling.CLS,
                    source="tied-ids",
                ),
                pretrained=False,
            )
        ]
    )
)


def tied_model() -> tuple[MultiTaskModel, ModelDescription]:
    """A small model on the hand-registered ``tied-ids`` backbone, and its description."""
    heads = (
        HeadSpec(task="rating", task_type=TaskType.REGRESSION, label_field="rating", loss="mse"),
        HeadSpec(
            task="kind", task_type=TaskType.MULTICLASS, label_field="kind", loss="cross_entropy"
        ),
    )
    fields = {
        "rating": LabelField(name="rating", task_type=TaskType.REGRESSION),
        "kind": LabelField(name="kind", task_type=TaskType.MULTICLASS, classes=("a", "b", "c")),
    }
    model = MultiTaskModel(
        TiedIds(),
        out_features=16,
        head_set=HeadSetSpec(name="mine", heads=heads),
        label_fields=fields,
        dropout=0.0,
    )
    model.set_target_scaling({"rating": np.array([1.0, 3.0, 5.0])})
    description = ModelDescription(
        key="k" * 16, backbone="tied-ids", backbone_options={}, family=Family.ID_EMBEDDING,
        pooling=None, strategy="full", top_k=2, lora_r=8, max_length=64, precision="fp32",
        head_set="mine", heads=heads, hidden_size=0, label_fields=fields,
        architecture="shared-bottom", architecture_options={}, dropout=0.0, encoder_width=16,
        input=InputOptions(),
    )  # fmt: skip
    return model, description


def test_tied_weights_are_stored_once_and_tied_again(tmp_path: Path) -> None:
    model, description = tied_model()
    model.encoder = Compiled(model.encoder)
    entry = save_checkpoint(model, tmp_path / "models" / "k", description=description)
    assert entry["path"] == "k"
    with safe_open(str(tmp_path / "models" / "k" / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    # One copy of the shared table, under the uncompiled model's names.
    assert "encoder.users.weight" in names and "encoder.items.weight" not in names
    assert not any("_orig_mod" in name for name in names)
    saved = load_checkpoint(tmp_path / "models" / "k", PluginHost(extra_plugins=[("tied", TIED)]))
    encoder = saved.model.encoder
    assert isinstance(encoder, TiedIds) and encoder.items.weight is encoder.users.weight
    ids = torch.arange(20)
    original = model.encoder._orig_mod
    assert isinstance(original, TiedIds)
    torch.testing.assert_close(encoder.users.weight, original.users.weight, rtol=0, atol=0)
    for head in ("rating", "kind"):
        torch.testing.assert_close(
            saved.model(user_ids=ids, item_ids=ids + 3)[head],
            MultiTaskModel.forward(model, user_ids=ids, item_ids=ids + 3)[head],
            rtol=0,
            atol=0,
        )
    assert saved.metadata["heads"][1]["n_outputs"] == 3


def test_the_documented_recipe_predicts_the_run_s_test_split(sweep: SweepResult) -> None:
    # docs/checkpoints.md: the domain loaded through its plugin, rendered by the saved model
    record = record_of(sweep, "tiny-bert", "full")
    saved = mtrec.load_model(sweep.run_dir / record["model"]["path"])
    host = PluginHost()
    domain = host.registries.domains.get(saved.metadata["domain"]["name"])
    data = domain.load(seed=saved.metadata["seed"], **saved.metadata["domain"]["options"])
    predictions = saved.predict(saved.render(data.test))
    run = read_predictions(sweep.run_dir / "predictions" / record["predictions"]["rating"])
    np.testing.assert_array_equal(predictions["rating"].y_pred, run["y_pred"])
    # Unrendered texts are other inputs: the rendering is what makes them equal.
    assert not np.array_equal(saved.predict(data.test)["rating"].y_pred, run["y_pred"])


def test_a_worker_process_saves_the_model_too(tmp_path: Path) -> None:
    suite = parse_suite(TRIVIAL + "output: {save_model: true}\n", origin="t.yaml", source="file")
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu", executor="process")
    (record,) = result.document["records"]
    assert record["status"] == "ok", record["error"]
    weights = tmp_path / "run" / record["model"]["path"] / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["model"]["sha256"]


def test_resume_reads_a_suite_without_an_output_block_as_saving_nothing() -> None:
    from mtrec.run.resume import same_suite

    plain = parse_suite(TRIVIAL, origin="t.yaml", source="file").model_dump(mode="json")
    older = {k: v for k, v in plain.items() if k != "output"}  # written before the block
    saving = parse_suite(
        TRIVIAL + "output: {save_model: true}\n", origin="t.yaml", source="file"
    ).model_dump(mode="json")
    assert same_suite(older, plain)
    assert not same_suite(older, saving) and not same_suite(plain, saving)


def test_merged_shards_bring_their_saved_models(tmp_path: Path) -> None:
    from mtrec.run.runner import Shard
    from mtrec.store.merge import merge_runs

    text = TRIVIAL.replace("name: trivial-only\n", "name: trivial-only\nseeds: [0, 1]\n")
    suite = parse_suite(text + "output: {save_model: true}\n", origin="t.yaml", source="file")
    shards = [tmp_path / "shard1", tmp_path / "shard2"]
    for index, folder in enumerate(shards, start=1):
        run_sweep(suite, PluginHost(), folder, device="cpu", shard=Shard(index, 2))
    document = merge_runs(tmp_path / "merged", shards)
    assert len(document["records"]) == 2
    for record in document["records"]:
        weights = tmp_path / "merged" / record["model"]["path"] / "model.safetensors"
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["model"]["sha256"]


def rating_bias(model: MultiTaskModel) -> torch.Tensor:
    (head,) = [head for head in model.task_heads() if head.spec.task == "rating"]
    return head.output.bias.detach()


def test_a_save_that_fails_leaves_the_earlier_checkpoint_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    folder = tmp_path / "models" / "k"
    model, description = tied_model()
    first = save_checkpoint(model, folder, description=replace(description, extra={"round": 3}))
    assert read_metadata(folder)["extra"] == {"round": 3}
    with torch.no_grad():
        rating_bias(model).add_(1.0)
    second = save_checkpoint(model, folder, description=description)
    assert second["sha256"] != first["sha256"]  # saved again: replaced whole
    assert (
        hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        == (second["sha256"])
    )

    def killed(tensors: Any, filename: str, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", killed)
    kept = float(rating_bias(model))
    with torch.no_grad():
        rating_bias(model).add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(model, folder, description=description)
    # The earlier checkpoint is untouched and nothing half-written is left beside it.
    assert sorted(p.name for p in folder.parent.iterdir()) == ["k"]
    assert (
        hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
        == (second["sha256"])
    )
    loaded = load_checkpoint(folder, PluginHost(extra_plugins=[("tied", TIED)]))
    assert float(rating_bias(loaded.model)) == kept != float(rating_bias(model))
