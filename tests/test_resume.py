"""``--resume``: finished combinations are never computed twice, and nothing is lost.

The kill test starts ``mtrec run`` as a real process group, ``kill -9``s it once at least two
records are stored, then resumes into the same folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mtrec import DomainSpec, hookimpl
from mtrec.config import parse_suite
from mtrec.errors import UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run import combination as combination_module
from mtrec.run.runner import run_sweep
from mtrec.store.database import Store
from mtrec.store.results import validate_results

FAST = """
training: {epochs: 1, batch_size: 32}
fairness_metrics: []
measure: {latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}
"""
SUITE = (
    """
name: resumable
backbones: [tiny-bert, {name: id-embedding, options: {dim: 8}}]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, n_interactions: 150}}]
"""
    + FAST
)
# Six quick combinations (id-embedding only) for the kill test.
SIX = (
    """
name: six
seeds: [0, 1, 2]
backbones: [{name: id-embedding, options: {dim: 8}}, {name: id-embedding, options: {dim: 16}}]
head_sets: [ecommerce-seed]
domains: [{name: synthetic-ecommerce, options: {n_users: 30, n_items: 30, n_interactions: 150}}]
"""
    + FAST
)

SIX_ONE = SIX.replace("seeds: [0, 1, 2]", "seeds: [0]").replace(
    ", {name: id-embedding, options: {dim: 16}}", ""
)


def suite(text: str) -> Any:
    return parse_suite(text, origin="test.yaml", source="file")


def forbid_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def counted(combination: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(combination.key)
        raise AssertionError("a finished combination was computed again")

    monkeypatch.setattr(combination_module, "run_combination", counted)
    return calls


def test_resume_from_the_store_retrains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "runs.sqlite")
    first = run_sweep(suite(SUITE), PluginHost(), tmp_path / "first", device="cpu", store=store)
    assert [r["status"] for r in first.document["records"]] == ["ok", "ok"]
    assert len(first.ran) == 2

    calls = forbid_training(monkeypatch)
    second = run_sweep(
        suite(SUITE), PluginHost(), tmp_path / "second", device="cpu", store=store, resume=True
    )
    assert calls == [] and second.ran == []
    assert second.resumed == [r["key"] for r in first.document["records"]]
    document = json.loads((tmp_path / "second" / "results.json").read_text())
    validate_results(document)
    for before, after in zip(first.document["records"], document["records"], strict=True):
        assert after["resumed_from"] == first.document["run_id"]
        assert after["metrics"] == before["metrics"]
        for name in after["predictions"].values():
            copied = tmp_path / "second" / "predictions" / name
            assert copied.read_bytes() == (tmp_path / "first" / "predictions" / name).read_bytes()
    runs = {run["name"]: run for run in store.runs()}
    assert runs["second"]["ok"] == 2 and runs["second"]["finished"] is not None


def test_without_resume_or_with_another_suite_a_used_folder_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite")
    run_sweep(suite(SIX), PluginHost(), tmp_path / "run", device="cpu", store=store)
    with pytest.raises(UsageError, match="add --resume"):
        run_sweep(suite(SIX), PluginHost(), tmp_path / "run", device="cpu", store=store)
    with pytest.raises(UsageError, match="different suite configuration"):
        run_sweep(
            suite(SIX.replace("seeds: [0, 1, 2]", "seeds: [5]")),
            PluginHost(),
            tmp_path / "run",
            device="cpu",
            store=store,
            resume=True,
        )
    # --resume reads the folder through the one results reader, with its messages.
    results = tmp_path / "run" / "results.json"
    document = json.loads(results.read_text(encoding="utf-8"))
    for text, problem in (
        ("{not json", "not valid JSON"),
        (json.dumps({**document, "schema_version": 99}), "schema_version: 99 is not one"),
    ):
        results.write_text(text, encoding="utf-8")
        with pytest.raises(UsageError, match=f"^--resume: {results}: {problem}"):
            run_sweep(suite(SIX), PluginHost(), tmp_path / "run", device="cpu", resume=True)


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    suite_file = tmp_path / "six.yaml"
    suite_file.write_text(SIX)
    out, store_path = tmp_path / "run", tmp_path / "runs.sqlite"
    command = [
        sys.executable, "-m", "mtrec.cli", "run", str(suite_file), "--out", str(out),
        "--store", str(store_path), "--device", "cpu", "--quiet",
    ]  # fmt: skip
    sweep = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed whole below
    )
    store = Store(store_path)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and sweep.poll() is None:
            if store_path.is_file() and len(store.records()) >= 2:
                break
            time.sleep(0.05)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    killed_with = len(store.records())
    assert 2 <= killed_with < 6, "the sweep must be killed mid-way"
    before = {r["key"]: r["record_id"] for r in store.records()}

    resumed = subprocess.run(
        [*command, "--resume"], capture_output=True, text=True, timeout=300, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    document = json.loads((out / "results.json").read_text())
    validate_results(document)
    keys = [r["key"] for r in document["records"]]
    assert len(keys) == 6 and len(set(keys)) == 6
    assert all(r["status"] == "ok" for r in document["records"])
    records = store.records()
    assert len(records) == 6 and len({r["record_id"] for r in records}) == 6
    assert {r["key"] for r in records} == set(keys)
    # The combinations stored before the kill were not computed again: same record ids.
    ids = {r["key"]: r["record_id"] for r in document["records"]}
    assert all(ids[key] == record_id for key, record_id in before.items())
    assert [run["run_id"] for run in store.runs()] == [document["run_id"]]
    assert store.integrity() == "ok"
    for record in document["records"]:
        for name in record["predictions"].values():
            assert (out / "predictions" / name).is_file()


# --------------------------------------------------------------------------------------
# the resume fingerprint: other code or other data -> computed again, and the record says why
# --------------------------------------------------------------------------------------

# This module is also a plugin: domain ``drifting-shop`` returns other labels when
# DRIFT["label_noise"] changes, as a plugin's new data release (same config, same key) would.
DRIFT = {"label_noise": 0.0}


def load_drifting(*, seed: int = 0, n_users: int = 30, n_items: int = 30) -> Any:
    from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce

    return load_synthetic_ecommerce(
        seed=seed,
        n_users=n_users,
        n_items=n_items,
        n_interactions=150,
        label_noise=DRIFT["label_noise"],
    )


def _ecommerce_context() -> tuple[str, ...]:
    from mtrec.plugins import synthetic_ecommerce

    (spec,) = synthetic_ecommerce.mtrec_register_domains()
    return spec.context_fields


@hookimpl
def mtrec_register_domains() -> list[DomainSpec]:
    return [
        DomainSpec(
            name="drifting-shop",
            load=load_drifting,
            label_fields=("category", "rating", "click"),
            sensitive_attributes=("age_group",),
            context_fields=_ecommerce_context(),  # the scene synthetic-ecommerce records
            description="test: a shop whose data changes between runs",
        )
    ]


DRIFTING = (
    """
