"""The smoke suite end to end, checked against independent recomputations.

Every figure is recomputed here from the files a run leaves behind (predictions CSVs, read
with the csv module) with scikit-learn and fairlearn called directly, not through mtrec.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame
from sklearn import metrics as skm

from mtrec.store.results import validate_results

if TYPE_CHECKING:
    from tests.conftest import SmokeRun


@pytest.fixture
def smoke(smoke_run: SmokeRun) -> SmokeRun:
    """The session's shared smoke run (computed once, only read here)."""
    return smoke_run


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


def read_lists(path: Path) -> tuple[dict[str, list[str]], dict[str, Any], int]:
    """A ranking task's saved lists (one row per user), the JSON beside them, and the
    primary cut-off (10 when listed, else the largest)."""
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    ks = [int(k) for k in meta["ks"]]
    return read_csv(path), meta, 10 if 10 in ks else max(ks)


def list_ndcg(relevant: str, top: str, k: int) -> float:
    """Binary-gain NDCG@k of one user's list (space-separated item ids, best first)."""
    wanted = set(relevant.split())
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(top.split()[:k]) if item in wanted)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(wanted), k)))


def ok_records(result: SmokeRun) -> list[dict[str, Any]]:
    return [r for r in result.document["records"] if r["status"] == "ok"]


def test_every_record_ok_and_schema_valid(smoke: SmokeRun) -> None:
    document = json.loads((smoke.run_dir / "results.json").read_text())
    validate_results(document)
    assert [r["status"] for r in document["records"]] == ["ok", "ok"]
    assert {r["backbone"] for r in document["records"]} == {"tiny-bert", "tiny-gpt2"}
    assert document["finished"] is not None


