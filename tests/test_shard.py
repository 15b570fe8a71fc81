"""``--shard I/N`` splits the matrix the same way everywhere; ``mtrec merge`` joins shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mtrec.cli import main
from mtrec.config import parse_suite
from mtrec.errors import UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run.matrix import expand
from mtrec.run.runner import Shard, run_sweep
from mtrec.store.database import Store
from mtrec.store.merge import merge_runs
from mtrec.store.results import validate_results

SUITE = """
name: sharded
seeds: [0, 1]
backbones: [{name: id-embedding, options: {dim: 4}}, {name: id-embedding, options: {dim: 6}}]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, n_interactions: 150}}]
training: {epochs: 1, batch_size: 32}
fairness_metrics: []
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""


def suite(text: str = SUITE) -> Any:
    return parse_suite(text, origin="sharded.yaml", source="file")


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3"])
def test_bad_shard_is_bad_input(text: str) -> None:
    with pytest.raises(UsageError, match=f"--shard {text}: expected I/N"):
        Shard.parse(text)


def test_shards_partition_the_matrix_whatever_the_listing_order() -> None:
    combinations = expand(suite())
    parts = [Shard(i, 3).select(combinations) for i in (1, 2, 3)]
    keys = [c.key for part in parts for c in part]
    assert sorted(keys) == sorted(c.key for c in combinations)  # disjoint and complete
    reordered = expand(suite(SUITE.replace("seeds: [0, 1]", "seeds: [1, 0]")))
    assert [{c.key for c in Shard(i, 3).select(reordered)} for i in (1, 2, 3)] == [
        {c.key for c in part} for part in parts
    ]


def test_shards_merge_into_one_complete_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    shards = []
    for index in (1, 2):
        folder = tmp_path / f"shard{index}"
        run_sweep(suite(), PluginHost(), folder, device="cpu", store=store, shard=Shard(index, 2))
        shards.append(folder)
    with pytest.raises(UsageError, match="both shard 1/2"):
        merge_runs(tmp_path / "bad", [shards[0], shards[0]])
    other = tmp_path / "other"
    run_sweep(
        suite(SUITE.replace("seeds: [0, 1]", "seeds: [0]")),
        PluginHost(),
        other,
        device="cpu",
        shard=Shard(2, 2),
    )
    with pytest.raises(UsageError, match="different suite configuration"):
        merge_runs(tmp_path / "bad", [shards[0], other])
    assert not (tmp_path / "bad").exists()

    assert (
        main(["merge", str(tmp_path / "merged"), *map(str, shards), "--store", str(store.path)])
        == 0
    )
    document = json.loads((tmp_path / "merged" / "results.json").read_text())
    validate_results(document)
    assert [r["key"] for r in document["records"]] == [c.key for c in expand(suite())]
    assert all(r["status"] == "ok" for r in document["records"])
    assert set(document["tradeoffs"]["front"]) <= {r["key"] for r in document["records"]}
    for record in document["records"]:
        for name in record["predictions"].values():
            assert (tmp_path / "merged" / "predictions" / name).is_file()
    assert store.find_run("merged") == (tmp_path / "merged").resolve()
    assert len(store.records("merged")) == 4
