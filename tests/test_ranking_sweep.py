"""A sweep with a ranking head: every backbone ranks identical candidates, the trivial
predictor's lists are the most-popular ones, and what the lists are drawn from depends on the
data seed and the suite's protocol, never on the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl
from mtrec.config import load_suite
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep

pytestmark = pytest.mark.slow


class RankingHeads:
    @hookimpl
    def mtrec_register_head_sets(self) -> list[HeadSetSpec]:
        return [
            HeadSetSpec(
                name="test-rank",
                heads=(
                    HeadSpec(
                        task="rating",
                        task_type=TaskType.REGRESSION,
                        label_field="rating",
                        loss="mse",
                    ),
                    HeadSpec(
                        task="next-item",
                        task_type=TaskType.RANKING,
                        label_field="relevance",
                        loss="bce",
                    ),
                ),
            )
        ]


def _sweep(
    tmp: Path, *, seeds: list[int], ranking: dict[str, Any], backbones: list[str]
) -> dict[str, Any]:
    suite = {
        "name": "rank-test",
        "seeds": seeds,
        "backbones": backbones,
        "head_sets": ["test-rank"],
        "domains": [
            {
                "name": "synthetic-ecommerce",
                "options": {"n_users": 40, "n_items": 60, "n_interactions": 400},
            }
        ],
        "training": {"epochs": 1, "batch_size": 32, "lr": 0.001, "max_length": 32},
        "measure": {
            "latency_batch_sizes": [1],
            "latency_warmup": 0,
            "latency_min_repeats": 1,
            "latency_min_seconds": 0.0,
            "flops": False,
        },
        "fairness": {"baseline_seeds": 0, "bootstrap_resamples": 0},
        "fairness_metrics": [],
        "evaluation": {"ranking": ranking},
    }
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    run_dir = tmp / "run"
    run_sweep(
        load_suite(str(path)),
        PluginHost(extra_plugins=[("test-rank", RankingHeads())]),
        run_dir,
        device="cpu",
    )
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert all(r["status"] == "ok" for r in results["records"]), [
        r.get("error") for r in results["records"]
    ]
    return {"dir": run_dir, "records": results["records"]}


def _lists(run: dict[str, Any], record: dict[str, Any]) -> list[dict[str, str]]:
    path = run["dir"] / "predictions" / record["predictions"]["next-item"]
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _sweep(
        tmp_path_factory.mktemp("sampled"),
        seeds=[0, 1],
        ranking={"protocol": "sampled", "negatives": 15, "k": [5, 10], "train_negatives": 1},
        backbones=["tiny-bert", "id-embedding", "trivial"],
    )


def test_every_backbone_ranks_identical_candidates(sampled: dict[str, Any]) -> None:
    for seed in (0, 1):
        records = [r for r in sampled["records"] if r["seed"] == seed]
        assert {r["backbone"] for r in records} == {"tiny-bert", "id-embedding", "trivial"}
        tables = [_lists(sampled, r) for r in records]
        keyed = [
            [(row["user_id"], row["relevant"], row["candidates"]) for row in table]
            for table in tables
        ]
        assert keyed[0] == keyed[1] == keyed[2]
        assert len(keyed[0]) > 10
        for row in tables[0]:  # relevant + 15 negatives, every relevant item a candidate
            candidates = set(row["candidates"].split())
            relevant = set(row["relevant"].split())
            assert relevant <= candidates
            assert len(candidates) == len(relevant) + 15
            assert int(row["n_candidates"]) == len(candidates)
    # another data seed draws other candidates
    first = {
        r["seed"]: _lists(sampled, r) for r in sampled["records"] if r["backbone"] == "trivial"
    }
    assert [row["candidates"] for row in first[0]] != [row["candidates"] for row in first[1]]


def test_trivial_lists_are_most_popular(sampled: dict[str, Any]) -> None:
    for record in sampled["records"]:
        if record["backbone"] != "trivial":
            continue
        meta_path = (
            sampled["dir"] / "predictions" / record["predictions"]["next-item"]
        ).with_suffix(".json")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        popularity = dict(zip(meta["catalogue"], meta["train_counts"], strict=True))
        for row in _lists(sampled, record):
            candidates = [int(i) for i in row["candidates"].split()]
            expected = sorted(candidates, key=lambda i: (-popularity[i], i))[:10]
            assert [int(i) for i in row["top"].split()] == expected
        # the reference of a ranking task is the most-popular ranking: the trivial row's own
        assert record["reference"]["trivial"]["next-item"] == record["metrics"]["next-item"]
        assert record["tasks"]["next-item"]["ranking"]["reference"] == "most-popular"


def test_other_tasks_never_train_on_the_sampled_negatives(sampled: dict[str, Any]) -> None:
    # the rating head's test predictions have the test split's rows, and the record's
    # n_train is the domain's training split, not the rows with negatives added
    for record in sampled["records"]:
        assert record["training"]["n_train"] < 400
        path = sampled["dir"] / "predictions" / record["predictions"]["rating"]
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == record["tasks"]["rating"]["n_test"]
        assert all(np.isfinite(float(row["y_pred"])) for row in rows)


def test_full_protocol_ranks_the_catalogue_minus_seen_items(tmp_path: Path) -> None:
    run = _sweep(
        tmp_path,
        seeds=[0],
        ranking={"protocol": "full", "k": [10], "train_negatives": 1},
        backbones=["id-embedding", "trivial"],
    )
    records = {r["backbone"]: r for r in run["records"]}
    meta = json.loads(
        (run["dir"] / "predictions" / records["trivial"]["predictions"]["next-item"])
        .with_suffix(".json")
        .read_text(encoding="utf-8")
    )
    catalogue = len(meta["catalogue"])
    tables = {name: _lists(run, record) for name, record in records.items()}
    for rows in tables.values():
        assert "candidates" not in rows[0]  # the rule says which: the catalogue minus seen
        for row in rows:
            assert 0 < int(row["n_candidates"]) <= catalogue
            assert len(row["top"].split()) == min(10, int(row["n_candidates"]))
    counts = [[row["n_candidates"] for row in rows] for rows in tables.values()]
    assert counts[0] == counts[1]
    assert records["id-embedding"]["tasks"]["next-item"]["ranking"]["protocol"] == "full"


def test_reports_show_the_ranking_cost_per_user(sampled: dict[str, Any]) -> None:
    from mtrec.reports.markdown import render_markdown

    document = json.loads((sampled["dir"] / "results.json").read_text(encoding="utf-8"))
    text = render_markdown(document, sampled["dir"])
    assert "ranking ms/user" in text
    for record in sampled["records"]:
        cost = record["efficiency"]["ranking"]
        assert cost["users"] == record["tasks"]["next-item"]["n_test"]
        assert cost["ms_per_user"] == pytest.approx(1000 * cost["seconds"] / cost["users"])
        assert cost["candidate_pairs"] == sum(
            len(row["candidates"].split()) for row in _lists(sampled, record)
        )
