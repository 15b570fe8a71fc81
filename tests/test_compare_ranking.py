"""A ranking task in ``mtrec compare``, the leaderboard and the reports.

Run folders are written by hand: a ``results.json`` that follows the results schema and, per
record, the lists of a ranking task ``next-item`` saved with ``save_ranking``. Each user (row)
has two relevant items; a list of quality q puts one of them first for a share q of the users
(seeded), so the figures of two qualities differ by a known amount and the paired bootstrap
over users has something to find. The expected figures are computed here from the lists as
constructed (one relevant item at rank 1 or none in the list).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from mtrec.cli import main
from mtrec.measure.ranking_files import save_ranking
from mtrec.measure.tasks import METRICS, compute_metrics
from mtrec.reports.html import render_html
from mtrec.reports.markdown import render_markdown
from mtrec.reports.terminal import print_summary
from mtrec.specs import DomainSplit, RankingInfo, TaskPredictions, TaskType
from mtrec.store.leaderboard import build_leaderboard, leaderboard_json, load_sources
from mtrec.store.results import validate_results

TASK = "next-item"
KEY = "00000000000000a1"
USERS = np.arange(1000, 1300, dtype=np.int64)  # 300 users
CATALOGUE = np.arange(500, 700, dtype=np.int64)  # 200 items (ids are not positions)
TRAIN_COUNTS = np.arange(len(CATALOGUE), 0, -1, dtype=np.int64)  # lower ids more popular
KS = (5, 10, 20)


def _relevant() -> np.ndarray:
    """Two relevant items per user, the same in every run (the same test data)."""
    rng = np.random.default_rng(0)
    return np.array([rng.choice(CATALOGUE[40:], size=2, replace=False) for _ in USERS])


def lists(quality: float, *, concentrated: bool = False, seed: int = 1) -> TaskPredictions:
    """Each user's top 20: a relevant item first for a share ``quality`` of the users, the
    other places non-relevant items (drawn, or with ``concentrated`` the most popular)."""
    rng = np.random.default_rng(seed)
    relevant = _relevant()
    hit = rng.random(len(USERS)) < quality
    top = np.full((len(USERS), max(KS)), -1, dtype=np.int64)
    for row in range(len(USERS)):
        others = np.setdiff1d(CATALOGUE, relevant[row])
        fill = others[:20] if concentrated else rng.choice(others, size=20, replace=False)
        top[row] = np.r_[relevant[row, :1], fill[:19]] if hit[row] else fill
    return TaskPredictions(
        task=TASK,
        task_type=TaskType.RANKING,
        y_true=relevant,
        y_pred=top,
        score=np.tile(np.linspace(1.0, 0.05, max(KS)), (len(USERS), 1)),
        primary_metric="ndcg@10",
        user_ids=USERS,
        ranking=RankingInfo(
            ks=KS,
            protocol="full",
            negatives=0,
            sampling="",
            relevance="observed",
            seed=0,
            catalogue=CATALOGUE,
            train_counts=TRAIN_COUNTS,
        ),
    )


def _split() -> DomainSplit:
    """The test rows save_ranking reads the users' sensitive groups from."""
    return DomainSplit(
        ids=np.arange(len(USERS), dtype=np.int64),
        user_ids=USERS,
        item_ids=_relevant()[:, 0],
        user_text=[f"user {u}" for u in USERS],
        item_text=["item"] * len(USERS),
        labels={},
        sensitive={"age": np.array(["young" if u % 2 else "old" for u in USERS], dtype=object)},
    )


