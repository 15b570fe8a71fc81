"""The context ablation finds a planted context effect, and none where there is none.

Two small domains are registered through the plugin manager. In ``scene-planted`` the click
label is the scene (``time_of_day`` night -> 1), with 10% of labels flipped; the user and item
texts carry nothing about it. Its twin ``scene-absent`` has the same rows and scenes, but the
label is the item's colour (in the item text), so the scene adds nothing. One tiny-BERT run
lists the backbone twice, with the context rendered and without (``input: {context: false}``):
the ablation report must show a gain whose interval excludes 0 on the planted domain and
covers 0 on the twin, and its figures must equal a recomputation from the prediction files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mtrec import (
    DomainData,
    DomainSpec,
    DomainSplit,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    TaskType,
    hookimpl,
)
from mtrec.config import parse_suite
from mtrec.measure.ablation import ablation_pairs
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.store.results import validate_results

N_ROWS, N_USERS, FLIP = 480, 120, 0.1
SCENES = ("night", "noon")


def load_scene(*, seed: int = 0, planted: bool = True) -> DomainData:
    rng = np.random.default_rng(7)  # the same rows for both domains and every seed
    users = rng.integers(0, N_USERS, N_ROWS)
    items = rng.integers(0, 40, N_ROWS)
    colour = np.where(items % 2 == 0, "red", "blue")
    scene = np.asarray(SCENES, dtype=object)[rng.integers(0, 2, N_ROWS)]
    cause = (scene == "night") if planted else (colour == "red")
    label = np.where(rng.random(N_ROWS) < FLIP, ~cause, cause).astype(np.int64)
    order = rng.permutation(N_ROWS)
    cuts = {"train": order[:320], "validation": order[320:380], "test": order[380:]}

    def split(rows: np.ndarray) -> DomainSplit:
        return DomainSplit(
            ids=rows.astype(np.int64),
            user_ids=users[rows].astype(np.int64),
            item_ids=items[rows].astype(np.int64),
            user_text=[f"reader {u}" for u in users[rows].tolist()],
            item_text=[f"story {i} in {c}" for i, c in zip(items[rows], colour[rows], strict=True)],
            labels={"click": label[rows]},
            sensitive={},
            context={"time_of_day": scene[rows]},
        )

    return DomainData(
        **{name: split(rows) for name, rows in cuts.items()},
        label_fields={"click": LabelField(name="click", task_type=TaskType.BINARY)},
        sensitive_attributes=(),
        context_fields=("time_of_day",),
    )


class ScenePlugin:
    @hookimpl
    def mtrec_register_domains(self) -> list[DomainSpec]:
        return [
            DomainSpec(
                name=name,
                load=lambda seed=0, planted=planted: load_scene(seed=seed, planted=planted),
                label_fields=("click",),
                sensitive_attributes=(),
                context_fields=("time_of_day",),
            )
            for name, planted in (("scene-planted", True), ("scene-absent", False))
        ]

    @hookimpl
    def mtrec_register_head_sets(self) -> list[HeadSetSpec]:
        head = HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce")
        return [HeadSetSpec(name="scene-click", heads=(head,))]


SUITE = """
name: scene-ablation
seeds: [0]
backbones:
  - tiny-bert
  - {name: tiny-bert, input: {context: false}}
head_sets: [scene-click]
domains: [scene-planted, scene-absent]
training: {epochs: 6, batch_size: 32, lr: 0.001, max_length: 24, patience: 0}
fairness: {baseline_seeds: 0, bootstrap_resamples: 400, min_group_users: 5}
fairness_metrics: [context-gap]
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0.0, flops: false}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    suite = parse_suite(SUITE, origin="scene-ablation.yaml", source="file")
    host = PluginHost(extra_plugins=[("scene", ScenePlugin())])
    return run_sweep(suite, host, tmp_path_factory.mktemp("ablation") / "run", device="cpu")


def _gain(document: dict[str, Any], domain: str) -> dict[str, Any]:
    (ablation,) = [a for a in document["ablations"] if a["domain"] == domain]
    assert ablation["fuller_input"] == {"context": True, "history": None}
    assert ablation["reduced_input"] == {"context": False, "history": None}
    figures: dict[str, Any] = ablation["tasks"]["click"]
    return figures


