"""Determinism: ``mtrec run smoke`` twice with the same seed on CPU gives identical numbers.

Everything random is seeded from the combination's seed: the domain generator, the split,
head initialisation, dropout, batch order (a numpy generator per training run) and the
bootstrap. The first run is the session's shared smoke run; the second is a separate process
with another ``PYTHONHASHSEED`` (so no result may depend on the iteration order of a set of
strings) and reads the tiny backbones and the token cache that the first run wrote, so the
cached paths are covered too: it must tokenize nothing (no token file is written again). A
different seed must give different numbers, or the seed would not reach the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mtrec.cli import main

if TYPE_CHECKING:
    from tests.conftest import SmokeRun

COMPARED = ("metrics", "fairness", "reference", "tasks")


def smoke(out: Path, *flags: str, process: bool = False) -> dict[str, Any]:
    """Run ``mtrec run smoke`` on the CPU into ``out`` (in this process, or in a child with
    its own hash seed); return its results.json."""
    args = ["run", "smoke", "--out", str(out), "--device", "cpu", "--quiet", *flags]
    if process:
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        done = subprocess.run(
            [sys.executable, "-m", "mtrec.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    else:
        assert main(args) == 0
    document: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    document["run_dir"] = str(out)
    return document


@pytest.fixture
def first(smoke_run: SmokeRun) -> dict[str, Any]:
    """The session's shared ``mtrec run smoke`` (seed 0), only read here."""
    return {**smoke_run.document, "run_dir": str(smoke_run.run_dir)}


def token_files() -> dict[str, tuple[int, int]]:
    """Every file of the token cache: (inode, modification time in ns) by name."""
    folder = Path(os.environ["MTREC_CACHE"]) / "tokens"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.npz")}


@pytest.fixture(autouse=True)
def _own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTREC_STORE", str(tmp_path / "mtrec.sqlite"))


def test_same_seed_twice_gives_identical_results(
    first: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second_dir = tmp_path / "second"
    cached = token_files()
    assert cached, "the first run left no tokenized split on disk"
    # One backbone is enough here (the other seed below runs the encoder): the decoder, in a
    # child process with its own hash seed
    second = smoke(second_dir, "--backbones", "tiny-gpt2", process=True)
    capsys.readouterr()
    # Tokenized splits are reused across runs: the second run re-wrote none of them (it
    # would have, had it tokenized anything again; other tests may add files of their own).
    after = token_files()
    assert {name: after.get(name) for name in cached} == cached
    assert len(first["records"]) == 2 and len(second["records"]) == 1
    pairs = [(r, second["records"][0]) for r in first["records"] if r["backbone"] == "tiny-gpt2"]
    assert len(pairs) == 1
    for one, two in pairs:
        assert one["status"] == two["status"] == "ok", (one["error"], two["error"])
        assert one["key"] == two["key"]
        for part in COMPARED:
            assert one[part] == two[part], f"{one['backbone']}: {part} differ"
        assert one["metrics"]  # not trivially equal
        assert one["fairness"]
        # The whole training trajectory, not only the end point.
        assert [epoch["train_loss"] for epoch in one["training"]["history"]] == [
            epoch["train_loss"] for epoch in two["training"]["history"]
        ]
        assert one["training"]["history"] == two["training"]["history"]
    # Predictions, byte for byte.
    first_dir = Path(first["run_dir"]) / "predictions"
    for record, _ in pairs:
        for relative in record["predictions"].values():
            written = (first_dir / relative).read_bytes()
            assert written == (second_dir / "predictions" / relative).read_bytes(), relative


def test_another_seed_gives_different_results(
    first: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = smoke(tmp_path / "other", "--seed", "1", "--backbones", "tiny-bert")
    capsys.readouterr()
    (record,) = other["records"]
    (same_backbone,) = [r for r in first["records"] if r["backbone"] == "tiny-bert"]
    assert record["seed"] == 1 and same_backbone["seed"] == 0
    assert record["key"] != same_backbone["key"]
    assert record["metrics"] != same_backbone["metrics"]
    assert record["training"]["history"] != same_backbone["training"]["history"]
