"""The rounds protocol (the feedback loop): order, figures, plugins, resume.

Every figure is recomputed here from the saved CSVs with code of its own (numpy and
scikit-learn), never through mtrec's scoring.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import mtrec
from mtrec import hookimpl
from mtrec.config import parse_suite
from mtrec.errors import CombinationError, ConfigError, UnknownNameError
from mtrec.plugin_host import PluginHost
from mtrec.run.matrix import check_suite
from mtrec.run.rounds import check_prequential, take, time_ordered
from mtrec.run.runner import run_sweep
from mtrec.specs import UpdateContext, UpdatePlan, UpdateStrategySpec

DOMAIN = "{name: synthetic-ecommerce, options: {n_users: 60, n_items: 60, n_interactions: 700}}"


def suite(backbones: str = "[id-embedding]", protocol: str = "", extra: str = "") -> Any:
    text = f"""
name: rounds-test
backbones: {backbones}
head_sets: [ecommerce-seed]
domains: [{DOMAIN}]
training: {{epochs: 2, batch_size: 32, lr: 0.003}}
fairness: {{baseline_seeds: 0, bootstrap_resamples: 50}}
fairness_metrics: [group-gap]
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}}
protocol: {{rounds: 4, budget: {{epochs: 1}}{protocol}}}
{extra}
"""
    return parse_suite(text, origin="rounds.yaml", source="file")


# a strategy that fails at round 2 while a flag file exists, and logs every round it plans
CRASH: dict[str, Path] = {}


def _crashy(context: UpdateContext) -> UpdatePlan:
    with open(CRASH["log"], "a", encoding="utf-8") as handle:
        handle.write(f"{context.round}\n")
    if context.round == 2 and CRASH["flag"].exists():
        raise RuntimeError("killed on purpose")
    return UpdatePlan(rows=context.new_rows)


def _peek(context: UpdateContext) -> UpdatePlan:  # reads rows no round has revealed yet
    return UpdatePlan(rows=context.new_rows + len(context.new_rows) + 40)


@hookimpl
def mtrec_register_update_strategies() -> list[UpdateStrategySpec]:
    return [
        UpdateStrategySpec(name="crashy", plan=_crashy),
        UpdateStrategySpec(name="peek", plan=_peek),
    ]


def host() -> PluginHost:
    return PluginHost(extra_plugins=[("rounds-test", sys.modules[__name__])])


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def figures(rows: list[dict[str, str]], task: str) -> dict[str, float]:
    """The primary figure of a task from its rows, computed here."""
    y_true = np.array([float(r["y_true"]) for r in rows])
    y_pred = np.array([float(r["y_pred"]) for r in rows])
    if task == "rating":
        return {"rmse": float(np.sqrt(np.mean((y_true - y_pred) ** 2)))}
    if task == "click":
        score = np.array([float(r["score"]) for r in rows])
        if len(set(y_true.tolist())) < 2:
            return {}
        return {"auc": float(roc_auc_score(y_true, score))}
    return {"accuracy": float(np.mean(y_true == y_pred))}


PRIMARY = {"rating": "rmse", "click": "auc", "category": "accuracy"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("rounds") / "run"
    result = run_sweep(suite("[id-embedding]"), host(), out, device="cpu")
    return out, result.document


def by_update(document: dict[str, Any], backbone: str) -> dict[str, dict[str, Any]]:
    return {
        r["rounds"]["update"]: r
        for r in document["records"]
        if r["backbone"] == backbone and r["status"] == "ok"
    }


def test_every_record_is_ok_with_one_result_per_round(sweep: tuple[Path, dict[str, Any]]) -> None:
    out, document = sweep
    records = document["records"]
    assert len(records) == 4  # the 4 default update strategies
    assert [r["status"] for r in records] == ["ok"] * 4, [r["error"] for r in records]
    for record in records:
        rounds = record["rounds"]
        assert [r["round"] for r in rounds["results"]] == [0, 1, 2, 3]
        assert rounds["results"][0]["evaluation"] is None
        assert record["config"]["protocol"]["update"] == rounds["update"]
        assert [w["round"] for w in rounds["windows"]] == [0, 1, 2, 3]
    assert not (out / "rounds").exists()  # the loop's state is gone once it is done


def test_the_first_evaluation_is_the_round_zero_model_for_every_strategy(
    sweep: tuple[Path, dict[str, Any]],
) -> None:
    """Prequential order: each window is scored before the update that reads it. Every
    strategy starts from the same round-0 model, so round 1's predictions are identical; had
    the loop scored after updating, they would differ (fine-tune, replay and retrain train
    on that window)."""
    out, document = sweep
    records = by_update(document, "id-embedding")
    first = {
        update: (
            out / "predictions" / r["rounds"]["results"][1]["evaluation"]["predictions"]["rating"]
        ).read_text()
        for update, r in records.items()
    }
    assert len(set(first.values())) == 1
    later = {
        update: (
            out / "predictions" / r["rounds"]["results"][3]["evaluation"]["predictions"]["rating"]
        ).read_text()
        for update, r in records.items()
    }
    assert later["fine-tune"] != later["frozen"]
    assert records["frozen"]["rounds"]["results"][2]["update"]["samples"] == 0


def test_check_prequential_refuses_rows_trained_on() -> None:
    check_prequential(1, np.arange(0, 10), np.arange(10, 20))
    with pytest.raises(CombinationError, match="round 3: 2 evaluated rows were trained on"):
        check_prequential(3, np.arange(0, 12), np.arange(10, 20))


def test_every_round_figure_is_recomputed_from_the_saved_predictions(
    sweep: tuple[Path, dict[str, Any]],
) -> None:
    out, document = sweep
    predictions = out / "predictions"
    for record in document["records"]:
        rounds = record["rounds"]
        pooled: dict[str, list[dict[str, str]]] = {}
        probe0 = {
            task: figures(read_csv(predictions / path), task)
            for task, path in rounds["results"][0]["probe"]["predictions"].items()
        }
        for result in rounds["results"][1:]:
            evaluation = result["evaluation"]
            for task, path in evaluation["predictions"].items():
                rows = read_csv(predictions / path)
                pooled.setdefault(task, []).extend(rows)
                assert len(rows) == evaluation["n"]
                for name, value in figures(rows, task).items():
                    assert evaluation["metrics"][task][name] == pytest.approx(value, abs=1e-12)
                    low, high = evaluation["intervals"][task][name]
                    assert low <= high
            probe = {
                task: figures(read_csv(predictions / path), task)
                for task, path in result["probe"]["predictions"].items()
            }
            for task, metric in PRIMARY.items():
                if metric not in probe[task] or metric not in probe0[task]:
                    continue
                sign = -1.0 if metric == "rmse" else 1.0
                expected = (probe0[task][metric] - probe[task][metric]) * sign
                assert result["forgetting"][task][metric] == pytest.approx(expected, abs=1e-12)
            assert evaluation["cold"]["n"] + evaluation["warm"]["n"] == evaluation["n"]
            subtasks = evaluation["subtasks"]
            assert subtasks["reference"]["click"] == 0.5  # a constant score ranks nothing
            for task, metric in PRIMARY.items():
                sign = -1.0 if metric == "rmse" else 1.0
                value, reference = evaluation["metrics"][task][metric], subtasks["reference"][task]
                expected = 100.0 * sign * (value - reference) / abs(reference)
                assert subtasks["gain"][task] == pytest.approx(expected, abs=1e-9)
            gains = subtasks["gain"].values()
            assert subtasks["spread"] == pytest.approx(max(gains) - min(gains), abs=1e-12)
        for task, rows in pooled.items():  # the record's metrics: every window pooled
            for name, value in figures(rows, task).items():
                assert record["metrics"][task][name] == pytest.approx(value, abs=1e-12)
            assert len(read_csv(predictions / record["predictions"][task])) == len(rows)


def test_cold_rows_are_those_whose_user_or_item_no_earlier_window_held(
    sweep: tuple[Path, dict[str, Any]],
) -> None:
    out, document = sweep
    record = by_update(document, "id-embedding")["fine-tune"]
    results = record["rounds"]["results"]
    # users and items of every earlier window: window 0 from the domain, later ones from files
    from mtrec.plugin_host import PluginHost as Host

    data = (
        Host()
        .registries.domains.get("synthetic-ecommerce")
        .load(seed=0, n_users=60, n_items=60, n_interactions=700)
    )
    splits = (data.train, data.validation, data.test)
    stamps = np.concatenate([s.timestamps for s in splits])
    users = np.concatenate([s.user_ids for s in splits])[np.argsort(stamps, kind="stable")]
    items = np.concatenate([s.item_ids for s in splits])[np.argsort(stamps, kind="stable")]
    n0 = record["rounds"]["windows"][0]["rows"]
    seen_users, seen_items = set(users[:n0].tolist()), set(items[:n0].tolist())
    for result in results[1:]:
        rows = read_csv(out / "predictions" / result["evaluation"]["predictions"]["rating"])
        cold = [
            int(r["user_id"]) not in seen_users or int(r["item_id"]) not in seen_items for r in rows
        ]
        assert result["evaluation"]["cold"]["n"] == sum(cold)
        cold_rows = [r for r, c in zip(rows, cold, strict=True) if c]
        if cold_rows:
            expected = figures(cold_rows, "rating")["rmse"]
            got = result["evaluation"]["cold"]["metrics"]["rating"]["rmse"]
            assert got == pytest.approx(expected, abs=1e-12)
        seen_users |= {int(r["user_id"]) for r in rows}
        seen_items |= {int(r["item_id"]) for r in rows}


def test_update_cost_and_budget_are_in_the_record(sweep: tuple[Path, dict[str, Any]]) -> None:
    _, document = sweep
    records = by_update(document, "id-embedding")
    for update, record in records.items():
        windows = record["rounds"]["windows"]
        for result in record["rounds"]["results"][1:]:
            cost = result["update"]
            assert cost["strategy"] == update
            if update == "frozen":
                assert cost["samples"] == cost["steps"] == 0
                continue
            assert cost["epochs"] <= 1  # budget.epochs
            assert cost["samples"] == cost["rows"] * cost["epochs"]
            assert cost["seconds"] > 0 and cost["peak_memory_mb"] > 0
            new = windows[result["round"]]["train_rows"]
            earlier = sum(w["train_rows"] for w in windows[: result["round"]])
            assert (
                cost["rows"]
                == {
                    "fine-tune": new,
                    "replay": new + min(new, earlier),
                    "retrain": new + earlier,
                }[update]
            )
        fairness = record["rounds"]["results"][2]["evaluation"]["fairness"]
        assert "group-gap" in fairness


def test_a_strategy_reading_the_future_fails_its_combination(tmp_path: Path) -> None:
    result = run_sweep(suite(protocol=", updates: [peek]"), host(), tmp_path / "run", device="cpu")
    record = result.document["records"][0]
    assert record["status"] == "failed"
    assert "may not read the probe or the future" in record["error"]


def test_a_killed_loop_resumes_after_its_last_completed_round(
    tmp_path: Path, sweep: tuple[Path, dict[str, Any]]
) -> None:
    CRASH["log"], CRASH["flag"] = tmp_path / "planned.txt", tmp_path / "crash"
    CRASH["flag"].write_text("", encoding="utf-8")
    config = suite(protocol=", updates: [crashy]")
    out = tmp_path / "run"
    first = run_sweep(config, host(), out, device="cpu")
    record = first.document["records"][0]
    assert record["status"] == "failed" and "killed on purpose" in record["error"]
    state = json.loads((out / "rounds" / record["key"] / "state.json").read_text())
    assert state["completed"] == 1
    CRASH["flag"].unlink()
    resumed = run_sweep(config, host(), out, device="cpu", resume=True)
    record = resumed.document["records"][0]
    assert record["status"] == "ok", record["error"]
    assert record["rounds"]["resumed_from"] == 1
    # round 1 was planned once; round 2 twice (the crash, then the resumed run); then 3
    assert (tmp_path / "planned.txt").read_text().split() == ["1", "2", "2", "3"]
    assert not (out / "rounds").exists()
    # the same figures as a loop that was never interrupted: the module's fine-tune loop
    # (crashy plans what fine-tune plans; nothing else tells the two apart)
    whole = by_update(sweep[1], "id-embedding")["fine-tune"]
    assert whole["metrics"] == record["metrics"]
    assert [r["evaluation"] and r["evaluation"]["metrics"] for r in whole["rounds"]["results"]] == [
        r["evaluation"] and r["evaluation"]["metrics"] for r in record["rounds"]["results"]
    ]


def test_suite_errors_name_the_field() -> None:
    registries = host().registries
    with pytest.raises(UnknownNameError, match=r"protocol.updates\[1\]: .*'fine-tun'"):
        check_suite(suite(protocol=", updates: [frozen, fine-tun]"), registries)
    plain = parse_suite(
        "name: x\nbackbones: [{name: trivial, updates: [frozen]}]\nhead_sets: [ecommerce-seed]\n"
        f"domains: [{DOMAIN}]\n",
        origin="x.yaml",
        source="file",
    )
    with pytest.raises(ConfigError, match=r"backbones\[0\].updates: update strategies need"):
        check_suite(plain, registries)
    with pytest.raises(ConfigError, match="updates"):
        parse_suite(
            "name: x\nprotocol: {updates: [frozen, frozen]}\n", origin="x.yaml", source="file"
        )


def test_each_update_strategy_is_a_combination_with_its_own_key() -> None:
    combinations = check_suite(suite(protocol=", updates: [frozen, replay]"), host().registries)
    assert [c.update for c in combinations] == ["frozen", "replay"]
    assert len({c.key for c in combinations}) == 2
    assert combinations[0].label.endswith("[update frozen]")
    per_backbone = suite(
        "[{name: id-embedding, updates: [retrain]}, trivial]", protocol=", updates: [frozen]"
    )
    assert [(c.backbone.name, c.update) for c in check_suite(per_backbone, host().registries)] == [
        ("id-embedding", "retrain"),
        ("trivial", "frozen"),
    ]


def drift_suite(drift: float, seed: int) -> Any:
    """Window 0 large enough that more of the same data adds little; label noise widens the
    intervals so that what little it adds stays inside them."""
    text = f"""
