"""Explanations: attributions of trained models, their faithfulness, and what a run saves.

One small sweep (tiny BERT and the ID-embedding baseline on the synthetic e-commerce domain,
``explain:`` on) is shared by the tests that read a run; the same sweep without ``explain:``
shows that explanations change no metric. The planted-words test trains tiny BERT on a domain
whose label only known words carry (``PlantedWords``): integrated gradients on the trained
model must put more of its attribution on them than the random reference does, by a bootstrap
interval that excludes 0; so must it on ``synthetic-ecommerce`` at difficulty 0 with the
words the generator plants for the category (``evidence_words``). A faithful explainer and
the same attributions shuffled within each row are ordered correctly by every faithfulness
metric; the reported deletion AUC and comprehensiveness are recomputed independently from the
saved attributions and re-predictions.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from mtrec import (
    DomainData,
    DomainSpec,
    DomainSplit,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    TaskType,
    hookimpl,
)
from mtrec.config import parse_suite
from mtrec.errors import UnknownNameError, UsageError
from mtrec.measure.bootstrap import paired_difference
from mtrec.measure.explain import (
    FRACTIONS,
    deletion_keep,
    insertion_keep,
    planted_share,
    row_metrics,
    segment_shares,
    spearman,
    task_figures,
    top_units,
    word_mask,
)
from mtrec.model.batching import encode_split
from mtrec.model.inputs import InputOptions, render_split
from mtrec.plugin_host import PluginHost
from mtrec.plugins import explainer_methods
from mtrec.plugins.synthetic_domains import evidence_words
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce
from mtrec.run.explain import explainable_model
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.store.results import validate_results

DOMAIN = "synthetic-ecommerce"
SUITE = """
name: explain-test
seeds: [0]
backbones: [tiny-bert, id-embedding]
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 60, n_items: 60, n_interactions: 700}
training: {epochs: 3, batch_size: 32, lr: 0.002, head_lr: 0.005, max_length: 96}
evaluation: {ranking: {negatives: 19, validation_negatives: 9, train_negatives: 1}}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}
fairness: {baseline_seeds: 0, bootstrap_resamples: 0}
"""
# The tests that read the shared sweep: it trains two backbones and explains them (~20 s on
# one thread), beyond the budget of a fast test.
SWEEP = pytest.mark.slow
EXPLAIN = "explain: {rows: 32, steps: 16, tasks: [category, rating], bootstrap_resamples: 300}\n"


def _sweep(tmp_path: Path, text: str) -> SweepResult:
    suite = parse_suite(text, origin="explain-test.yaml", source="file")
    return run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return _sweep(tmp_path_factory.mktemp("explained"), SUITE + EXPLAIN)


def _records(run: SweepResult) -> dict[str, dict[str, Any]]:
    document = json.loads((run.run_dir / "results.json").read_text())
    return {record["backbone"]: record for record in document["records"]}


def _saved(run: SweepResult, record: dict[str, Any], task: str) -> dict[str, Any]:
    path = run.run_dir / "predictions" / record["explanations"]["files"][task]
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


# -- the metrics on hand-made rows ----------------------------------------------------------


def test_top_units_take_a_ceiling_share_of_the_eligible_units_never_special_ones() -> None:
    attribution = np.array([9.0, 0.5, 3.0, 2.0, 1.0, 8.0])
    eligible = np.array([False, True, True, True, True, False])  # [CLS] ... [SEP]
    assert top_units(attribution, eligible, 0.0).tolist() == [False] * 6
    assert np.flatnonzero(top_units(attribution, eligible, 0.01)).tolist() == [2]
    assert np.flatnonzero(top_units(attribution, eligible, 0.5)).tolist() == [2, 3]
    assert np.flatnonzero(top_units(attribution, eligible, 1.0)).tolist() == [1, 2, 3, 4]
    # deletion keeps the special units and drops the top; insertion keeps specials + top
    assert deletion_keep(attribution, eligible, 0.5).tolist() == [1, 1, 0, 0, 1, 1]
    assert insertion_keep(attribution, eligible, 0.5).tolist() == [1, 0, 1, 1, 0, 1]


def test_row_metrics_follow_their_definitions() -> None:
    grid = np.asarray(FRACTIONS)
    deletion = 1.0 - grid  # the score falls linearly as units go
    insertion = grid
    figures = row_metrics(1.0, deletion, insertion)
    assert figures["deletion_auc"] == pytest.approx(0.5)
    assert figures["insertion_auc"] == pytest.approx(0.5)
    eraser_bins = np.array([0.01, 0.05, 0.1, 0.2, 0.5])
    assert figures["comprehensiveness"] == pytest.approx(eraser_bins.mean())
    assert figures["sufficiency"] == pytest.approx(1.0 - eraser_bins.mean())


def test_segment_shares_word_masks_and_agreement() -> None:
    segments = ["special", "context", "user", "user", "item", "special"]
    shares = segment_shares(np.array([5.0, 1.0, -1.0, 2.0, 4.0, 5.0]), segments)
    assert shares == pytest.approx({"context": 0.125, "user": 0.375, "item": 0.5})
    units = ["water", "proof", "tent", "by", "Hal", "den", "."]
    spaced = [True, False, True, True, True, False, False]
    mask = word_mask(units, spaced, frozenset({"waterproof", "halden"}))
    assert mask.tolist() == [True, True, False, False, True, True, False]
    assert planted_share(np.array([1, 1, 0, -5, 1, 1, 0.0]), mask) == 1.0
    assert spearman(np.array([1, 2, 3.0]), np.array([10, 20, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3.0]), np.array([3, 2, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([1, 1, 1.0]), np.array([3, 2, 1.0])) is None


# -- a run with explain: -------------------------------------------------------------------


@SWEEP
def test_every_ok_record_has_figures_against_the_random_reference(explained: SweepResult) -> None:
    records = _records(explained)
    validate_results(json.loads((explained.run_dir / "results.json").read_text()))
    wanted = {"tiny-bert": "integrated-gradients", "id-embedding": "id-integrated-gradients"}
    for backbone, explainer in wanted.items():
        record = records[backbone]
        assert record["status"] == "ok", record.get("error")
        explanations = record["explanations"]
        assert explanations["rows"] == 32
        assert set(explanations["tasks"]) == {"category", "rating"}  # as the suite asks
        for figures in explanations["tasks"].values():
            assert figures["reference"] == "random"
            assert {explainer, "random"} <= set(figures["explainers"])
            own = figures["explainers"][explainer]
            for metric in ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency"):
                assert own[metric]["interval"] is not None
                assert own[metric]["vs_random"]["interval"] is not None
            assert own["seconds_per_row"] > 0
            shares = own["segment_shares"]
            assert sum(shares.values()) == pytest.approx(1.0)
            assert f"{explainer}~random" in figures["agreement"]
    # encoders also get attention rollout; the ID baseline's units are its two embeddings
    assert "attention-rollout" in records["tiny-bert"]["explanations"]["explainers"]
    assert records["id-embedding"]["explanations"]["tasks"]["rating"]["explainers"]["random"][
        "segment_shares"
    ]["context"] == pytest.approx(0.0)
    assert "attention-rollout" in records["id-embedding"]["explanations"]["skipped"]


class PlantedWords:
    """A domain whose category is carried by known words: each item text is filler words with
    one planted word of its class; every row is a new item (no item to memorise) and the user
    text is filler, so a model that learns the label must read the planted word."""

    CLASSES = ("kitchen", "garden", "music")
    WORDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "kitchen": ("kettle", "toaster", "saucepan"),
        "garden": ("shovel", "hose", "rake"),
        "music": ("guitar", "violin", "drum"),
    }
    FILLER = ("red", "blue", "small", "large", "old", "new", "cheap", "fine", "plain", "box",
              "pack", "set", "piece", "with", "for", "the")  # fmt: skip

    @staticmethod
    def load(seed: int = 0, n: int = 500, **_: Any) -> DomainData:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(PlantedWords.CLASSES), n)
        items = []
        for label in labels:
            words = list(rng.choice(PlantedWords.FILLER, 6))
            planted = rng.choice(PlantedWords.WORDS[PlantedWords.CLASSES[label]])
            words.insert(int(rng.integers(0, 7)), str(planted))
            items.append(" ".join(words))
        users = [" ".join(rng.choice(PlantedWords.FILLER, 4)) for _ in range(n)]

        def split(rows: np.ndarray) -> DomainSplit:
            return DomainSplit(
                ids=rows.astype(np.int64),
                user_ids=(rows % 50).astype(np.int64),
                item_ids=rows.astype(np.int64),
                user_text=[users[i] for i in rows],
                item_text=[items[i] for i in rows],
                labels={"category": labels[rows].astype(np.int64)},
                sensitive={},
            )

        bounds = (int(n * 0.7), int(n * 0.85))
        return DomainData(
            train=split(np.arange(bounds[0])),
            validation=split(np.arange(*bounds)),
            test=split(np.arange(bounds[1], n)),
            label_fields={
                "category": LabelField(
                    name="category", task_type=TaskType.MULTICLASS, classes=PlantedWords.CLASSES
                )
            },
            sensitive_attributes=(),
        )

    @hookimpl
    def mtrec_register_domains(self) -> list[DomainSpec]:
        return [
            DomainSpec(
                name="planted-words",
                load=PlantedWords.load,
                label_fields=("category",),
                sensitive_attributes=(),
            )
        ]

    @hookimpl
    def mtrec_register_head_sets(self) -> list[HeadSetSpec]:
        head = HeadSpec(
            task="category",
            task_type=TaskType.MULTICLASS,
            label_field="category",
            loss="cross_entropy",
        )
        return [HeadSetSpec(name="planted-heads", heads=(head,))]


PLANTED_SUITE = """
name: explain-planted
backbones: [tiny-bert]
head_sets: [planted-heads]
domains: [planted-words]
training: {epochs: 4, batch_size: 32, lr: 0.002, head_lr: 0.005, max_length: 32}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}
fairness: {baseline_seeds: 0, bootstrap_resamples: 0}
explain: {rows: 40, steps: 16, explainers: [integrated-gradients]}
"""


def _assert_planted_words_beat_random(saved: dict[str, Any], words: frozenset[str]) -> None:
    """Integrated gradients put a larger share of each row's attribution on ``words`` than the
    random reference does (a paired bootstrap interval above 0), and the same attributions
    shuffled within each row do not: the check has teeth."""
    rng = np.random.default_rng(0)
    shares: dict[str, list[float]] = {"integrated-gradients": [], "random": [], "shuffled": []}
    for row in saved["rows"]:
        mask = word_mask(row["units"], row["space_before"], words)
        found = np.asarray(row["explainers"]["integrated-gradients"]["attribution"])
        shares["integrated-gradients"].append(planted_share(found, mask))
        shares["random"].append(
            planted_share(np.asarray(row["explainers"]["random"]["attribution"]), mask)
        )
        eligible = np.asarray(row["segments"]) != "special"
        shuffled = found.copy()
        shuffled[eligible] = rng.permutation(found[eligible])
        shares["shuffled"].append(planted_share(shuffled, mask))
    ig, random, shuffled_shares = (np.asarray(shares[name]) for name in shares)

    def over_random(values: np.ndarray) -> Any:
        return paired_difference(
            lambda r: float(random[r].mean()),
            lambda r: float(values[r].mean()),
            len(values),
            seed=0,
        )

    planted = over_random(ig)
    assert planted.low is not None and planted.low > 0, (ig.mean(), random.mean(), planted)
    against = over_random(shuffled_shares)
    assert against.low is None or against.low <= 0, (shuffled_shares.mean(), random.mean())


@SWEEP
def test_planted_words_get_more_integrated_gradients_than_random(tmp_path: Path) -> None:
    suite = parse_suite(PLANTED_SUITE, origin="explain-planted.yaml", source="file")
    host = PluginHost(extra_plugins=[("planted-words", PlantedWords())])
    run = run_sweep(suite, host, tmp_path / "run", device="cpu")
    record = json.loads((run.run_dir / "results.json").read_text())["records"][0]
    assert record["status"] == "ok", record.get("error")
    assert record["metrics"]["category"]["accuracy"] > 0.6  # it did learn the planted words
    words = frozenset(word for group in PlantedWords.WORDS.values() for word in group)
    _assert_planted_words_beat_random(_saved(run, record, "category"), words)
    # and the faithfulness figures put integrated gradients ahead of the random reference
    figures = record["explanations"]["tasks"]["category"]["explainers"]["integrated-gradients"]
    assert figures["comprehensiveness"]["vs_random"]["interval"][0] > 0
    assert figures["deletion_auc"]["vs_random"]["interval"][1] < 0


ECOMMERCE_OPTIONS = {"difficulty": 0.0, "n_items": 600, "n_interactions": 900}
ECOMMERCE_PLANTED_SUITE = f"""
name: explain-ecommerce-evidence
backbones: [tiny-bert]
head_sets: [planted-heads]
domains:
  - name: synthetic-ecommerce
    options: {json.dumps(ECOMMERCE_OPTIONS)}