def test_context_gain_is_significant_only_where_planted(run: SweepResult) -> None:
    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    validate_results(document)
    assert all(r["status"] == "ok" for r in document["records"]), [
        r["error"] for r in document["records"]
    ]
    assert {r["input"]["context"] for r in document["records"]} == {True, False}
    assert len({r["key"] for r in document["records"]}) == 4
    planted, absent = _gain(document, "scene-planted"), _gain(document, "scene-absent")
    assert planted["metric"] == "auc"
    assert planted["interval"][0] > 0 and planted["gain"] > 0.2, planted
    assert planted["significant"] is True
    low, high = absent["interval"]
    assert low <= 0 <= high, absent
    assert absent["significant"] is False
    # the twin is learnable from the item text alone: the reduced input is not at chance
    assert absent["reduced"] > 0.7, absent


def test_ablation_figures_equal_a_recomputation(run: SweepResult) -> None:
    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    records = {r["key"]: r for r in document["records"]}
    for ablation in document["ablations"]:
        values = []
        for side in ("fuller", "reduced"):
            path = run.run_dir / "predictions" / records[ablation[side]]["predictions"]["click"]
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            y_true = [int(row["y_true"]) for row in rows]
            score = [float(row["score"]) for row in rows]
            values.append(roc_auc_score(y_true, score))
            assert records[ablation[side]]["metrics"]["click"]["auc"] == pytest.approx(values[-1])
        figures = ablation["tasks"]["click"]
        assert figures["fuller"] == pytest.approx(values[0], abs=1e-12)
        assert figures["reduced"] == pytest.approx(values[1], abs=1e-12)
        assert figures["gain"] == pytest.approx(values[0] - values[1], abs=1e-12)
        assert figures["users"] == len({row["user_id"] for row in rows})


def test_context_slices_report_each_scene(run: SweepResult) -> None:
    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    for record in document["records"]:
        slices = record["fairness"]["context-gap"]["click"]["time_of_day"]
        assert set(slices["by_group"]) == set(SCENES)
        assert sum(slices["group_sizes"].values()) == record["tasks"]["click"]["n_test"]


def test_pairs_need_one_input_to_read_all_of_the_other() -> None:
    def record(key: str, context: bool, history: int | None, lr: float = 1e-3) -> dict[str, Any]:
        config = {"backbone": {"name": "b"}, "training": {"lr": lr}}
        inputs = {"context": context, "history": history}
        return {"key": key, "status": "ok", "input": inputs, "config": {**config, "input": inputs}}

    records = [
        record("full", True, None),
        record("no-context", False, None),
        record("no-history", True, 0),
        record("other-lr", False, None, lr=1e-2),
    ]
    pairs = {(a["key"], b["key"]) for a, b in ablation_pairs(records)}
    assert pairs == {("full", "no-context"), ("full", "no-history")}


def test_input_options_change_the_key_the_texts_and_the_token_cache(tmp_path: Path) -> None:
    from mtrec.model.token_cache import TokenCache
    from mtrec.run.matrix import expand
    from mtrec.run.plugin_calls import load_domain
    from mtrec.run.sweep_cache import SweepCache

    suite = parse_suite(SUITE, origin="scene-ablation.yaml", source="file")
    host = PluginHost(extra_plugins=[("scene", ScenePlugin())])
    with_context, without = [c for c in expand(suite) if c.domain.name == "scene-planted"]
    assert with_context.domain == without.domain and with_context.key != without.key
    assert "input" not in with_context.config()  # the default input keeps the earlier keys
    assert with_context.label == "tiny-bert x scene-click x scene-planted (seed 0)"
    assert without.label.endswith("(seed 0) [context off, history all]")
    assert without.config()["input"] == {"context": False, "history": None}
    cache = SweepCache(tokens=TokenCache(None))
    full = load_domain("scene-planted", {}, with_context, host, cache)
    bare = load_domain("scene-planted", {}, without, host, cache)
    assert len(cache.domains) == 1  # loaded once, rendered twice
    k = 0
    scene = full.test.context["time_of_day"][k]
    assert full.test.user_text[k] == f"time of day {scene} | {bare.test.user_text[k]}"
    assert bare.test.user_text[k] == f"reader {full.test.user_ids[k]}"
    # context and ids stay available to fairness and slicing whatever the input
    assert list(bare.test.context["time_of_day"]) == list(full.test.context["time_of_day"])
    tokenizer = host.registries.backbones.get("tiny-bert").load().tokenizer
    keys = {cache.tokens.key(data.test, tokenizer, 24, segments=True) for data in (full, bare)}
    assert len(keys) == 2