def _record(folder: Path, predictions: TaskPredictions, seed: int, backbone: str) -> dict[str, Any]:
    key = f"{KEY[:-2]}{seed:02x}" if backbone == "tiny-bert" else f"{KEY[:-4]}ffff"
    relative = save_ranking(folder / "predictions" / key, _split(), predictions)
    metrics = compute_metrics(predictions)
    popular = lists(0.1, concentrated=True, seed=9)  # the most-popular reference
    stamp = "2026-01-01T00:00:00+00:00"
    latency = {"p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "mean": 1.0, "std": 0.0}
    return {
        "key": key,
        "backbone": backbone,
        "head_set": "next-item",
        "domain": "shop",
        "seed": seed,
        "status": "ok",
        "error": None,
        "started": stamp,
        "finished": stamp,
        "duration_s": 1.0,
        "metrics": {TASK: metrics},
        "reference": {"trivial": {TASK: compute_metrics(popular)}},
        "tasks": {
            TASK: {
                "type": "ranking",
                "label_field": "relevance",
                "loss": "bce",
                "primary_metric": "ndcg@10",
                "directions": {
                    name: "higher" if METRICS[name].direction > 0 else "lower" for name in metrics
                },
                "n_test": len(USERS),
            }
        },
        "training": {"epochs_run": 1, "best_epoch": 1, "stopped_early": False, "history": []},
        "predictions": {TASK: f"{key}/{relative}"},
        "efficiency": {
            "latency_ms": {"1": {**latency, "n": 1, "samples": [1.0], "seq_len": None}},
            "train_samples_per_s": 1.0,
            "inference_samples_per_s": 1.0,
            "peak_memory_mb": 1.0,
            "memory": {},
            "params": 10,
            "trainable_params": 10,
            "flops_per_sample": 100.0,
        },
        "fairness": {},
        "config": {
            "backbone": {"name": backbone},
            "head_set": "next-item",
            "domain": {"name": "shop"},
            "seed": seed,
            "training": {"strategy": "full"},
            "measure": {},
        },
    }


def run_folder(folder: Path, *records: tuple[TaskPredictions, int, str]) -> Path:
    """A finished run folder with one record per (lists, seed, backbone)."""
    folder.mkdir(parents=True)
    document = {
        "schema_version": 1,
        "suite": {"name": folder.name, "description": "", "source": "test", "config": {}},
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "environment": {
            key: "test"
            for key in ("mtrec", "python", "torch", "transformers", "platform", "device")
        }
        | {"device_name": "cpu", "git_commit": None},
        "plugins": [],
        "records": [_record(folder, lists_, seed, backbone) for lists_, seed, backbone in records],
    }
    validate_results(document)  # the schema accepts a ranking task and its figures
    (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def compare(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["compare", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------
# the lists are what they are said to be
# --------------------------------------------------------------------------------------


def test_constructed_lists_have_their_closed_form_figures() -> None:
    """One relevant item of two at rank 1, or none listed: ndcg@10 = hit / (1 + 1/log2 3),
    hr@10 = mrr@10 = hit, recall@10 = hit / 2."""
    for quality in (0.3, 0.7):
        predictions = lists(quality)
        rng = np.random.default_rng(1)
        share = float(np.mean(rng.random(len(USERS)) < quality))
        figures = compute_metrics(predictions)
        assert figures["ndcg@10"] == pytest.approx(share / (1 + 1 / math.log2(3)), abs=1e-12)
        assert figures["hr@10"] == pytest.approx(share, abs=1e-12)
        assert figures["mrr@10"] == pytest.approx(share, abs=1e-12)
        assert figures["recall@10"] == pytest.approx(share / 2, abs=1e-12)
    # nobody's relevant item listed: the 10 most popular items, or items drawn
    narrow, wide = compute_metrics(lists(0.0, concentrated=True)), compute_metrics(lists(0.0))
    assert narrow["coverage@10"] == 10 / len(CATALOGUE) and wide["coverage@10"] > 0.9
    assert narrow["tail_share@10"] == 0.0 and wide["tail_share@10"] > 0.5
    assert narrow["pop_lift@10"] == pytest.approx(
        np.mean(TRAIN_COUNTS[:10]) / np.mean(TRAIN_COUNTS), abs=1e-12
    )


# --------------------------------------------------------------------------------------
# mtrec compare
# --------------------------------------------------------------------------------------


def test_worse_lists_fail_the_gate_and_name_the_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = run_folder(tmp_path / "base", (lists(0.7), 0, "tiny-bert"))
    worse = run_folder(tmp_path / "worse", (lists(0.4, seed=2), 0, "tiny-bert"))
    rule = f"{TASK}.ndcg@10:-1%"
    code, out, err = compare(capsys, base, worse, "--fail-on", rule)
    assert code == 1, out + err
    lines = [line for line in err.splitlines() if "regression:" in line]
    assert len(lines) == 1 and "regression: next-item.ndcg@10 of tiny-bert" in lines[0]
    assert f"rule {rule}" in lines[0] and "95% interval" in lines[0]
    # the verdict rests on the paired bootstrap over the users of the two ranking files
    code, out, _ = compare(capsys, base, worse, "--fail-on", rule, "--json")
    check = json.loads(out)["checks"][0]
    assert check["note"] == "beyond tolerance, significant"
    low, high = check["interval"]
    assert high < 0 and low < check["candidate"] - check["baseline"] < high
    # the primary metric is what '*' gates
    code, _, err = compare(capsys, base, worse, "--fail-on", "*:+2%")
    assert code == 1 and "next-item.ndcg@10" in err


def test_equal_or_better_lists_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = run_folder(tmp_path / "base", (lists(0.7), 0, "tiny-bert"))
    same = run_folder(tmp_path / "same", (lists(0.7), 0, "tiny-bert"))
    better = run_folder(tmp_path / "better", (lists(0.8, seed=3), 0, "tiny-bert"))
    for candidate in (same, better):
        code, out, err = compare(capsys, base, candidate, "--fail-on", f"{TASK}.ndcg@10:-1%")
        assert code == 0, out + err
        assert "regression:" not in err


def test_a_close_call_is_not_significant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two lists that differ for a few users only: beyond a zero tolerance, not beyond noise."""
    base_lists = lists(0.7)
    top = base_lists.y_pred.copy()
    first_hit = int(np.flatnonzero(top[:, 0] == base_lists.y_true[:, 0])[0])
    top[first_hit, 0] = CATALOGUE[0]  # one user of 300 loses their hit
    close = TaskPredictions(**{**base_lists.__dict__, "y_pred": top})
    base = run_folder(tmp_path / "base", (base_lists, 0, "tiny-bert"))
    candidate = run_folder(tmp_path / "close", (close, 0, "tiny-bert"))
    code, out, err = compare(
        capsys, base, candidate, "--fail-on", f"{TASK}.hr@10:+0", "--min-effect", "0", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["checks"][0]["note"] == "not significant (interval includes zero)"


@pytest.mark.parametrize("metric", ["coverage@10", "gini@10", "pop_lift@10", "tail_share@10"])
def test_item_side_figures_gate_in_their_own_direction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    """Lists of the most popular items: less coverage and tail, more Gini and popularity."""
    base = run_folder(tmp_path / "base", (lists(0.0), 0, "tiny-bert"))
    narrow = run_folder(tmp_path / "narrow", (lists(0.0, concentrated=True), 0, "tiny-bert"))
    rule = f"{TASK}.{metric}:+1%"
    code, out, err = compare(capsys, base, narrow, "--fail-on", rule, "--json")
    assert code == 1, err
    check = json.loads(out)["checks"][0]
    assert check["metric"] == f"{TASK}.{metric}"
    assert check["note"] == "beyond tolerance, significant"
    assert check["direction"] == METRICS[metric].direction
    # the other way round it is an improvement
    code, _, err = compare(capsys, narrow, base, "--fail-on", rule)
    assert code == 0, err


# --------------------------------------------------------------------------------------
# leaderboard
# --------------------------------------------------------------------------------------


def test_leaderboard_tabulates_ranking_figures(tmp_path: Path) -> None:
    folder = run_folder(
        tmp_path / "board",
        (lists(0.7), 0, "tiny-bert"),
        (lists(0.4, seed=2), 0, "id-embedding"),
    )
    sources = load_sources([str(folder)])
    board = build_leaderboard(sources)
    assert [(t.task, t.metric) for t in board.tables] == [(TASK, "ndcg@10")]
    table = board.tables[0]
    assert table.reference_name == "most-popular"
    assert [variant for variant, _ in table.rows] == ["tiny-bert", "id-embedding"]
    cell = dict(table.rows)["tiny-bert"]["shop"]
    assert cell.best and cell.method == "bootstrap over users"
    # one seed: a bootstrap over the users of the ranking file, about as wide as the
    # normal interval of the per-user NDCG computed here
    relevant, top = _relevant(), lists(0.7).y_pred
    per_user = [
        sum(1 / math.log2(i + 2) for i, item in enumerate(top[u, :10]) if item in relevant[u])
        / (1 + 1 / math.log2(3))
        for u in range(len(USERS))
    ]
    mean = float(np.mean(per_user))
    assert cell.mean == pytest.approx(mean, abs=1e-12)
    assert cell.low is not None and cell.high is not None
    assert cell.low < mean < cell.high
    normal = 2 * 1.96 * float(np.std(per_user, ddof=1)) / math.sqrt(len(per_user))
    assert 0.8 * normal < cell.high - cell.low < 1.2 * normal
    # another figure by name, any cut-off
    for metric in ("recall@20", "coverage@10"):
        named = build_leaderboard(sources, metric=metric)
        assert [(t.task, t.metric) for t in named.tables] == [(TASK, metric)]
        assert named.tables[0].direction == ("higher" if METRICS[metric].direction > 0 else "lower")
    as_json = leaderboard_json(build_leaderboard(sources, metric="mrr@5"))
    assert as_json["tables"][0]["trivial_name"] == "most-popular"


def test_leaderboard_command_takes_a_ranking_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = run_folder(
        tmp_path / "board", (lists(0.7), 0, "tiny-bert"), (lists(0.4, seed=2), 0, "id-embedding")
    )
    assert main(["leaderboard", str(folder), "--metric", "hr@10", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "next-item hr@10" in out and "(most-popular)" in out
    assert main(["leaderboard", str(folder), "--metric", "ndcg@7"]) == 2
    assert "next-item.ndcg@10" in capsys.readouterr().err  # what the runs have


# --------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------


def test_reports_show_the_headline_figures_and_keep_the_rest_for_details(tmp_path: Path) -> None:
    folder = run_folder(
        tmp_path / "report", (lists(0.7), 0, "tiny-bert"), (lists(0.4, seed=2), 0, "id-embedding")
    )
    document = json.loads((folder / "results.json").read_text())
    markdown = render_markdown(document, folder)
    accuracy = markdown.split("## Accuracy (test split)")[1].split("## Ranking: item side")[0]
    for metric in ("ndcg@10", "recall@10", "hr@10", "mrr@10"):
        assert f"next-item {metric}" in accuracy
    assert "map@10" not in accuracy and "ndcg@5" not in accuracy and "@20" not in accuracy
    assert "most-popular ranking" in accuracy
    item_side = markdown.split("## Ranking: item side")[1].split("## Efficiency")[0]
    for metric in ("coverage@10", "gini@10", "pop_lift@10", "tail_share@10"):
        assert f"next-item {metric}" in item_side
    assert "| (most-popular) |" in item_side
    popular = compute_metrics(lists(0.1, concentrated=True, seed=9))
    assert f"| {popular['pop_lift@10']:.4f} |" in item_side

    html = render_html(document, folder)
    accuracy_html = html.split('data-table="accuracy"')[1].split("</table>")[0]
    assert "next-item ndcg@10" in accuracy_html and "map@10" not in accuracy_html
    details = html.split("<details><summary>next-item: every ranking figure (22)")[1]
    details = details.split("</details>")[0]
    for metric in compute_metrics(lists(0.7)):
        assert f"{metric} " in details
    assert "(most-popular) shop" in details
    assert "Most-popular ranking on the same test split" in html

    console = Console(record=True, width=200)
    print_summary(document, console)
    shown = console.export_text()
    assert "ndcg@10" in shown and "mrr@10" in shown and "map@10" not in shown
    assert "(most-popular)" in shown and "(trivial)" not in shown


# --------------------------------------------------------------------------------------
# a paired gain over tasks whose rows differ: interactions and users
# --------------------------------------------------------------------------------------


def _with_rating(folder: Path, record: dict[str, Any], error: float) -> dict[str, Any]:
    """The record with a rating task too: three interactions per user, predictions off by
    about ``error``."""
    rng = np.random.default_rng(int(error * 100))
    users = np.repeat(USERS, 3)
    truth = rng.integers(1, 6, size=len(users)).astype(np.float64)
    guess = truth + rng.normal(0.0, error, size=len(users))
    path = folder / "predictions" / record["key"] / "rating.csv"
    lines = ["id,user_id,item_id,y_true,y_pred"] + [
        f"{i},{u},{500 + i % 200},{float(t)!r},{float(g)!r}"
        for i, (u, t, g) in enumerate(zip(users, truth, guess, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rmse = math.sqrt(float(np.mean((guess - truth) ** 2)))
    return {
        **record,
        "tasks": {
            "rating": {"type": "regression", "primary_metric": "rmse", "directions": {}},
            **record["tasks"],
        },
        "predictions": {"rating": f"{record['key']}/rating.csv", **record["predictions"]},
        "metrics": {"rating": {"rmse": rmse}, **record["metrics"]},
    }


def test_a_paired_gain_draws_users_across_row_level_and_ranking_tasks(tmp_path: Path) -> None:
    from mtrec.measure.seed_intervals import paired_gain_bootstrap

    folder = tmp_path / "transfer"
    better = _with_rating(folder, _record(folder, lists(0.7), 0, "tiny-bert"), 0.5)
    alone = _with_rating(folder, _record(folder, lists(0.5, seed=4), 0, "id-embedding"), 1.0)
    found = paired_gain_bootstrap(folder, better, alone)
    assert found is not None
    estimate, low, high = found

    def gains(weights: np.ndarray) -> float:
        """Mean relative gain (%) over the two tasks, users weighted (numpy, written here)."""
        out = []
        for task, sign in (("rating", -1.0), (TASK, 1.0)):
            values = []
            for record in (better, alone):
                if task == "rating":
                    rows = np.loadtxt(
                        folder / "predictions" / record["predictions"]["rating"],
                        delimiter=",",
                        skiprows=1,
                    )
                    w = weights[np.searchsorted(USERS, rows[:, 1].astype(np.int64))]
                    values.append(math.sqrt(np.sum(w * (rows[:, 4] - rows[:, 3]) ** 2) / w.sum()))
                else:
                    per_user = _per_user_ndcg(folder, record)
                    values.append(float(np.sum(weights * per_user) / weights.sum()))
            out.append(100.0 * sign * (values[0] - values[1]) / abs(values[1]))
        return float(np.mean(out))

    assert estimate == pytest.approx(gains(np.ones(len(USERS))), abs=1e-9)
    assert low < estimate < high
    # as wide as a user bootstrap written here (another random stream: within 25 %)
    rng = np.random.default_rng(0)
    drawn = [
        gains(
            np.bincount(rng.integers(0, len(USERS), len(USERS)), minlength=len(USERS)).astype(float)
        )
        for _ in range(400)
    ]
    width = float(np.percentile(drawn, 97.5) - np.percentile(drawn, 2.5))
    assert 0.75 * width < high - low < 1.25 * width


def _per_user_ndcg(folder: Path, record: dict[str, Any]) -> np.ndarray:
    """NDCG@10 of each user (in user id order) of the record's saved lists, from the CSV."""
    with open(folder / "predictions" / record["predictions"][TASK], encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["user_id"]))
    values = []
    for row in rows:
        relevant = {int(v) for v in row["relevant"].split()}
        top = [int(v) for v in row["top"].split()][:10]
        dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(top) if item in relevant)
        values.append(dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10))))
    return np.array(values)


