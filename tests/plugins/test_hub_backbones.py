"""``hf:<id or folder>`` and the named hub backbones, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtrec.config import parse_suite
from mtrec.errors import UnknownNameError
from mtrec.plugin_host import PluginHost
from mtrec.plugins.tiny_backbones import _bert_config, build_tiny
from mtrec.run.runner import run_sweep


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


def test_named_hub_backbone_not_cached_fails_its_combination_only(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = parse_suite(
        "name: hub\nbackbones: [bert-base-uncased, tiny-bert]\nhead_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 120}}]\n"
        "training: {epochs: 1}\nmeasure: {latency_min_repeats: 1, latency_min_seconds: 0}\n",
        origin="hub.yaml",
        source="file",
    )
    result = run_sweep(suite, host, tmp_path / "run", device="cpu")
    statuses = {r["backbone"]: (r["status"], r["error"]) for r in result.document["records"]}
    assert statuses["tiny-bert"] == ("ok", None)
    status, error = statuses["bert-base-uncased"]
    assert status == "failed"
    assert "not in the local cache" in error and "HF_HOME" in error


def test_hf_prefix_loads_a_local_checkpoint(host: PluginHost, tmp_path: Path) -> None:
    folder = build_tiny("hf-test", _bert_config, root=tmp_path / "models")
    name = f"hf:{folder}"
    assert name in host.registries.backbones
    spec = host.registries.backbones.get(name)
    assert spec.name == name
    assert spec.available() is None
    provider = host.registries.backbones.entry(name).provider
    assert provider.plugin == "hub-backbones"
    suite = parse_suite(
        f"name: hf\nbackbones: [{{name: '{name}', training: {{lr: 0.001}}}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 120}}]\n"
        "training: {epochs: 1}\nmeasure: {latency_min_repeats: 1, latency_min_seconds: 0}\n",
        origin="hf.yaml",
        source="file",
    )
    result = run_sweep(suite, host, tmp_path / "run", device="cpu")
    assert [r["status"] for r in result.document["records"]] == ["ok"]


def test_hf_missing_folder_and_unknown_family(host: PluginHost, tmp_path: Path) -> None:
    spec = host.registries.backbones.get(f"hf:{tmp_path}")
    assert "config.json" in (spec.available() or "")
    assert host.registries.backbones.get("hf:").available() is not None  # the family itself
    with pytest.raises(UnknownNameError):
        host.registries.backbones.get("hx:whatever")


def test_remote_code_is_off_by_default(host: PluginHost) -> None:
    import inspect

    load = host.registries.backbones.get("gpt2").load
    assert inspect.signature(load).parameters["trust_remote_code"].default is False