training: {{epochs: 4, batch_size: 32, lr: 0.002, head_lr: 0.005, max_length: 64}}
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}}
fairness: {{baseline_seeds: 0, bootstrap_resamples: 0}}
explain: {{rows: 40, steps: 16, explainers: [integrated-gradients]}}
"""


def test_evidence_words_of_a_synthetic_domain_get_more_integrated_gradients_than_random(
    tmp_path: Path,
) -> None:
    """The same check on a real synthetic domain with the words its generator plants for the
    category (``evidence_words``): at difficulty 0 the evidence is always in the text and
    items rarely repeat (600 items, 900 rows), so tiny BERT learns the category from the
    words, and integrated gradients must find them (~10 s on one thread)."""
    suite = parse_suite(ECOMMERCE_PLANTED_SUITE, origin="explain-evidence.yaml", source="file")
    run = run_sweep(suite, PluginHost(extra_plugins=[("planted-heads", PlantedWords())]),
                    tmp_path / "run", device="cpu")  # fmt: skip
    record = json.loads((run.run_dir / "results.json").read_text())["records"][0]
    assert record["status"] == "ok", record.get("error")
    test_labels = load_synthetic_ecommerce(**ECOMMERCE_OPTIONS).test.labels["category"]
    majority = np.bincount(test_labels).max() / len(test_labels)
    accuracy = record["metrics"]["category"]["accuracy"]
    assert accuracy > max(0.8, majority + 0.4), (accuracy, majority)  # it learned the category
    words = evidence_words(DOMAIN, "category")
    _assert_planted_words_beat_random(_saved(run, record, "category"), words)


@SWEEP
def test_reported_figures_equal_a_recomputation_from_the_saved_files(
    explained: SweepResult,
) -> None:
    for record in _records(explained).values():
        for task, figures in record["explanations"]["tasks"].items():
            saved = _saved(explained, record, task)
            grid = np.asarray(saved["fractions"])
            at = [list(grid).index(k) for k in (0.01, 0.05, 0.1, 0.2, 0.5)]
            for name, reported in figures["explainers"].items():
                auc, comprehensiveness = [], []
                for row in saved["rows"]:
                    curve = np.asarray(row["explainers"][name]["deletion"])
                    insertion = np.asarray(row["explainers"][name]["insertion"])
                    # the curves start and end where they must: full input, empty input
                    assert curve[0] == pytest.approx(row["score"], abs=1e-6)
                    assert insertion[-1] == pytest.approx(row["score"], abs=1e-6)
                    assert curve[-1] == pytest.approx(insertion[0], abs=1e-6)
                    auc.append(np.trapezoid(curve, grid))
                    comprehensiveness.append(np.mean(row["score"] - curve[at]))
                assert reported["deletion_auc"]["estimate"] == pytest.approx(np.mean(auc))
                assert reported["comprehensiveness"]["estimate"] == pytest.approx(
                    np.mean(comprehensiveness)
                )
            assert task_figures(saved, resamples=300, seed=0) == figures


@SWEEP
def test_explanations_change_no_metric(explained: SweepResult, tmp_path: Path) -> None:
    plain = _records(_sweep(tmp_path, SUITE))
    for backbone, record in _records(explained).items():
        assert plain[backbone]["metrics"] == record["metrics"]
        assert "explanations" not in plain[backbone]


@SWEEP
def test_reports_show_the_explanations_escaped(explained: SweepResult) -> None:
    from mtrec.reports import render_html, render_markdown

    document = json.loads((explained.run_dir / "results.json").read_text())
    markdown = render_markdown(document, explained.run_dir)
    assert (
        "## Explanations" in markdown
        and "| tiny-bert | synthetic-ecommerce | category |" in markdown
    )
    html = render_html(document, explained.run_dir)
    assert '<section id="explanations">' in html and 'class="attr-1"' in html
    # a planted unit text cannot open markup in either report
    record = _records(explained)["tiny-bert"]
    path = explained.run_dir / "predictions" / record["explanations"]["files"]["category"]
    original = path.read_text()
    try:
        saved = json.loads(original)
        saved["rows"][0]["units"][1] = "<img src=x onerror=alert(1)>"
        path.write_text(json.dumps(saved))
        assert "<img" not in render_html(document, explained.run_dir)
        assert "<img" not in render_markdown(document, explained.run_dir)
    finally:
        path.write_text(original)


@SWEEP
def test_explain_cli_prints_a_row_and_refuses_bad_input(explained: SweepResult, cli: Any) -> None:
    record = _records(explained)["tiny-bert"]
    row_id = _saved(explained, record, "category")["rows"][0]["id"]
    result = cli("explain", str(explained.run_dir), "--key", record["key"], "--row", str(row_id))
    assert result.returncode == 0, result.stderr
    assert "integrated-gradients" in result.stdout and "comprehensiveness" in result.stdout
    for arguments, message in (
        (["--key", "0000", "--row", str(row_id)], "has no combination"),
        (["--key", record["key"], "--row", "-7"], "not among the explained rows"),
        (["--key", record["key"], "--row", str(row_id), "--task", "nope"], "was not explained"),
    ):
        bad = cli("explain", str(explained.run_dir), *arguments)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def test_unknown_or_unusable_explainers_are_bad_input(tmp_path: Path, monkeypatch: Any) -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'random'"):
        _sweep(tmp_path, SUITE + "explain: {explainers: [randon]}\n")
    with pytest.raises(UsageError, match=r"explain\.tasks: 'ratings'"):
        _sweep(tmp_path, SUITE + "explain: {tasks: [ratings]}\n")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(UsageError, match=r"integrated-gradients.*needs captum"):
        _sweep(tmp_path, SUITE + "explain: {explainers: [integrated-gradients]}\n")
    assert not (tmp_path / "run" / "results.json").exists()


# -- the methods on a model built here -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce
    from tests.prepared_models import prepare_for_test

    host = PluginHost()
    spec = host.registries.backbones.get("tiny-bert")
    head_set = host.registries.head_sets.get("ecommerce-seed")
    raw = load_synthetic_ecommerce(seed=0, n_users=20, n_items=20, n_interactions=120)
    options = InputOptions()  # the scene and the history rendered, as a run does by default
    data = replace(
        raw,
        train=render_split(raw.train, options),
        validation=render_split(raw.validation, options),
        test=render_split(raw.test, options),
    )
    loaded = spec.load()
    torch.manual_seed(0)
    prepared = prepare_for_test(spec, head_set, data, strategy="full", loaded=loaded)
    prepared.model.eval()
    tokens = encode_split(data.test, loaded.tokenizer, 32, segments=True)
    return explainable_model(
        prepared.model,
        Family.ENCODER,
        tokenizer=loaded.tokenizer,
        split=data.test,
        sample=np.arange(6),
        max_length=32,
        device=torch.device("cpu"),
        tokens=tokens,
    )


def test_integrated_gradients_add_up_to_the_score_change(tiny_model: Any) -> None:
    """Completeness: the attributions of a row sum to s(x) - s(baseline); this holds only if
    the path's copies reach the model in the order captum evaluates them."""
    rows = np.arange(len(tiny_model.rows))
    found = explainer_methods.integrated_gradients(
        model=tiny_model, task="rating", rows=rows, seed=0, steps=64
    )
    everything = [np.ones(tiny_model.unit_count(p), dtype=bool) for p in rows]
    nothing = [~row.eligible for row in tiny_model.rows]
    change = tiny_model.masked_scores(rows, everything, "rating") - tiny_model.masked_scores(
        rows, nothing, "rating"
    )
    sums = np.array([values.sum() for values in found])
    assert sums == pytest.approx(change, abs=2e-3 + 0.02 * np.abs(change).max())