name: rounds-drift
seeds: [{seed}]
backbones: [id-embedding]
head_sets: [ecommerce-seed]
domains: [{{name: synthetic-ecommerce, options: {{n_users: 30, n_items: 60,
           n_interactions: 9000, label_noise: 0.5, drift: {drift}}}}}]
training: {{epochs: 10, batch_size: 64, lr: 0.003, patience: 3}}
fairness: {{baseline_seeds: 0, bootstrap_resamples: 200}}
fairness_metrics: []
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}}
protocol: {{rounds: 3, updates: [frozen, fine-tune, replay], budget: {{epochs: 2}}}}
"""
    return parse_suite(text, origin="drift.yaml", source="file")


@pytest.mark.parametrize(("drift", "beats"), [(1.0, True), (0.0, False)])
def test_updates_beat_frozen_beyond_their_intervals_only_under_drift(
    tmp_path: Path, drift: float, beats: bool
) -> None:
    """The planted drift (tastes switch, items come and go) makes the round-0 model stale:
    fine-tune and replay, which learn the latest window, score the last window's category
    accuracy beyond their own 95% interval from frozen's. Without drift, frozen's figure lies
    inside both intervals."""
    document = run_sweep(drift_suite(drift, 0), host(), tmp_path / "run", device="cpu").document
    last = {
        r["rounds"]["update"]: r["rounds"]["results"][-1]["evaluation"] for r in document["records"]
    }
    frozen = last["frozen"]["metrics"]["category"]["accuracy"]
    for update in ("fine-tune", "replay"):
        low, high = last[update]["intervals"]["category"]["accuracy"]
        if beats:
            assert frozen < low, (update, frozen, low)
        else:
            assert low <= frozen <= high, (update, frozen, low, high)


def test_a_loop_killed_by_sigkill_resumes_after_its_last_completed_round(
    tmp_path: Path, with_fixture_plugin: Path
) -> None:
    """The process dies mid-loop with no chance to clean up (SIGKILL while planning round 2);
    ``--resume`` takes the loop up after round 1: round 1 is not planned again."""
    import os
    import signal
    import subprocess

    suite_file = tmp_path / "killed.yaml"
    suite_file.write_text(
        "name: killed\nbackbones: [id-embedding]\nhead_sets: [ecommerce-seed]\n"
        f"domains: [{DOMAIN}]\ntraining: {{epochs: 1, batch_size: 32}}\n"
        "fairness_metrics: []\nfairness: {baseline_seeds: 0, bootstrap_resamples: 20}\n"
        "measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1, "
        "latency_min_seconds: 0, flops: false}\n"
        "protocol: {rounds: 4, updates: [fixture-killer], budget: {epochs: 1}}\n"
    )
    log = tmp_path / "planned.txt"
    out = tmp_path / "run"
    command = [sys.executable, "-m", "mtrec.cli", "run", str(suite_file), "--out", str(out)]
    env = {**os.environ, "MTREC_FIXTURE_PLAN_LOG": str(log), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(
        command,
        env={**env, "MTREC_FIXTURE_KILL_AT_ROUND": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (state_file,) = (out / "rounds").glob("*/state.json")
    assert json.loads(state_file.read_text())["completed"] == 1
    resumed = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    (record,) = json.loads((out / "results.json").read_text())["records"]
    assert record["status"] == "ok", record["error"]
    assert record["rounds"]["resumed_from"] == 1
    assert log.read_text().split() == ["1", "2", "2", "3"]
    assert [r["round"] for r in record["rounds"]["results"]] == [0, 1, 2, 3]
    assert not (out / "rounds").exists()


LORA = importlib.util.find_spec("peft") is not None  # the lora extra


@pytest.mark.parametrize(
    ("backbone", "update"),
    [
        ("id-embedding", "fine-tune"),
        pytest.param(
            "{name: tiny-bert, training: {lr: 0.001}}",
            "lora",
            marks=pytest.mark.skipif(not LORA, reason="the lora update needs peft"),
        ),
    ],
)
def test_the_saved_model_is_the_last_round_model(
    tmp_path: Path, backbone: str, update: str
) -> None:
    """``output.save_model`` keeps the model after the last update; reloaded through
    ``mtrec.load_model`` it predicts the last probe exactly as the loop did (adapters that an
    update added to a fully trained backbone included)."""
    config = suite(
        f"[{backbone}]", protocol=f", updates: [{update}]", extra="output: {save_model: true}"
    )
    result = run_sweep(config, host(), tmp_path / "run", device="cpu")
    (record,) = result.document["records"]
    assert record["status"] == "ok", record["error"]
    saved = mtrec.load_model(tmp_path / "run" / record["model"]["path"])
    if update == "lora":
        assert saved.metadata["strategy"]["name"] == "lora"
    (data,) = result.cache.rendered.values()  # the texts the run's backbone read
    pool = time_ordered(data)
    last = record["rounds"]["results"][-1]["probe"]["predictions"]
    for task, name in last.items():
        rows = read_csv(tmp_path / "run" / "predictions" / name)
        ids = np.array([int(r["id"]) for r in rows])
        position = {int(i): p for p, i in enumerate(pool.ids)}
        split = take(pool, np.array([position[int(i)] for i in ids]))
        predicted = saved.predict(split)[task]
        expected = np.array([float(r["y_pred"]) for r in rows])
        np.testing.assert_allclose(predicted.y_pred.astype(float), expected, atol=1e-5, rtol=0)


def test_round_intervals_are_a_bootstrap_over_users_recomputed_from_the_files(
    sweep: tuple[Path, dict[str, Any]],
) -> None:
    """The rating RMSE interval of every round, redrawn here: the suite's seed, users as the
    units (a drawn user brings all their rows), 2.5 and 97.5 percentiles."""
    out, document = sweep
    record = by_update(document, "id-embedding")["replay"]
    resamples = record["config"]["fairness"]["bootstrap_resamples"]
    for result in record["rounds"]["results"][1:]:
        rows = read_csv(out / "predictions" / result["evaluation"]["predictions"]["rating"])
        users = np.array([int(r["user_id"]) for r in rows])
        error = np.array([(float(r["y_true"]) - float(r["y_pred"])) ** 2 for r in rows])
        units, unit_of_row = np.unique(users, return_inverse=True)
        draws = np.random.default_rng(record["seed"]).integers(
            0, len(units), size=(resamples, len(units))
        )
        values = []
        for draw in draws:
            weight = np.bincount(draw, minlength=len(units))[unit_of_row]
            values.append(np.sqrt(np.sum(weight * error) / np.sum(weight)))
        low, high = np.percentile(values, [2.5, 97.5])
        got = result["evaluation"]["intervals"]["rating"]["rmse"]
        assert got == pytest.approx([low, high], abs=1e-9)
