"""The smoke suite end to end, checked against independent recomputations.

Every figure is recomputed here from the files a run leaves behind (predictions CSVs, read
with the csv module) with scikit-learn and fairlearn called directly, not through mtrec.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm

from harness.config import load_suite
from harness.plugin_host import PluginHost
from harness.results import validate_results
from harness.runner import SweepResult, run_sweep


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    out = tmp_path_factory.mktemp("smoke") / "run"
    return run_sweep(load_suite("smoke"), PluginHost(), out, device="cpu")


def read_csv(path: Path) -> dict[str, list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {column: [row[column] for row in rows] for column in rows[0]}


def recompute(task_type: str, columns: dict[str, list[str]]) -> dict[str, float]:
    y_true = np.array([float(v) for v in columns["y_true"]])
    y_pred = np.array([float(v) for v in columns["y_pred"]])
    if task_type == "multiclass":
        return {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
        }
    if task_type == "regression":
        return {
            "rmse": math.sqrt(skm.mean_squared_error(y_true, y_pred)),
            "mae": skm.mean_absolute_error(y_true, y_pred),
        }
    score = np.array([float(v) for v in columns["score"]])
    return {
        "auc": skm.roc_auc_score(y_true, score),
        "log_loss": skm.log_loss(y_true, score, labels=[0, 1]),
        "accuracy": skm.accuracy_score(y_true, y_pred),
    }


def ok_records(result: SweepResult) -> list[dict[str, Any]]:
    return [r for r in result.document["records"] if r["status"] == "ok"]


def test_every_record_ok_and_schema_valid(smoke: SweepResult) -> None:
    document = json.loads((smoke.run_dir / "results.json").read_text())
    validate_results(document)
    assert [r["status"] for r in document["records"]] == ["ok", "ok"]
    assert {r["backbone"] for r in document["records"]} == {"tiny-bert", "tiny-gpt2"}
    assert document["finished"] is not None


def test_metrics_equal_sklearn_recomputation(smoke: SweepResult) -> None:
    for record in ok_records(smoke):
        for task, info in record["tasks"].items():
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            assert len(columns["y_true"]) == info["n_test"]
            # Exactly equal: the saved floats round-trip, the same sklearn calls run.
            assert record["metrics"][task] == recompute(info["type"], columns)


def test_trained_models_beat_trivial_baseline(smoke: SweepResult) -> None:
    for record in ok_records(smoke):
        for task, info in record["tasks"].items():
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            y_true = np.array([float(v) for v in columns["y_true"]])
            metric = info["primary_metric"]
            model = record["metrics"][task][metric]
            if info["type"] == "multiclass":
                trivial = np.max(np.bincount(y_true.astype(int))) / len(y_true)
                assert model > trivial + 0.1, (record["backbone"], task)
            elif info["type"] == "regression":
                # The test-set mean is a stronger trivial predictor than the train mean.
                trivial = math.sqrt(np.mean((y_true - y_true.mean()) ** 2))
                assert model < trivial * 0.95, (record["backbone"], task)
            else:
                assert model > 0.55, (record["backbone"], task)  # constant score: AUC 0.5


def test_group_gap_equals_metricframe(smoke: SweepResult) -> None:
    for record in ok_records(smoke):
        gaps = record["fairness"]["group-gap"]
        for task, info in record["tasks"].items():
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            y_true = np.array([float(v) for v in columns["y_true"]])
            if info["type"] == "binary":
                y_pred = np.array([float(v) for v in columns["score"]])
                metric = skm.roc_auc_score
            elif info["type"] == "regression":
                y_pred = np.array([float(v) for v in columns["y_pred"]])

                def metric(t: Any, p: Any) -> float:
                    return math.sqrt(skm.mean_squared_error(t, p))
            else:
                y_pred = np.array([float(v) for v in columns["y_pred"]])
                metric = skm.accuracy_score
            frame = MetricFrame(
                metrics=metric,
                y_true=y_true,
                y_pred=y_pred,
                sensitive_features=np.array(columns["age_group"], dtype=object),
            )
            reported = gaps[task]["age_group"]
            assert reported["by_group"] == pytest.approx(
                {str(k): float(v) for k, v in frame.by_group.items()}, rel=1e-12
            )
            assert reported["difference"] == pytest.approx(float(frame.difference()), rel=1e-12)
            assert sum(reported["group_sizes"].values()) == len(y_true)


def test_efficiency_fields(smoke: SweepResult) -> None:
    for record in ok_records(smoke):
        efficiency = record["efficiency"]
        for size in ("1", "32"):
            latency = efficiency["latency_ms"][size]
            assert latency["p50"] <= latency["p90"] <= latency["p99"]
            assert latency["n"] == len(latency["samples"]) >= 5
        assert efficiency["params"] >= efficiency["trainable_params"] > 0
        assert efficiency["flops_per_sample"] > 0


def test_test_split_never_used_for_selection(smoke: SweepResult) -> None:
    for record in ok_records(smoke):
        history = record["training"]["history"]
        best = record["training"]["best_epoch"]
        scores = [epoch["validation_score"] for epoch in history]
        assert scores[best - 1] == max(scores)


def test_domain_generated_and_tokenized_once_per_backbone(smoke: SweepResult) -> None:
    assert len(smoke.cache.domains) == 1
    # two backbones x three splits, each tokenized once (or loaded from an earlier run)
    assert smoke.cache.tokens.tokenized + smoke.cache.tokens.disk_hits == 6


def test_tokenized_splits_are_reused_across_runs(smoke: SweepResult, tmp_path: Path) -> None:
    rerun = run_sweep(load_suite("smoke"), PluginHost(), tmp_path / "again", device="cpu")
    assert rerun.cache.tokens.tokenized == 0
    assert rerun.cache.tokens.disk_hits == 6
    # Same tokens, same training: identical metrics (CPU runs are deterministic).
    first = [r["metrics"] for r in smoke.document["records"]]
    assert [r["metrics"] for r in rerun.document["records"]] == first


def test_predictions_hold_ids_and_sensitive_attributes(smoke: SweepResult) -> None:
    record = ok_records(smoke)[0]
    columns = read_csv(smoke.run_dir / "predictions" / record["predictions"]["click"])
    assert list(columns) == ["id", "user_id", "item_id", "age_group", "y_true", "y_pred", "score"]
    assert len(set(columns["id"])) == len(columns["id"])
