"""The leaderboard: every cell against an independent recomputation from the run folders,
best marks and HELM-style ranks on planted records, variant names, 80-column terminal
output, and ``mtrec leaderboard`` on several runs and on bad input."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from scipy import stats  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from mtrec.measure.seed_intervals import t_quantile
from mtrec.reports import print_summary, render_html, render_markdown
from mtrec.reports.leaderboard import leaderboard_markdown, print_leaderboard
from mtrec.store.leaderboard import build_leaderboard, load_sources, source_of
from mtrec.store.variants import variant_names

RESAMPLES = 200
TINY = {"n_users": 40, "n_items": 40, "n_interactions": 200}


def _suite(name: str, seeds: list[int], backbones: list[Any], include: list[Any]) -> dict[str, Any]:
    return {
        "include": include,
        "name": name,
        "description": "leaderboard test",
        "seeds": seeds,
        "backbones": backbones,
        "head_sets": ["ecommerce-seed"],
        "domains": [{"name": "synthetic-ecommerce", "options": TINY}],
        "fairness_metrics": [],  # not what these tests read
        "fairness": {"baseline_seeds": 0, "bootstrap_resamples": RESAMPLES},
        "training": {"epochs": 1, "batch_size": 32, "lr": 0.001, "max_length": 32},
        "measure": {
            "latency_batch_sizes": [1],
            "latency_warmup": 1,
            "latency_min_repeats": 2,
            "latency_min_seconds": 0.0,
            "flops": False,
        },
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Run A: tiny BERT and trivial, seeds 0 and 1; run B: tiny BERT plain, with MMoE and
    trained on synthetic video first (a transfer), seed 2. Pooled, plain tiny BERT has three
    seeds, trivial two, the MMoE and transfer variants one."""
    import yaml

    from mtrec.config import load_suite
    from mtrec.plugin_host import PluginHost
    from mtrec.run.runner import run_sweep
    from mtrec.store.database import Store

    root = tmp_path_factory.mktemp("leaderboard")
    folders = []
    transfer = {
        "backbone": "tiny-bert",
        "head_set": "ecommerce-seed",
        "domain": {
            "name": "synthetic-ecommerce",
            "options": TINY,
            "transfer": {
                "sources": [{"name": "synthetic-video", "head_set": "video-seed", "options": TINY}]
            },
        },
    }
    for name, seeds, backbones, include in (
        ("lb-a", [0, 1], ["tiny-bert", "trivial"], []),
        (
            "lb-b",
            [2],
            ["tiny-bert", {"name": "tiny-bert", "training": {"architecture": "mmoe"}}],
            [transfer],
        ),
    ):
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_suite(name, seeds, backbones, include)), encoding="utf-8")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MTREC_STORE", str(root / "store.sqlite"))
            store = Store.default()  # the run is also addressable by its name
            run_sweep(load_suite(str(path)), PluginHost(), root / name, device="cpu", store=store)
        folders.append(root / name)
    return folders[0], folders[1]


# --------------------------------------------------------------------------------------
# the independent recomputation
# --------------------------------------------------------------------------------------


def _variant(record: dict[str, Any]) -> str:
    architecture = record["config"]["training"]["architecture"]
    transfer = record["config"]["domain"].get("transfer")
    source = f"from {transfer['sources'][0]['name']}" if transfer else None
    shown = [part for part in (architecture, source) if part]
    return str(record["backbone"]) + (f" ({', '.join(shown)})" if shown else "")


def _metric(task_type: str, metric: str, y_true: np.ndarray, rows: list[dict[str, str]]) -> float:
    if task_type == "ranking":  # rows are users: the mean of each user's NDCG of their list
        return float(np.mean([_ndcg(row, int(metric.partition("@")[2])) for row in rows]))
    if metric == "accuracy":
        return float(accuracy_score(y_true, [int(r["y_pred"]) for r in rows]))
    if metric == "rmse":
        return math.sqrt(mean_squared_error(y_true, [float(r["y_pred"]) for r in rows]))
    assert metric == "auc", metric
    return float(roc_auc_score(y_true, [float(r["score"]) for r in rows]))