def test_the_tradeoff_score_counts_a_ranking_task_against_most_popular(tmp_path: Path) -> None:
    from mtrec.measure.pareto import annotate_tradeoffs

    folder = run_folder(
        tmp_path / "pareto", (lists(0.7), 0, "tiny-bert"), (lists(0.4, seed=2), 0, "id-embedding")
    )
    document = json.loads((folder / "results.json").read_text())
    annotate_tradeoffs(document)
    popular = compute_metrics(lists(0.1, concentrated=True, seed=9))["ndcg@10"]
    for record, quality, seed in zip(document["records"], (0.7, 0.4), (1, 2), strict=True):
        share = float(np.mean(np.random.default_rng(seed).random(len(USERS)) < quality))
        ndcg = share / (1 + 1 / math.log2(3))
        assert record["summary"]["score"] == pytest.approx(100 * (ndcg / popular - 1), abs=1e-9)
    assert [r["pareto_optimal"] for r in document["records"]] == [True, False]


@pytest.mark.parametrize("metric", ["coverage@10", "gini@10", "pop_lift@10", "tail_share@10"])
def test_single_seed_item_side_intervals_hold_their_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], metric: str
) -> None:
    """Coverage and Gini of a resample of users sit off the estimate (a user drawn twice adds
    no item): the intervals are moved by that bias, so they hold the figure they are about."""
    folder = run_folder(
        tmp_path / "board",
        (lists(0.7), 0, "tiny-bert"),
        (lists(0.4, seed=2, concentrated=True), 0, "id-embedding"),
    )
    board = build_leaderboard(load_sources([str(folder)]), metric=metric)
    for variant, cells in board.tables[0].rows:
        cell = cells["shop"]
        assert cell.method == "bootstrap over users", variant
        assert cell.low is not None and cell.high is not None
        assert cell.low <= cell.mean <= cell.high, (variant, cell)
        assert cell.low >= 0.0 and (metric == "pop_lift@10" or cell.high <= 1.0)
    # the paired interval of a change in mtrec compare holds the change too
    base = run_folder(tmp_path / "base", (lists(0.7), 0, "tiny-bert"))
    narrow = run_folder(
        tmp_path / "narrow", (lists(0.4, seed=2, concentrated=True), 0, "tiny-bert")
    )
    code, out, err = compare(capsys, base, narrow, "--fail-on", f"{TASK}.{metric}:+0", "--json")
    assert code == 1, err
    check = json.loads(out)["checks"][0]
    low, high = check["interval"]
    assert low <= check["candidate"] - check["baseline"] <= high
