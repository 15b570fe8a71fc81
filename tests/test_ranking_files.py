"""A ranking task's saved lists, read back by every consumer of saved predictions.

A small hand-made domain is ranked (``ranking.ranking_problem`` and ``top_lists`` with seeded
random scores), saved with ``save_ranking`` and read back. Every figure is then recomputed
from the CSV and JSON alone by code written here (``csv``, ``json`` and ``math``: no mtrec
function and no numpy), and must equal what ``mtrec.measure.tasks.compute_metrics`` reports
to 1e-12. The relevant items and the catalogue with its training counts are checked against
the hand-made domain the same way. The readers (``read_predictions``, ``read_user_ids``,
``aligned_predictions``) and the resampled figures that ``mtrec compare`` and the leaderboard's
user bootstrap draw from are checked on the same files.

Last, a real sweep (id-embedding and the trivial backbone, a rating head and a ranking head,
on a small synthetic domain) is checked the same way: every figure of every record and of its
most-popular reference, recomputed from the saved lists and candidates.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mtrec.cli import main
from mtrec.config import parse_suite
from mtrec.hookspecs import hookimpl
from mtrec.measure import ranking
from mtrec.measure.predictions import aligned_predictions, read_predictions, read_user_ids
from mtrec.measure.ranking_files import read_ranking, save_ranking
from mtrec.measure.resampled import grouped_metric, weighted_metric
from mtrec.measure.tasks import METRICS, compute_metrics
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep
from mtrec.specs import (
    DomainData,
    DomainSplit,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    TaskPredictions,
    TaskType,
)
from mtrec.store.leaderboard import Source, build_leaderboard
from mtrec.store.results import validate_results

TASK = "next-item"
KEY = "0123456789abcdef"
RULE = "rating >= 4"
N_USERS, N_ITEMS = 14, 40


# --------------------------------------------------------------------------------------
# a hand-made domain and its lists
# --------------------------------------------------------------------------------------


def _split(rows: Sequence[tuple[int, int, int]], start: int) -> DomainSplit:
    users = np.array([u for u, _, _ in rows], dtype=np.int64)
    return DomainSplit(
        ids=np.arange(start, start + len(rows), dtype=np.int64),
        user_ids=users,
        item_ids=np.array([i for _, i, _ in rows], dtype=np.int64),
        user_text=[f"user {u}" for u in users],
        item_text=[f"item {i}" for _, i, _ in rows],
        labels={"rating": np.array([r for _, _, r in rows], dtype=np.int64)},
        sensitive={"gender": np.array(["f" if u % 3 else "m" for u in users], dtype=object)},
    )


def hand_made_domain() -> tuple[DomainData, dict[str, list[tuple[int, int, int]]]]:
    """Users 0..13 each rate a few of items 100..139 (item ids are not positions); the
    lower ids are more popular in training. A user may meet an item again in the test split
    (such an item is never relevant), and users 12 and 13 have no relevant test item."""
    rng = np.random.default_rng(11)
    rows: dict[str, list[tuple[int, int, int]]] = {"train": [], "validation": [], "test": []}
    popularity = 1.0 / np.arange(1, N_ITEMS + 1)
    for user in range(N_USERS):
        items = 100 + rng.choice(N_ITEMS, size=12, replace=False, p=popularity / popularity.sum())
        ratings = rng.integers(1, 6, size=12)
        if user >= 12:
            ratings[8:] = 2  # nothing relevant in the test split
        for name, part in (("train", slice(0, 6)), ("validation", slice(6, 8))):
            rows[name] += [
                (user, int(i), int(r)) for i, r in zip(items[part], ratings[part], strict=True)
            ]
        test = [(user, int(i), int(r)) for i, r in zip(items[8:], ratings[8:], strict=True)]
        test.append((user, int(items[0]), 5))  # met in training: never relevant
        rows["test"] += test
    parts = [_split(rows[name], 1000 * i) for i, name in enumerate(rows)]
    data = DomainData(
        train=parts[0],
        validation=parts[1],
        test=parts[2],
        label_fields={"rating": LabelField(name="rating", task_type=TaskType.REGRESSION)},
        sensitive_attributes=("gender",),
    )
    return data, rows


def ranked(
    data: DomainData, protocol: str, ks: Sequence[int], scores_seed: int = 0
) -> tuple[TaskPredictions, dict[int, np.ndarray]]:
    """The test split's lists under seeded random scores (rounded: ties occur), and each
    user's candidates."""
    catalogue = ranking.catalogue_of(data)
    problem = ranking.ranking_problem(
        data,
        catalogue,
        split="test",
        domain="hand-made",
        seed=3,
        protocol=protocol,
        negatives=9,
        sampling="uniform",
        relevance=RULE,
        ks=ks,
    )
    scores = np.round(np.random.default_rng(scores_seed).normal(size=problem.n_pairs), 1)
    lists = ranking.top_lists(problem, scores, task=TASK, catalogue=catalogue)
    candidates = {
        int(user): catalogue.item_ids[positions]
        for user, positions in zip(problem.user_ids, problem.candidates, strict=True)
    }
    return lists, candidates