def test_segments_cover_context_user_and_item(tiny_model: Any) -> None:
    row = tiny_model.rows[0]
    assert row.segments[0] == "special" and row.segments[-1] == "special"
    assert {"context", "user", "item"} <= set(row.segments)
    assert row.segments.index("context") < row.segments.index("user") < row.segments.index("item")


def test_faithful_and_shuffled_explainers_are_ordered_correctly(tiny_model: Any) -> None:
    """An oracle attribution (each unit's own effect when removed alone) against the same
    values shuffled within the row: every metric must prefer the oracle."""
    task = "category"
    rows = np.arange(len(tiny_model.rows))
    everything = [np.ones(tiny_model.unit_count(p), dtype=bool) for p in rows]
    full = tiny_model.masked_scores(rows, everything, task)
    oracle = []
    for position, row in enumerate(tiny_model.rows):
        units = np.flatnonzero(row.eligible)
        keeps = []
        for unit in units:
            keep = np.ones(len(row.units), dtype=bool)
            keep[unit] = False
            keeps.append(keep)
        scores = tiny_model.masked_scores(np.full(len(units), position), keeps, task)
        values = np.zeros(len(row.units))
        values[units] = full[position] - scores
        oracle.append(values)
    rng = np.random.default_rng(1)
    shuffled = []
    for values, row in zip(oracle, tiny_model.rows, strict=True):
        permuted = values.copy()
        units = np.flatnonzero(row.eligible)
        permuted[units] = rng.permutation(values[units])
        shuffled.append(permuted)
    figures: dict[str, list[dict[str, float]]] = {"oracle": [], "shuffled": []}
    for name, found in (("oracle", oracle), ("shuffled", shuffled)):
        for position, row in enumerate(tiny_model.rows):
            curves = {}
            for curve, keep_of in (("deletion", deletion_keep), ("insertion", insertion_keep)):
                keeps = [keep_of(found[position], row.eligible, k) for k in FRACTIONS]
                curves[curve] = tiny_model.masked_scores(
                    np.full(len(FRACTIONS), position), keeps, task
                )
            figures[name].append(
                row_metrics(full[position], curves["deletion"], curves["insertion"])
            )

    def mean(name: str, metric: str) -> float:
        return float(np.mean([row[metric] for row in figures[name]]))

    assert mean("oracle", "deletion_auc") < mean("shuffled", "deletion_auc")
    assert mean("oracle", "comprehensiveness") > mean("shuffled", "comprehensiveness")
    assert mean("oracle", "insertion_auc") > mean("shuffled", "insertion_auc")
    assert mean("oracle", "sufficiency") < mean("shuffled", "sufficiency")


def test_a_model_without_units_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """A frozen backbone trains its heads on cached features: no token to attribute. The
    record stays ok and says why each explainer did not run."""
    suite = SUITE.replace("backbones: [tiny-bert, id-embedding]", "backbones: [tiny-bert]")
    suite = suite.replace("epochs: 3", "epochs: 1, strategy: frozen")
    record = _records(_sweep(tmp_path, suite + "explain: {rows: 4}\n"))["tiny-bert"]
    assert record["status"] == "ok", record.get("error")
    explanations = record["explanations"]
    assert explanations["explainers"] == [] and explanations["tasks"] == {}
    assert "CachedFeatureEncoder" in explanations["skipped"]["integrated-gradients"]
    assert explanations["skipped"]["id-integrated-gradients"] == "explains id-embedding backbones"
