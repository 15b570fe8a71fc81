"""A fairness metric that misbehaves fails only itself, never the combination.

Fixture metrics: one raises, one returns numpy scalars and arrays (normalised to JSON), one
returns an object JSON cannot hold (rejected, with the reason, for that metric only). The
combination stays ok with its accuracy metrics and the other fairness metrics, and the run
folder, the results store and the reports are all complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtrec import FairnessContext, FairnessMetricSpec, hookimpl
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.store.results import validate_results

SUITE = """
name: fairness-faults
seeds: [0]
backbones: [trivial, id-embedding]
head_sets: [ecommerce-seed]
domains:
  - {name: synthetic-ecommerce, options: {n_users: 20, n_items: 20, n_interactions: 150}}
fairness_metrics: [group-gap, exploding, numpy-valued, opaque]
fairness: {bootstrap_resamples: 0}
training: {epochs: 1}
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""


def _explode(context: FairnessContext) -> dict[str, Any]:
    raise RuntimeError("metric exploded on purpose")


def _numpy_values(context: FairnessContext) -> dict[str, Any]:
    return {
        task: {
            "gap": np.float32(0.25),
            "count": np.int64(len(predictions.y_true)),
            "flag": np.bool_(True),
            "by_group": {np.str_("a"): np.float64(0.5)},
            "sizes": np.arange(3),
            "missing": np.float64("nan"),
        }
        for task, predictions in context.tasks.items()
    }


def _opaque(context: FairnessContext) -> dict[str, Any]:
    return {"click": {"model": object()}}


class FaultyMetrics:
    @hookimpl
    def mtrec_register_fairness_metrics(self) -> list[FairnessMetricSpec]:
        return [
            FairnessMetricSpec(name="exploding", scope="group", compute=_explode),
            FairnessMetricSpec(name="numpy-valued", scope="group", compute=_numpy_values),
            FairnessMetricSpec(name="opaque", scope="group", compute=_opaque),
        ]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    out = tmp_path_factory.mktemp("fairness-faults") / "run"
    host = PluginHost(extra_plugins=[("faulty-metrics", FaultyMetrics())])
    suite = parse_suite(SUITE, origin="fairness-faults.yaml", source="file")
    return run_sweep(suite, host, out, device="cpu")


def test_combinations_stay_ok(sweep: SweepResult) -> None:
    assert not sweep.failed
    document = json.loads((sweep.run_dir / "results.json").read_text(encoding="utf-8"))
    validate_results(document)
    for record in document["records"]:
        assert record["status"] == "ok", record["error"]
        assert set(record["metrics"]) == {"category", "rating", "click", "next-item"}
        assert {"click", "next-item"} <= set(record["fairness"]["group-gap"])


def test_a_raising_metric_records_its_reason(sweep: SweepResult) -> None:
    for record in sweep.document["records"]:
        error = record["fairness"]["exploding"]["error"]
        assert "fairness metric 'exploding' (plugin 'faulty-metrics') raised RuntimeError" in error
        assert "metric exploded on purpose" in error


def test_numpy_values_become_json(sweep: SweepResult) -> None:
    document = json.loads((sweep.run_dir / "results.json").read_text(encoding="utf-8"))
    for record in document["records"]:
        result = record["fairness"]["numpy-valued"]["click"]
        assert result["gap"] == 0.25 and isinstance(result["gap"], float)
        assert result["count"] == record["tasks"]["click"]["n_test"]
        assert result["flag"] is True
        assert result["by_group"] == {"a": 0.5}
        assert result["sizes"] == [0, 1, 2]
        assert result["missing"] is None


def test_a_value_json_cannot_hold_is_rejected_for_that_metric(sweep: SweepResult) -> None:
    for record in sweep.document["records"]:
        error = record["fairness"]["opaque"]["error"]
        assert "fairness metric 'opaque' (plugin 'faulty-metrics') returned" in error
        assert "at click.model: object is not a JSON value" in error


def test_reports_render_when_any_metric_failed(
    sweep: SweepResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mtrec.cli import main

    # The metrics the reports read by name failed too: they are skipped, not misread.
    run = tmp_path / "run"
    shutil.copytree(sweep.run_dir, run)
    document = json.loads((run / "results.json").read_text(encoding="utf-8"))
    for record in document["records"]:
        for name in ("group-gap", "subtask-gain", "item-exposure"):
            record["fairness"][name] = {"error": f"{name} failed on purpose"}
    (run / "results.json").write_text(json.dumps(document), encoding="utf-8")
    for fmt in ("md", "html", "json"):
        assert main(["report", str(run), "--format", fmt]) == 0
    assert main(["report", str(run)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (run / "report.md").is_file() and (run / "report.html").is_file()
