"""Tracker sinks: the built-in TensorBoard and MLflow trackers write files their own readers
load, a failing tracker only warns, and unknown or unusable trackers are bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mtrec.cli import main
from mtrec.config import parse_suite
from mtrec.contracts import TrackerSpec
from mtrec.errors import UnknownNameError, UsageError
from mtrec.hookspecs import hookimpl
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.run.trackers import check_trackers, record_scalars

SUITE = """
name: tracked
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 40, n_items: 40, n_interactions: 300}
trackers: [tensorboard, mlflow, broken]
fairness_metrics: [group-gap]
training: {epochs: 2, batch_size: 32, lr: 0.001, patience: 0, max_length: 32}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 2,
          latency_min_seconds: 0.0, flops: false}
"""


def broken_tracker() -> Any:
    def log(context: Any, record: Any) -> None:
        raise RuntimeError("tracker server unreachable")

    return SimpleNamespace(
        mtrec_register_trackers=hookimpl(
            lambda: [TrackerSpec(name="broken", log_record=log, description="always fails")]
        )
    )


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("trackers")
    host = PluginHost(extra_plugins=[("broken-tracker", broken_tracker())])
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setenv("MTREC_STORE", str(root / "store.sqlite"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_sweep(
                parse_suite(SUITE, origin="tracked.yaml", source="file"),
                host,
                root / "run",
                device="cpu",
            )
    # The failing tracker warns; the sweep and the other trackers go on.
    mine = [str(w.message) for w in caught if "tracker" in str(w.message)]
    assert len(mine) == 1 and "tracker 'broken' could not log" in mine[0], mine
    assert "unreachable" in mine[0]
    return result


def only_record(result: SweepResult) -> dict[str, Any]:
    (record,) = result.document["records"]
    assert record["status"] == "ok", record["error"]
    return dict(record)


def test_builtins_are_registered_by_the_trackers_plugin() -> None:
    registry = PluginHost().registries.trackers
    assert {"tensorboard", "mlflow"} <= set(registry.names())
    assert registry.entry("mlflow").provider.plugin == "trackers"


def test_tensorboard_event_files_read_back(tracked: SweepResult) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = only_record(tracked)
    folder = tracked.run_dir / "tensorboard" / record["key"]
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for task, metrics in record["metrics"].items():
        for metric, value in metrics.items():
            (event,) = events.Scalars(f"metrics/{task}/{metric}")
            assert event.value == pytest.approx(value, rel=1e-6)  # stored as float32
    assert "efficiency/latency_ms/1/p50" in tags
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2]
    assert [e.step for e in events.Scalars("train/task_loss/click")] == [1, 2]
    history = record["training"]["history"]
    assert [e.value for e in losses] == pytest.approx([h["train_loss"] for h in history])


def test_mlflow_file_store_reads_back(tracked: SweepResult) -> None:
    from mlflow.tracking import MlflowClient

    record = only_record(tracked)
    client = MlflowClient(tracking_uri=(tracked.run_dir / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "tiny-bert x ecommerce-seed x synthetic-ecommerce (seed 0)"
    assert run.data.params["backbone"] == "tiny-bert"
    assert run.data.params["training.epochs"] == "2"
    assert run.data.tags["mtrec.key"] == record["key"]
    assert run.data.metrics["metrics/rating/rmse"] == record["metrics"]["rating"]["rmse"]
    # A group named "55+" becomes a valid MLflow key.
    assert any(key.endswith("/55_") for key in run.data.metrics)
    curve = client.get_metric_history(run.info.run_id, "validation/score")
    assert sorted(m.step for m in curve) == [1, 2]


def test_record_scalars_keep_finite_numbers_only() -> None:
    record = {
        "metrics": {"click": {"auc": 0.7, "log_loss": float("nan")}},
        "efficiency": {"latency_ms": {"1": {"p50": 1.5, "samples": [1.0, 2.0]}}, "mfu": None},
        "fairness": {"group-gap": {"click": {"age": {"difference": 0.1, "applicable": True}}}},
        "summary": {"score": 3},
    }
    assert record_scalars(record) == {
        "metrics/click/auc": 0.7,
        "efficiency/latency_ms/1/p50": 1.5,
        "fairness/group-gap/click/age/difference": 0.1,
        "summary/score": 3.0,
    }
    assert all(math.isfinite(v) for v in record_scalars(record).values())


def test_an_unknown_tracker_is_bad_input_before_anything_is_written(tmp_path: Path) -> None:
    suite = parse_suite(SUITE.replace("broken]", "tensorbord]"), origin="x.yaml", source="file")
    with pytest.raises(UnknownNameError, match=r"tensorbord.*did you mean 'tensorboard'"):
        run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    assert not (tmp_path / "run").exists()


def test_a_missing_extra_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def without_mlflow(name: str, *args: Any) -> Any:
        return None if name == "mlflow" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_mlflow)
    registry = PluginHost().registries.trackers
    with pytest.raises(UsageError, match=r"'mlflow' \(plugin 'trackers'.*pip install"):
        check_trackers(["tensorboard", "mlflow"], registry)
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "store.sqlite"))
    code = main(["run", "smoke", "--out", str(tmp_path / "run"), "--tracker", "mlflow"])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs the 'mlflow' extra" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_plugins_listing_shows_trackers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in listing["trackers"]} >= {"tensorboard", "mlflow"}
