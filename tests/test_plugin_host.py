"""PluginHost with a real, pip-installed third-party plugin (tests/fixture_plugin).

What a plugin author and a user rely on: the plugin is discovered through the ``mtrec``
entry-point group, listed with its distribution and version, can be blocked, and every error
it causes (import, registration, run time) names it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from mtrec import hookspecs
from mtrec.cli import plugin_listing
from mtrec.config import parse_suite
from mtrec.errors import CombinationError, PluginError
from mtrec.hookspecs import hookimpl
from mtrec.plugin_host import BLOCK_ENV, PluginHost
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.specs import (
    BackboneSpec,
    DomainSpec,
    FairnessMetricSpec,
    Family,
    HeadSetSpec,
    HeadSpec,
    Pooling,
    TaskType,
)

if TYPE_CHECKING:
    from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[1]

FIXTURE_PLUGIN = "fixture"
FIXTURE_DIST = "mtrec-fixture-plugin"
FIXTURE_VERSION = "0.3.1"
FIXTURE_ITEMS = [
    ("backbones", "fixture-bert"),
    ("head_sets", "fixture-heads"),
    ("domains", "fixture-domain"),
    ("fairness_metrics", "fixture-metric"),
    ("architectures", "fixture-tower"),
    ("loss_weightings", "fixture-half"),
    ("executors", "fixture-reversed"),
    ("trackers", "fixture-tracker"),
]
# Built-in items and the entry-point name (pyproject.toml) of the plugin that provides each.
BUILTIN_ITEMS = [
    ("backbones", "tiny-bert", "tiny-backbones"),
    ("backbones", "tiny-gpt2", "tiny-backbones"),
    ("backbones", "minilm-l6", "minilm"),
    ("head_sets", "ecommerce-seed", "ecommerce-heads"),
    ("domains", "synthetic-ecommerce", "synthetic-ecommerce"),
    ("fairness_metrics", "group-gap", "group-gap"),
]
ACCEPTANCE_FLOOR = {"backbones": 2, "head_sets": 1, "domains": 1, "fairness_metrics": 1}
EXPLODE_MESSAGE = "fixture domain exploded on purpose"
IMPORT_FAILURE_MESSAGE = "fixture plugin import failure on purpose"


@pytest.fixture(autouse=True)
def _plugin_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blocking or failure switches leak in from the caller's environment; no network."""
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    monkeypatch.delenv("MTREC_FIXTURE_FAIL_IMPORT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def mtrec_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``mtrec`` CLI in a fresh interpreter (sees PYTHONPATH set by the fixtures)."""
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mtrec.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.fixture
def mtrec(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI in this process (the conftest's ``cli``), wide and without colour."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    return cli


def listed(listing: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in listing[kind]}


# --------------------------------------------------------------------------------------
# discovered
# --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("with_fixture_plugin")
@pytest.mark.parametrize(("kind", "name"), FIXTURE_ITEMS)
def test_fixture_items_are_discovered_and_attributed(kind: str, name: str) -> None:
    host = PluginHost()
    assert name in getattr(host.registries, kind)
    provider = host.provider_of(kind, name)
    assert (provider.plugin, provider.distribution, provider.version) == (
        FIXTURE_PLUGIN,
        FIXTURE_DIST,
        FIXTURE_VERSION,
    )


@pytest.mark.usefixtures("with_fixture_plugin")
def test_fixture_plugin_is_listed_as_loaded() -> None:
    host = PluginHost()
    loaded = {plugin.name: plugin for plugin in host.loaded}
    fixture = loaded[FIXTURE_PLUGIN]
    assert (fixture.distribution, fixture.version, fixture.module) == (
        FIXTURE_DIST,
        FIXTURE_VERSION,
        "mtrec_fixture_plugin",
    )


@pytest.mark.usefixtures("with_fixture_plugin")
@pytest.mark.parametrize(("kind", "name", "plugin"), BUILTIN_ITEMS)
def test_builtin_items_are_attributed_to_their_entry_points(
    kind: str, name: str, plugin: str
) -> None:
    host = PluginHost()
    provider = host.provider_of(kind, name)
    assert provider.plugin == plugin
    assert provider.distribution == "mtrec-harness"
    assert provider.version


def test_builtin_plugin_names_are_the_pyproject_entry_points() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = pyproject["project"]["entry-points"]["mtrec"]
    assert {plugin for _, _, plugin in BUILTIN_ITEMS} <= set(entry_points)


def test_fixture_plugin_is_not_importable_without_install() -> None:
    """The plugin is only reachable through the installed copy (not the source tree)."""
    assert "mtrec_fixture_plugin" not in sys.modules
    host = PluginHost()
    assert "fixture-bert" not in host.registries.backbones
    assert FIXTURE_PLUGIN not in {plugin.name for plugin in host.loaded}


# --------------------------------------------------------------------------------------
# listed
# --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("with_fixture_plugin")
def test_plugins_json_lists_fixture_items_with_plugin_and_version() -> None:
    # A fresh interpreter finds the installed third-party plugin through its entry point.
    done = mtrec_process("plugins", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    for kind, name in FIXTURE_ITEMS:
        item = listed(listing, kind)[name]
        assert (item["plugin"], item["distribution"], item["version"]) == (
            FIXTURE_PLUGIN,
            FIXTURE_DIST,
            FIXTURE_VERSION,
        )
    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    assert plugins[FIXTURE_PLUGIN]["version"] == FIXTURE_VERSION
    assert listing["blocked"] == []
    # The acceptance floor: enough of every kind to run a real sweep.
    for kind, floor in ACCEPTANCE_FLOOR.items():
        assert len(listing[kind]) >= floor, kind


@pytest.mark.usefixtures("with_fixture_plugin")
def test_plugins_json_details_of_fixture_items() -> None:
    listing = plugin_listing(PluginHost())
    backbone = listed(listing, "backbones")["fixture-bert"]
    assert (backbone["family"], backbone["pooling"], backbone["pretrained"]) == (
        "encoder",
        "cls",
        False,
    )
    assert backbone["unavailable"] is None
    heads = listed(listing, "head_sets")["fixture-heads"]["heads"]
    assert [(h["task"], h["type"], h["loss"]) for h in heads] == [
        ("click", "binary", "bce"),
        ("rating", "regression", "mse"),
    ]
    domain = listed(listing, "domains")["fixture-domain"]
    assert domain["label_fields"] == ["click", "rating"]
    assert domain["sensitive_attributes"] == ["group"]
    assert listed(listing, "fairness_metrics")["fixture-metric"]["scope"] == "group"


@pytest.mark.usefixtures("with_fixture_plugin")
def test_plugins_table_shows_fixture_item_and_version(mtrec: Cli) -> None:
    done = mtrec("plugins")
    assert done.returncode == 0, done.stderr
    assert "fixture-bert" in done.stdout
    assert f"{FIXTURE_DIST} {FIXTURE_VERSION}" in done.stdout


# --------------------------------------------------------------------------------------
# blockable
# --------------------------------------------------------------------------------------


def _assert_fixture_absent(host: PluginHost) -> None:
    for kind, name in FIXTURE_ITEMS:
        assert name not in getattr(host.registries, kind), name
    assert FIXTURE_PLUGIN not in {plugin.name for plugin in host.loaded}
    assert FIXTURE_PLUGIN in host.blocked
    # Blocking one plugin leaves the others alone.
    assert "tiny-bert" in host.registries.backbones


@pytest.mark.usefixtures("with_fixture_plugin")
def test_block_by_argument() -> None:
    _assert_fixture_absent(PluginHost(blocked=[FIXTURE_PLUGIN]))


@pytest.mark.usefixtures("with_fixture_plugin")
@pytest.mark.parametrize("value", ["fixture", " other , fixture "])
def test_block_by_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(BLOCK_ENV, value)
    _assert_fixture_absent(PluginHost())


@pytest.mark.usefixtures("with_fixture_plugin")
def test_blocked_plugin_is_not_even_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTREC_FIXTURE_FAIL_IMPORT", "1")
    _assert_fixture_absent(PluginHost(blocked=[FIXTURE_PLUGIN]))


@pytest.mark.usefixtures("with_fixture_plugin")
def test_block_by_cli_flag(mtrec: Cli) -> None:
    done = mtrec("--block-plugin", FIXTURE_PLUGIN, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    for kind, name in FIXTURE_ITEMS:
        assert name not in listed(listing, kind)
    assert listing["blocked"] == [FIXTURE_PLUGIN]
    assert "tiny-bert" in listed(listing, "backbones")


# --------------------------------------------------------------------------------------
# errors name the plugin
# --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("with_fixture_plugin")
def test_import_error_names_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTREC_FIXTURE_FAIL_IMPORT", "1")
    with pytest.raises(PluginError) as caught:
        PluginHost()
    message = str(caught.value)
    for part in (f"'{FIXTURE_PLUGIN}'", FIXTURE_DIST, IMPORT_FAILURE_MESSAGE):
        assert part in message
    assert caught.value.exit_code == 2


@pytest.mark.usefixtures("with_fixture_plugin")
def test_cli_reports_import_error_in_one_line(monkeypatch: pytest.MonkeyPatch, mtrec: Cli) -> None:
    monkeypatch.setenv("MTREC_FIXTURE_FAIL_IMPORT", "1")
    done = mtrec("plugins")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"plugin '{FIXTURE_PLUGIN}'" in lines[0]
    assert IMPORT_FAILURE_MESSAGE in lines[0]
    assert "Traceback" not in done.stderr


def plugin_with(hook_name: str, function: Callable[..., Any]) -> SimpleNamespace:
    """An in-memory plugin object implementing one hook."""
    return SimpleNamespace(**{hook_name: hookimpl(function)})


def _backbone(name: str) -> BackboneSpec:
    def load() -> Any:
        raise AssertionError("never loaded in these tests")

    return BackboneSpec(name=name, family=Family.ENCODER, pooling=Pooling.CLS, load=load)


def _head_set(name: str) -> HeadSetSpec:
    head = HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce")
    return HeadSetSpec(name=name, heads=(head,))


def _domain(name: str) -> DomainSpec:
    def load(*, seed: int = 0) -> Any:
        raise AssertionError("never loaded in these tests")

    return DomainSpec(name=name, load=load, label_fields=("click",), sensitive_attributes=())


def _metric(name: str) -> FairnessMetricSpec:
    return FairnessMetricSpec(name=name, scope="group", compute=lambda context: {})


KINDS = [
    pytest.param("backbone", "mtrec_register_backbones", _backbone, id="backbone"),
    pytest.param("head set", "mtrec_register_head_sets", _head_set, id="head-set"),
    pytest.param("domain", "mtrec_register_domains", _domain, id="domain"),
    pytest.param("fairness metric", "mtrec_register_fairness_metrics", _metric, id="metric"),
]


@pytest.mark.parametrize(("kind", "hook_name", "make"), KINDS)
def test_duplicate_names_name_both_plugins(
    kind: str, hook_name: str, make: Callable[[str], Any]
) -> None:
    first = plugin_with(hook_name, lambda: [make("dup")])
    second = plugin_with(hook_name, lambda: [make("dup")])
    with pytest.raises(PluginError) as caught:
        PluginHost(load_entry_points=False, extra_plugins=[("a", first), ("b", second)])
    message = str(caught.value)
    assert f"{kind} 'dup'" in message
    assert "plugin 'a'" in message
    assert "plugin 'b'" in message


def test_duplicate_of_a_builtin_names_the_builtin_distribution() -> None:
    shadow = plugin_with("mtrec_register_domains", lambda: [_domain("synthetic-ecommerce")])
    with pytest.raises(PluginError) as caught:
        PluginHost(extra_plugins=[("shadow", shadow)])
    message = str(caught.value)
    assert "domain 'synthetic-ecommerce'" in message
    assert "plugin 'shadow'" in message
    assert "plugin 'synthetic-ecommerce' (mtrec-harness " in message


def test_duplicate_names_can_be_resolved_by_blocking() -> None:
    first = plugin_with("mtrec_register_domains", lambda: [_domain("dup")])
    second = plugin_with("mtrec_register_domains", lambda: [_domain("dup")])
    host = PluginHost(
        load_entry_points=False, blocked=["b"], extra_plugins=[("a", first), ("b", second)]
    )
    assert host.provider_of("domains", "dup").plugin == "a"


@pytest.mark.parametrize(("kind", "hook_name", "make"), KINDS)
def test_registration_hook_that_raises_names_plugin_and_hook(
    kind: str, hook_name: str, make: Callable[[str], Any]
) -> None:
    def broken() -> list[Any]:
        raise ValueError("registration broke")

    fine = plugin_with(hook_name, lambda: [make("ok")])
    plugins = [("fine", fine), ("broken", plugin_with(hook_name, broken))]
    with pytest.raises(PluginError) as caught:
        PluginHost(load_entry_points=False, extra_plugins=plugins)
    message = str(caught.value)
    assert "plugin 'broken'" in message
    assert hook_name in message
    assert "ValueError: registration broke" in message
    assert "'fine'" not in message


@pytest.mark.parametrize(
    ("hook_name", "returned", "expected"),
    [
        ("mtrec_register_backbones", _head_set("x"), "BackboneSpec"),
        ("mtrec_register_head_sets", _domain("x"), "HeadSetSpec"),
        ("mtrec_register_domains", {"name": "x"}, "DomainSpec"),
        ("mtrec_register_fairness_metrics", _backbone("x"), "FairnessMetricSpec"),
    ],
)
def test_wrong_type_names_plugin_hook_and_expected_type(
    hook_name: str, returned: Any, expected: str
) -> None:
    wrong = plugin_with(hook_name, lambda: [returned])
    with pytest.raises(PluginError) as caught:
        PluginHost(load_entry_points=False, extra_plugins=[("wrong", wrong)])
    message = str(caught.value)
    assert "plugin 'wrong'" in message
    assert hook_name in message
    assert f"expected {expected}" in message
    assert type(returned).__name__ in message


def test_item_without_name_names_plugin() -> None:
    nameless = plugin_with("mtrec_register_domains", lambda: [_domain("")])
    with pytest.raises(PluginError, match="plugin 'nameless' registered a domain without a name"):
        PluginHost(load_entry_points=False, extra_plugins=[("nameless", nameless)])


def test_hook_with_unknown_argument_names_plugin() -> None:
    def before(key: str, config: Any, surprise: int) -> None:
        pass

    odd = plugin_with("mtrec_before_combination", before)
    with pytest.raises(PluginError) as caught:
        PluginHost(load_entry_points=False, extra_plugins=[("odd", odd)])
    assert "plugin 'odd'" in str(caught.value)
    assert "surprise" in str(caught.value)


def test_plugin_name_registered_twice_is_an_error() -> None:
    one = plugin_with("mtrec_register_domains", lambda: [_domain("one")])
    two = plugin_with("mtrec_register_domains", lambda: [_domain("two")])
    with pytest.raises(PluginError, match="plugin 'same'"):
        PluginHost(load_entry_points=False, extra_plugins=[("same", one), ("same", two)])


# --------------------------------------------------------------------------------------
# sweeps through the fixture plugin
# --------------------------------------------------------------------------------------

SUITE_YAML = """
name: fixture-sweep
seeds: [0]
backbones: [fixture-bert]
head_sets: [fixture-heads]
domains:
{domains}
training:
  epochs: 1
  batch_size: 16
  eval_batch_size: 32
  lr: 0.001
  patience: 0
  max_length: 32
measure:
  latency_batch_sizes: [4]
  latency_warmup: 0
  latency_min_repeats: 1
  latency_min_seconds: 0.0
  flops: false
"""
OK_DOMAIN = "  - name: fixture-domain"
EXPLODING_DOMAIN = "  - {name: fixture-domain, options: {explode: true}}"
NOT_EXPLODING_DOMAIN = "  - {name: fixture-domain, options: {explode: false}}"


def sweep(host: PluginHost, out: Path, *domains: str) -> SweepResult:
    suite = parse_suite(
        SUITE_YAML.format(domains="\n".join(domains)), origin="t.yaml", source="file"
    )
    return run_sweep(suite, host, out, device="cpu")


@pytest.mark.usefixtures("with_fixture_plugin")
def test_error_inside_plugin_names_it_and_sweep_goes_on(tmp_path: Path) -> None:
    result = sweep(PluginHost(), tmp_path / "run", EXPLODING_DOMAIN)
    (record,) = result.document["records"]
    assert record["status"] == "failed"
    error = record["error"]
    assert "domain 'fixture-domain'" in error
    assert f"plugin '{FIXTURE_PLUGIN}' ({FIXTURE_DIST} {FIXTURE_VERSION})" in error
    assert f"RuntimeError: {EXPLODE_MESSAGE}" in error
    written = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert written["records"][0]["error"] == error


@pytest.mark.usefixtures("with_fixture_plugin")
def test_sweep_with_fixture_plugin_succeeds(tmp_path: Path) -> None:
    result = sweep(PluginHost(), tmp_path / "run", OK_DOMAIN)
    (record,) = result.document["records"]
    assert record["status"] == "ok", record["error"]
    assert set(record["metrics"]) == {"click", "rating"}
    assert record["fairness"]["fixture-metric"] == {"n_tasks": 2, "rows": 20}
    assert "group-gap" in record["fairness"]  # every registered metric runs by default
    assert set(record["fairness"]["group-gap"]["click"]) == {"group"}
    assert (tmp_path / "run" / "results.json").is_file()
    written = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert written["records"][0]["status"] == "ok"
    fixture = {p["name"]: p for p in written["plugins"]}[FIXTURE_PLUGIN]
    assert (fixture["distribution"], fixture["version"]) == (FIXTURE_DIST, FIXTURE_VERSION)


@pytest.mark.usefixtures("with_fixture_plugin")
def test_every_fixture_kind_runs_in_one_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture's architecture, loss weighting, executor, tracker and lifecycle hooks, as a
    user would pick them in a suite, around one combination that trains and one that fails."""
    events = tmp_path / "events.txt"
    monkeypatch.setenv("MTREC_FIXTURE_EVENTS", str(events))
    text = SUITE_YAML.format(domains=f"{OK_DOMAIN}\n{EXPLODING_DOMAIN}")
    text = text.replace(
        "training:\n",
        "training:\n  architecture: fixture-tower\n  architecture_options: {width: 4}\n"
        "  loss_weighting: fixture-half\n",
    )
    suite = parse_suite(text + "trackers: [fixture-tracker]\n", origin="t.yaml", source="file")
    out = tmp_path / "run"
    result = run_sweep(suite, PluginHost(), out, device="cpu", executor="fixture-reversed")
    ok, failed = result.document["records"]  # in matrix order
    assert (ok["status"], failed["status"]) == ("ok", "failed"), ok["error"]
    assert ok["config"]["training"]["architecture"] == "fixture-tower"
    assert [entry["task_weights"] for entry in ok["training"]["history"]] == [
        {"click": 0.5, "rating": 0.5}
    ]
    tracked = (out / "fixture-tracker.jsonl").read_text(encoding="utf-8").splitlines()
    # The reversed executor ran the second combination first.
    assert [(json.loads(line)["key"], json.loads(line)["status"]) for line in tracked] == [
        (failed["key"], "failed"),
        (ok["key"], "ok"),
    ]
    lines = [line.split() for line in events.read_text(encoding="utf-8").splitlines()]
    assert [(hook, key) for hook, key, _ in lines] == [
        ("before", failed["key"]),
        ("error", failed["key"]),
        ("after", failed["key"]),
        ("before", ok["key"]),
        ("after", ok["key"]),
    ]
    assert {int(pid) for _, _, pid in lines} == {os.getpid()}  # local: all in this process


# --------------------------------------------------------------------------------------
# lifecycle hooks
# --------------------------------------------------------------------------------------


class Recorder:
    """A lifecycle plugin that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    @hookimpl
    def mtrec_before_combination(self, key: str, config: Any) -> None:
        self.calls.append(("before", key, dict(config)))

    @hookimpl
    def mtrec_after_combination(self, key: str, record: Any) -> None:
        self.calls.append(("after", key, dict(record)))

    @hookimpl
    def mtrec_on_combination_error(self, key: str, error: BaseException) -> None:
        # Asks for a subset of the arguments, as pluggy allows.
        self.calls.append(("error", key, error))


class Bomb:
    """A lifecycle plugin whose before_combination raises for one domain option set."""

    @hookimpl
    def mtrec_before_combination(self, config: Any) -> None:
        if config["domain"]["options"].get("explode"):
            raise RuntimeError("bomb went off")


class Grumpy:
    """A lifecycle plugin whose notification hooks raise."""

    @hookimpl
    def mtrec_after_combination(self, key: str) -> None:
        raise RuntimeError("after hook broke")

    @hookimpl
    def mtrec_on_combination_error(self, key: str) -> None:
        raise RuntimeError("error hook broke")


@pytest.mark.usefixtures("with_fixture_plugin")
def test_lifecycle_hooks_see_every_combination(tmp_path: Path) -> None:
    recorder = Recorder()
    host = PluginHost(extra_plugins=[("recorder", recorder)])
    result = sweep(host, tmp_path / "run", OK_DOMAIN, EXPLODING_DOMAIN)
    ok, failed = result.document["records"]
    assert (ok["status"], failed["status"]) == ("ok", "failed")
    assert [(event, key) for event, key, _ in recorder.calls] == [
        ("before", ok["key"]),
        ("after", ok["key"]),
        ("before", failed["key"]),
        ("error", failed["key"]),
        ("after", failed["key"]),
    ]
    before_ok, after_ok, before_failed, error, after_failed = (c[2] for c in recorder.calls)
    assert before_ok == ok["config"]
    assert before_failed["domain"]["options"] == {"explode": True}
    assert after_ok["status"] == "ok"
    assert after_failed == failed
    assert isinstance(error, CombinationError)
    assert EXPLODE_MESSAGE in str(error)


@pytest.mark.usefixtures("with_fixture_plugin")
def test_before_combination_that_raises_fails_only_that_combination(tmp_path: Path) -> None:
    recorder = Recorder()
    host = PluginHost(extra_plugins=[("recorder", recorder), ("bomb", Bomb())])
    # The bomb fails the first combination; the second still runs, and succeeds.
    result = sweep(host, tmp_path / "run", EXPLODING_DOMAIN, NOT_EXPLODING_DOMAIN)
    bombed, second = result.document["records"]
    assert bombed["status"] == "failed"
    assert "plugin 'bomb'" in bombed["error"]
    assert "mtrec_before_combination" in bombed["error"]
    assert "RuntimeError: bomb went off" in bombed["error"]
    assert EXPLODE_MESSAGE not in bombed["error"]  # the combination itself never started
    assert second["status"] == "ok", second["error"]
    events = [(event, key) for event, key, _ in recorder.calls]
    assert ("error", bombed["key"]) in events
    assert ("before", second["key"]) in events


@pytest.mark.usefixtures("with_fixture_plugin")
def test_failing_notification_hooks_only_warn(tmp_path: Path) -> None:
    host = PluginHost(extra_plugins=[("grumpy", Grumpy())])
    with pytest.warns(UserWarning) as warned:
        result = sweep(host, tmp_path / "run", EXPLODING_DOMAIN)
    (record,) = result.document["records"]
    assert record["status"] == "failed"
    assert EXPLODE_MESSAGE in record["error"]  # the record is unchanged by the hooks
    messages = [str(w.message) for w in warned]
    assert any(
        "plugin 'grumpy'" in m and "mtrec_on_combination_error" in m and "error hook broke" in m
        for m in messages
    )
    assert any(
        "plugin 'grumpy'" in m and "mtrec_after_combination" in m and "after hook broke" in m
        for m in messages
    )


# --------------------------------------------------------------------------------------
# ordering and blocking of in-memory plugins
# --------------------------------------------------------------------------------------


def test_lifecycle_hooks_run_in_registration_order() -> None:
    order: list[str] = []

    def make(name: str) -> SimpleNamespace:
        return plugin_with("mtrec_before_combination", lambda key: order.append(name))

    host = PluginHost(load_entry_points=False, extra_plugins=[("a", make("a")), ("b", make("b"))])
    host.before_combination("key", {})
    assert order == ["a", "b"]


def test_blocked_extra_plugin_is_not_listed_as_loaded() -> None:
    plugin = plugin_with("mtrec_register_domains", lambda: [_domain("blocked-domain")])
    host = PluginHost(load_entry_points=False, blocked=["a"], extra_plugins=[("a", plugin)])
    assert "blocked-domain" not in host.registries.domains  # this part holds today
    assert [p.name for p in host.loaded] == []


# --------------------------------------------------------------------------------------
# documentation is tested
# --------------------------------------------------------------------------------------

HOOKSPECS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")
)


def test_hookspecs_are_found() -> None:
    assert len(HOOKSPECS) == 13
    assert {
        "mtrec_register_update_strategies",
        "mtrec_register_backbones",
        "mtrec_register_head_sets",
        "mtrec_register_domains",
        "mtrec_register_fairness_metrics",
        "mtrec_register_architectures",
        "mtrec_register_loss_weightings",
        "mtrec_register_executors",
        "mtrec_register_trackers",
        "mtrec_register_explainers",
        "mtrec_before_combination",
        "mtrec_after_combination",
        "mtrec_on_combination_error",
    } == set(HOOKSPECS)


@pytest.mark.parametrize("hook_name", HOOKSPECS)
def test_hookspec_documents_every_parameter(hook_name: str) -> None:
    hook = getattr(hookspecs, hook_name)
    doc = inspect.getdoc(hook)
    assert doc, f"{hook_name} has no docstring"
    for parameter in inspect.signature(hook).parameters:
        assert f":param {parameter}:" in doc, f"{hook_name} does not document '{parameter}'"


def test_misspelt_hook_name_is_an_error_naming_the_plugin() -> None:
    plugin = plugin_with("mtrec_register_domain", lambda: [_domain("x")])
    with pytest.raises(PluginError, match=r"plugin 'typo'.*unknown hook.*mtrec_register_domain"):
        PluginHost(load_entry_points=False, extra_plugins=[("typo", plugin)])


def test_hook_wrappers_are_refused() -> None:
    def wrapper() -> Any:
        yield

    plugin = SimpleNamespace(mtrec_register_domains=hookimpl(wrapper=True)(wrapper))
    with pytest.raises(PluginError, match=r"plugin 'wrap'.*hook wrappers"):
        PluginHost(load_entry_points=False, extra_plugins=[("wrap", plugin)])


def test_one_plugin_name_from_two_distributions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second distribution whose entry point reuses a built-in's plugin name.
    dist_info = tmp_path / "impostor-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[mtrec]\nminilm = impostor_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(PluginError, match=r"'minilm' is declared by two distributions.*impostor"):
        PluginHost()
