"""docs/plugins.md, the plugin author's guide, is tested like code.

Every Python block of the guide is a module of the example package ``my_plugin`` (its first
line names the file); the blocks are executed as those modules, registered with a plugin host,
and run together in a one-combination sweep (their backbone, head set, domain, fairness metric,
architecture, loss weighting, executor, tracker and lifecycle hooks). The guide must document
every hook of ``mtrec.hookspecs`` in a section of its own and every field of every spec
dataclass ``mtrec`` exports in that class's field table; the checks are shown to fail on a
planted undocumented hook and field.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import mtrec
from mtrec import hookspecs

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "plugins.md"
PACKAGE = "my_plugin"

BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
MODULE_LINE = re.compile(rf"# ({PACKAGE}/\w+)\.py\n")
HOOK_HEADING = re.compile(r"^## `(mtrec_\w+)`$", re.MULTILINE)
FIELD_TABLE = re.compile(
    r"^\| `(\w+)` field \| meaning \|\n\|---\|---\|\n((?:\|.*\n)+)", re.MULTILINE
)
TABLE_ROW = re.compile(r"^\| `(\w+)` \|", re.MULTILINE)
# Exported helpers whose dataclasses are results, not specs (documented in their modules).
HELPER_MODULES = ("mtrec.datasets", "mtrec.measure")
EXPORT_MENTION = re.compile(r"\bmtrec\.([A-Za-z_]\w*)")

# What the examples register, by registry.
EXAMPLE_ITEMS = {
    "backbones": {"hashed-pairs", "my-encoder"},
    "head_sets": {"my-shop-heads"},
    "domains": {"my-shop"},
    "fairness_metrics": {"click-rate-gap"},
    "architectures": {"task-gates"},
    "loss_weightings": {"focus"},
    "executors": {"inline"},
    "trackers": {"jsonl"},
    "explainers": {"gradient-x-input"},
}


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# what the guide documents
# --------------------------------------------------------------------------------------


def hook_names() -> list[str]:
    """Every hook mtrec declares (functions of hookspecs marked as specifications)."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if name.startswith("mtrec_") and callable(value) and hasattr(value, marker)
    )


def undocumented_hooks(text: str, hooks: Sequence[str]) -> list[str]:
    """Hooks without a ``## `hook``` section of their own."""
    sections = set(HOOK_HEADING.findall(text))
    return [hook for hook in hooks if hook not in sections]


def spec_dataclasses() -> list[type]:
    """Every dataclass ``mtrec`` exports for plugins (dataset and statistics helpers aside)."""
    found = []
    for name in mtrec.__all__:
        value = getattr(mtrec, name)
        helper = getattr(value, "__module__", "").startswith(HELPER_MODULES)
        if isinstance(value, type) and dataclasses.is_dataclass(value) and not helper:
            found.append(value)
    return found


def field_tables(text: str) -> dict[str, list[str]]:
    """Class name -> the fields its ``| `Class` field | meaning |`` table lists."""
    return {
        match.group(1): TABLE_ROW.findall(match.group(2)) for match in FIELD_TABLE.finditer(text)
    }


def undocumented_fields(text: str, classes: Sequence[type]) -> list[str]:
    """``Class.field`` for every field missing from its class's table (or listed there but no
    longer a field), and ``Class`` for a class without a table."""
    tables = field_tables(text)
    problems = []
    for cls in classes:
        if cls.__name__ not in tables:
            problems.append(cls.__name__)
            continue
        fields = [spec_field.name for spec_field in dataclasses.fields(cls)]
        listed = tables[cls.__name__]
        problems += [f"{cls.__name__}.{name}" for name in fields if name not in listed]
        problems += [f"{cls.__name__}.{name} (stale)" for name in listed if name not in fields]
    return problems


def test_every_hook_has_a_section() -> None:
    hooks = hook_names()
    assert len(hooks) == 13, hooks  # 10 registration hooks, 3 lifecycle hooks
    assert undocumented_hooks(guide(), hooks) == []


def test_a_planted_undocumented_hook_is_reported() -> None:
    planted = [*hook_names(), "mtrec_register_planted"]
    assert undocumented_hooks(guide(), planted) == ["mtrec_register_planted"]


def test_every_spec_field_is_in_its_table() -> None:
    classes = spec_dataclasses()
    names = {cls.__name__ for cls in classes}
    # The eight spec kinds and what crosses the plugin boundary with them.
    assert {
        "BackboneSpec", "HeadSetSpec", "DomainSpec", "FairnessMetricSpec", "ArchitectureSpec",
        "WeightingSpec", "ExecutorSpec", "TrackerSpec", "LoadedBackbone", "HeadSpec",
        "DomainData", "DomainSplit", "LabelField", "FairnessContext", "TaskPredictions",
        "SweepJob", "TrackerContext", "WorkerTask", "HostRecipe",
    } <= names  # fmt: skip
    assert undocumented_fields(guide(), classes) == []


def test_a_planted_undocumented_field_is_reported() -> None:
    grown = dataclasses.make_dataclass(
        "BackboneSpec",
        [(f.name, Any) for f in dataclasses.fields(mtrec.BackboneSpec)] + [("planted", int)],
    )
    unlisted = dataclasses.make_dataclass("PlantedSpec", [("name", str)])
    assert undocumented_fields(guide(), [grown, unlisted]) == [
        "BackboneSpec.planted",
        "PlantedSpec",
    ]


def test_every_mtrec_name_the_guide_uses_is_exported() -> None:
    used = set(EXPORT_MENTION.findall(guide()))
    # `mtrec.run` and the like name subpackages (internal, as the guide says); `mtrec.__all__`
    subpackages = {name for name in used if importlib.util.find_spec(f"mtrec.{name}")}
    missing = sorted(used - subpackages - {"__all__"} - set(mtrec.__all__))
    assert missing == []
    assert {"run", "model"} <= subpackages
    assert not set(EXPORT_MENTION.findall("`mtrec.NoSuchThing`")) <= set(mtrec.__all__)