def test_reports_show_the_input_ablation(run: SweepResult) -> None:
    import io

    from rich.console import Console

    from mtrec.reports.ablation import ablation_rows, gain_text
    from mtrec.reports.html import render_html
    from mtrec.reports.markdown import render_markdown
    from mtrec.reports.terminal import print_summary

    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    rows = ablation_rows(document)
    assert [row["domain"] for row in rows] == ["scene-planted", "scene-absent"]
    planted = gain_text(rows[0])
    assert planted.endswith(" *") and not gain_text(rows[1]).endswith("*")
    markdown = render_markdown(document)
    assert "## Input ablation" in markdown
    assert planted in markdown and "context, all history | no context, all history" in markdown
    html = render_html(document)
    assert 'data-table="ablation"' in html and "Input ablation" in html
    assert planted in html
    console = Console(width=80, record=True, file=io.StringIO())
    print_summary(document, console)
    shown = console.export_text()
    assert "input ablation" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())
    assert planted.split(" [")[0] in shown  # the gain itself; the interval may wrap


def test_frozen_features_are_encoded_anew_for_another_input() -> None:
    from mtrec.model.strategies import FeatureCache
    from mtrec.run.matrix import expand
    from mtrec.run.plugin_calls import load_domain
    from mtrec.run.sweep_cache import SweepCache
    from tests.prepared_models import prepare_for_test

    suite = parse_suite(SUITE, origin="scene-ablation.yaml", source="file")
    host = PluginHost(extra_plugins=[("scene", ScenePlugin())])
    with_context, without = [c for c in expand(suite) if c.domain.name == "scene-absent"]
    cache = SweepCache()
    spec = host.registries.backbones.get("tiny-bert")
    head_set = host.registries.head_sets.get("scene-click")
    features = FeatureCache()
    loaded = spec.load()
    counts = []
    for combination in (without, with_context, without):
        data = load_domain("scene-absent", {}, combination, host, cache)
        prepare_for_test(spec, head_set, data, strategy="frozen", loaded=loaded, features=features)
        counts.append(features.encodings)
    user_texts = {t for s in ("train", "validation", "test") for t in getattr(data, s).user_text}
    items = {t for s in ("train", "validation", "test") for t in getattr(data, s).item_text}
    # the bare input encodes every unique text once; the scene makes new user texts (items
    # are shared); the bare input again is a cache hit
    assert counts[0] == len(user_texts | items)
    assert counts[1] > counts[0]
    assert counts[2] == counts[1]


@pytest.mark.slow  # trains the four combinations again, as two shards
def test_merged_shards_report_the_same_ablation(run: SweepResult, tmp_path: Path) -> None:
    from mtrec.run.runner import Shard
    from mtrec.store.merge import merge_runs

    suite = parse_suite(SUITE, origin="scene-ablation.yaml", source="file")
    shards = []
    for index in (1, 2):
        folder = tmp_path / f"shard{index}"
        host = PluginHost(extra_plugins=[("scene", ScenePlugin())])
        result = run_sweep(suite, host, folder, device="cpu", shard=Shard(index, 2))
        assert "ablations" not in result.document or len(result.document["ablations"]) < 2
        shards.append(folder)
    merged = merge_runs(tmp_path / "merged", shards)
    whole = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    assert merged["ablations"] == whole["ablations"]


def test_report_md_shows_each_task_per_scene(run: SweepResult) -> None:
    from mtrec.reports.markdown import render_markdown
    from mtrec.reports.summary import number

    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    markdown = render_markdown(document)
    assert "## Per scene" in markdown
    section = markdown.split("## Per scene")[1]
    for record in document["records"]:
        figures = record["fairness"]["context-gap"]["click"]["time_of_day"]
        night = figures["by_group"]["night"]
        rows = figures["group_sizes"]["night"]
        assert f"night {number(night)} ({rows})" in section


def test_report_rows_name_the_input_that_differs(run: SweepResult) -> None:
    from mtrec.reports.overview import backbone_labels

    document = json.loads((run.run_dir / "results.json").read_text(encoding="utf-8"))
    labels = {
        (r["domain"], r["input"]["context"]): label
        for r, label in zip(document["records"], backbone_labels(document["records"]), strict=True)
    }
    assert labels[("scene-planted", True)] == "tiny-bert (input.context=True)"
    assert labels[("scene-planted", False)] == "tiny-bert (input.context=False)"
