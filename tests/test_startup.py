"""The CLI starts without the heavy libraries: help, version and the listings import no model code.

Each command runs in a fresh interpreter (``sys.modules`` is shared within one), which then
reports the banned modules it imported. ``mtrec plugins`` loads every plugin's specs, so it
also shows that registering a backbone, a domain or a metric loads no model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Libraries that cost seconds to import; none is needed to parse flags or list specs.
BANNED = ("torch", "transformers", "sklearn", "scipy", "pandas")

PROBE = """
import json, sys
from mtrec.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as stop:
    code = stop.code
banned = sorted({banned} & set(sys.modules))
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump({{"code": code, "banned": banned}}, handle)
"""


def imported_by(args: list[str], tmp_path: Path) -> tuple[dict[str, object], str]:
    """Run ``mtrec ARGS`` in a fresh interpreter: its exit code, the banned modules it
    imported, and its stdout."""
    report = tmp_path / "probe.json"
    probe = PROBE.format(banned=repr(set(BANNED)))
    finished = subprocess.run(
        [sys.executable, "-c", probe, str(report), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert report.is_file(), finished.stderr
    outcome: dict[str, object] = json.loads(report.read_text(encoding="utf-8"))
    return outcome, finished.stdout


@pytest.mark.parametrize(
    ("args", "shows"),
    [
        (["--help"], "COMMAND"),
        (["--version"], "mtrec "),
        (["run", "--help"], "--backbones"),
        (["suites"], "smoke"),
        (["plugins"], "tiny-bert"),
    ],
    ids=["help", "version", "run-help", "suites", "plugins"],
)
def test_command_imports_no_heavy_library(args: list[str], shows: str, tmp_path: Path) -> None:
    outcome, out = imported_by(args, tmp_path)
    assert outcome["code"] == 0, outcome
    assert shows in out
    assert outcome["banned"] == [], f"mtrec {' '.join(args)} imported {outcome['banned']}"


def test_the_probe_reports_a_heavy_import(tmp_path: Path) -> None:
    """The check can fail: comparing runs needs the metrics (scikit-learn), and the probe says
    so even when the command stops at bad input."""
    outcome, _ = imported_by(["compare", "no-such-baseline", "no-such-candidate"], tmp_path)
    assert outcome["code"] == 2
    assert "sklearn" in outcome["banned"]  # type: ignore[operator]
