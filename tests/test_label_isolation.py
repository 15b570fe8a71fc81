"""Labels never travel with a cache.

The token cache, the frozen-feature cache and the outcome cache are keyed on what decides
their content (texts and tokenizer; texts and backbone; a variant's config). Labels are not
part of any of those keys, so they must come from the split being trained and scored every
time. One sweep lists the same domain three times with different label options (same seed
and sizes: identical texts, different labels) and every saved ``y_true`` is checked against
that domain's own loader.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from mtrec.config import load_suite
from mtrec.measure.evaluation import score_tasks
from mtrec.model.batching import TokenizedSplit, encode_split, tokenize_split, with_labels
from mtrec.model.strategies import FeatureCache
from mtrec.model.token_cache import TokenCache
from mtrec.plugin_host import PluginHost
from mtrec.run.baselines import variant_outcome
from mtrec.run.runner import SweepResult, run_sweep
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import DomainSplit, HeadSpec, TaskPredictions, TaskType
from tests.prepared_models import prepare_for_test

SIZES = {"n_users": 30, "n_items": 40, "n_interactions": 240}
# Same seed and sizes, so the same texts; labels differ (noise, a planted group disparity and
# a planted task conflict: the studies the harness exists for).
VARIANTS = (
    {"label_noise": 0.0},
    {"label_noise": 0.9},
    {"label_noise": 0.5, "group_disparity": 0.8, "task_conflict": 0.8},
)


def _options(variant: dict[str, float]) -> str:
    return ", ".join(f"{name}: {value}" for name, value in {**variant, **SIZES}.items())


SUITE = f"""
name: label-isolation
seeds: [0]
backbones:
  - tiny-bert
  - {{name: tiny-bert, training: {{strategy: frozen, head_lr: 0.003}}}}
head_sets: [ecommerce-seed]
domains:
{chr(10).join(f"  - {{name: synthetic-ecommerce, options: {{{_options(v)}}}}}" for v in VARIANTS)}
fairness_metrics: [group-gap, subtask-gain]
fairness: {{baseline_seeds: 1, bootstrap_resamples: 0}}
training: {{epochs: 2, batch_size: 32, max_length: 32, patience: 0}}
evaluation: {{ranking: {{negatives: 19, validation_negatives: 9, train_negatives: 1}}}}
measure: {{latency_batch_sizes: [1], latency_warmup: 0, latency_min_repeats: 1,
          latency_min_seconds: 0, flops: false}}
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    folder = tmp_path_factory.mktemp("label-isolation")
    path = folder / "suite.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return run_sweep(load_suite(str(path)), PluginHost(), folder / "run", device="cpu")


def _column(path: Path, name: str) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["id"] for row in rows], [row[name] for row in rows]


def _expected(options: dict[str, Any], split: str, field: str) -> dict[str, str]:
    """Row id -> label as the domain's own loader gives it (no mtrec code in between)."""
    spec = PluginHost().registries.domains.get("synthetic-ecommerce")
    part = getattr(spec.load(seed=0, **options), split)
    labels = np.asarray(part.labels[field])
    return {
        str(int(row)): (repr(float(value)) if labels.dtype.kind == "f" else str(int(value)))
        for row, value in zip(part.ids, labels, strict=True)
    }


def test_every_saved_label_is_the_loaders_label(sweep: SweepResult) -> None:
    records = sweep.document["records"]
    assert [r["status"] for r in records] == ["ok"] * 6, [r.get("error") for r in records]
    seen = []
    checked = 0
    for record in records:
        options = record["config"]["domain"]["options"]
        seen.append({k: v for k, v in options.items() if k not in SIZES})
        files = [("test", task, name) for task, name in record["predictions"].items()]
        files += [
            ("test", task, name)
            for task, names in record.get("baseline_predictions", {}).items()
            for name in names
        ]
        files += [
            ("validation", task, name)
            for epoch in record["validation_predictions"].values()
            for task, name in epoch.items()
        ]
        for split, task, name in files:
            if record["tasks"][task]["type"] == "ranking":
                # its relevance comes from the rows' items, the same in every variant
                # (tests/test_ranking_sweep.py checks the saved lists)
                continue
            field = record["tasks"][task]["label_field"]
            expected = _expected(options, split, field)
            ids, y_true = _column(sweep.run_dir / "predictions" / name, "y_true")
            assert len(ids) == len(expected)
            wrong = sum(expected[row] != value for row, value in zip(ids, y_true, strict=True))
            assert wrong == 0, (record["backbone"], options, name, wrong)
            checked += 1
    assert sorted(map(str, seen)) == sorted(map(str, [*VARIANTS, *VARIANTS]))
    # every task: test, its baseline, two validation epochs
    assert checked == 6 * 3 * (1 + 1 + 2)


def test_the_three_variants_really_differ() -> None:
    # Otherwise the test above could not tell the variants apart.
    for split, field in (("test", "category"), ("test", "click"), ("validation", "rating")):
        labels = [
            list(_expected({**SIZES, **variant}, split, field).values()) for variant in VARIANTS
        ]
        assert labels[0] != labels[1] and labels[1] != labels[2] and labels[0] != labels[2]


# --------------------------------------------------------------------------------------
# the token cache alone: what its key leaves out (labels) must change the result
# --------------------------------------------------------------------------------------


def _split(labels: np.ndarray) -> DomainSplit:
    n = len(labels)
    return DomainSplit(
        ids=np.arange(n, dtype=np.int64),
        user_ids=np.arange(n, dtype=np.int64),
        item_ids=np.arange(n, dtype=np.int64),
        user_text=[f"user {i}" for i in range(n)],
        item_text=[f"item {i}" for i in range(n)],
        labels={"click": labels},
        sensitive={},
    )


