"""``results.json`` itself: where its provenance comes from and how it lands on disk."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from mtrec.store import results


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _repository(folder: Path) -> str:
    """A git repository at ``folder`` with one commit; returns its HEAD."""
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "first")
    return _git(folder, "rev-parse", "HEAD")


def _package_at(folder: Path) -> Path:
    package = folder / "harness"
    package.mkdir(parents=True)
    (package / "results.py").write_text("# a copy\n")
    return package


def test_an_enclosing_repository_is_not_mtrec_s_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's project with its virtual environment inside it: mtrec is installed, and the
    # repository around site-packages is the user's, not mtrec's.
    project = tmp_path / "project"
    site = project / ".venv" / "lib" / "site-packages"
    package = _package_at(site)
    (project / "pyproject.toml").write_text('[project]\nname = "users-project"\n')
    _repository(project)
    monkeypatch.setattr(results, "__file__", str(package / "results.py"))
    assert results._git_commit() is None


def test_mtrec_s_own_checkout_gives_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "mtrec"
    package = _package_at(checkout)
    (checkout / "pyproject.toml").write_text('[project]\nname = "mtrec-harness"\n')
    head = _repository(checkout)
    monkeypatch.setattr(results, "__file__", str(package / "results.py"))
    assert results._git_commit() == head


def test_a_checkout_of_another_project_named_alike_is_not_mtrec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "other"
    package = _package_at(checkout)
    (checkout / "pyproject.toml").write_text('[project]\nname = "mtrec-harness-fork"\n')
    _repository(checkout)
    monkeypatch.setattr(results, "__file__", str(package / "results.py"))
    assert results._git_commit() is None


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_results_json_gets_the_permissions_a_plain_open_gives(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        results.write_json_atomic(tmp_path / "results.json", {"a": 1})
        (tmp_path / "report.md").write_text("x")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "results.json").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "report.md").stat().st_mode)
    assert {p.name for p in tmp_path.iterdir()} == {"results.json", "report.md"}  # no leftovers
