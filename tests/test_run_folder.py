"""A run folder is claimed: never over the user's own files, never by two runs at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtrec.cli import main
from mtrec.config import parse_suite
from mtrec.errors import UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run.run_folder import MARKER, claim_run_folder
from mtrec.run.runner import run_sweep
from mtrec.store.merge import merge_runs

SUITE = """
name: claimed
backbones: [{name: id-embedding, options: {dim: 8}}]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, n_interactions: 150}}]
training: {epochs: 1, batch_size: 32}
fairness_metrics: []
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *flags: str) -> tuple[int, str]:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    store = str(tmp_path / "store.sqlite")
    code = main(["run", str(suite), "--device", "cpu", "--quiet", "--store", store, *flags])
    return code, capsys.readouterr().err


def test_a_folder_of_the_user_s_own_files_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my own notes\n")
    code, err = run(capsys, tmp_path, "--out", str(out))
    assert code == 2
    assert err.strip().splitlines() == [
        f"mtrec run: error: --out {out}: holds files mtrec did not write (report.md); choose a "
        "new or empty folder, or add --force to write the run into it anyway"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]  # nothing written
    assert (out / "report.md").read_text() == "my own notes\n"

    code, err = run(capsys, tmp_path, "--out", str(out), "--force")
    assert code == 0, err
    assert (out / "results.json").is_file() and (out / MARKER).is_file()
    # Now it is a run folder: resuming it needs no --force.
    code, err = run(capsys, tmp_path, "--out", str(out), "--resume")
    assert code == 0, err


def test_an_empty_folder_or_a_new_one_is_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for name in ("empty", "new"):
        result = run_sweep(
            parse_suite(SUITE, origin="s.yaml", source="file"),
            PluginHost(),
            tmp_path / name,
            device="cpu",
        )
        assert result.document["records"][0]["status"] == "ok"


def test_a_second_run_on_a_folder_in_use_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    # Another process holds the folder (a run in progress).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from mtrec.run.run_folder import claim_run_folder; "
            f"claim = claim_run_folder(Path({str(out)!r})); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, err = run(capsys, tmp_path, "--out", str(out))
        assert code == 2
        [line] = err.strip().splitlines()
        assert line == (
            f"mtrec run: error: --out {out}: another mtrec run (pid {holder.pid} on "
            f"{json.loads((out / MARKER).read_text())['host']}) is writing to this folder; "
            "wait for it to finish or choose another --out"
        )
        code, err = run(capsys, tmp_path, "--out", str(out), "--resume", "--force")
        assert code == 2 and "another mtrec run" in err  # --force does not take a busy folder
        assert sorted(p.name for p in out.iterdir()) == [MARKER]
    finally:
        holder.communicate("", timeout=30)
    # Its holder gone (however it ended), the folder is free again.
    code, err = run(capsys, tmp_path, "--out", str(out))
    assert code == 0, err


def test_the_claim_is_held_until_released(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with claim_run_folder(out), pytest.raises(UsageError, match="another mtrec run"):
        claim_run_folder(out)
    claim_run_folder(out).release()


def test_merge_does_not_write_over_the_user_s_files(tmp_path: Path) -> None:
    suite = parse_suite(SUITE, origin="s.yaml", source="file")
    shard = run_sweep(suite, PluginHost(), tmp_path / "a", device="cpu")
    out = tmp_path / "merged"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    started = time.monotonic()
    with pytest.raises(UsageError, match="holds files mtrec did not write"):
        merge_runs(out, [shard.run_dir])
    assert time.monotonic() - started < 30
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
