"""The target-alone reference of a transfer is keyed like the single-task baselines.

Its stored predictions must carry the versions of mtrec and of the plugins providing the
backbone, head set and domain in their key, so an upgrade trains it again instead of
comparing against predictions an older release made. Training is replaced by a stand-in
that counts calls and returns constant predictions: only the caching is under test.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import mtrec
from mtrec.cache_files import write_arrays
from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.run import transfer as transfer_module
from mtrec.run.matrix import expand
from mtrec.run.sweep_cache import SweepCache
from mtrec.run.transfer import transfer_gain
from mtrec.specs import TaskPredictions, TaskType

SUITE = """
name: transfer-reference
seeds: [0]
backbones: [tiny-bert]
head_sets: [ecommerce-seed]
domains:
  - name: synthetic-ecommerce
    options: {n_users: 20, n_items: 20, n_interactions: 100}
    transfer:
      sources: [{name: synthetic-ecommerce, head_set: ecommerce-seed}]
"""


@pytest.fixture
def setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path / "cache"))
    host = PluginHost()
    (combination,) = expand(parse_suite(SUITE, origin="suite.yaml", source="file"))
    data = host.registries.domains.get("synthetic-ecommerce").load(
        seed=0, **combination.domain.options
    )
    seed = host.registries.head_sets.get("ecommerce-seed")
    # the row-level heads: what is keyed here does not depend on the tasks
    head_set = dataclasses.replace(
        seed, heads=tuple(h for h in seed.heads if h.task_type is not TaskType.RANKING)
    )
    trained: list[str] = []

    def fake_fit(variant: Any, *args: Any, head_set: Any, **kwargs: Any) -> Any:
        assert variant.domain.transfer is None  # the target-alone variant
        trained.append(mtrec.__version__)
        n = len(data.test)
        tasks = {
            head.task: TaskPredictions(
                task=head.task,
                task_type=head.task_type,
                y_true=np.zeros(n),
                y_pred=(
                    np.full((n, len(data.label_fields[head.label_field].classes)), 1)
                    if head.task_type is TaskType.MULTILABEL
                    else np.full(n, 1.0 if head.task_type is TaskType.REGRESSION else 1)
                ),
                score=np.full(n, 0.5) if head.task_type is TaskType.BINARY else None,
                primary_metric={
                    TaskType.MULTICLASS: "accuracy",
                    TaskType.REGRESSION: "rmse",
                    TaskType.BINARY: "auc",
                }[head.task_type],
            )
            for head in head_set.heads
        }
        return SimpleNamespace(test_run=SimpleNamespace(tasks=tasks), heads=list(head_set.heads))

    monkeypatch.setattr(transfer_module, "fit_variant", fake_fit)

    def reference(cache: SweepCache) -> dict[str, Any]:
        metrics = {"category": {"accuracy": 0.5}, "rating": {"rmse": 1.0}, "click": {"auc": 0.5}}
        return transfer_gain(
            combination,
            host,
            cache,
            data=data,
            head_set=head_set,
            device=torch.device("cpu"),
            stage={},
            metrics=metrics,
        )

    return {"combination": combination, "trained": trained, "reference": reference}


def _stale_outcome(path: Path, key: str, n: int) -> None:
    """Predictions an older release left under the plain combination key (all wrong), as
    a sound cache entry of that key: only the key can keep it from being used."""
    arrays: dict[str, Any] = {}
    table = {}
    for task, kind, field, metric in (
        ("category", "multiclass", "category", "accuracy"),
        ("rating", "regression", "rating", "rmse"),
        ("click", "binary", "click", "auc"),
    ):
        arrays[f"{task}.y_true"] = np.zeros(n, dtype=np.int64)
        arrays[f"{task}.y_pred"] = np.full(n, 7, dtype=np.int64)
        if kind == "binary":
            arrays[f"{task}.score"] = np.zeros(n)
        table[task] = {"type": kind, "label_field": field, "primary_metric": metric}
    arrays["__tasks__"] = np.asarray(json.dumps(table))
    assert write_arrays(path, key, arrays)


def test_target_alone_reference_is_keyed_with_versions(
    setting: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    combination, trained, reference = (
        setting["combination"],
        setting["trained"],
        setting["reference"],
    )
    alone_key = combination.key  # the plain combination key does not change with versions
    plain = dataclasses.replace(
        combination, domain=combination.domain.model_copy(update={"transfer": None})
    )
    _stale_outcome(tmp_path / "cache" / "outcomes" / f"{plain.key}.npz", plain.key, 20)
    assert alone_key != plain.key
    first = reference(SweepCache())
    assert trained == [mtrec.__version__]  # the stale file was not taken
    assert first["target_alone_key"] == plain.key
    reference(SweepCache())  # same versions, a later run: from the cache
    assert len(trained) == 1
    monkeypatch.setattr(mtrec.version, "__version__", mtrec.__version__ + ".post1")
    reference(SweepCache())  # mtrec upgraded: trained again
    assert len(trained) == 2
    provider = PluginHost().provider_of("domains", "synthetic-ecommerce")
    monkeypatch.setattr(type(provider), "version", property(lambda self: "999"), raising=False)
    reference(SweepCache())  # the domain's plugin upgraded: trained again
    assert len(trained) == 3