def saved_run(
    folder: Path, protocol: str = "sampled", ks: Sequence[int] = (3, 5, 10), scores_seed: int = 0
) -> tuple[Path, dict[str, Any], TaskPredictions]:
    """A run folder holding one record's ranking lists, as ``save_ranking`` writes them."""
    data, _ = hand_made_domain()
    lists, candidates = ranked(data, protocol, ks, scores_seed)
    relative = save_ranking(folder / "predictions" / KEY, data.test, lists, candidates)
    record = {
        "key": KEY,
        "seed": 0,
        "predictions": {TASK: f"{KEY}/{relative}"},
        "tasks": {
            TASK: {
                "type": "ranking",
                "primary_metric": lists.primary_metric,
                "directions": {
                    name: "higher" if METRICS[name].direction > 0 else "lower"
                    for name in compute_metrics(lists)
                },
            }
        },
        "metrics": {TASK: compute_metrics(lists)},
    }
    return folder, record, lists


# --------------------------------------------------------------------------------------
# every figure from the files alone, by code written here
# --------------------------------------------------------------------------------------


def read_files(csv_path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    meta = json.loads(csv_path.with_suffix(".json").read_text(encoding="utf-8"))
    with open(csv_path, newline="", encoding="utf-8") as handle:
        users = [
            {
                "user": int(row["user_id"]),
                "relevant": {int(v) for v in row["relevant"].split()},
                "top": [int(v) for v in row["top"].split()],
                "scores": [float(v) for v in row["scores"].split()],
                "candidates": [int(v) for v in row.get("candidates", "").split()],
                "gender": row.get("gender"),
            }
            for row in csv.DictReader(handle)
        ]
    return users, meta


def figures_from_files(csv_path: Path) -> dict[str, float]:
    """Every ranking figure of the saved lists, by the definitions in the ranking module's
    docstring, written out here."""
    users, meta = read_files(csv_path)
    return figures_of(users, meta)


def figures_of(users: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, float]:
    """Every ranking figure of these users' lists ("top") and relevant items."""
    ks = [int(k) for k in meta["ks"]]
    primary = 10 if 10 in ks else max(ks)
    out: dict[str, float] = {}
    for k in ks:
        per_user: dict[str, list[float]] = {
            f: [] for f in ("ndcg", "recall", "hr", "mrr", "map", "precision")
        }
        for user in users:
            relevant, top = user["relevant"], user["top"][:k]
            hit_at = [i for i, item in enumerate(top) if item in relevant]
            per_user["hr"].append(1.0 if hit_at else 0.0)
            per_user["recall"].append(len(hit_at) / len(relevant))
            per_user["precision"].append(len(hit_at) / k)
            dcg = sum(1.0 / math.log2(i + 2) for i in hit_at)
            ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
            per_user["ndcg"].append(dcg / ideal)
            per_user["mrr"].append(1.0 / (hit_at[0] + 1) if hit_at else 0.0)
            precisions = [(n + 1) / (i + 1) for n, i in enumerate(hit_at)]
            per_user["map"].append(sum(precisions) / min(len(relevant), k))
        for family, values in per_user.items():
            out[f"{family}@{k}"] = math.fsum(values) / len(values)
    catalogue = [int(i) for i in meta["catalogue"]]
    counts = dict(zip(catalogue, (int(c) for c in meta["train_counts"]), strict=True))
    listed = [item for user in users for item in user["top"][:primary]]
    exposure = [sum(1 for item in listed if item == i) for i in catalogue]
    n = len(catalogue)
    mean_exposure = sum(exposure) / n
    # Gini as the mean absolute difference over all ordered pairs, halved, over the mean
    out[f"gini@{primary}"] = sum(abs(a - b) for a in exposure for b in exposure) / (
        2.0 * n * n * mean_exposure
    )
    out[f"coverage@{primary}"] = len(set(listed)) / n
    out[f"pop_lift@{primary}"] = (sum(counts[i] for i in listed) / len(listed)) / (
        sum(counts.values()) / n
    )
    by_popularity = sorted(catalogue, key=lambda i: (-counts[i], i))
    head = set(by_popularity[: math.ceil(float(meta["head_share"]) * n)])
    out[f"tail_share@{primary}"] = sum(1 for i in listed if i not in head) / len(listed)
    return out


@pytest.mark.parametrize("protocol", ["full", "sampled"])
@pytest.mark.parametrize("ks", [(3, 5, 10), (2, 4)])
def test_every_figure_is_recomputed_from_the_saved_files(
    tmp_path: Path, protocol: str, ks: tuple[int, ...]
) -> None:
    folder, record, lists = saved_run(tmp_path, protocol, ks)
    path = folder / "predictions" / record["predictions"][TASK]
    read = read_ranking(path)
    reported = compute_metrics(read)
    expected = figures_from_files(path)
    assert set(reported) == set(expected)
    assert len(reported) == 6 * len(ks) + 4
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, abs=1e-12, rel=0), name
    # the figures of the lists as they were scored, before saving, are the same
    assert compute_metrics(lists) == reported
    primary = 10 if 10 in ks else max(ks)
    assert read.primary_metric == f"ndcg@{primary}" == next(iter(reported))
    # not all at their floor or ceiling: the comparison means something
    assert 0.0 < reported[f"ndcg@{primary}"] < 1.0
    assert 0.0 < reported[f"tail_share@{primary}"] < 1.0