class _Tokenizer:
    """Whitespace tokenizer: ids are word lengths (enough to be deterministic)."""

    pad_token_id = 0

    def __len__(self) -> int:
        return 100

    def __call__(self, users: list[str], items: list[str], **_: Any) -> dict[str, Any]:
        return {
            "input_ids": [
                [len(word) for word in f"{user} {item}".split()]
                for user, item in zip(users, items, strict=True)
            ]
        }


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "disk"])
def test_token_cache_pairs_tokens_with_the_current_labels(tmp_path: Path, on_disk: bool) -> None:
    cache = TokenCache(tmp_path / "tokens" if on_disk else None)
    tokenizer = _Tokenizer()
    first = _split(np.array([0, 1, 0, 1], dtype=np.int64))
    second = _split(np.array([1, 1, 1, 0], dtype=np.int64))
    assert cache.key(first, tokenizer, 16, False) == cache.key(second, tokenizer, 16, False)
    a = cache.get(first, tokenizer, 16, segments=False)
    if on_disk:
        cache = TokenCache(tmp_path / "tokens")  # a later run: from disk
    b = cache.get(second, tokenizer, 16, segments=False)
    assert cache.tokenized + cache.disk_hits >= 1
    np.testing.assert_array_equal(a.labels["click"], first.labels["click"])
    np.testing.assert_array_equal(b.labels["click"], second.labels["click"])
    rows = np.arange(4)
    batch = b.collate(rows, ("click",))
    np.testing.assert_array_equal(batch.labels["click"].numpy(), second.labels["click"])


def test_cached_tokens_hold_no_labels(tmp_path: Path) -> None:
    split = _split(np.array([0, 1], dtype=np.int64))
    tokens = tokenize_split(split, _Tokenizer(), 16, segments=False)
    assert isinstance(tokens, TokenizedSplit)
    assert not hasattr(tokens, "labels")
    cache = TokenCache(tmp_path)
    cache.get(split, _Tokenizer(), 16, segments=False)
    assert all(isinstance(held, TokenizedSplit) for held in cache._memory.values())
    view = with_labels(tokens, {"click": np.array([1, 0], dtype=np.int64)})
    np.testing.assert_array_equal(view.labels["click"], [1, 0])
    np.testing.assert_array_equal(
        encode_split(split, _Tokenizer(), 16, segments=False).labels["click"], [0, 1]
    )
    with pytest.raises(ValueError, match="label field 'click' has 3 rows for 2"):
        with_labels(tokens, {"click": np.zeros(3, dtype=np.int64)})


# --------------------------------------------------------------------------------------
# the outcome cache: same key, other labels -> scored against the labels asked about
# --------------------------------------------------------------------------------------


def test_outcome_cache_scores_against_the_current_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTREC_CACHE", str(tmp_path / "cache"))
    head = HeadSpec(task="click", task_type=TaskType.BINARY, label_field="clicked", loss="bce")
    trained: list[int] = []

    def produce() -> Any:
        trained.append(1)
        tasks = {
            "click": TaskPredictions(
                task="click",
                task_type=TaskType.BINARY,
                y_true=np.array([0, 0, 0, 0]),  # whatever the producer saw: never kept
                y_pred=np.array([1, 0, 1, 0]),
                score=np.array([0.9, 0.2, 0.8, 0.1]),
                primary_metric="auc",
            )
        }
        return SimpleNamespace(test_run=SimpleNamespace(tasks=tasks), heads=[head])

    first = {"clicked": np.array([1, 0, 1, 0])}
    second = {"clicked": np.array([0, 1, 0, 1])}
    in_memory = SweepCache()
    a = variant_outcome(in_memory, "k", produce, first)["click"]
    b = variant_outcome(in_memory, "k", produce, second)["click"]
    c = variant_outcome(SweepCache(), "k", produce, second)["click"]  # from disk
    assert trained == [1]
    np.testing.assert_array_equal(a.y_true, first["clicked"])
    np.testing.assert_array_equal(b.y_true, second["clicked"])
    np.testing.assert_array_equal(c.y_true, second["clicked"])
    assert score_tasks({"click": a})["click"]["auc"] == 1.0
    assert score_tasks({"click": b})["click"]["auc"] == 0.0
    # Labels of another length: the stored predictions cannot belong to them, train again.
    variant_outcome(in_memory, "k", produce, {"clicked": np.array([1, 0, 1])})
    assert trained == [1, 1]


# --------------------------------------------------------------------------------------
# the frozen-feature cache: same backbone name, other options -> other features
# --------------------------------------------------------------------------------------


def test_feature_cache_keys_on_the_backbones_options() -> None:
    host = PluginHost()
    spec = host.registries.backbones.get("tiny-bert")
    domain = host.registries.domains.get("synthetic-ecommerce").load(
        seed=0, n_users=10, n_items=10, n_interactions=40
    )
    head_set = host.registries.head_sets.get("ecommerce-seed")
    features = FeatureCache()

    def user_features(options: dict[str, Any], init_seed: int) -> torch.Tensor:
        loaded = spec.load()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)  # another checkpoint behind the same name
            for parameter in loaded.model.parameters():
                torch.nn.init.normal_(parameter, std=0.02)
        prepared = prepare_for_test(
            spec,
            head_set,
            domain,
            strategy="frozen",
            loaded=loaded,
            features=features,
            backbone_options=options,
        )
        np.testing.assert_array_equal(
            prepared.splits["test"].labels["category"], domain.test.labels["category"]
        )
        table = prepared.model.encoder.user_features
        assert isinstance(table, torch.Tensor)
        return table.detach().clone()

    first = user_features({"checkpoint": "a"}, 1)
    again = user_features({"checkpoint": "a"}, 1)
    other = user_features({"checkpoint": "b"}, 2)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
