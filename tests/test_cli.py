"""The ``mtrec`` command as users run it: exit codes, one-line errors, nothing half-written.

The commands run in this process (the ``cli`` fixture); one test runs the whole command in a
real child process, as a shell does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mtrec.store.results import validate_results

if TYPE_CHECKING:
    from tests.conftest import Cli

MTREC = [sys.executable, "-m", "mtrec.cli"]


def mtrec_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in a real child process, as a user's shell starts it."""
    return subprocess.run(
        [*MTREC, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )


@pytest.fixture
def mtrec(cli: Cli) -> Cli:
    """The command run in this process (the conftest's ``cli``): exit code, stdout, stderr."""
    return cli


SUITE = """
name: tiny
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}}]
training: {epochs: 1}
"""


@pytest.mark.parametrize(
    ("suite_text", "expected"),
    [
        ("name: [broken", "invalid YAML"),
        (SUITE + "colour: blue\n", "colour: unknown key"),
        (SUITE.replace("epochs: 1", "epochs: many"), "training.epochs"),
        (SUITE.replace("tiny-bert", "tiny-bret"), "did you mean 'tiny-bert'"),
        (SUITE.replace("ecommerce-seed", "ecomerce-seed"), "unknown head set 'ecomerce-seed'"),
        (SUITE.replace("name: synthetic", "name: synthetc"), "unknown domain"),
        (SUITE + "exclude: [{backbone: tiny-bert}]\n", "matrix is empty"),
        (SUITE.replace("n_interactions", "n_interaction"), "options"),
    ],
    ids=[
        "yaml",
        "unknown-key",
        "wrong-type",
        "backbone-name",
        "head-set-name",
        "domain-name",
        "empty-matrix",
        "domain-option",
    ],
)
def test_bad_suite_exit_2_one_line_nothing_written(
    tmp_path: Path, suite_text: str, expected: str, mtrec: Cli
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text)
    out = tmp_path / "run"
    result = mtrec("run", str(suite), "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_unknown_builtin_suite(tmp_path: Path, mtrec: Cli) -> None:
    result = mtrec("run", "smok", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "did you mean 'smoke'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_unwritable_output_folder(tmp_path: Path, mtrec: Cli) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = mtrec("run", "smoke", "--out", str(blocker / "run"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is not a folder" in result.stderr


def test_read_only_output_location(mtrec: Cli) -> None:
    # /proc refuses new files even to root: a real unwritable place.
    result = mtrec("run", "smoke", "--out", "/proc/mtrec-run")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not writable" in result.stderr


def test_output_folder_with_a_run_is_refused(tmp_path: Path, mtrec: Cli) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("{}")
    result = mtrec("run", "smoke", "--out", str(out))
    assert result.returncode == 2
    assert "already holds a run" in result.stderr
    assert (out / "results.json").read_text() == "{}"


def test_cuda_requested_without_cuda(tmp_path: Path, mtrec: Cli) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = mtrec("run", "smoke", "--device", "cuda", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "CUDA is not available" in result.stderr
    assert not (tmp_path / "run").exists()


def test_bad_flag_is_one_line(mtrec: Cli) -> None:
    result = mtrec("run", "--frobnicate")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_writes_results_report_and_table(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "run"
    # The one real subprocess here: the whole command as a shell runs it.
    result = mtrec_process("run", str(suite), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"report: {out / 'report.md'}"
    assert "tiny-bert" in result.stdout  # the summary table
    document = json.loads((out / "results.json").read_text())
    validate_results(document)
    report = (out / "report.md").read_text()
    assert "| tiny-bert |" in report
    rendered = mtrec_process("report", str(out))
    assert rendered.returncode == 0
    assert rendered.stdout.strip() == report.strip()


def test_failed_combination_exits_1_and_sweep_goes_on(tmp_path: Path, mtrec: Cli) -> None:
    suite = tmp_path / "suite.yaml"
    # n_items below the domain's minimum: the loader raises for that combination only.
    suite.write_text(
        SUITE.replace(
            "domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}}]",
            "domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}},\n"
            "          {name: synthetic-ecommerce, options: {n_interactions: 200, n_items: 1}}]",
        )
    )
    out = tmp_path / "run"
    result = mtrec("run", str(suite), "--out", str(out))
    assert result.returncode == 1
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "domain 'synthetic-ecommerce'" in records[1]["error"]
    assert "n_items" in records[1]["error"]


def test_suites_and_report_errors(tmp_path: Path, mtrec: Cli) -> None:
    listing = mtrec("suites")
    assert listing.returncode == 0
    assert "smoke" in listing.stdout and "quick" in listing.stdout
    assert "leaderboard" in listing.stdout and "…" not in listing.stdout  # folded, not cut
    missing = mtrec("report", str(tmp_path))
    assert missing.returncode == 2
    assert "no results.json" in missing.stderr


# --------------------------------------------------------------------------------------
# help and listings
# --------------------------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    """Every command and sub-command of the parser, e.g. ["datasets", "fetch"]."""
    import argparse

    from mtrec.cli import build_parser

    paths: list[list[str]] = [[]]

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    paths.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(build_parser(), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "mtrec")
def test_every_command_has_working_help(
    path: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from mtrec.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    out, err = capsys.readouterr()
    assert exited.value.code == 0, err
    assert out.startswith("usage: mtrec"), out
    assert err == ""


def test_compare_help_shows_the_default_rules(capsys: pytest.CaptureFixture[str]) -> None:
    from mtrec.cli import main
    from mtrec.store.compare_rules import DEFAULT_RULES

    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert DEFAULT_RULES in " ".join(capsys.readouterr().out.split())


def test_run_help_names_every_builtin_suite(capsys: pytest.CaptureFixture[str]) -> None:
    from mtrec.cli import main
    from mtrec.config import builtin_suites

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert len(builtin_suites()) >= 5
    for name in builtin_suites():
        assert name in text, name


def test_plugins_lists_every_registry_kind(capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    from mtrec.cli import main
    from mtrec.plugin_host import Registries

    kinds = [f.name for f in dataclasses.fields(Registries)]
    assert "executors" in kinds
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    for kind in kinds:
        assert listing[kind], kind
    assert {"local", "process"} <= {item["name"] for item in listing["executors"]}
    assert main(["plugins"]) == 0
    table = capsys.readouterr().out
    for kind in kinds:
        assert kind.replace("_", " ") in table, kind


def test_quiet_run_with_failures_says_how_many_and_where(tmp_path: Path, mtrec: Cli) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: quiet\nbackbones: [trivial]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 200}},\n"
        "          {name: synthetic-ecommerce, options: {n_interactions: 200, n_items: 1}}]\n"
        "fairness_metrics: []\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0}\n"
    )
    out = tmp_path / "run"
    result = mtrec("run", str(suite), "--out", str(out), "--quiet", "--device", "cpu")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"mtrec run: 1 of 2 combinations failed; reasons in {out / 'report.md'}"
    ]


def test_an_input_error_found_by_the_sweep_is_one_line_without_an_empty_line(
    tmp_path: Path, mtrec: Cli
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("tiny-bert", "tiny-bret"))
    result = mtrec("run", str(suite), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()], repr(result.stderr)