@pytest.mark.parametrize("protocol", ["full", "sampled"])
def test_saved_lists_hold_the_domain_s_relevant_items_and_catalogue(
    tmp_path: Path, protocol: str
) -> None:
    folder, record, lists = saved_run(tmp_path, protocol)
    _, rows = hand_made_domain()
    users, meta = read_files(folder / "predictions" / record["predictions"][TASK])
    met: dict[int, set[int]] = {}
    for user, item, _ in rows["train"] + rows["validation"]:
        met.setdefault(user, set()).add(item)
    relevant: dict[int, set[int]] = {}
    for user, item, rating in rows["test"]:
        if rating >= 4 and item not in met.get(user, set()):
            relevant.setdefault(user, set()).add(item)
    assert {u["user"]: u["relevant"] for u in users} == relevant
    assert [u["user"] for u in users] == sorted(relevant)
    assert 12 not in relevant and 13 not in relevant and len(relevant) >= 10
    every_item = sorted({item for part in rows.values() for _, item, _ in part})
    assert meta["catalogue"] == every_item
    train_counts = {i: sum(1 for _, item, _ in rows["train"] if item == i) for i in every_item}
    assert meta["train_counts"] == [train_counts[i] for i in every_item]
    for entry in users:
        # the user's own sensitive group, best first, never an item met before, no repeats
        assert entry["gender"] == ("f" if entry["user"] % 3 else "m")
        assert not set(entry["top"]) & met.get(entry["user"], set())
        assert len(set(entry["top"])) == len(entry["top"]) == max(meta["ks"])
        assert entry["scores"] == sorted(entry["scores"], reverse=True)
        if protocol == "sampled":
            assert set(entry["top"]) <= set(entry["candidates"])
            assert entry["relevant"] <= set(entry["candidates"])
    # read back, the arrays are the ones that were scored
    read = read_ranking(folder / "predictions" / record["predictions"][TASK])
    assert lists.user_ids is not None and read.user_ids is not None
    assert np.array_equal(read.user_ids, lists.user_ids)
    assert np.array_equal(read.y_pred, lists.y_pred)
    assert np.array_equal(read.score, lists.score, equal_nan=True)  # type: ignore[arg-type]
    assert np.array_equal(np.sort(read.y_true, axis=1), np.sort(lists.y_true, axis=1))


# --------------------------------------------------------------------------------------
# the readers of saved predictions
# --------------------------------------------------------------------------------------


