"""Frozen-feature encoding: batched vectors equal each text encoded alone, in input order, and
the feature cache sends each unique text through the backbone once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

from mtrec.model import strategies
from mtrec.model.strategies import FeatureCache, encode_texts, feature_batches
from mtrec.plugin_host import PluginHost
from mtrec.specs import LoadedBackbone, Pooling
from tests.prepared_models import prepare_for_test

MAX_LENGTH = 96
CPU = torch.device("cpu")
WORDS = ("drama", "comedy", "thriller", "rated", "four", "stars", "evening", "student", "1995")


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(scope="module", params=["tiny-bert", "tiny-gpt2"])
def loaded(request: pytest.FixtureRequest, host: PluginHost) -> LoadedBackbone:
    return host.registries.backbones.get(request.param).load()


def _texts() -> list[str]:
    """Texts from one word to past ``MAX_LENGTH`` tokens, lengths shuffled, one duplicate."""
    rng = np.random.default_rng(0)
    sizes = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 120, 4, 4, 40]
    texts = [" ".join(rng.choice(WORDS, size=size)) for size in sizes]
    texts.append(texts[3])
    return [texts[i] for i in rng.permutation(len(texts))]


def _alone(loaded: LoadedBackbone, text: str, pooling: Pooling) -> np.ndarray:
    """One text through the model by itself (no padding anywhere), pooled here in numpy."""
    ids = loaded.tokenizer(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    with torch.no_grad():
        hidden: np.ndarray = (
            loaded.model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
        )
    if pooling is Pooling.MEAN:
        return np.asarray(hidden.mean(axis=0))
    return np.asarray(hidden[0] if pooling is Pooling.CLS else hidden[-1])


@pytest.mark.parametrize("pooling", [Pooling.MEAN, Pooling.CLS, Pooling.LAST])
def test_each_vector_equals_the_text_encoded_alone(
    loaded: LoadedBackbone, pooling: Pooling
) -> None:
    texts = _texts()
    lengths = [
        len(ids)
        for ids in loaded.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    ]
    assert max(lengths) == MAX_LENGTH and min(lengths) <= 3  # very different lengths
    # A small budget: several batches, and some batches pad their shorter rows.
    vectors = encode_texts(loaded, pooling, texts, MAX_LENGTH, CPU, "fp32", token_budget=200)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(texts), loaded.hidden_size)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(vectors[row], _alone(loaded, text, pooling), atol=1e-5)


def test_batching_never_changes_a_vector(host: PluginHost) -> None:
    loaded = host.registries.backbones.get("tiny-bert").load()
    texts = _texts()
    one_batch = encode_texts(loaded, Pooling.MEAN, texts, MAX_LENGTH, CPU, "fp32")
    one_row_each = encode_texts(
        loaded, Pooling.MEAN, texts, MAX_LENGTH, CPU, "fp32", token_budget=1
    )
    np.testing.assert_allclose(one_batch, one_row_each, atol=1e-5)


def test_batches_are_length_sorted_within_the_token_budget() -> None:
    lengths = np.random.default_rng(1).integers(1, 65, size=500)
    batches = feature_batches(lengths, 256)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(lengths)))  # every row exactly once
    widths = [int(lengths[batch].max()) for batch in batches]
    assert widths == sorted(widths, reverse=True)  # longest first
    for batch in batches:
        assert len(batch) * int(lengths[batch].max()) <= 256
    # Length-sorted: at most a 1-token spread inside most batches, so padding is small.
    padded = sum(len(batch) * int(lengths[batch].max()) for batch in batches)
    assert padded <= 1.05 * int(lengths.sum())
    assert [len(b) for b in feature_batches(np.array([300, 2]), 256)] == [1, 1]


def test_the_cache_encodes_each_unique_text_once(
    host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: Counter[str] = Counter()
    real = strategies.encode_texts

    def counting(*args: Any, **kwargs: Any) -> np.ndarray:
        seen.update(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(strategies, "encode_texts", counting)
    spec = host.registries.backbones.get("tiny-bert")
    head_set = host.registries.head_sets.get("ecommerce-seed")
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=120)
    features = FeatureCache()
    loaded = spec.load()
    for _ in range(2):  # the second preparation finds every text in the cache
        prepare_for_test(spec, head_set, data, strategy="frozen", loaded=loaded, features=features)
    expected = {
        text
        for split in (data.train, data.validation, data.test)
        for text in (*split.user_text, *split.item_text)
    }
    assert set(seen) == expected
    assert set(seen.values()) == {1}
    assert features.encodings == len(expected)
