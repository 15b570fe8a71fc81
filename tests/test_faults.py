"""Fault injection: planted failures end as failed records with the right reason; the sweep
goes on.

This module is itself the test plugin (registered through the PluginHost): backbone
``faulty`` is a tiny ID-embedding model whose ``fault`` option makes it misbehave while
training: raise from the plugin's loader, produce NaN, raise CUDA out-of-memory, kill its own
process or segfault. Process-executor workers load this module again from its file.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from harness import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl
from harness.config import parse_suite
from harness.plugin_host import PluginHost
from harness.runner import run_sweep
from harness.store import Store
from harness.store_cli import failure_summary

PLANTED = "planted plugin failure"


class FaultyEmbeddings(nn.Module):
    """User x item embeddings that fail on purpose in training mode."""

    def __init__(self, fault: str, dim: int, oom_above: int) -> None:
        super().__init__()
        self.fault, self.oom_above = fault, oom_above
        self.users = nn.Embedding(64, dim)
        self.items = nn.Embedding(64, dim)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.users(user_ids % 64) * self.items(item_ids % 64)
        if not self.training:
            return out
        if self.fault == "nan":
            return out * float("nan")
        if self.fault == "oom" and len(user_ids) > self.oom_above:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate 20.00 GiB (planted, batch {len(user_ids)})"
            )
        if self.fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "segv":
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        return out


def load_faulty(fault: str = "none", dim: int = 8, oom_above: int = 0) -> LoadedBackbone:
    if fault == "raise":
        raise RuntimeError(PLANTED)
    return LoadedBackbone(
        model=FaultyEmbeddings(fault, dim, oom_above),
        tokenizer=None,
        hidden_size=dim,
        pooling=Pooling.CLS,
        source="faulty",
    )


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name="faulty",
            family=Family.ID_EMBEDDING,
            pooling=Pooling.CLS,
            load=load_faulty,
            description="test: ID embeddings that fail on purpose",
            pretrained=False,
        )
    ]


def host() -> PluginHost:
    return PluginHost(extra_plugins=[("faults", sys.modules[__name__])])


def suite(backbones: str, extra: str = "") -> Any:
    text = f"""
name: faults
backbones: {backbones}
head_sets: [ecommerce-seed]
domains: [{{name: synthetic-ecommerce, options: {{n_users: 30, n_items: 30, n_interactions: 150}}}}]
training: {{epochs: 1, batch_size: 16}}
fairness_metrics: []
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}}
{extra}
"""
    return parse_suite(text, origin="faults.yaml", source="file")


EXPECTED = {
    "raise": f"backbone 'faulty' (plugin 'faults') raised RuntimeError: {PLANTED}",
    "nan": "non-finite loss at epoch 1 step 1",
    "oom": (
        "CUDA out of memory: CUDA out of memory. Tried to allocate 20.00 GiB (planted, batch 16)"
    ),
    "kill": "worker died with signal 9 (SIGKILL; killed, possibly by the out-of-memory killer)",
    "segv": "worker died with signal 11 (SIGSEGV)",
}


def test_ten_combinations_five_planted_faults(tmp_path: Path) -> None:
    healthy = [f"{{name: faulty, options: {{dim: {dim}}}}}" for dim in (4, 6, 8, 10, 12)]
    planted = [f"{{name: faulty, options: {{fault: {fault}}}}}" for fault in EXPECTED]
    store = Store(tmp_path / "s.sqlite")
    result = run_sweep(
        suite("[" + ", ".join(healthy + planted) + "]"),
        host(),
        tmp_path / "run",
        device="cpu",
        executor="process",
        store=store,
    )
    records = result.document["records"]
    assert len(records) == 10
    assert [r["status"] for r in records] == ["ok"] * 5 + ["failed"] * 5
    reasons = {r["config"]["backbone"]["options"]["fault"]: r["error"] for r in records[5:]}
    assert reasons == EXPECTED
    assert [r["status"] for r in store.records()] == ["ok"] * 5 + ["failed"] * 5
    for record in records[:5]:
        assert record["efficiency"]["peak_memory_mb"] > 0  # measured in the worker
        assert (tmp_path / "run" / "predictions" / record["key"]).is_dir()
    summary = failure_summary(result)
    assert summary[0] == "5 of 10 combinations failed:"
    assert summary[-1] == (
        "  by reason: worker died 2, raised 1, non-finite loss 1, out of memory 1"
    )


def test_out_of_memory_retried_at_half_batch_size(tmp_path: Path) -> None:
    backbones = "[{name: faulty, options: {fault: oom, oom_above: 8}}]"
    failed = run_sweep(suite(backbones), host(), tmp_path / "plain", device="cpu")
    assert failed.document["records"][0]["error"].startswith("CUDA out of memory")
    retried = run_sweep(
        suite(backbones, "oom_retry: true"), host(), tmp_path / "retry", device="cpu"
    )
    record = retried.document["records"][0]
    assert record["status"] == "ok", record["error"]
    assert record["oom_retry"]["batch_size"] == 8
    assert record["key"] == failed.document["records"][0]["key"]  # same combination


@pytest.mark.parametrize("fault", ["nan", "raise"])
def test_in_process_faults_are_recorded_too(tmp_path: Path, fault: str) -> None:
    result = run_sweep(
        suite(f"[{{name: faulty, options: {{fault: {fault}}}}}, faulty]"),
        host(),
        tmp_path / "run",
        device="cpu",
    )
    assert [r["status"] for r in result.document["records"]] == ["failed", "ok"]
    assert result.document["records"][0]["error"] == EXPECTED[fault]
