"""Executors: registered like plugins; process and ray give the records local gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mtrec.config import parse_suite
from mtrec.errors import UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run.failures import worker_death
from mtrec.run.runner import run_sweep
from mtrec.run.workers import HostRecipe
from mtrec.store.database import Store
from mtrec.store.results import validate_results

FAST = """
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, n_interactions: 150}}]
training: {epochs: 1, batch_size: 32}
evaluation: {ranking: {negatives: 19, validation_negatives: 9, train_negatives: 1}}
fairness_metrics: []
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""


def suite(backbones: str, extra: str = "") -> Any:
    text = f"name: executors\nbackbones: {backbones}\n{FAST}{extra}"
    return parse_suite(text, origin="executors.yaml", source="file")


def test_builtin_executors_are_registered_as_a_plugin() -> None:
    registry = PluginHost().registries.executors
    assert registry.names() == ["local", "process", "ray"]
    assert registry.entry("process").provider.plugin == "executors"


def test_unknown_executor_is_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown executor 'proces'; did you mean 'process'"):
        run_sweep(suite("[id-embedding]"), PluginHost(), tmp_path / "run", executor="proces")
    assert not (tmp_path / "run").exists()


def test_process_executor_gives_the_records_local_gives(tmp_path: Path) -> None:
    local = run_sweep(suite("[id-embedding]"), PluginHost(), tmp_path / "local", device="cpu")
    child = run_sweep(
        suite("[id-embedding]"),
        PluginHost(),
        tmp_path / "child",
        device="cpu",
        executor="process",
    )
    mine, theirs = local.document["records"][0], child.document["records"][0]
    assert theirs["status"] == "ok", theirs["error"]
    assert theirs["key"] == mine["key"]
    assert theirs["metrics"] == mine["metrics"]  # CPU training is deterministic
    assert theirs["efficiency"]["peak_memory_mb"] > 0
    for name in theirs["predictions"].values():
        assert (tmp_path / "child" / "predictions" / name).read_bytes() == (
            tmp_path / "local" / "predictions" / name
        ).read_bytes()
    validate_results(json.loads((tmp_path / "child" / "results.json").read_text()))


def test_worker_death_reasons() -> None:
    assert worker_death(-11) == "worker died with signal 11 (SIGSEGV)"
    assert worker_death(3) == "worker exited with code 3 before sending its record"


def test_host_recipe_rebuilds_the_same_plugins() -> None:
    host = PluginHost(blocked=["movielens"])
    rebuilt = HostRecipe.of(host).build()
    assert [p.name for p in rebuilt.loaded] == [p.name for p in host.loaded]
    assert rebuilt.blocked == ["movielens"]


def test_ray_executor_runs_a_small_suite(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        store = Store(tmp_path / "s.sqlite")
        result = run_sweep(
            suite(
                "[tiny-bert, {name: id-embedding, options: {dim: 8}}]",
                "resources: {cpus: 1, gpus: 0}",
            ),
            PluginHost(),
            tmp_path / "run",
            device="cpu",
            executor="ray",
            store=store,
        )
    finally:
        ray.shutdown()
    records = result.document["records"]
    assert [r["backbone"] for r in records] == ["tiny-bert", "id-embedding"]  # matrix order
    assert [r["status"] for r in records] == ["ok", "ok"], [r["error"] for r in records]
    for record in records:
        for name in record["predictions"].values():
            assert (tmp_path / "run" / "predictions" / name).stat().st_size > 0
        # the files beside them come back too, subfolders included
        beside = [*record["prediction_context"].values()]
        beside += [n for files in record["validation_predictions"].values() for n in files.values()]
        assert any("/validation/" in name for name in beside)
        for name in beside:
            assert (tmp_path / "run" / "predictions" / name).stat().st_size > 0
    assert sorted(r["key"] for r in store.records()) == sorted(r["key"] for r in records)
    validate_results(json.loads((tmp_path / "run" / "results.json").read_text()))