def test_metrics_equal_sklearn_recomputation(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        for task, info in record["tasks"].items():
            path = smoke.run_dir / "predictions" / record["predictions"][task]
            if info["type"] == "ranking":  # rows are users: NDCG of the saved lists
                rows, _meta, k = read_lists(path)
                assert len(rows["user_id"]) == info["n_test"]
                ndcg = [
                    list_ndcg(relevant, top, k)
                    for relevant, top in zip(rows["relevant"], rows["top"], strict=True)
                ]
                assert record["metrics"][task][f"ndcg@{k}"] == pytest.approx(
                    float(np.mean(ndcg)), abs=1e-12
                )
                continue
            columns = read_csv(path)
            assert len(columns["y_true"]) == info["n_test"]
            # Exactly equal: the saved floats round-trip, the same sklearn calls run.
            assert record["metrics"][task] == recompute(info["type"], columns)


def test_trained_models_beat_trivial_baseline(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        for task, info in record["tasks"].items():
            if info["type"] == "ranking":  # tiny models on a tiny domain: not held to it
                continue
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            y_true = np.array([float(v) for v in columns["y_true"]])
            metric = info["primary_metric"]
            model = record["metrics"][task][metric]
            trivial: float
            if info["type"] == "multiclass":
                trivial = float(np.max(np.bincount(y_true.astype(int)))) / len(y_true)
                assert model > trivial + 0.1, (record["backbone"], task)
            elif info["type"] == "regression":
                # The test-set mean is a stronger trivial predictor than the train mean.
                trivial = math.sqrt(np.mean((y_true - y_true.mean()) ** 2))
                assert model < trivial * 0.95, (record["backbone"], task)
            else:
                assert model > 0.55, (record["backbone"], task)  # constant score: AUC 0.5


def test_group_gap_equals_metricframe(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        gaps = record["fairness"]["group-gap"]
        for task, info in record["tasks"].items():
            if info["type"] == "ranking":
                check_ranking_group_gap(smoke.run_dir, record, task)
                continue
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
            # the gap counts only groups with at least fairness.min_group_users users
            users, least = reported["group_users"], reported["min_group_users"]
            assert reported["excluded_groups"] == sorted(g for g, n in users.items() if n < least)
            kept = frame.by_group[
                [str(g) not in reported["excluded_groups"] for g in frame.by_group.index]
            ]
            expected = float(kept.max() - kept.min()) if len(kept) >= 2 else None
            if expected is None:  # fewer than two groups with enough users
                assert reported["difference"] is None and reported["difference_ci"] is None
            else:
                assert reported["difference"] == pytest.approx(expected, rel=1e-12)
            assert sum(reported["group_sizes"].values()) == len(y_true)


def check_ranking_group_gap(run_dir: Path, record: dict[str, Any], task: str) -> None:
    """A ranking task's rows are users: each group's mean NDCG@K over its users."""
    lists, _, k = read_lists(run_dir / "predictions" / record["predictions"][task])
    values = [list_ndcg(r, t, k) for r, t in zip(lists["relevant"], lists["top"], strict=True)]
    groups = lists["age_group"]
    by_group = {
        g: float(np.mean([v for v, h in zip(values, groups, strict=True) if h == g]))
        for g in set(groups)
    }
    reported = record["fairness"]["group-gap"][task]["age_group"]
    assert reported["metric"] == f"ndcg@{k}" and reported["unit"] == "users"
    assert reported["by_group"] == pytest.approx(by_group, rel=1e-9)
    assert reported["group_users"] == {g: groups.count(g) for g in set(groups)}
    kept = [v for g, v in by_group.items() if g not in reported["excluded_groups"]]
    if len(kept) >= 2:
        assert reported["difference"] == pytest.approx(max(kept) - min(kept), rel=1e-9)


def test_efficiency_fields(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        efficiency = record["efficiency"]
        for size in ("1", "32"):
            latency = efficiency["latency_ms"][size]
            assert latency["p50"] <= latency["p90"] <= latency["p99"]
            assert latency["n"] == len(latency["samples"]) >= 5
        assert efficiency["params"] >= efficiency["trainable_params"] > 0
        assert efficiency["flops_per_sample"] > 0


def test_test_split_never_used_for_selection(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        history = record["training"]["history"]
        best = record["training"]["best_epoch"]
        scores = [epoch["validation_score"] for epoch in history]
        assert scores[best - 1] == max(scores)


def test_domain_generated_and_tokenized_once_per_backbone(smoke: SmokeRun) -> None:
    assert smoke.domains_generated == 1
    # two backbones x six splits, each tokenized once (or loaded from an earlier run): the
    # training split with next-item's sampled negatives, the training split alone (the
    # row-level tasks' single-task baselines), validation, test, and the validation and
    # test candidate pairs; that a later run reads them back is tested in test_determinism
    assert smoke.splits_tokenized + smoke.splits_from_disk == 2 * 6


def test_predictions_hold_ids_and_sensitive_attributes(smoke: SmokeRun) -> None:
    record = ok_records(smoke)[0]
    columns = read_csv(smoke.run_dir / "predictions" / record["predictions"]["click"])
    assert list(columns) == ["id", "user_id", "item_id", "age_group", "y_true", "y_pred", "score"]
    assert len(set(columns["id"])) == len(columns["id"])


# --------------------------------------------------------------------------------------
# figures that need more than the test predictions, from the files saved beside them
# --------------------------------------------------------------------------------------


def _constant_columns(
    task_type: str, statistics: dict[str, Any], y_true: list[str]
) -> dict[str, list[str]]:
    """The trivial predictor's prediction columns, from the saved train label statistics."""
    n = len(y_true)
    if task_type == "multiclass":
        counts = statistics["class_counts"]
        majority = max(range(len(counts)), key=counts.__getitem__)  # first of the largest
        assert majority == statistics["majority_class"]
        return {"y_true": y_true, "y_pred": [str(majority)] * n}
    if task_type == "regression":
        return {"y_true": y_true, "y_pred": [repr(statistics["mean"])] * n}
    rate = statistics["positive_rate"]
    return {"y_true": y_true, "y_pred": [str(int(rate >= 0.5))] * n, "score": [repr(rate)] * n}


def test_trivial_reference_equals_a_recomputation_from_train_label_statistics(
    smoke: SmokeRun,
) -> None:
    # The smoke suite has no trivial backbone: the reference comes from train_labels.json.
    assert {r["backbone"] for r in ok_records(smoke)}.isdisjoint({"trivial"})
    for record in ok_records(smoke):
        path = smoke.run_dir / "predictions" / record["prediction_context"]["train_labels"]
        statistics = json.loads(path.read_text(encoding="utf-8"))
        for task, info in record["tasks"].items():
            if info["type"] == "ranking":  # most-popular: checked from the saved lists
                continue
            assert statistics[task]["n_train"] == record["training"]["n_train"]
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            constant = _constant_columns(info["type"], statistics[task], columns["y_true"])
            expected = recompute(info["type"], constant)
            assert record["reference"]["trivial"][task] == pytest.approx(expected, rel=1e-12)


def _gini(exposure: list[int]) -> float:
    """Gini coefficient as the mean absolute difference over twice the mean."""
    n, total = len(exposure), sum(exposure)
    if n == 0 or total == 0:
        return 0.0
    spread = sum(abs(a - b) for a in exposure for b in exposure)
    return spread / (2 * n * total)


def test_item_exposure_equals_a_recomputation_from_saved_files(smoke: SmokeRun) -> None:
    for record in ok_records(smoke):
        items = read_csv(smoke.run_dir / "predictions" / record["prediction_context"]["items"])
        popularity = {
            int(item): int(count)
            for item, count in zip(items["item_id"], items["train_interactions"], strict=True)
        }
        for task, figures in record["fairness"]["item-exposure"].items():
            info = record["tasks"][task]
            if info["type"] == "ranking":
                check_list_exposure(smoke.run_dir, record, task)
                continue
            if info["type"] not in ("binary", "regression"):
                assert figures["applicable"] is False
                continue
            columns = read_csv(smoke.run_dir / "predictions" / record["predictions"][task])
            ranking = columns["score"] if info["type"] == "binary" else columns["y_pred"]
            k = figures["k"]
            # Each user's rows, best score first (ties: earlier row first), one per item.
            rows: dict[int, list[tuple[float, int, int]]] = {}
            for index, (user, item, score) in enumerate(
                zip(columns["user_id"], columns["item_id"], ranking, strict=True)
            ):
                rows.setdefault(int(user), []).append((-float(score), index, int(item)))
            recommended: list[int] = []
            ranked_users = 0
            for user_rows in rows.values():
                seen: list[int] = []
                for _, _, ranked_item in sorted(user_rows):
                    if ranked_item not in seen:
                        seen.append(ranked_item)
                ranked_users += len(seen) > k
                recommended += seen[:k]
            exposure = {item: recommended.count(item) for item in set(recommended)}
            catalogue = [exposure.get(item, 0) for item in popularity]
            test_items = [int(item) for item in columns["item_id"]]
            recommended_pop = sum(popularity[i] for i in recommended) / len(recommended)
            test_pop = sum(popularity[i] for i in test_items) / len(test_items)
            assert figures["n_items"] == len(popularity)
            assert figures["users_ranked"] == ranked_users
            assert figures["recommendations"] == len(recommended)
            assert figures["distinct_items"] == len(exposure)
            assert figures["coverage"] == pytest.approx(len(exposure) / len(popularity))
            assert figures["gini_exposure"] == pytest.approx(_gini(catalogue), rel=1e-9)
            assert figures["avg_popularity_recommended"] == pytest.approx(recommended_pop)
            assert figures["avg_popularity_test"] == pytest.approx(test_pop)
            assert figures["popularity_lift"] == pytest.approx(recommended_pop / test_pop)


def check_list_exposure(run_dir: Path, record: dict[str, Any], task: str) -> None:
    """A ranking task's item exposure, from its saved top-K lists and catalogue."""
    lists, meta, k = read_lists(run_dir / "predictions" / record["predictions"][task])
    counts = dict(zip(meta["catalogue"], meta["train_counts"], strict=True))
    listed = [int(item) for top in lists["top"] for item in top.split()[:k]]
    exposure = [listed.count(item) for item in counts]
    by_popularity = sorted(counts, key=lambda item: (-counts[item], item))
    tail = set(by_popularity[math.ceil(meta["head_share"] * len(counts)) :])
    figures = record["fairness"]["item-exposure"][task]
    assert figures["source"] == "ranked lists" and figures["headline"] is True
    assert figures["k"] == k and figures["recommendations"] == len(listed)
    assert figures["coverage"] == pytest.approx(len(set(listed)) / len(counts))
    assert figures["gini_exposure"] == pytest.approx(_gini(exposure), rel=1e-9)
    mean_count = sum(counts.values()) / len(counts)
    lift = sum(counts[i] for i in listed) / len(listed) / mean_count
    assert figures["popularity_lift"] == pytest.approx(lift)
    assert figures["tail_share"] == pytest.approx(sum(i in tail for i in listed) / len(listed))


def _validation_ranking(path: Path) -> tuple[float, float]:
    """A ranking task's validation NDCG@K from its saved lists, and the most-popular
    ranking's of the same (saved) candidates, from the catalogue's training counts."""
    rows, meta, k = read_lists(path)
    counts = dict(zip(meta["catalogue"], meta["train_counts"], strict=True))
    model, popular = [], []
    for relevant, top, candidates in zip(
        rows["relevant"], rows["top"], rows["candidates"], strict=True
    ):
        model.append(list_ndcg(relevant, top, k))
        ranked = sorted((int(i) for i in candidates.split()), key=lambda i: (-counts[i], i))
        popular.append(list_ndcg(relevant, " ".join(str(i) for i in ranked), k))
    return float(np.mean(model)), float(np.mean(popular))


def test_validation_history_equals_a_recomputation_from_saved_predictions(
    smoke: SmokeRun,
) -> None:
    for record in ok_records(smoke):
        training = record["training"]
        path = smoke.run_dir / "predictions" / record["prediction_context"]["train_labels"]
        statistics = json.loads(path.read_text(encoding="utf-8"))
        files = record["validation_predictions"]
        assert sorted(files, key=int) == [str(e["epoch"]) for e in training["history"]]
        scores = []
        for epoch in training["history"]:
            logs = []
            for task, info in record["tasks"].items():
                path = smoke.run_dir / "predictions" / files[str(epoch["epoch"])][task]
                metric = info["primary_metric"]
                if info["type"] == "ranking":
                    value, reference = _validation_ranking(path)
                else:
                    columns = read_csv(path)
                    assert len(columns["y_true"]) == training["n_validation"]
                    value = recompute(info["type"], columns)[metric]
                    constant = _constant_columns(info["type"], statistics[task], columns["y_true"])
                    reference = recompute(info["type"], constant)[metric]
                assert epoch["validation_metrics"][task] == pytest.approx(value, rel=1e-12)
                assert training["validation_reference"][task] == pytest.approx(reference, rel=1e-12)
                direction = 1 if info["directions"][metric] == "higher" else -1
                logs.append(direction * math.log(value / reference))
            score = 100 * (math.exp(sum(logs) / len(logs)) - 1)
            assert epoch["validation_score"] == pytest.approx(score, rel=1e-9)
            scores.append(score)
        assert training["best_epoch"] == scores.index(max(scores)) + 1
