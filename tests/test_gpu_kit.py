"""The GPU kit (benchmarks/gpu/run_kit.py) end to end with ``--device cpu``: the same code
paths as on a GPU at tiny sizes, in a fresh interpreter, so the check that it imports nothing
the device machine lacks (pydantic, jsonschema, fairlearn) means something."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

KIT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "run_kit.py"


@functools.cache
def _kit() -> Any:
    spec = importlib.util.spec_from_file_location("mtrec_gpu_kit", KIT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("kit")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(KIT), "--device", "cpu", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    written: dict[str, Any] = json.loads((out / "gpu_kit.json").read_text())
    assert json.loads(done.stdout) == written  # the printed summary is the written one
    return written


@pytest.mark.slow  # one kit run, about 10 s on a quiet core
def test_kit_runs_every_part_on_the_cpu(summary: dict[str, Any]) -> None:
    assert summary["ok"] and summary["problems"] == []
    assert summary["forbidden_imports"] == []
    train = summary["bert_base_train"]
    assert train["samples_per_s"] > 0 and train["train_flops_per_sample"] > 0
    assert (
        len(train["losses"]) == summary["sizes"]["warmup_steps"] + summary["sizes"]["train_steps"]
    )
    assert train["mfu"] is None and train["peak_bf16_tflops"] is None  # no GPU peak on a CPU
    inference = summary["bert_base_inference"]
    for batch in ("batch_1", "batch_64"):
        assert 0 < inference[batch]["p50_ms"] <= inference[batch]["p99_ms"]
    data_path = summary["data_path"]
    assert 0.0 <= data_path["gpu_idle_share"] <= 1.0 and data_path["rows"] > 0
    assert data_path["vocab_size"] > 100 and data_path["unknown_share"] < 0.01
    combo = summary["minilm_combination"]
    assert combo["trained_dtype"] == "float32"
    assert combo["test"]["category"]["accuracy"] > combo["test"]["category"]["trivial_accuracy"]


def test_training_flops_match_the_analytic_count() -> None:
    """6 x parameters x tokens (matmuls) plus attention's 12 x layers x seq^2 x hidden, for
    forward and backward: the counter must see the whole step."""
    kit = _kit()
    sizes = kit.CPU
    model = kit.Classifier(kit.bert_encoder(sizes), sizes.hidden, 8)
    ids = torch.randint(1, 100, (2, sizes.seq_len))
    counted = kit.training_flops(model, ids, torch.ones_like(ids))
    h, s, layers = sizes.hidden, sizes.seq_len, sizes.layers
    per_layer = 4 * h * h + 2 * h * sizes.intermediate  # weights of one layer's matmuls
    analytic = 6 * layers * per_layer * s + 12 * layers * s * s * h  # per sample
    assert counted / 2 == pytest.approx(analytic, rel=0.05)
    assert kit.analytic_training_flops(sizes) == analytic


@pytest.mark.slow  # one kit run, about 10 s on a quiet core
def test_checks_catch_what_must_not_pass(summary: dict[str, Any]) -> None:
    kit = _kit()
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert kit.check(summary, cpu) == []
    planted = copy.deepcopy(summary)
    planted["bert_base_train"]["losses"][3] = float("nan")
    planted["minilm_combination"]["test"]["category"]["accuracy"] = 0.0
    planted["forbidden_imports"] = ["pydantic"]
    problems = kit.check(planted, cpu)
    assert len(problems) == 3, problems
    assert kit.check(summary, cuda) == ["bert_base_train: no MFU (unknown device peak)"]


def test_the_h200_peak_is_the_one_mtrec_reports_against() -> None:
    from mtrec.measure.efficiency import PEAK_BF16_FLOPS

    assert _kit().PEAK_BF16_FLOPS["H200"] == pytest.approx(PEAK_BF16_FLOPS["H200"], rel=1e-3)
