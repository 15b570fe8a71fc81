"""``mtrec compare``: a re-run passes, a planted regression fails and names its metric, noise and
bad input are told apart.

Three real runs of one tiny combination (tiny-bert on a small synthetic domain) are shared by
the module: a baseline, a re-run of the same suite (CPU runs are deterministic for a seed) and
a candidate trained one epoch at a learning rate too small to learn anything. Other cases are
copies of the baseline with one planted change.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtrec.cli import main
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep
from mtrec.store.compare import Run, compare_runs
from mtrec.store.compare_rules import parse_rules
from mtrec.store.database import Store

SUITE = """
name: compare-{name}
seeds: [0]
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {{n_users: 60, n_items: 60, n_interactions: 800, test_fraction: 0.3}}
training: {{epochs: {epochs}, batch_size: 32, lr: {lr}, head_lr: {lr}, patience: 0,
            max_length: 48}}
evaluation: {{ranking: {{negatives: 19, validation_negatives: 9, train_negatives: 1}}}}
fairness_metrics: [group-gap]  # no single-task baselines: keeps the module fast
measure: {{latency_batch_sizes: [1], latency_warmup: 1, latency_min_repeats: 5,
          latency_min_seconds: 0.02}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTREC_STORE", str(root / "store.sqlite"))
        host = PluginHost()
        store = Store(root / "store.sqlite")
        folders = {}
        for name, epochs, lr in (
            ("baseline", 3, 0.003),
            ("rerun", 3, 0.003),
            ("undertrained", 1, 1e-6),
        ):
            suite = SUITE.format(name=name, epochs=epochs, lr=lr)
            folders[name] = root / name
            run_sweep(
                parse_suite(suite, origin=name, source="file"),
                host,
                folders[name],
                device="cpu",
                store=store,
            )
        yield folders


def compare(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main(["compare", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def copy_run(source: Path, target: Path) -> dict[str, Any]:
    shutil.copytree(source, target)
    document: dict[str, Any] = json.loads((target / "results.json").read_text())
    return document


def save(folder: Path, document: dict[str, Any]) -> None:
    (folder / "results.json").write_text(json.dumps(document))


# --------------------------------------------------------------------------------------
# real runs
# --------------------------------------------------------------------------------------


def test_a_rerun_of_the_same_suite_passes(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    code, out, err = compare(
        capsys, runs["baseline"], runs["rerun"], "--summary", tmp_path / "diff.md"
    )
    assert code == 0, err
    assert "no regression in 1 matched combination" in out
    assert "regression:" not in err
    markdown = (tmp_path / "diff.md").read_text()
    assert "| tiny-bert x ecommerce-seed x synthetic-ecommerce (seed 0) | rating.rmse" in markdown
    assert step_summary.read_text() == "earlier step\n" + markdown  # appended, not replaced


def test_an_undertrained_candidate_fails_and_names_the_metrics(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = compare(capsys, runs["baseline"], runs["undertrained"])
    assert code == 1
    regressions = [line for line in err.splitlines() if "regression:" in line]
    assert regressions, err
    named = {line.split("regression: ")[1].split(" of ")[0] for line in regressions}
    assert named <= {"category.accuracy", "rating.rmse", "click.auc"} and named
    line = regressions[0]
    assert "tiny-bert x ecommerce-seed x synthetic-ecommerce (seed 0)" in line
    assert "->" in line and "rule *:+2%" in line and "95% interval" in line
    # The recipes differ, so the keys do: matched by name, and said so.
    assert "matched by name" in out
    # The other way round it is an improvement.
    code, _, err = compare(capsys, runs["undertrained"], runs["baseline"])
    assert code == 0, err


def test_tolerance_and_minimum_effect_are_respected(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = compare(capsys, runs["baseline"], runs["undertrained"], "--min-effect", "10")
    assert code == 0, err
    code, out, err = compare(
        capsys, runs["baseline"], runs["undertrained"], "--fail-on", "rating.rmse:+500%", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert [check["metric"] for check in result["checks"]] == ["rating.rmse"]
    assert result["regressions"] == 0 and result["checks"][0]["note"] == "within tolerance"


# --------------------------------------------------------------------------------------
# planted changes in copies of the baseline
# --------------------------------------------------------------------------------------


def test_more_flops_or_parameters_fail_at_zero_tolerance(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "bigger")
    document["records"][0]["efficiency"]["flops_per_sample"] *= 1.001
    save(tmp_path / "bigger", document)
    code, _, err = compare(capsys, runs["baseline"], tmp_path / "bigger")
    assert code == 1
    assert "regression: flops_per_sample of tiny-bert" in err
    code, _, err = compare(
        capsys, runs["baseline"], tmp_path / "bigger", "--fail-on", "flops_per_sample:+1%"
    )
    assert code == 0, err


def flip_predictions(folder: Path, record: dict[str, Any], task: str, count: int) -> None:
    """Make ``count`` correct predictions wrong; update the recorded accuracy to match."""
    path = folder / "predictions" / record["predictions"][task]
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    flipped = 0
    for row in rows:
        if flipped < count and row["y_true"] == row["y_pred"]:
            row["y_pred"] = str((int(row["y_pred"]) + 1) % 5)
            flipped += 1
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    correct = np.mean([row["y_true"] == row["y_pred"] for row in rows])
    record["metrics"][task]["accuracy"] = float(correct)


@pytest.mark.parametrize(
    ("flips", "code", "note"),
    [
        (1, 0, "below the minimum effect"),  # 1/240 = 0.004 < 0.005
        (2, 0, "not significant"),  # beyond tolerance, but a resample without both rows is common
        (12, 1, "beyond tolerance, significant"),
    ],
)
def test_accuracy_needs_effect_size_and_significance(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    flips: int,
    code: int,
    note: str,
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "flipped")
    flip_predictions(tmp_path / "flipped", document["records"][0], "category", flips)
    save(tmp_path / "flipped", document)
    result, out, err = compare(
        capsys,
        runs["baseline"],
        tmp_path / "flipped",
        "--fail-on",
        "category.accuracy:+0",
        "--json",
    )
    assert result == code, err
    (check,) = json.loads(out)["checks"]
    assert check["note"].startswith(note)


def test_environment_differences_warn_without_failing(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "elsewhere")
    document["environment"]["torch"] = "0.0.1"
    document["environment"]["device"] = "cuda:0"
    save(tmp_path / "elsewhere", document)
    code, _, err = compare(capsys, runs["baseline"], tmp_path / "elsewhere")
    assert code == 0
    assert "warning: environments differ: device cpu -> cuda:0" in err
    assert f"torch {runs_torch(runs)} -> 0.0.1" in err


def runs_torch(runs: dict[str, Path]) -> str:
    return str(json.loads((runs["baseline"] / "results.json").read_text())["environment"]["torch"])


def test_a_failed_candidate_combination_is_a_regression(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "broken")
    document["records"][0].update(status="failed", error="RuntimeError: boom")
    save(tmp_path / "broken", document)
    code, _, err = compare(capsys, runs["baseline"], tmp_path / "broken")
    assert code == 1
    assert "failed in the candidate: RuntimeError: boom" in err


# --------------------------------------------------------------------------------------
# latency: the recorded timings decide
# --------------------------------------------------------------------------------------


def latency_run(name: str, samples: list[float]) -> Run:
    record = {
        "key": "k",
        "backbone": "b",
        "head_set": "h",
        "domain": "d",
        "seed": 0,
        "status": "ok",
        "tasks": {},
        "metrics": {},
        "efficiency": {
            "latency_ms": {"1": {"p50": float(np.median(samples)), "samples": samples}},
        },
    }
    return Run(path=Path(name), document={"records": [record]}, name=name)


def test_latency_fails_only_on_a_shift_beyond_the_noise() -> None:
    rng = np.random.default_rng(0)
    base = list(rng.normal(10.0, 3.0, size=12))
    rules = parse_rules("latency_p50:+10%")
    noisy = compare_runs(
        latency_run("a", base), latency_run("b", list(rng.normal(11.5, 3.0, 12))), rules
    )
    assert not noisy.regressions
    assert noisy.checks[0].note.startswith(("not significant", "within tolerance"))
    slower = compare_runs(latency_run("a", base), latency_run("b", [s * 2 for s in base]), rules)
    (check,) = slower.regressions
    assert check.metric == "latency_p50" and check.interval is not None and check.interval[0] > 0


# --------------------------------------------------------------------------------------
# bad input: one line, exit code 2
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("rating.rmse+2%", "malformed rule 'rating.rmse+2%'"),
        ("rating.rmse:two", "malformed rule"),
        ("rating.rmse:+2%%", "malformed rule"),
        ("rmse:+2%", "neither TASK.METRIC"),
        ("rating.rmsd:+2%", "unknown metric 'rmsd'"),
        ("ratings.rmse:+2%", "no compared combination has task 'ratings'"),
        (",", "no rules given"),
    ],
)
def test_malformed_rules_exit_2(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], rules: str, message: str
) -> None:
    code, _, err = compare(capsys, runs["baseline"], runs["rerun"], "--fail-on", rules)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_or_unusable_runs_exit_2(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "absent.sqlite"))
    code, _, err = compare(capsys, runs["baseline"], tmp_path / "nowhere")
    assert code == 2 and "no such run folder" in err
    assert not (tmp_path / "absent.sqlite").exists()  # a lookup creates no store
    (tmp_path / "empty").mkdir()
    code, _, err = compare(capsys, tmp_path / "empty", runs["baseline"])
    assert code == 2 and "no results.json" in err
    document = copy_run(runs["baseline"], tmp_path / "other")
    document["records"][0].update(key="0" * 16, backbone="tiny-gpt2")
    save(tmp_path / "other", document)
    code, _, err = compare(capsys, runs["baseline"], tmp_path / "other")
    assert code == 2 and "no combination in common" in err


def test_a_stored_run_is_found_by_name(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The sweeps above wrote to the module's store; "baseline" is no folder here.
    assert not Path("baseline").exists()
    assert Store.default().find_run("baseline") is not None
    code, _, err = compare(capsys, "baseline", runs["rerun"])
    assert code == 0, err


# --------------------------------------------------------------------------------------
# what compare cannot judge
# --------------------------------------------------------------------------------------


def test_an_unknown_schema_version_is_bad_input(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "future")
    document["schema_version"] = 99
    save(tmp_path / "future", document)
    code, out, err = compare(capsys, runs["baseline"], tmp_path / "future")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "schema_version: 99 is not one this mtrec reads (1)" in err


def _worse_rmse(document: dict[str, Any]) -> None:
    document["records"][0]["metrics"]["rating"]["rmse"] *= 1.33


@pytest.mark.parametrize("predictions", ["removed", "kept"])
def test_a_change_the_predictions_cannot_test_is_judged_by_the_rule(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    predictions: str,
) -> None:
    # +33% RMSE in results.json: without predictions there is no significance test, and
    # predictions that do not give the recorded value cannot vouch for it: either way the
    # rule decides alone, and the output says so.
    document = copy_run(runs["baseline"], tmp_path / "worse")
    _worse_rmse(document)
    save(tmp_path / "worse", document)
    if predictions == "removed":
        shutil.rmtree(tmp_path / "worse" / "predictions")
    code, out, err = compare(
        capsys, runs["baseline"], tmp_path / "worse", "--fail-on", "rating.rmse:+2%", "--json"
    )
    assert code == 1, err
    (check,) = json.loads(out)["checks"]
    assert check["regressed"] and check["interval"] is None
    reason = (
        "no predictions of 'rating' in the candidate run"
        if predictions == "removed"
        else "the candidate's predictions give rmse"
    )
    assert check["note"].startswith(
        f"beyond tolerance; decided without a significance test: {reason}"
    )
    code, out, _ = compare(
        capsys, runs["baseline"], tmp_path / "worse", "--fail-on", "rating.rmse:+2%"
    )
    assert code == 1
    assert f"decided without a significance test ({reason}" in " ".join(out.split())


@pytest.mark.parametrize(
    ("plant", "message"),
    [
        (lambda d: d["records"][0].pop("key"), "records[0].key: expected a non-empty string"),
        (
            lambda d: d["records"][0]["metrics"].update(rating=0.9),
            "records[0].metrics.rating: expected an object of metric values",
        ),
        (lambda d: d.update(records={}), "records: expected a list, got an object"),
    ],
    ids=["record-without-key", "metric-not-a-mapping", "records-not-a-list"],
)
def test_a_malformed_run_is_bad_input(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    plant: Any,
    message: str,
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "malformed")
    plant(document)
    save(tmp_path / "malformed", document)
    code, out, err = compare(capsys, runs["baseline"], tmp_path / "malformed")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_negative_seed_is_bad_input(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", str(runs["baseline"]), str(runs["rerun"]), "--seed", "-1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "a seed must be in [0, 2**32)" in err


def test_data_in_stderr_lines_is_printable(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = copy_run(runs["baseline"], tmp_path / "hostile")
    document["records"][0].update(status="failed", error="boom\x1b]0;owned\x07\nsecond line")
    document["environment"]["device_name"] = "gpu\x1b[2J"
    save(tmp_path / "hostile", document)
    code, out, err = compare(capsys, runs["baseline"], tmp_path / "hostile")
    assert code == 1
    assert "\x1b" not in err + out and "\x07" not in err + out
    assert "failed in the candidate: boom second line" in err