def test_read_predictions_reads_a_ranking_task_with_users_as_rows(tmp_path: Path) -> None:
    folder, record, lists = saved_run(tmp_path)
    found = read_predictions(folder, record, TASK)
    assert found is not None
    ids, predictions = found
    assert lists.user_ids is not None
    assert ids == [str(u) for u in lists.user_ids.tolist()]
    assert predictions.task_type is TaskType.RANKING and predictions.task == TASK
    assert compute_metrics(predictions) == record["metrics"][TASK]
    assert read_user_ids(folder, record, TASK) == ids
    # the lists without their JSON (the catalogue) cannot be read: no predictions
    (folder / "predictions" / record["predictions"][TASK]).with_suffix(".json").unlink()
    assert read_predictions(folder, record, TASK) is None


def test_two_runs_lists_are_paired_by_user(tmp_path: Path) -> None:
    old_folder, old_record, _ = saved_run(tmp_path / "old", scores_seed=0)
    new_folder, new_record, new_lists = saved_run(tmp_path / "new", scores_seed=1)
    # the candidate ranked a subset of the users: a file of its own with every other user
    keep = np.arange(0, len(new_lists.y_true), 2)
    data, _ = hand_made_domain()
    relative = save_ranking(
        new_folder / "predictions" / "fedcba9876543210", data.test, new_lists.take(keep)
    )
    new_record = {**new_record, "predictions": {TASK: f"fedcba9876543210/{relative}"}}
    pair = aligned_predictions((old_folder, old_record), (new_folder, new_record), TASK)
    assert pair is not None
    old, new = pair
    assert new_lists.user_ids is not None
    assert old.user_ids is not None and new.user_ids is not None
    assert old.user_ids.tolist() == new.user_ids.tolist() == new_lists.user_ids[keep].tolist()
    # same relevant items user by user (the padding's width may differ between the files)
    for a, b in zip(old.y_true, new.y_true, strict=True):
        assert set(a[a >= 0].tolist()) == set(b[b >= 0].tolist())
    assert not np.array_equal(old.y_pred, new.y_pred)  # different scores, different lists
    # other relevant items (another relevance rule, other test data): nothing to pair
    path = new_folder / "predictions" / new_record["predictions"][TASK]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("relevant")] += " 999"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    assert aligned_predictions((old_folder, old_record), (new_folder, new_record), TASK) is None


# --------------------------------------------------------------------------------------
# resampled figures (mtrec compare's paired bootstrap, the leaderboard's user bootstrap)
# --------------------------------------------------------------------------------------


def _repeated(lists: TaskPredictions, weights: np.ndarray) -> Mapping[str, float]:
    return compute_metrics(lists.take(np.repeat(np.arange(len(weights)), weights)))


def test_weighted_figures_equal_the_figures_of_the_repeated_users(tmp_path: Path) -> None:
    _, record, lists = saved_run(tmp_path)
    rng = np.random.default_rng(5)
    for _ in range(5):
        weights = rng.integers(0, 3, size=len(lists.y_true))
        expected = _repeated(lists, weights)
        for name in record["metrics"][TASK]:
            got = weighted_metric(lists, name)(weights.astype(np.float64))
            assert got == pytest.approx(expected[name], abs=1e-12), name
    ones = np.ones(len(lists.y_true))
    for name, value in record["metrics"][TASK].items():
        assert weighted_metric(lists, name)(ones) == pytest.approx(value, abs=1e-12), name


def test_grouped_figures_are_each_group_s_own(tmp_path: Path) -> None:
    _, record, lists = saved_run(tmp_path)
    codes = np.arange(len(lists.y_true)) % 3
    weights = np.random.default_rng(2).integers(0, 3, size=len(codes)).astype(np.float64)
    for name in record["metrics"][TASK]:
        by_group = grouped_metric(lists, name, codes, 3)(weights)
        for group in range(3):
            mine = np.where(codes == group, weights, 0).astype(np.int64)
            expected = _repeated(lists, mine)[name]
            assert by_group[group] == pytest.approx(expected, abs=1e-12, nan_ok=True), (
                name,
                group,
            )


# --------------------------------------------------------------------------------------
# a real sweep with a ranking head
# --------------------------------------------------------------------------------------

RATE_AND_RANK = SimpleNamespace(
    mtrec_register_head_sets=hookimpl(
        lambda: [
            HeadSetSpec(
                name="rate-and-rank",
                heads=(
                    HeadSpec(
                        task="rating",
                        task_type=TaskType.REGRESSION,
                        label_field="rating",
                        loss="mse",
                    ),
                    HeadSpec(
                        task=TASK, task_type=TaskType.RANKING, label_field="relevance", loss="bce"
                    ),
                ),
            )
        ]
    )
)

