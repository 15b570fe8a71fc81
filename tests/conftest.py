"""Shared fixtures.

Tests never write to the user's cache: ``MTREC_CACHE`` points at a temporary folder for the
session unless the caller set it (to reuse built tiny backbones between runs).

``fixture_plugin_path`` / ``with_fixture_plugin``: the third-party plugin package in
``tests/fixture_plugin`` really pip-installed (into a temporary folder), so the harness finds
it through the ``mtrec`` entry-point group like any other distribution.

``smoke_run``: ``mtrec run smoke`` on the CPU, computed once for the whole test session and
shared by every test that only reads it. Under pytest-xdist the first worker to ask computes
it under a file lock in the session's shared temporary folder; the others read it from there.

``cli``: the ``mtrec`` command run in this process (``mtrec.cli.main`` with stdout and stderr
captured and argparse exits caught), far cheaper than a subprocess; the tests that need a
real process (hash seeds, signals, the console script itself) still start one.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURE_PLUGIN_SOURCE = Path(__file__).parent / "fixture_plugin"
_OWN_CACHE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Build tiny backbones into a throw-away cache unless MTREC_CACHE is set already."""
    if not os.environ.get("MTREC_CACHE"):
        _OWN_CACHE.append(tempfile.mkdtemp(prefix="mtrec-test-cache-"))
        os.environ["MTREC_CACHE"] = _OWN_CACHE[0]
    # Runs made by tests record into a throw-away store, never ./runs/mtrec.sqlite.
    store = tempfile.mkdtemp(prefix="mtrec-test-store-")
    _OWN_CACHE.append(store)
    os.environ["MTREC_STORE"] = os.path.join(store, "mtrec.sqlite")


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _OWN_CACHE:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("MTREC_CACHE") == folder:
            os.environ.pop("MTREC_CACHE")
    os.environ.pop("MTREC_STORE", None)


FIXTURE_PLUGIN_MODULE = "mtrec_fixture_plugin"


@pytest.fixture(scope="session")
def fixture_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding the installed ``mtrec-fixture-plugin`` (package plus its dist-info)."""
    root = tmp_path_factory.mktemp("fixture-plugin")
    # Build from a copy so that setuptools' build/ and *.egg-info never land in the tree.
    source = root / "src"
    shutil.copytree(
        FIXTURE_PLUGIN_SOURCE,
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    target = root / "site"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
        "--target", str(target), str(source),
    ]  # fmt: skip
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        pytest.fail(f"installing the fixture plugin failed:\n{done.stdout}\n{done.stderr}")
    return target


@pytest.fixture
def with_fixture_plugin(
    fixture_plugin_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Make the installed fixture plugin visible here and to subprocesses, for one test."""
    monkeypatch.syspath_prepend(str(fixture_plugin_path))
    monkeypatch.setenv("PYTHONPATH", str(fixture_plugin_path), prepend=os.pathsep)
    importlib.invalidate_caches()
    yield fixture_plugin_path
    sys.modules.pop(FIXTURE_PLUGIN_MODULE, None)


Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``mtrec ARGS`` in this process: the exit code, stdout and stderr as a subprocess's."""
    from mtrec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str | None = main(list(args))
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code
    if isinstance(code, str):  # sys.exit("message") prints it and exits 1
        err.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(
        ["mtrec", *args], 0 if code is None else code, out.getvalue(), err.getvalue()
    )


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Cli:
    """:func:`run_cli` with the terminal width a subprocess test would give (100 columns)."""
    monkeypatch.setenv("COLUMNS", "100")
    return run_cli


@dataclass(frozen=True)
class SmokeRun:
    """What ``mtrec run smoke`` left behind, and the reuse counters of the run that made it."""

    run_dir: Path
    document: dict[str, Any]
    domains_generated: int  # domains built by the sweep (each once)
    splits_tokenized: int  # splits run through a tokenizer
    splits_from_disk: int  # splits read from an earlier run's token cache


def _shared_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this session sees (the session's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SmokeRun:
    """``mtrec run smoke`` on the CPU, once per test session; read it, never write into it."""
    from mtrec.config import load_suite
    from mtrec.plugin_host import PluginHost
    from mtrec.run.runner import run_sweep

    shared = _shared_folder(tmp_path_factory, worker_id)
    run_dir = shared / "smoke-run"
    counters = shared / "smoke-run.json"
    with open(shared / "smoke-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not counters.exists():
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("MTREC_STORE", str(shared / "smoke-store" / "mtrec.sqlite"))
                result = run_sweep(load_suite("smoke"), PluginHost(), run_dir, device="cpu")
            counts = {
                "domains_generated": len(result.cache.domains),
                "splits_tokenized": result.cache.tokens.tokenized,
                "splits_from_disk": result.cache.tokens.disk_hits,
            }
            counters.write_text(json.dumps(counts), encoding="utf-8")
    counts = json.loads(counters.read_text(encoding="utf-8"))
    document = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    return SmokeRun(run_dir=run_dir, document=document, **counts)
