"""Fairness metrics find what the synthetic domain plants, and a run reports them.

``synthetic-ecommerce`` with ``group_disparity = d`` flips each click label of the "55+" users
with probability f = min(0.5, d / 4), independently of everything else, and adds rating noise
for them; the same seed gives the same rows and, for every other user, the same labels. For a
scorer whose AUC on clean labels is A, flipping a share f of labels gives an expected AUC of
:func:`flipped_auc` (the AUC of a label mixture), so the planted AUC gap is A - flipped_auc.

The predictions come from fast bag-of-words models (scikit-learn) on the domain's own text,
fed through the plugins' compute functions with a real FairnessContext; one small ``mtrec``
run (ID-embedding backbone) then checks that every field appears in results.json and equals
a direct fairlearn recomputation from the saved prediction CSVs.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn import metrics as skm
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from mtrec import DomainData, FairnessContext, TaskPredictions, TaskType
from mtrec.cli import plugin_listing
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.plugins.group_gap import group_gap
from mtrec.plugins.synthetic_ecommerce import DISADVANTAGED_GROUP, load_synthetic_ecommerce
from mtrec.plugins.task_type_gaps import error_gap
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.store.results import validate_results

PLANTED_DISPARITY = 1.0
FLIP_RATE = min(0.5, PLANTED_DISPARITY / 4.0)


def flipped_auc(auc: float, flip: float, positive_rate: float) -> float:
    """Expected AUC after each label flips with probability ``flip``, independently.

    New positives are (1 - f) of the old positives and f of the old negatives, new negatives
    the rest; a pair of two old positives (or negatives) is ranked at random (1/2), an
    (old negative, old positive) pair the wrong way round (1 - A).
    """
    p, q, f = positive_rate, 1.0 - positive_rate, flip
    ordered = (1 - f) * p * (1 - f) * q * auc + f * q * f * p * (1 - auc)
    random_pairs = (1 - f) * p * f * p * 0.5 + f * q * (1 - f) * q * 0.5
    return (ordered + random_pairs) / (((1 - f) * p + f * q) * (f * p + (1 - f) * q))


def _domain(disparity: float) -> DomainData:
    return load_synthetic_ecommerce(
        seed=0,
        n_users=3000,
        n_items=300,
        n_interactions=24_000,
        group_disparity=disparity,
        validation_fraction=0.05,
        test_fraction=0.5,
    )


def _texts(data: DomainData, split: str) -> list[str]:
    rows = getattr(data, split)
    return [f"{u} | {i}" for u, i in zip(rows.user_text, rows.item_text, strict=True)]


def _fit(data: DomainData) -> FairnessContext:
    """Bag-of-words click and rating models fit on train, predicting the test split."""
    words = CountVectorizer(binary=True)
    train, test = words.fit_transform(_texts(data, "train")), words.transform(_texts(data, "test"))
    clicks = LogisticRegression(max_iter=300).fit(train, data.train.labels["click"])
    score = clicks.predict_proba(test)[:, 1]
    rating = Ridge(alpha=1.0).fit(train, data.train.labels["rating"]).predict(test)
    labels = data.test.labels
    return FairnessContext(
        combination_key="planted",
        tasks={
            "click": TaskPredictions(
                task="click",
                task_type=TaskType.BINARY,
                y_true=labels["click"],
                y_pred=(score >= 0.5).astype(np.int64),
                score=score,
                primary_metric="auc",
            ),
            "rating": TaskPredictions(
                task="rating",
                task_type=TaskType.REGRESSION,
                y_true=labels["rating"],
                y_pred=rating,
                score=None,
                primary_metric="rmse",
            ),
        },
        sensitive=data.test.sensitive,
        metrics={},
        user_ids=data.test.user_ids,
        item_ids=data.test.item_ids,
        bootstrap_resamples=400,
        seed=0,
    )


@dataclass(frozen=True)
class Measured:
    """Predictions on one domain and what the group metrics report on them."""

    context: FairnessContext
    gaps: dict[str, Any]  # group-gap
    errors: dict[str, Any]  # error-gap of the rating task, per attribute


def _measure(disparity: float) -> Measured:
    context = _fit(_domain(disparity))
    return Measured(
        context=context,
        gaps=group_gap(context),
        errors=error_gap(context.tasks["rating"], context),
    )


@pytest.fixture(scope="module")
def planted() -> Measured:
    return _measure(PLANTED_DISPARITY)


@pytest.fixture(scope="module")
def unplanted() -> Measured:
    return _measure(0.0)


def test_planted_click_gap_is_recovered(planted: Measured) -> None:
    click = planted.context.tasks["click"]
    assert click.score is not None
    groups = np.asarray(planted.context.sensitive["age_group"]).astype(str)
    y_clean = _domain(0.0).test.labels["click"]
    # Same rows, same scores: only the 55+ labels differ between the two domains.
    others = groups != DISADVANTAGED_GROUP
    assert np.array_equal(y_clean[others], click.y_true[others])
    assert not np.array_equal(y_clean[~others], click.y_true[~others])
    clean_auc = np.mean(
        [skm.roc_auc_score(y_clean[groups == g], click.score[groups == g]) for g in set(groups)]
    )
    expected = clean_auc - flipped_auc(clean_auc, FLIP_RATE, float(y_clean.mean()))

    figures = planted.gaps["click"]["age_group"]
    low, high = figures["difference_ci"]
    assert low <= expected <= high, (expected, figures["difference"], low, high)
    assert figures["worst_group"] == DISADVANTAGED_GROUP
    assert low > 0  # the gap is detected...
    assert high - low < expected  # ...and the interval is informative
    assert expected == pytest.approx(0.12, abs=0.01)  # A ~ 0.74, f = 0.25


def test_without_disparity_the_interval_covers_zero(unplanted: Measured) -> None:
    for task in ("click", "rating"):
        figures = unplanted.gaps[task]["age_group"]
        assert figures["difference_ci"][0] == 0.0, (task, figures)
        assert figures["difference"] > 0  # a max-min of noisy groups is never exactly 0
    assert unplanted.errors["age_group"]["mae_difference_ci"][0] == 0.0


def test_planted_rating_noise_shows_as_an_error_gap(planted: Measured) -> None:
    errors = planted.errors["age_group"]
    assert errors["worst_group_mae"] == errors["worst_group_rmse"] == DISADVANTAGED_GROUP
    assert errors["mae_difference_ci"][0] > 0
    assert planted.gaps["rating"]["age_group"]["difference_ci"][0] > 0


# --------------------------------------------------------------------------------------
# one small run: the fields in results.json, recomputed from the saved predictions
# --------------------------------------------------------------------------------------

SUITE = """
name: fairness-fields
seeds: [0]
backbones: [{name: id-embedding, options: {dim: 16, hidden: 32}}, trivial]
head_sets: [ecommerce-seed]
domains:
  - {name: synthetic-ecommerce, options: {n_users: 60, n_items: 60, n_interactions: 600,
     group_disparity: 2.0, test_fraction: 0.3}}