SUITE = """
name: ranking-files
seeds: [0]
backbones: [id-embedding, trivial]
head_sets: [rate-and-rank]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 60, n_items: 50, n_interactions: 700, test_fraction: 0.3}
training: {epochs: 2, batch_size: 64, patience: 0}
evaluation:
  ranking: {protocol: sampled, negatives: 20, k: [5, 10], relevance: "rating >= 4",
            train_negatives: 2, validation_negatives: 10}
fairness_metrics: [group-gap]
measure: {latency_batch_sizes: [1], latency_warmup: 1, latency_min_repeats: 3,
          latency_min_seconds: 0.0}
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("ranking-sweep") / "run"
    host = PluginHost(extra_plugins=[("rate-and-rank", RATE_AND_RANK)])
    run_sweep(parse_suite(SUITE, origin="ranking-files", source="file"), host, folder, device="cpu")
    document: dict[str, Any] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return folder, document


def most_popular(
    users: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each user's candidates by training popularity, ties to the lower item id, cut at the
    largest cut-off: the most-popular reference, from the saved files."""
    counts = dict(zip(meta["catalogue"], meta["train_counts"], strict=True))
    kmax = max(meta["ks"])
    return [
        {**user, "top": sorted(user["candidates"], key=lambda i: (-counts[i], i))[:kmax]}
        for user in users
    ]


def test_a_real_sweep_s_ranking_figures_are_recomputed_from_its_files(
    real_run: tuple[Path, dict[str, Any]],
) -> None:
    folder, document = real_run
    validate_results(document)  # the schema accepts what a real ranking run writes
    records = document["records"]
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("error") for r in records]
    for record in records:
        info = record["tasks"][TASK]
        assert info["type"] == "ranking" and info["primary_metric"] == "ndcg@10"
        relative = record["predictions"][TASK]
        assert relative == f"{record['key']}/ranking/{TASK}.csv"
        path = folder / "predictions" / relative
        users, meta = read_files(path)
        assert len(users) == info["n_test"] > 10
        reported = record["metrics"][TASK]
        expected = figures_of(users, meta)
        assert set(reported) == set(expected) == set(info["directions"])
        for name, value in expected.items():
            assert reported[name] == pytest.approx(value, abs=1e-12, rel=0), (
                record["backbone"],
                name,
            )
        # the reference: the most-popular ranking of the same candidates
        reference = figures_of(most_popular(users, meta), meta)
        trivial = record["reference"]["trivial"][TASK]
        for name, value in reference.items():
            assert trivial[name] == pytest.approx(value, abs=1e-12, rel=0), name
        # every user is ranked among the relevant items plus 20 never-met negatives
        for user in users:
            assert user["relevant"] <= set(user["candidates"])
            assert len(user["candidates"]) == len(user["relevant"]) + 20
        found = read_predictions(folder, record, TASK)
        assert found is not None and found[0] == [str(u["user"]) for u in users]
    by_backbone = {r["backbone"]: r for r in records}
    # the trivial backbone ranks by popularity: its lists are the reference's
    trivial = by_backbone["trivial"]
    assert trivial["metrics"][TASK] == trivial["reference"]["trivial"][TASK]
    trained = by_backbone["id-embedding"]["metrics"][TASK]
    assert trained != trivial["metrics"][TASK]


def test_a_real_sweep_s_leaderboard_and_compare_read_the_lists(
    real_run: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = real_run
    board = build_leaderboard([Source(name="run", path=folder, document=real_run[1])])
    tables = {(t.task, t.metric): t for t in board.tables}
    assert set(tables) == {("rating", "rmse"), (TASK, "ndcg@10")}
    cell = dict(tables[(TASK, "ndcg@10")].rows)["id-embedding"]["synthetic-ecommerce"]
    assert cell.method == "bootstrap over users"
    assert cell.low is not None and cell.high is not None and cell.low <= cell.mean <= cell.high
    assert tables[(TASK, "ndcg@10")].reference_name == "most-popular"
    # a run compared with itself: the ranking figures match their files, nothing regresses
    code = main(["compare", str(folder), str(folder), "--fail-on", f"{TASK}.ndcg@10:+0%,*:+0%"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no regression" in captured.out
