"""``training.lr`` as a list: every rate is trained, the best on VALIDATION is kept.

The planted case: one rate so small that nothing is learned. Validation must pick the other
one, the record must list both with their validation scores, and the choice must not move
when the test labels are turned against the rate that learns (a choice made on test would).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from mtrec.config import learning_rates, parse_suite
from mtrec.errors import ConfigError
from mtrec.measure import evaluation
from mtrec.plugin_host import PluginHost
from mtrec.run import fit as fit_module
from mtrec.run.fit import fit_variant
from mtrec.run.matrix import expand
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import DomainData, TaskType

SUITE = """
name: lr-search
seeds: [0]
backbones:
  - name: id-embedding
    training: {lr: [1.0e-9, 0.01]}
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 40, n_items: 40, n_interactions: 600}
training: {epochs: 3, batch_size: 32, patience: 0}
"""
TINY, LEARNS = 1.0e-9, 0.01


@pytest.fixture(scope="module")
def setting() -> dict[str, Any]:
    host = PluginHost()
    (combination,) = expand(parse_suite(SUITE, origin="suite.yaml", source="file"))
    data = host.registries.domains.get("synthetic-ecommerce").load(
        seed=0, **combination.domain.options
    )
    return {
        "host": host,
        "combination": combination,
        "data": data,
        "head_set": host.registries.head_sets.get("ecommerce-seed"),
    }


def _fit(setting: dict[str, Any], data: DomainData | None = None, **training: Any) -> Any:
    combination = setting["combination"]
    return fit_variant(
        combination,
        setting["host"],
        SweepCache(),
        data=data or setting["data"],
        head_set=setting["head_set"],
        training=combination.training.model_copy(update=training),
        seed=0,
        device=torch.device("cpu"),
    )


def _turned_against_learning(data: DomainData) -> DomainData:
    """The test split with every label made as wrong as it can be for a model that learned:
    classes and binary labels shifted, ratings mirrored. Validation is untouched."""
    labels = {}
    for name, values in data.test.labels.items():
        kind = data.label_fields[name].task_type
        if kind is TaskType.MULTICLASS:
            labels[name] = (values + 1) % len(data.label_fields[name].classes)
        elif kind is TaskType.BINARY:
            labels[name] = 1 - values
        elif kind is TaskType.REGRESSION:
            labels[name] = values.max() + values.min() - values
        else:
            labels[name] = 1 - values
    return replace(data, test=replace(data.test, labels=labels))


def test_validation_picks_the_rate_that_learns_and_the_record_lists_every_rate(
    setting: dict[str, Any],
) -> None:
    fit = _fit(setting)
    search = fit.lr_search
    assert search is not None and search["chosen"] == LEARNS == fit.lr
    assert [row["lr"] for row in search["tried"]] == [TINY, LEARNS]
    by_rate = {row["lr"]: row for row in search["tried"]}
    assert by_rate[LEARNS]["validation_score"] > by_rate[TINY]["validation_score"]
    assert all(row["epochs_run"] == 3 and 1 <= row["best_epoch"] <= 3 for row in search["tried"])
    assert search["selection_rule"]
    # The kept model is the chosen rate's: its own training is the one reported.
    assert fit.trained.best_validation_score == by_rate[LEARNS]["validation_score"]
    # Same seed, same data: the chosen rate alone gives the very same model and predictions.
    alone = _fit(setting, lr=LEARNS)
    assert alone.lr_search is None and alone.lr == LEARNS
    for task, run in fit.test_run.tasks.items():
        np.testing.assert_array_equal(run.y_pred, alone.test_run.tasks[task].y_pred)


def test_the_choice_never_reads_the_test_split(
    setting: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = _fit(setting)
    data = _turned_against_learning(setting["data"])
    predicted: list[str] = []
    real_predict = evaluation.predict

    def spy(model: Any, split: Any, **kwargs: Any) -> Any:
        # which split: by the very label arrays it carries
        names = [name for name in ("validation", "test") if _same_labels(split, data, name)]
        predicted.append(names[0] if len(names) == 1 else "?")
        return real_predict(model, split, **kwargs)

    monkeypatch.setattr(fit_module, "predict", spy)
    turned = _fit(setting, data=data)
    # Test labels that reward not learning change nothing about the choice or its scores ...
    assert turned.lr_search == honest.lr_search
    # ... and the test split is predicted once, by the kept model, after the choice.
    assert predicted == ["validation"] * 6 + ["test"]
    # A choice on those test labels would have kept the rate that learns nothing.
    tiny = _fit(setting, data=data, lr=TINY)
    learns = _fit(setting, data=data, lr=LEARNS)
    scores = [
        evaluation.score_tasks(run.test_run.tasks)["category"]["accuracy"] for run in (tiny, learns)
    ]
    assert scores[0] > scores[1]


def _same_labels(split: Any, data: DomainData, name: str) -> bool:
    labels = getattr(data, name).labels
    return all(split.labels[field] is labels[field] for field in split.labels)


def test_a_diverged_rate_is_recorded_and_skipped(
    setting: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_train = fit_module._train_variant

    def diverging(*args: Any, training: Any, **kwargs: Any) -> Any:
        if training.lr < 1e-6:  # every rate below one in a million
            raise FloatingPointError("non-finite loss at epoch 1 step 3")
        return real_train(*args, training=training, **kwargs)

    monkeypatch.setattr(fit_module, "_train_variant", diverging)
    fit = _fit(setting)
    assert fit.lr_search["chosen"] == LEARNS
    assert fit.lr_search["tried"][0] == {
        "lr": TINY,
        "validation_score": None,
        "diverged": "non-finite loss at epoch 1 step 3",
    }
    with pytest.raises(FloatingPointError, match="non-finite"):
        _fit(setting, lr=[TINY, 2 * TINY])


def test_one_number_keeps_the_recipe_and_the_key() -> None:
    base = "name: s\nbackbones: [trivial]\nhead_sets: [ecommerce-seed]\ndomains: [d]\n"
    plain = parse_suite(base, origin="s.yaml", source="file")
    assert plain.training.lr == 2e-5 and learning_rates(plain.training.lr) == (2e-5,)
    listed_once = parse_suite(base + "training: {lr: [2.0e-5]}\n", origin="s", source="file")
    assert expand(listed_once)[0].key == expand(plain)[0].key
    listed = parse_suite(base + "training: {lr: [1.0e-5, 3.0e-5]}\n", origin="s", source="file")
    assert learning_rates(listed.training.lr) == (1e-5, 3e-5)
    assert expand(listed)[0].key != expand(plain)[0].key


@pytest.mark.parametrize(
    ("setting_text", "message"),
    [
        ("training: {lr: []}", "training.lr: a list of learning rates holds 1 to 8 values"),
        ("training: {lr: [0.1, 0.1]}", "training.lr: a learning rate is listed twice"),
        ("training: {lr: [0.1, -1]}", "training.lr: Input should be greater than 0"),
        ("training: {lr: [0.1, .inf]}", "training.lr: Input should be a finite number"),
        ("training: {lr: [0.1, true]}", "training.lr: expected a number, got true/false"),
        ("training: {lr: [0.1, fast]}", "training.lr: expected a learning rate"),
        (
            "backbones: [{name: x, training: {lr: [0.1, 0.1]}}]",
            "backbones[0].training.lr: a learning rate is listed twice",
        ),
    ],
)
def test_bad_learning_rate_lists_are_refused(setting_text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_suite(f"name: s\n{setting_text}\n", origin="s.yaml", source="file")


def test_the_record_states_every_rate_tried_and_its_metrics_are_the_chosen_ones(
    tmp_path: Any, cli: Any
) -> None:
    import json

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        SUITE
        + "fairness_metrics: []\n"
        + "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0,"
        + " flops: false}\n"
    )
    out = tmp_path / "run"
    result = cli("run", str(suite), "--out", str(out), "--quiet", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    (record,) = json.loads((out / "results.json").read_text())["records"]
    training = record["training"]
    assert training["lr"] == LEARNS
    assert training["lr_search"]["chosen"] == LEARNS
    assert [row["lr"] for row in training["lr_search"]["tried"]] == [TINY, LEARNS]
    chosen = training["lr_search"]["tried"][1]
    assert chosen["validation_score"] == training["best_validation_score"]
    assert chosen["epochs_run"] == training["epochs_run"] == len(training["history"])
    # The test metrics are the kept model's: recomputed from its saved predictions.
    accuracy = record["metrics"]["category"]["accuracy"]
    rows = (out / "predictions" / record["predictions"]["category"]).read_text().splitlines()
    header = rows[0].split(",")
    true, pred = header.index("y_true"), header.index("y_pred")
    hits = [row.split(",")[true] == row.split(",")[pred] for row in rows[1:]]
    assert accuracy == pytest.approx(sum(hits) / len(hits))
