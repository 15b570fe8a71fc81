"""The resume fingerprint: every part of the loaded data and every providing plugin counts."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtrec.config import parse_suite
from mtrec.plugin_host import PluginHost
from mtrec.plugins.synthetic_ecommerce import load_synthetic_ecommerce
from mtrec.run.fingerprint import code_versions, domain_fingerprint, fingerprint_difference
from mtrec.run.matrix import expand
from mtrec.specs import DomainData, LabelField


def shop(**options: Any) -> DomainData:
    return load_synthetic_ecommerce(seed=0, n_users=20, n_items=20, n_interactions=80, **options)


def with_split(data: DomainData, name: str, **changes: Any) -> DomainData:
    split = dataclasses.replace(getattr(data, name), **changes)
    return dataclasses.replace(data, **{name: split})


def test_same_data_same_fingerprint_and_each_part_counts() -> None:
    data = shop()
    assert domain_fingerprint(data) == domain_fingerprint(shop())
    test = data.test
    label = np.array(test.labels["rating"], copy=True)
    label[0] += 1.0
    flipped = np.array(test.sensitive["age_group"], dtype=object, copy=True)
    flipped[0] = "other"
    variants = {
        "label value": with_split(data, "test", labels={**test.labels, "rating": label}),
        "item text": with_split(data, "test", item_text=["x", *list(test.item_text)[1:]]),
        "user text": with_split(
            data, "validation", user_text=list(data.validation.user_text)[::-1]
        ),
        "sensitive value": with_split(
            data, "test", sensitive={**test.sensitive, "age_group": flipped}
        ),
        "ids": with_split(data, "train", ids=data.train.ids + 1),
        "label dtype": with_split(
            data, "test", labels={**test.labels, "rating": test.labels["rating"].astype(np.float32)}
        ),
        "class names": dataclasses.replace(
            data,
            label_fields={
                **data.label_fields,
                "category": LabelField(
                    name="category",
                    task_type=data.label_fields["category"].task_type,
                    classes=tuple(reversed(data.label_fields["category"].classes)),
                ),
            },
        ),
        "other labels": shop(label_noise=0.5),
        "validation and test swapped": dataclasses.replace(
            data, validation=data.test, test=data.validation
        ),
    }
    seen = {domain_fingerprint(data)}
    for what, variant in variants.items():
        fingerprint = domain_fingerprint(variant)
        assert fingerprint not in seen, what
        seen.add(fingerprint)


def test_code_versions_name_every_providing_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "metric_plugin.py"
    source.write_text(PLUGIN)
    module = _load(source)
    suite = parse_suite(
        "name: v\nbackbones: [tiny-bert]\nhead_sets: [ecommerce-seed]\n"
        "domains: [synthetic-ecommerce]\nfairness_metrics: [group-gap, my-metric]\n",
        origin="v.yaml",
        source="file",
    )
    [combination] = expand(suite)
    host = PluginHost(extra_plugins=[("my-plugin", module)])
    versions = code_versions(combination, host, suite.fairness_metrics)
    assert set(versions) == {
        "mtrec", "backbone", "head_set", "domain", "architecture", "loss_weighting",
        "fairness:group-gap", "fairness:my-metric",
    }  # fmt: skip
    assert versions["backbone"] == "tiny-backbones: mtrec-harness 0.1.0"
    assert versions["fairness:my-metric"].startswith("my-plugin: metric_plugin.py sha256:")

    source.write_text(PLUGIN.replace("return {}", "return {'x': 1.0}"))  # an edited plugin
    edited = code_versions(combination, host, suite.fairness_metrics)
    assert edited["fairness:my-metric"] != versions["fairness:my-metric"]
    assert {k for k in versions if versions[k] != edited[k]} == {"fairness:my-metric"}
    previous = {"code": "a", "data": "d", "versions": versions}
    current = {"code": "b", "data": "d", "versions": edited}
    assert fingerprint_difference(previous, current).startswith(
        "code changed (fairness:my-metric my-plugin: metric_plugin.py sha256:"
    )
    assert fingerprint_difference(previous, {**previous}) == ""
    assert "no fingerprint" in fingerprint_difference(None, current)


PLUGIN = """
from mtrec import FairnessMetricSpec, hookimpl


def compute(context):
    return {}


@hookimpl
def mtrec_register_fairness_metrics():
    return [FairnessMetricSpec(name="my-metric", scope="group", compute=compute)]
"""


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
