"""The configured precision reaches every mixed-precision call site, not only training.

There is no GPU in CI, so the test records what each call site asks ``autocast_for`` for: with
``precision: fp32`` on CUDA, validation, test prediction and latency used to run in bf16 (they
asked for the default) while the record said fp32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
import torch

from mtrec.config import parse_suite
from mtrec.measure import efficiency, evaluation
from mtrec.model import strategies, training
from mtrec.model.strategies import FeatureCache
from mtrec.plugin_host import PluginHost
from mtrec.run.runner import run_sweep
from tests.prepared_models import prepare_for_test

CALL_SITES = (training, evaluation, efficiency, strategies)


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
    # training steps, validation + test prediction, latency and frozen-feature encoding all asked
    assert all(asked.values()), asked
    assert {p for calls in asked.values() for p in calls} == {precision}, asked


def test_frozen_features_are_cached_per_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """Features encoded in bf16 are not fp32 features: asking for another precision encodes
    again. (On CPU every precision runs fp32, so bf16 autocast is simulated on the CPU.)"""

    def cpu_autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
        if precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    monkeypatch.setattr(strategies, "autocast_for", cpu_autocast)
    monkeypatch.setattr(strategies, "effective_precision", lambda device, precision: precision)
    host = PluginHost()
    spec = host.registries.backbones.get("tiny-bert")
    loaded = spec.load()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=120)
    head_set = host.registries.head_sets.get("ecommerce-seed")
    features = FeatureCache()

    def frozen(precision: str) -> torch.Tensor:
        prepared = prepare_for_test(
            spec,
            head_set,
            data,
            strategy="frozen",
            loaded=loaded,
            features=features,
            precision=precision,
        )
        table = prepared.model.encoder.user_features
        assert isinstance(table, torch.Tensor)
        return table

    full = frozen("fp32")
    once = features.encodings
    assert once > 0
    assert torch.equal(frozen("fp32"), full) and features.encodings == once  # reused
    half = frozen("bf16")
    assert features.encodings == 2 * once  # encoded again, not served from the fp32 table
    assert not torch.equal(half, full)
