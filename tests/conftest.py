"""Shared fixtures.

Tests never write to the user's cache: ``MTREC_CACHE`` points at a temporary folder for the
session unless the caller set it (to reuse built tiny backbones between runs).

``fixture_plugin_path`` / ``with_fixture_plugin``: the third-party plugin package in
``tests/fixture_plugin`` really pip-installed (into a temporary folder), so the harness finds
it through the ``mtrec`` entry-point group like any other distribution.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