training: {epochs: 2, batch_size: 64, lr: 0.01, patience: 0}
fairness: {baseline_seeds: 0, bootstrap_resamples: 50}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}
"""


@pytest.fixture(scope="module")
def run(fixture_plugin_path: Path, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.syspath_prepend(str(fixture_plugin_path))
    try:
        suite = parse_suite(SUITE, origin="fairness-fields.yaml", source="file")
        out = tmp_path_factory.mktemp("fairness") / "run"
        return run_sweep(suite, PluginHost(), out, device="cpu")
    finally:
        monkeypatch.undo()
        sys.modules.pop("mtrec_fixture_plugin", None)


def _columns(run: SweepResult, record: dict[str, Any], task: str) -> dict[str, np.ndarray]:
    path = run.run_dir / "predictions" / record["predictions"][task]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    out = {name: np.array([float(v) for v in values]) for name, values in columns.items()
           if name not in ("age_group",)}  # fmt: skip
    out["age_group"] = np.array(columns["age_group"], dtype=object)
    return out


def test_run_reports_every_fairness_field(run: SweepResult) -> None:
    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    validate_results(document)
    records = [r for r in document["records"] if r["status"] == "ok"]
    assert len(records) == 2, [r["error"] for r in document["records"]]
    for record in records:
        fairness = record["fairness"]
        assert {"group-gap", "demographic-parity", "equalized-odds", "error-gap"} <= set(fairness)
        assert {"accuracy-gap", "item-exposure", "fixture-score-gap"} <= set(fairness)
        assert len(fairness["group-gap"]["click"]["age_group"]["difference_ci"]) == 2
        assert fairness["demographic-parity"]["rating"]["applicable"] is False
        assert fairness["error-gap"]["click"]["applicable"] is False
        assert fairness["item-exposure"]["category"]["applicable"] is False
        assert 0 < fairness["item-exposure"]["click"]["coverage"] <= 1
        assert set(record["summary"]) == {
            "score", "latency_p50_ms", "peak_memory_mb", "d_min", "worst_group_gap",
        }  # fmt: skip
        assert isinstance(record["pareto_optimal"], bool)
    assert document["tradeoffs"]["front"]
    assert set(document["tradeoffs"]["front"]) <= {r["key"] for r in records}


def _supported(figures: dict[str, Any], groups: np.ndarray) -> np.ndarray:
    """Rows of the groups a gap counts: those with at least min_group_users users."""
    users, least = figures["group_users"], figures["min_group_users"]
    assert figures["excluded_groups"] == sorted(g for g, n in users.items() if n < least)
    assert sum(users.values()) <= len(groups)  # users, not rows
    return np.isin(groups, [g for g, n in users.items() if n >= least])


def _approx(expected: float | None) -> Any:
    return None if expected is None else pytest.approx(expected, rel=1e-12, abs=1e-12)


def _over(gap: Any, kept: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, groups: Any) -> Any:
    """A fairlearn gap over the kept rows; None with fewer than two groups left."""
    if len(set(groups[kept])) < 2:
        return None
    return gap(y_true[kept], y_pred[kept], sensitive_features=groups[kept])


def test_fairlearn_figures_equal_a_recomputation_from_the_csvs(run: SweepResult) -> None:
    for record in (r for r in run.document["records"] if r["status"] == "ok"):
        fairness = record["fairness"]
        click = _columns(run, record, "click")
        groups = click["age_group"]
        y_true, y_pred = click["y_true"].astype(int), click["y_pred"].astype(int)
        parity = fairness["demographic-parity"]["click"]["age_group"]
        kept = _supported(parity, groups)
        expected = _over(demographic_parity_difference, kept, y_true, y_pred, groups)
        assert parity["difference"] == _approx(expected)
        odds = fairness["equalized-odds"]["click"]["age_group"]
        expected = _over(equalized_odds_difference, kept, y_true, y_pred, groups)
        assert odds["difference"] == _approx(expected)
        rating = _columns(run, record, "rating")
        frame = MetricFrame(
            metrics=skm.mean_absolute_error,
            y_true=rating["y_true"],
            y_pred=rating["y_pred"],
            sensitive_features=rating["age_group"],
        )
        errors = fairness["error-gap"]["rating"]["age_group"]
        assert errors["by_group"]["mae"] == pytest.approx(
            {str(g): float(v) for g, v in frame.by_group.items()}, rel=1e-12
        )
        supported = [g for g in frame.by_group.index if g not in errors["excluded_groups"]]
        expected = float(frame.by_group[supported].max()) if supported else None
        assert errors["group_max_mae"] == _approx(expected)
        category = _columns(run, record, "category")
        frame = MetricFrame(
            metrics=skm.accuracy_score,
            y_true=category["y_true"],
            y_pred=category["y_pred"],
            sensitive_features=category["age_group"],
        )
        accuracy = fairness["accuracy-gap"]["category"]["age_group"]
        assert accuracy["by_group"] == pytest.approx(
            {str(g): float(v) for g, v in frame.by_group.items()}, rel=1e-12
        )
        values = frame.by_group[[g for g in frame.by_group.index if g in supported]]
        expected = float(values.max() - values.min()) if len(values) >= 2 else None
        assert accuracy["difference"] == _approx(expected)
        # The third-party metric from the fixture plugin, recomputed the same way.
        means = {g: float(click["score"][groups == g].mean()) for g in set(groups)}
        third_party = fairness["fixture-score-gap"]["click"]["age_group"]
        assert third_party["difference"] == pytest.approx(
            max(means.values()) - min(means.values()), rel=1e-12
        )
        assert fairness["fixture-score-gap"]["rating"]["applicable"] is False


@pytest.mark.usefixtures("with_fixture_plugin")
def test_third_party_metric_is_listed_with_its_distribution() -> None:
    metrics = {item["name"]: item for item in plugin_listing(PluginHost())["fairness_metrics"]}
    assert metrics["fixture-score-gap"]["distribution"] == "mtrec-fixture-plugin"
    assert metrics["fixture-score-gap"]["scope"] == "group"
    assert metrics["item-exposure"]["scope"] == "item"
