"""The built-in plugins are written like third-party ones.

They import mtrec only through the top-level package (``from mtrec import ...``), the plugin
API of ``docs/plugins.md``; a sibling built-in (``mtrec.plugins.*``) is the one exception. And
registering them imports no heavy library: torch, transformers and scikit-learn load only when
a backbone loads, a model is built or a metric computes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "plugins"
HEAVY = ("torch", "transformers", "sklearn", "scipy", "pandas")


def internal_imports(source: str) -> list[str]:
    """``line: statement`` for every import of an mtrec module other than the top-level
    package and the built-in plugins (TYPE_CHECKING and function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . (mtrec.plugins) is a sibling; from .. is mtrec
                if node.level == 1 or not node.module:
                    continue
                modules = [f"mtrec.{node.module}"]
            else:
                modules = [node.module or ""]
        else:
            continue
        for module in modules:
            internal = module.startswith("mtrec.") and not (
                module == "mtrec.plugins" or module.startswith("mtrec.plugins.")
            )
            if internal:
                found.append(f"{node.lineno}: {module}")
    return found


def test_builtin_plugins_import_only_the_public_package() -> None:
    files = sorted(PLUGINS.glob("*.py"))
    assert len(files) > 15
    problems = {
        path.name: internal_imports(path.read_text(encoding="utf-8"))
        for path in files
        if internal_imports(path.read_text(encoding="utf-8"))
    }
    assert problems == {}


def test_a_planted_internal_import_is_found() -> None:
    planted = """
from typing import TYPE_CHECKING
import mtrec
from mtrec import hookimpl
from mtrec.plugins.minilm import minilm_folder
from . import group_gap
from .. import BackboneSpec
if TYPE_CHECKING:
    from mtrec.run.executors import SweepJob
def load():
    import mtrec.model.hf
    from ..measure import tasks
"""
    assert internal_imports(planted) == [
        "9: mtrec.run.executors",
        "11: mtrec.model.hf",
        "12: mtrec.measure",
    ]


PROBE = """
import importlib, importlib.metadata, json, sys
heavy = {heavy!r}
report = {{}}
for ep in importlib.metadata.entry_points(group="mtrec"):
    if not ep.value.startswith("mtrec.plugins."):
        continue
    before = set(sys.modules)
    module = importlib.import_module(ep.value)
    items = []
    for name in sorted(vars(module)):
        if name.startswith("mtrec_register_"):
            specs = list(getattr(module, name)())
            for spec in specs:  # what `mtrec plugins` asks of each item
                getattr(spec, "available", lambda: None)()
            items += [spec.name for spec in specs]
    loaded = sorted({{m.split(".")[0] for m in set(sys.modules) - before}} & set(heavy))
    report[ep.value] = {{"items": len(items), "heavy": loaded}}
print(json.dumps(report))
"""


def registration_report(probe: str) -> dict[str, dict[str, object]]:
    finished = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert finished.returncode == 0, finished.stderr
    report: dict[str, dict[str, object]] = json.loads(finished.stdout)
    return report


def test_registering_the_builtin_plugins_imports_no_heavy_library() -> None:
    report = registration_report(PROBE.format(heavy=HEAVY))
    assert len(report) > 15  # every built-in plugin was imported and registered
    assert all(entry["items"] for entry in report.values()), report
    heavy = {module: entry["heavy"] for module, entry in report.items() if entry["heavy"]}
    assert heavy == {}


def test_the_probe_names_a_plugin_that_imports_a_heavy_library() -> None:
    """The same probe, with numpy (which every domain imports) counted as heavy."""
    report = registration_report(PROBE.format(heavy=("numpy",)))
    assert any("numpy" in entry["heavy"] for entry in report.values())  # type: ignore[operator]


def test_builtin_architectures_and_weightings_are_the_cores() -> None:
    """``plugins/mtl.py`` registers the core's architectures and weightings without importing
    torch: same names and descriptions, and each ``build`` gives the core's module."""
    import mtrec
    from mtrec.plugins import mtl

    architectures = {spec.name: spec for spec in mtl.mtrec_register_architectures()}
    weightings = {spec.name: spec for spec in mtl.mtrec_register_loss_weightings()}
    assert {n: s.description for n, s in architectures.items()} == {
        n: s.description for n, s in mtrec.ARCHITECTURES.items()
    }
    assert {n: s.description for n, s in weightings.items()} == {
        n: s.description for n, s in mtrec.WEIGHTINGS.items()
    }
    tower = architectures["mmoe"].build(in_features=8, tasks=("a", "b"), n_experts=2)
    assert type(tower) is type(mtrec.ARCHITECTURES["mmoe"].build(in_features=8, tasks=("a",)))
    assert tower.last_gate_weights == {} and len(tower.experts) == 2
    weighting = weightings["dwa"].build(tasks=("a", "b"), temperature=3.0)
    assert type(weighting) is type(mtrec.WEIGHTINGS["dwa"].build(tasks=("a",)))