# --------------------------------------------------------------------------------------
# the examples run
# --------------------------------------------------------------------------------------


def example_blocks() -> list[tuple[str, str]]:
    """(module name, source) of every Python block, in the guide's order."""
    blocks = []
    for source in BLOCK.findall(guide()):
        first = MODULE_LINE.match(source)
        assert first, (
            f"a python block of the guide does not start with '# my_plugin/NAME.py':\n{source}"
        )
        blocks.append((first.group(1).replace("/", "."), source))
    return blocks


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, types.ModuleType]]:
    """The guide's blocks imported as the modules of ``my_plugin``."""
    assert PACKAGE not in sys.modules
    package = types.ModuleType(PACKAGE)
    package.__path__ = []
    sys.modules[PACKAGE] = package
    modules: dict[str, types.ModuleType] = {}
    try:
        for name, source in example_blocks():
            module = types.ModuleType(name)
            module.__file__ = f"{GUIDE}:{name}"
            sys.modules[name] = module
            exec(compile(source, f"{GUIDE.name}:{name}", "exec"), module.__dict__)
            setattr(package, name.rsplit(".", 1)[1], module)
            modules[name] = module
        yield modules
    finally:
        for name in [PACKAGE, *modules]:
            sys.modules.pop(name, None)


def plugins_of(modules: dict[str, types.ModuleType]) -> list[tuple[str, object]]:
    """The example modules that implement hooks, as (plugin name, module)."""
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    return [
        (name, module)
        for name, module in modules.items()
        if any(hasattr(value, marker) for value in vars(module).values())
    ]


def host_of(modules: dict[str, types.ModuleType]) -> mtrec.PluginHost:
    return mtrec.PluginHost(load_entry_points=False, extra_plugins=plugins_of(modules))


def test_examples_implement_every_hook(examples: dict[str, types.ModuleType]) -> None:
    hooks = host_of(examples).pm.hook
    assert [name for name in hook_names() if not getattr(hooks, name).get_hookimpls()] == []


def test_examples_register_one_item_of_each_kind(examples: dict[str, types.ModuleType]) -> None:
    registries = host_of(examples).registries
    for kind, names in EXAMPLE_ITEMS.items():
        assert set(getattr(registries, kind).names()) == names, kind


def test_example_backbone_outside_this_machine_says_why(
    examples: dict[str, types.ModuleType],
) -> None:
    spec = host_of(examples).registries.backbones.get("my-encoder")
    assert spec.available() == "no model folder at /models/my-encoder"


def test_example_lifecycle_refusal_names_the_plugin(examples: dict[str, types.ModuleType]) -> None:
    host = host_of(examples)
    host.before_combination("k", {"training": {"epochs": 50}})
    with pytest.raises(mtrec.PluginError, match=r"plugin 'my_plugin.lifecycle'.*over the budget"):
        host.before_combination("k", {"training": {"epochs": 51}})


def test_example_options_are_checked(examples: dict[str, types.ModuleType]) -> None:
    registries = host_of(examples).registries
    with pytest.raises(mtrec.WeightingOptionError, match="no option 'speed'"):
        registries.loss_weightings.get("focus").build(tasks=("click",), speed=1)
    with pytest.raises(mtrec.WeightingOptionError, match="option 'task'"):
        registries.loss_weightings.get("focus").build(tasks=("click",), task="rating")
    with pytest.raises(ValueError, match="no option 'width'"):
        registries.architectures.get("task-gates").build(in_features=4, tasks=("a",), width=2)


SUITE = """
name: guide-sweep
seeds: [0]
backbones: [{name: hashed-pairs, options: {buckets: 64, dim: 8}}]
head_sets: [my-shop-heads]
domains: [{name: my-shop, options: {users: 12}}]
trackers: [jsonl]
training:
  epochs: 2
  batch_size: 32
  eval_batch_size: 64
  lr: 0.01
  patience: 0
  architecture: task-gates
  architecture_options: {bias: 1.0}
  loss_weighting: focus
  loss_weighting_options: {task: click, factor: 3.0}
measure:
  latency_batch_sizes: [4]
  latency_warmup: 0
  latency_min_repeats: 1
  latency_min_seconds: 0.0
  flops: false
"""


def test_examples_run_together_in_a_sweep(
    examples: dict[str, types.ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from mtrec.config import parse_suite
    from mtrec.run.runner import run_sweep

    threads = torch.get_num_threads()
    suite = parse_suite(SUITE, origin="guide.yaml", source="file")
    try:
        result = run_sweep(
            suite, host_of(examples), tmp_path / "run", device="cpu", executor="inline"
        )
    finally:
        torch.set_num_threads(threads)  # the example executor's worker sets one thread
    (record,) = result.document["records"]
    assert record["status"] == "ok", record["error"]
    assert set(record["metrics"]) == {"click", "rating"}
    gap = record["fairness"]["click-rate-gap"]
    assert set(gap["click"]["age"]["positive_rate"]) == {"young", "old"}
    assert gap["rating"] == {"applicable": False, "reason": "needs a binary task"}
    history = record["training"]["history"]
    assert [entry["task_weights"] for entry in history] == [{"click": 3.0, "rating": 1.0}] * 2
    (line,) = (tmp_path / "run" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"status": "ok"' in line and "metrics/click/auc" in line
    err = capsys.readouterr().err
    assert re.search(rf"\[my-plugin\] {record['key']} ok in \d+\.\d s", err), err
