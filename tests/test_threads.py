"""mtrec's thread choice: sized to the free cores, passive waiting, overridable, recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mtrec.run import threads
from mtrec.run.threads import choose_threads, set_wait_policy


def test_threads_fill_the_free_cores_divided_by_what_runs_at_once() -> None:
    quiet = choose_threads(None, cpus=8, busy_cores=0.2, environ={})
    assert (quiet.threads, quiet.source, quiet.wait_policy) == (8, "free cores", "PASSIVE")
    busy = choose_threads(None, cpus=8, busy_cores=5.6, environ={})
    assert busy.threads == 2  # 2.4 cores free
    assert choose_threads(None, cpus=8, busy_cores=0.0, parallel=3, environ={}).threads == 2
    # a saturated machine still gets one thread, never zero
    assert choose_threads(None, cpus=2, busy_cores=2.0, environ={}).threads == 1
    assert choose_threads(None, cpus=2, busy_cores=7.5, environ={}).threads == 1
    assert choose_threads(None, cpus=4, busy_cores=None, environ={}).threads == 4  # unmeasured


def test_an_explicit_count_wins_and_an_explicit_wait_policy_is_kept() -> None:
    env = {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "active"}
    from_env = choose_threads(None, cpus=8, busy_cores=7.0, environ=env)
    assert (from_env.threads, from_env.source, from_env.wait_policy) == (
        3,
        "OMP_NUM_THREADS",
        "ACTIVE",
    )
    flag = choose_threads(5, cpus=8, busy_cores=7.0, environ=env)
    assert (flag.threads, flag.source) == (5, "--threads")
    # an unusable OMP_NUM_THREADS is ignored, not trusted
    assert choose_threads(None, cpus=4, busy_cores=0, environ={"OMP_NUM_THREADS": "x"}).threads == 4


def test_wait_policy_is_set_only_where_the_user_did_not() -> None:
    env: dict[str, str] = {}
    set_wait_policy(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
    kept = {"OMP_WAIT_POLICY": "ACTIVE"}
    set_wait_policy(kept)
    assert kept["OMP_WAIT_POLICY"] == "ACTIVE"
    empty = {"OMP_WAIT_POLICY": ""}  # OpenMP ignores an empty value: it is set
    set_wait_policy(empty)
    assert empty["OMP_WAIT_POLICY"] == "PASSIVE"


def test_busy_cores_are_read_from_the_machine() -> None:
    busy = threads.busy_cores_now(0.05)
    assert busy is not None and 0 <= busy <= (os.cpu_count() or 1) + 0.5


def test_run_threads_flag_sets_torch_and_lands_in_the_environment_block(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_current", None)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: t\nbackbones: [trivial]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 60}}]\n"
        "training: {epochs: 1}\nfairness_metrics: []\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0}\n"
    )
    try:
        result = cli("run", str(suite), "--out", str(tmp_path / "run"), "--quiet", "--threads", "1")
        assert result.returncode == 0, result.stderr
        environment = json.loads((tmp_path / "run" / "results.json").read_text())["environment"]
        assert environment["torch_threads"] == 1
        assert environment["threads"]["threads"] == 1
        assert environment["threads"]["source"] == "--threads"
        assert environment["threads"]["wait_policy"] in {"PASSIVE", "ACTIVE"}
    finally:
        torch.set_num_threads(before)
    bad = cli("run", str(suite), "--threads", "0")
    assert bad.returncode == 2 and "at least 1 thread" in bad.stderr