def _ndcg(row: dict[str, str], k: int) -> float:
    """NDCG@k of one user's saved list (binary gains)."""
    relevant = {int(v) for v in row["relevant"].split()}
    top = [int(v) for v in row["top"].split()][:k]
    dcg = sum(1 / math.log2(i + 2) for i, item in enumerate(top) if item in relevant)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))


def _labels(info: dict[str, Any], rows: list[dict[str, str]]) -> np.ndarray:
    """The y_true column (a ranking task's relevant items are read from its rows)."""
    if info["type"] == "ranking":
        return np.zeros(len(rows))
    kind = float if info["type"] == "regression" else int
    return np.array([kind(float(r["y_true"])) for r in rows])


def _user_bootstrap(run: Path, record: dict[str, Any], task: str) -> tuple[float, float]:
    """Percentile interval over users: draw users with replacement, each brings all their
    rows, the metric on the repeated rows (scikit-learn)."""
    info = record["tasks"][task]
    with open(run / "predictions" / record["predictions"][task], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    users = np.array([int(r["user_id"]) for r in rows])
    order = np.unique(users)
    unit = np.searchsorted(order, users)
    y_true = _labels(info, rows)
    rng = np.random.default_rng(record["seed"])
    values = []
    for drawn in rng.integers(0, len(order), size=(RESAMPLES, len(order))):
        times = np.bincount(drawn, minlength=len(order))[unit]
        picked = np.repeat(np.arange(len(rows)), times)
        try:
            value = _metric(
                info["type"], info["primary_metric"], y_true[picked], [rows[i] for i in picked]
            )
        except ValueError:  # one class only: AUC undefined on this resample
            continue
        if math.isfinite(value):
            values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _expected_cells(folders: tuple[Path, ...]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(task metric, variant, domain) -> mean and interval, from results.json and the
    prediction files alone."""
    found: dict[tuple[str, str, str], list[tuple[int, float, Path, dict[str, Any]]]] = {}
    for folder in folders:
        document = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        for record in document["records"]:
            for task, info in record["tasks"].items():
                metric = info["primary_metric"]
                key = (f"{task}.{metric}", _variant(record), record["domain"])
                value = record["metrics"][task][metric]
                found.setdefault(key, []).append((record["seed"], value, folder, record))
    cells = {}
    for key, entries in found.items():
        values = np.array([v for _, v, _, _ in entries])
        if len(values) >= 2:
            half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
            interval = (values.mean() - half, values.mean() + half)
        else:
            _, _, folder, record = entries[0]
            interval = _user_bootstrap(folder, record, key[0].split(".")[0])
        cells[key] = {
            "mean": float(values.mean()),
            "ci": interval,
            "seeds": sorted(s for s, _, _, _ in entries),
        }
    return cells


def test_every_cell_equals_an_independent_recomputation(runs: tuple[Path, Path], cli: Any) -> None:
    done = cli("leaderboard", str(runs[0]), str(runs[1]), "--format", "json")
    assert done.returncode == 0, done.stderr
    board = json.loads(done.stdout)
    expected = _expected_cells(runs)
    shown = {
        (f"{t['task']}.{t['metric']}", row["variant"], domain): cell
        for t in board["tables"]
        for row in t["rows"]
        for domain, cell in row["cells"].items()
    }
    assert set(shown) == set(expected)
    trivial = {
        (f"{t['task']}.{t['metric']}", domain): cell
        for t in board["tables"]
        for domain, cell in t["trivial"].items()
    }
    assert set(trivial) == {(key[0], key[2]) for key in expected}
    for (metric, domain), cell in trivial.items():
        values = _trivial_by_seed(runs, metric, domain)
        assert cell["seeds"] == sorted(values) == [0, 1, 2]
        array = np.array([values[s] for s in sorted(values)])
        half = stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array))
        assert cell["mean"] == pytest.approx(array.mean(), abs=1e-12)
        assert cell["ci"] == pytest.approx([array.mean() - half, array.mean() + half], abs=1e-9)
        assert cell["best"] is False and cell["rank"] is None  # a reference, not a contender
    seeds = {key[1]: cell["seeds"] for key, cell in expected.items()}
    assert seeds == {
        "tiny-bert": [0, 1, 2],
        "trivial": [0, 1],
        "tiny-bert (mmoe)": [2],
        "tiny-bert (from synthetic-video)": [2],
    }
    for key, cell in expected.items():
        got = shown[key]
        assert got["mean"] == pytest.approx(cell["mean"], abs=1e-12), key
        assert got["ci"] == pytest.approx(list(cell["ci"]), abs=1e-9), key
        assert got["seeds"] == cell["seeds"]
        one_seed = len(cell["seeds"]) == 1
        assert got["interval"] == ("bootstrap over users" if one_seed else "t over seeds")


def _rows(run: Path, record: dict[str, Any], task: str) -> list[dict[str, str]]:
    with open(run / "predictions" / record["predictions"][task], encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _trivial_by_seed(folders: tuple[Path, ...], metric: str, domain: str) -> dict[int, float]:
    """The trivial reference of each seed, checked to be the same in every record of it."""
    task, name = metric.split(".")
    values: dict[int, float] = {}
    for folder in folders:
        document = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        for record in document["records"]:
            if record["domain"] == domain and task in record["tasks"]:
                value = record["reference"]["trivial"][task][name]
                assert values.setdefault(record["seed"], value) == value
    return values


def test_a_one_seed_transfer_gain_has_a_paired_user_bootstrap(
    runs: tuple[Path, Path], cli: Any
) -> None:
    """The transfer cell against the same combination trained on the target alone, both
    scored on the same resampled users, recomputed with scikit-learn."""
    run = runs[1]
    records = json.loads((run / "results.json").read_text(encoding="utf-8"))["records"]
    (moved,) = [r for r in records if r.get("transfer")]
    alone = next(r for r in records if r["key"] == moved["transfer"]["target_alone_key"])
    tasks = list(moved["tasks"])
    mine = {t: _rows(run, moved, t) for t in tasks}
    theirs = {t: _rows(run, alone, t) for t in tasks}
    # a drawn user brings their rows of every task (a ranking task's row is the user's list)
    users = {t: np.array([int(r["user_id"]) for r in mine[t]]) for t in tasks}
    order = np.unique(np.concatenate(list(users.values())))

    def mean_gain(times: np.ndarray) -> float:
        gains = []
        for task in tasks:
            info = moved["tasks"][task]
            counts = times[np.searchsorted(order, users[task])]
            picked = np.repeat(np.arange(len(users[task])), counts)
            y = _labels(info, mine[task])[picked]
            a = _metric(info["type"], info["primary_metric"], y, [mine[task][i] for i in picked])
            b = _metric(info["type"], info["primary_metric"], y, [theirs[task][i] for i in picked])
            sign = 1 if info["directions"][info["primary_metric"]] == "higher" else -1
            gains.append(100.0 * sign * (a - b) / max(abs(b), 1e-12))
        return float(np.mean(gains))

    assert mean_gain(np.ones(len(order), dtype=np.int64)) == pytest.approx(
        moved["transfer"]["mean_gain"]
    )
    rng = np.random.default_rng(moved["seed"])
    values = []
    for drawn in rng.integers(0, len(order), size=(RESAMPLES, len(order))):
        try:
            values.append(mean_gain(np.bincount(drawn, minlength=len(order))))
        except ValueError:  # one class only: AUC undefined on this resample
            continue
    low, high = np.percentile(values, [2.5, 97.5])
    done = cli("leaderboard", str(run), "--format", "json")
    (matrix,) = json.loads(done.stdout)["transfers"]
    (cell,) = matrix["cells"]
    assert (matrix["variant"], cell["source"], cell["target"]) == (
        "tiny-bert",
        "synthetic-video",
        "synthetic-ecommerce",
    )
    assert cell["mean"] == pytest.approx(moved["transfer"]["mean_gain"])
    assert cell["ci"] == pytest.approx([low, high], abs=1e-9)
    assert cell["interval"] == "bootstrap over users"


def test_reports_and_the_end_of_a_run_show_the_leaderboard(runs: tuple[Path, Path]) -> None:
    run = runs[0]
    document = json.loads((run / "results.json").read_text(encoding="utf-8"))
    markdown = render_markdown(document, run)
    assert "## Leaderboard" in markdown and "### category accuracy \u2191" in markdown
    assert "### Rank per domain" in markdown
    html = render_html(document, run)
    assert 'id="leaderboard"' in html and 'data-table="leaderboard category accuracy"' in html
    # the reports a run writes have it too
    from mtrec.reports import write_reports

    written, _ = write_reports(document, run)
    assert "## Leaderboard" in written.read_text(encoding="utf-8")


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10, 29, 30, 31, 120])
def test_the_t_quantile_matches_scipy(df: int) -> None:
    assert t_quantile(df, 0.95) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-10)
    assert t_quantile(df, 0.9) == pytest.approx(stats.t.ppf(0.95, df), abs=1e-10)


# --------------------------------------------------------------------------------------
# best cells and ranks on planted records
# --------------------------------------------------------------------------------------


def _record(
    backbone: str, domain: str, seed: int, accuracy: float, rmse: float, **config: Any
) -> dict[str, Any]:
    training = {"strategy": "full", "lr": 0.001, "architecture": None, **config}
    return {
        "key": f"{backbone}-{domain}-{seed}-{json.dumps(config, sort_keys=True)}",
        "backbone": backbone,
        "head_set": "heads",
        "domain": domain,
        "seed": seed,
        "status": "ok",
        "error": None,
        "config": {
            "backbone": {"name": backbone, "pooling": None, "options": {}},
            "training": training,
        },
        "tasks": {
            "category": {
                "type": "multiclass",
                "primary_metric": "accuracy",
                "directions": {"accuracy": "higher"},
            },
            "rating": {
                "type": "regression",
                "primary_metric": "rmse",
                "directions": {"rmse": "lower", "mae": "lower"},
            },
        },
        "metrics": {"category": {"accuracy": accuracy}, "rating": {"rmse": rmse, "mae": rmse / 2}},
        "efficiency": {
            "latency_ms": {"1": {"p50": 1.5}},
            "peak_memory_mb": 100.0,
            "train_samples_per_s": 50.0,
            "flops_per_sample": 2e6,
            "params": 1000,
        },
    }


def _document(*records: dict[str, Any], training: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "suite": {
            "name": "planted",
            "config": {"training": training or {"strategy": "full", "lr": 0.001}},
        },
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "environment": {"device": "cpu"},
        "records": list(records),
    }


def _planted() -> dict[str, Any]:
    """Three backbones on two domains, two seeds each. On d1: a best in accuracy (0.9), b
    best in rmse (0.5, lower is better); on d2: a and c tie on accuracy, c best in rmse."""
    figures = {
        ("a", "d1"): (0.9, 0.8),
        ("b", "d1"): (0.7, 0.5),
        ("c", "d1"): (0.6, 0.9),
        ("a", "d2"): (0.8, 0.7),
        ("b", "d2"): (0.5, 0.9),
        ("c", "d2"): (0.8, 0.4),
    }
    records = []
    for (backbone, domain), (accuracy, rmse) in figures.items():
        for seed, shift in ((0, -0.01), (1, 0.01)):
            records.append(_record(backbone, domain, seed, accuracy + shift, rmse + shift))
    records.append(
        {**_record("d", "d1", 0, 0.0, 0.0), "status": "failed", "error": "planted failure",
         "metrics": None}
    )  # fmt: skip
    return _document(*records)


def test_best_cells_and_ranks_respect_each_metric_direction() -> None:
    board = build_leaderboard([source_of(_planted(), None)])
    tables = {t.metric: t for t in board.tables}
    accuracy, rmse = tables["accuracy"], tables["rmse"]
    best = {
        (metric, variant, domain)
        for metric, table in tables.items()
        for variant, cells in table.rows
        for domain, cell in cells.items()
        if cell.best
    }
    assert best == {
        ("accuracy", "a", "d1"),
        ("accuracy", "a", "d2"),
        ("accuracy", "c", "d2"),  # a tie: both marked
        ("rmse", "b", "d1"),  # lower is better
        ("rmse", "c", "d2"),
    }
    ranks = {(v, d): c.rank for v, cells in rmse.rows for d, c in cells.items()}
    assert ranks == {("b", "d1"): 1, ("a", "d1"): 2, ("c", "d1"): 3,
                     ("c", "d2"): 1, ("a", "d2"): 2, ("b", "d2"): 3}  # fmt: skip
    assert {(v, d): c.rank for v, cells in accuracy.rows for d, c in cells.items()}[
        ("c", "d2")
    ] == 1
    standings = {s.variant: s for s in board.standings}
    # win rates: d1 accuracy a 1, b .5, c 0; d1 rmse b 1, a .5, c 0 -> a .75, b .75, c 0
    # d2 accuracy a .75, c .75, b 0;  d2 rmse c 1, a .5, b 0  -> a .625, c .875, b 0
    assert standings["a"].domain_win_rates == pytest.approx({"d1": 0.75, "d2": 0.625})
    assert standings["b"].domain_win_rates == pytest.approx({"d1": 0.75, "d2": 0.0})
    assert standings["c"].domain_win_rates == pytest.approx({"d1": 0.0, "d2": 0.875})
    assert standings["a"].domain_ranks == {"d1": 1, "d2": 2}
    assert standings["b"].domain_ranks == {"d1": 1, "d2": 3}
    assert standings["c"].domain_ranks == {"d1": 3, "d2": 1}
    assert standings["a"].mean_win_rate == pytest.approx(0.6875)
    assert standings["a"].mean_rank == pytest.approx(1.5)
    assert [s.variant for s in board.standings] == ["a", "c", "b"]  # .6875, .4375, .375
    # the failed record is listed, not dropped
    assert [(f.variant, f.error) for f in board.failures] == [("d", "planted failure")]
    text = "\n".join(leaderboard_markdown(board))
    assert "Failed records (1)" in text and "planted failure" in text
    assert "**0.8000**\\*" in text  # the d2 tie in accuracy, bold and starred


def test_the_trivial_reference_row_is_left_out_where_a_variant_shows_it() -> None:
    records = [_record("m", "d1", seed, 0.6 + seed / 10, 1.0) for seed in (0, 1)]
    trivial = [_record("trivial", "d1", seed, 0.5, 1.2) for seed in (0, 1)]
    for record in records + trivial:
        record["reference"] = {"trivial": {"category": {"accuracy": 0.5}, "rating": {"rmse": 1.2}}}
    with_row = build_leaderboard([source_of(_document(*records), None)])
    assert [c.mean for c in with_row.tables[0].reference.values()] == [0.5]
    without = build_leaderboard([source_of(_document(*records, *trivial), None)])
    assert not without.tables[0].reference


def test_the_metric_and_task_filters() -> None:
    source = source_of(_planted(), None)
    by_metric = build_leaderboard([source], metric="mae")
    assert [(t.task, t.metric) for t in by_metric.tables] == [("rating", "mae")]
    by_task = build_leaderboard([source], task="category")
    assert [(t.task, t.metric) for t in by_task.tables] == [("category", "accuracy")]
    from mtrec.errors import UsageError

    with pytest.raises(UsageError, match="no record reports task 'nope'"):
        build_leaderboard([source], task="nope")


# --------------------------------------------------------------------------------------
# variant names
# --------------------------------------------------------------------------------------


def test_variants_are_named_by_the_settings_that_differ() -> None:
    plain = _record("m", "d1", 0, 0.5, 1.0)
    frozen = _record("m", "d1", 0, 0.5, 1.0, strategy="frozen", lr=0.003)
    frozen_fast = _record("m", "d1", 0, 0.5, 1.0, strategy="frozen", lr=0.01)
    mmoe = _record("m", "d1", 0, 0.5, 1.0, architecture="mmoe", loss_weighting="uncertainty")
    lr_list = _record("m", "d1", 0, 0.5, 1.0, lr=[1e-05, 3e-05])
    transfer = _record("m", "d1", 0, 0.5, 1.0)
    transfer["config"]["domain"] = {
        "name": "d1",
        "transfer": {"sources": [{"name": "src", "head_set": "h"}], "epochs": None},
    }
    pooled = _record("m", "d1", 0, 0.5, 1.0)
    pooled["config"]["backbone"]["pooling"] = "mean"
    no_context = _record("m", "d1", 0, 0.5, 1.0)
    no_context["config"]["input"] = {"context": False, "history": 0}
    other = _record("x", "d1", 0, 0.5, 1.0, lr=0.5)  # alone: keeps its name
    mmoe_slow = _record("m", "d1", 0, 0.5, 1.0, architecture="mmoe", lr=0.0001)
    document = _document(
        plain, frozen, frozen_fast, mmoe, mmoe_slow, lr_list, transfer, pooled, no_context, other
    )
    named = variant_names([(r, document) for r in document["records"]])
    names = [name for name, _, _ in named]
    assert names == [
        "m",
        # a recipe setting joins a name only to tell two configurations apart
        "m (frozen, lr=0.003)",
        "m (frozen, lr=0.01)",
        "m (mmoe, uncertainty)",
        "m (mmoe)",
        "m (lr=[1e-05, 3e-05])",
        "m (from src)",
        "m (pooling=mean)",
        "m (context=false, history=0)",
        "x",
    ]
    bases = [base for _, base, _ in named]
    assert bases[6] == "m"  # the transfer matrix groups by the variant without its source
    # what sets each apart, the recipe included, for the variants list
    assert named[4][2] == {"training.architecture": "mmoe", "training.lr": "0.0001"}
    assert named[0][2] == {}


def test_two_runs_with_different_recipes_are_spelled_out_not_pooled() -> None:
    """Plain in each run, but the runs trained for different epochs: one name would pool
    different configurations, so both are named by every setting that differs."""
    short = _document(_record("m", "d1", 0, 0.5, 1.0, epochs=1), training={"epochs": 1})
    long = _document(_record("m", "d1", 0, 0.7, 1.0, epochs=3), training={"epochs": 3})
    board = build_leaderboard([source_of(short, None, "a"), source_of(long, None, "b")])
    assert [v for v, _ in board.tables[0].rows] == ["m (epochs=3)", "m (epochs=1)"]


def test_one_domain_built_with_different_options_gets_a_column_each() -> None:
    small, large = _record("m", "d1", 0, 0.5, 1.0), _record("m", "d1", 0, 0.7, 1.0)
    small["config"]["domain"] = {"name": "d1", "options": {"n_users": 40, "seed_text": "x"}}
    large["config"]["domain"] = {"name": "d1", "options": {"n_users": 120, "seed_text": "x"}}
    board = build_leaderboard(
        [source_of(_document(small), None, "a"), source_of(_document(large), None, "b")]
    )
    assert board.tables[0].domains == ("d1 (n_users=40)", "d1 (n_users=120)")
    assert not board.notes  # two columns, not one record replacing the other


def test_several_head_sets_on_one_domain_name_the_variant() -> None:
    one, two = _record("m", "d1", 0, 0.5, 1.0), _record("m", "d1", 0, 0.6, 1.0)
    two["head_set"] = "other-heads"
    document = _document(one, two)
    names = [n for n, _, _ in variant_names([(r, document) for r in document["records"]])]
    assert names == ["m (head_set=heads)", "m (head_set=other-heads)"]


def test_a_record_measured_again_replaces_the_earlier_one() -> None:
    first = _document(_record("m", "d1", 0, 0.5, 1.0))
    again = _document(_record("m", "d1", 0, 0.7, 1.0))
    board = build_leaderboard([source_of(first, None, "a"), source_of(again, None, "b")])
    (cell,) = board.tables[0].rows[0][1].values()
    assert cell.values == (0.7,) and cell.seeds == (0,)
    assert not cell.best  # alone in its column: nothing won
    assert board.notes and "the record of b replaces the one of a" in board.notes[0]


# --------------------------------------------------------------------------------------
# 80 columns
# --------------------------------------------------------------------------------------


def _numbers(board: Any) -> set[str]:
    from mtrec.reports.summary import number

    shown = set()
    for table in [*board.tables, *board.fairness]:
        rows = [*table.rows, ("", getattr(table, "reference", {}))]
        for _, cells in rows:
            for cell in cells.values():
                shown.add(number(cell.mean))
                if cell.low is not None:
                    shown |= {number(cell.low), number(cell.high)}
    return shown


def _wide() -> dict[str, Any]:
    """Five domains with long names and long variant names: wider than 80 columns."""
    records = []
    for d, domain in enumerate(f"synthetic-domain-number-{i}" for i in range(5)):
        for b, backbone in enumerate(("minilm-l6", "tiny-bert")):
            for strategy in ("full", "frozen"):
                for seed in (0, 1, 2):
                    value = 0.1 * d + 0.01 * b + 0.001 * seed + (0.05 if strategy == "full" else 0)
                    records.append(
                        _record(backbone, domain, seed, value, 1 - value, strategy=strategy)
                    )
    return _document(*records)


@pytest.mark.parametrize("planted", [_wide, _planted])
def test_the_terminal_tables_fit_80_columns_and_show_every_number(planted: Any) -> None:
    board = build_leaderboard([source_of(planted(), None)])
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    print_leaderboard(board, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    missing = {n for n in _numbers(board) if n not in text}
    assert not missing
    for standing in board.standings:
        assert f"{standing.mean_win_rate:.3f}" in text
    # split, not squeezed: every domain's name whole in a header
    assert all(domain in text for domain in board.domains)


def test_the_real_run_renders_at_80_columns(runs: tuple[Path, Path]) -> None:
    board = build_leaderboard(load_sources([str(runs[0]), str(runs[1])]))
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    print_leaderboard(board, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not {n for n in _numbers(board) if n not in text}


def test_the_per_record_summary_fits_80_columns_without_hiding_numbers() -> None:
    from mtrec.reports.summary import number

    document = _wide()
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    print_summary(document, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for record in document["records"]:
        for values in record["metrics"].values():
            assert number(values["accuracy" if "accuracy" in values else "rmse"]) in text
    assert "\u2026" not in text  # nothing cut short with an ellipsis


# --------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------


def test_the_command_over_several_runs(runs: tuple[Path, Path], cli: Any) -> None:
    done = cli("leaderboard", str(runs[0]), str(runs[1]))
    assert done.returncode == 0, done.stderr
    assert "tiny-bert (mmoe)" in done.stdout and "rank per domain" in done.stdout
    markdown = cli("leaderboard", str(runs[0]), "--format", "markdown", "--task", "rating")
    assert markdown.returncode == 0
    assert "## rating rmse \u2193" in markdown.stdout and "category" not in markdown.stdout
    by_metric = cli("leaderboard", str(runs[0]), "--format", "json", "--metric", "mae")
    assert [t["metric"] for t in json.loads(by_metric.stdout)["tables"]] == ["mae"]


def test_the_command_reads_stored_runs_by_name(
    runs: tuple[Path, Path], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTREC_STORE", str(runs[0].parent / "store.sqlite"))
    by_name = cli("leaderboard", "lb-a", "lb-b", "--format", "json")
    by_folder = cli("leaderboard", str(runs[0]), str(runs[1]), "--format", "json")
    assert by_name.returncode == 0, by_name.stderr
    shown, expected = json.loads(by_name.stdout), json.loads(by_folder.stdout)
    assert shown["tables"] == expected["tables"] and shown["runs"] == ["lb-a", "lb-b"]


def test_the_command_refuses_bad_input(tmp_path: Path, runs: tuple[Path, Path], cli: Any) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    malformed = tmp_path / "malformed"
    malformed.mkdir()
    (malformed / "results.json").write_text('{"schema_version": 1, "records": [{', "utf-8")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "results.json").write_text('{"schema_version": 1, "records": [7]}', "utf-8")
    for bad, says in (
        (tmp_path / "missing", "no such run folder"),
        (empty, "no results.json here"),
        (malformed, "not valid JSON"),
        (wrong, "records[0]: expected an object"),
    ):
        done = cli("leaderboard", str(runs[0]), str(bad))
        assert done.returncode == 2, (bad, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
        assert done.stderr.startswith("mtrec leaderboard: error: ")
    unknown = cli("leaderboard", str(runs[0]), "--task", "nope")
    assert unknown.returncode == 2 and "no record reports task 'nope'" in unknown.stderr


# --------------------------------------------------------------------------------------
# labelled scatter points
# --------------------------------------------------------------------------------------


def test_tradeoff_points_are_labelled_and_escaped() -> None:
    from mtrec.reports import plots

    svg = plots.scatter(
        [
            plots.Point(x=1.0, y=2.0, label="<b>minilm</b> & co", on_front=True),
            plots.Point(x=2.0, y=1.0, label="tiny-bert", on_front=False),
        ],
        x_label="latency",
        y_label="score",
        title="t",
    )
    labels = re.findall(r'<text class="point-label"[^>]*>([^<]*)<title>', svg)
    assert labels == ["&lt;b&gt;minilm&lt;/b&gt; &amp; co", "tiny-bert"]
    assert "<b>" not in svg


def test_the_transfer_matrix_pools_seeds_with_a_t_interval() -> None:
    records = []
    for seed, gain in ((0, 2.0), (1, 4.0), (2, 9.0)):
        record = _record("m", "target", seed, 0.5, 1.0)
        record["config"]["domain"] = {"name": "target", "transfer": {"sources": [{"name": "src"}]}}
        record["transfer"] = {"sources": [{"domain": "src"}], "mean_gain": gain}
        records.append(record)
    records.append(_record("m", "target", 0, 0.4, 1.1))  # the plain variant
    board = build_leaderboard([source_of(_document(*records), None)])
    (matrix,) = board.transfers
    assert matrix.variant == "m" and matrix.sources == ("src",) and matrix.targets == ("target",)
    cell = matrix.cells[("src", "target")]
    half = stats.t.ppf(0.975, 2) * np.std([2.0, 4.0, 9.0], ddof=1) / math.sqrt(3)
    assert cell.mean == pytest.approx(5.0)
    assert (cell.low, cell.high) == pytest.approx((5.0 - half, 5.0 + half))
    assert "Transfer gain % over the target alone: m" in "\n".join(leaderboard_markdown(board))


def test_a_kept_interval_is_never_served_for_changed_predictions(
    runs: tuple[Path, Path], tmp_path: Path
) -> None:
    """Intervals are kept in the process under the prediction file's hash: the same file
    gives the kept interval, an edited file a fresh one."""
    import shutil

    from mtrec.measure.seed_intervals import user_bootstrap

    folder = tmp_path / "copy"
    shutil.copytree(runs[1], folder)
    records = json.loads((folder / "results.json").read_text(encoding="utf-8"))["records"]
    record = next(r for r in records if r["config"]["training"]["architecture"] == "mmoe")
    before = user_bootstrap(folder, record, "rating", "rmse")
    assert before is not None and user_bootstrap(folder, record, "rating", "rmse") == before
    csv_path = folder / "predictions" / record["predictions"]["rating"]
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    for row in rows[::2]:
        row["y_pred"] = repr(float(row["y_pred"]) + 1.0)
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    after = user_bootstrap(folder, record, "rating", "rmse")
    assert after is not None and after != before
