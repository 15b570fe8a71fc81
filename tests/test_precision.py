"""The configured precision reaches every mixed-precision call site, not only training.

There is no GPU in CI, so the test records what each call site asks ``autocast_for`` for: with
``precision: fp32`` on CUDA, validation, test prediction and latency used to run in bf16 (they
asked for the default) while the record said fp32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch

from harness import efficiency, evaluation, training
from harness.config import parse_suite
from harness.plugin_host import PluginHost
from harness.runner import run_sweep

CALL_SITES = (training, evaluation, efficiency)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_every_autocast_call_receives_the_configured_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    asked: dict[str, list[str]] = {module.__name__: [] for module in CALL_SITES}
    real = training.autocast_for

    for module in CALL_SITES:

        def recording(
            device: torch.device, precision: str = "<default>", _name: str = module.__name__
        ) -> AbstractContextManager[object]:
            asked[_name].append(precision)
            return real(device, "fp32")

        monkeypatch.setattr(module, "autocast_for", recording)

    suite = parse_suite(
        "name: p\nbackbones: [tiny-bert, {name: tiny-bert, training: {strategy: frozen}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 120}}]\n"
        f"training: {{epochs: 1, precision: {precision}}}\n"
        "measure: {latency_batch_sizes: [2], latency_min_repeats: 2, latency_min_seconds: 0}\n"
        "fairness_metrics: []\n",
        origin="p.yaml",
        source="file",
    )
    result = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu")
    assert not result.failed, [r.get("error") for r in result.document["records"]]
    # training steps, validation + test prediction, and latency all asked
    assert asked["harness.training"] and asked["harness.evaluation"] and asked["harness.efficiency"]
    assert {p for calls in asked.values() for p in calls} == {precision}, asked
