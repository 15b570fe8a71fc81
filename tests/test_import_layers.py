"""The package's import graph: no cycles, and a contract layer that imports only itself.

Every ``import`` statement counts: at module level, under ``if TYPE_CHECKING:`` and inside
functions (an import moved into a function still ties two modules together). The checker runs
on the installed ``mtrec`` package and, to show that it can fail, on small packages planted in
a temporary folder.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import mtrec

# What plugins, executors and trackers see: specs, protocols, contexts, errors, the hooks, the
# suite's config types. These modules import one another and nothing else of mtrec, so any
# part of the core (and any plugin) can depend on them without an import cycle.
CONTRACT = frozenset(
    {
        "mtrec.specs",  # every spec kind, DomainData, FairnessContext, ...
        "mtrec.contracts",  # Combination, SweepJob, SweepEvents, ExecutorSpec, TrackerSpec, ...
        "mtrec.errors",
        "mtrec.hookspecs",
        "mtrec.registry",
        "mtrec.config",
        "mtrec.printable",
        "mtrec.version",
    }
)
# The hook specifications name the spec kinds and nothing more.
HOOKSPEC_IMPORTS = frozenset({"mtrec.specs", "mtrec.contracts"})


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``root`` (the package ``package``)."""
    modules: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        parts = [package, *Path(dirpath).relative_to(root).parts]
        if "__init__.py" not in filenames:
            dirnames[:] = []  # not a package: nothing below is importable as part of it
            continue
        for filename in sorted(filenames):
            if filename.endswith(".py"):
                stem = filename[: -len(".py")]
                name = ".".join(parts if stem == "__init__" else [*parts, stem])
                modules[name] = Path(dirpath) / filename
    return modules


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (any import statement, anywhere)."""
    modules = package_modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from pkg import name``: the submodule pkg.name when there is one
                wanted = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in wanted:
                while target and target not in modules:  # an attribute: its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_breaches(graph: dict[str, set[str]], layer: frozenset[str]) -> dict[str, list[str]]:
    """Modules of ``layer`` importing modules of the package outside it."""
    breaches = {name: sorted(graph[name] - layer) for name in layer if name in graph}
    return {name: outside for name, outside in breaches.items() if outside}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(Path(mtrec.__file__).parent, "mtrec")


def test_the_walk_sees_the_whole_package(graph: dict[str, set[str]]) -> None:
    assert graph.keys() >= CONTRACT
    for name in ("mtrec.run.runner", "mtrec.plugins.minilm", "mtrec.datasets.manifest"):
        assert name in graph
    # TYPE_CHECKING imports are edges too
    assert "mtrec.contracts" in graph["mtrec.hookspecs"]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_contract_layer_imports_only_itself(graph: dict[str, set[str]]) -> None:
    assert layer_breaches(graph, CONTRACT) == {}


def test_hookspecs_import_only_the_spec_kinds(graph: dict[str, set[str]]) -> None:
    assert graph["mtrec.hookspecs"] <= HOOKSPEC_IMPORTS


def plant(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    # a -> b at module level, b -> c under TYPE_CHECKING, c -> a inside a function
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg.b import thing\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
            "thing = 1\n",
            "c.py": "def late():\n    import pkg.a\n",
            "d.py": "from pkg import a\n",  # into the cycle, not part of it
        },
    )
    assert cycles(import_graph(package, "pkg")) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_relative_imports_from_a_subpackage_resolve(tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "top.py": "from pkg.sub import low\n",
            "sub/__init__.py": "",
            "sub/low.py": "from ..top import x\n",
        },
    )
    graph = import_graph(package, "pkg")
    assert graph["pkg.sub.low"] == {"pkg.top"}
    assert cycles(graph) == [["pkg.sub.low", "pkg.top"]]


def test_a_planted_contract_breach_is_found(tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "__init__.py": "",
            "specs.py": "import json\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.runner import Runner\n",
            "runner.py": "from pkg.specs import json\nclass Runner: ...\n",
        },
    )
    graph = import_graph(package, "pkg")
    assert layer_breaches(graph, frozenset({"pkg.specs"})) == {"pkg.specs": ["pkg.runner"]}
