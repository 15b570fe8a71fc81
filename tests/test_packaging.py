"""The distribution installs one import package, ``mtrec``, and nothing else at the top level."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(REPO)],
        check=True,
        timeout=300,
    )  # fmt: skip
    (built,) = out.glob("mtrec_harness-*.whl")
    return built


def test_mtrec_is_the_only_top_level_import_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert tops == {"mtrec"}
    for module in (
        "mtrec/__init__.py",
        "mtrec/py.typed",
        "mtrec/plugins/minilm.py",
        "mtrec/reports/html.py",
        "mtrec/datasets_manifest/movielens-100k.yaml",
        "mtrec/suites/smoke.yaml",
        "mtrec/schemas/results.schema.json",
    ):
        assert module in names


def test_every_entry_point_lives_in_mtrec(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
        parser = ConfigParser()
        parser.read_string(archive.read(entry_points).decode("utf-8"))
    targets = [*parser["mtrec"].values(), *parser["console_scripts"].values()]
    assert targets
    assert all(target.startswith("mtrec.") for target in targets), targets


def test_old_top_level_names_are_not_importable_outside_the_checkout(tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, mtrec.plugins.minilm; "
        "print([n for n in ('harness', 'plugins', 'reports', 'datasets_manifest') "
        "if u.find_spec(n) is not None])"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"