name: drifting
backbones: [{name: id-embedding, options: {dim: 8}}]
head_sets: [ecommerce-seed]
domains: [drifting-shop]
"""
    + FAST
)


def drifting_host() -> PluginHost:
    return PluginHost(extra_plugins=[("drifting", sys.modules[__name__])])


def test_resume_reuses_only_records_of_the_same_code_and_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DRIFT, "label_noise", 0.0)
    store = Store(tmp_path / "runs.sqlite")
    first = run_sweep(suite(DRIFTING), drifting_host(), tmp_path / "a", device="cpu", store=store)
    [original] = first.document["records"]
    assert original["status"] == "ok"
    assert set(original["fingerprint"]) == {"code", "data", "versions"}
    assert original["fingerprint"]["versions"]["domain"].startswith("drifting: test_resume.py")

    # Unchanged: copied in, and the record says so.
    same = run_sweep(
        suite(DRIFTING), drifting_host(), tmp_path / "b", device="cpu", store=store, resume=True
    )
    assert same.ran == [] and same.resumed == [original["key"]]
    [copied] = same.document["records"]
    assert copied["resume"]["reused"] is True
    assert copied["resume"]["earlier_run_id"] == first.document["run_id"]
    assert copied["metrics"] == original["metrics"]

    # The domain's plugin now returns other labels under the same config: trained again.
    monkeypatch.setitem(DRIFT, "label_noise", 0.9)
    drifted = run_sweep(
        suite(DRIFTING), drifting_host(), tmp_path / "c", device="cpu", store=store, resume=True
    )
    assert drifted.resumed == [] and drifted.ran == [original["key"]]
    [fresh] = drifted.document["records"]
    assert fresh["key"] == original["key"] and "resumed_from" not in fresh
    assert fresh["resume"]["reused"] is False
    assert "domain data changed" in fresh["resume"]["reason"]
    assert fresh["fingerprint"]["data"] != original["fingerprint"]["data"]
    assert fresh["fingerprint"]["code"] == original["fingerprint"]["code"]
    assert fresh["metrics"] != original["metrics"]  # what reusing would have hidden

    # A new mtrec release: trained again too, even with the first run's data back.
    monkeypatch.setitem(DRIFT, "label_noise", 0.0)
    monkeypatch.setattr("mtrec.version.__version__", "99.0.0")
    upgraded = run_sweep(
        suite(DRIFTING), drifting_host(), tmp_path / "d", device="cpu", store=store, resume=True
    )
    assert upgraded.resumed == [] and upgraded.ran == [original["key"]]
    reason = upgraded.document["records"][0]["resume"]["reason"]
    assert "code changed (mtrec 0.1.0 -> 99.0.0)" in reason, reason


def test_a_new_plugin_release_is_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "runs.sqlite")
    first = run_sweep(suite(SIX_ONE), PluginHost(), tmp_path / "a", device="cpu", store=store)
    [original] = first.document["records"]

    host = PluginHost()
    real = host.provider_of

    def released(kind: str, name: str) -> Any:
        provider = real(kind, name)
        if kind == "backbones":
            return dataclasses.replace(provider, version="0.2.0")
        return provider

    monkeypatch.setattr(host, "provider_of", released)
    again = run_sweep(suite(SIX_ONE), host, tmp_path / "b", device="cpu", store=store, resume=True)
    assert again.resumed == [] and again.ran == [original["key"]]
    reason = again.document["records"][0]["resume"]["reason"]
    assert "code changed (backbone baselines: mtrec-harness 0.1.0 -> " in reason, reason
    assert "0.2.0" in reason


def test_resume_in_place_recomputes_records_of_other_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DRIFT, "label_noise", 0.0)
    out = tmp_path / "run"
    first = run_sweep(suite(DRIFTING), drifting_host(), out, device="cpu")
    [original] = first.document["records"]
    monkeypatch.setitem(DRIFT, "label_noise", 0.9)
    again = run_sweep(suite(DRIFTING), drifting_host(), out, device="cpu", resume=True)
    assert again.ran == [original["key"]]
    [fresh] = json.loads((out / "results.json").read_text())["records"]
    assert fresh["record_id"] != original["record_id"]
    assert fresh["resume"]["reused"] is False
    assert "an earlier attempt of this run: domain data changed" in fresh["resume"]["reason"]
    kept = run_sweep(suite(DRIFTING), drifting_host(), out, device="cpu", resume=True)
    assert kept.ran == []
    assert kept.document["records"][0]["resume"]["reused"] is True
