from __future__ import annotations

import numpy as np
import pytest
import torch

from mtrec.model.batching import batch_rows, encode_split
from mtrec.plugin_host import PluginHost


@pytest.fixture(scope="module")
def split_and_tokenizer():
    host = PluginHost()
    data = host.registries.domains.get("synthetic-ecommerce").load(seed=0, n_interactions=300)
    tokenizer = host.registries.backbones.get("tiny-bert").load().tokenizer
    return data.train, tokenizer


def test_encode_once_without_padding(split_and_tokenizer) -> None:
    split, tokenizer = split_and_tokenizer
    encoded = encode_split(split, tokenizer, 48, segments=True)
    assert len(encoded) == len(split)
    assert encoded.lengths.max() <= 48
    assert len(set(encoded.lengths.tolist())) > 1  # varied lengths, nothing padded
    assert all(tokenizer.pad_token_id not in ids for ids in encoded.input_ids)


def test_batch_padded_only_to_its_longest_row(split_and_tokenizer) -> None:
    split, tokenizer = split_and_tokenizer
    encoded = encode_split(split, tokenizer, 64, segments=True)
    rows = np.array([0, 5, 9])
    batch = encoded.collate(rows, ("rating",))
    assert batch.inputs["input_ids"].shape == (3, int(encoded.lengths[rows].max()))
    assert batch.inputs["attention_mask"].sum(dim=1).tolist() == encoded.lengths[rows].tolist()
    assert "token_type_ids" in batch.inputs
    assert torch.equal(batch.labels["rating"], torch.from_numpy(split.labels["rating"][rows]))


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_row_once(shuffle: bool) -> None:
    lengths = np.random.default_rng(0).integers(5, 60, size=1003)
    batches = batch_rows(lengths, 16, shuffle=shuffle, rng=np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1003))
    assert all(len(b) <= 16 for b in batches)


def test_bucketing_cuts_padding() -> None:
    lengths = np.random.default_rng(0).integers(5, 60, size=4000)

    def padded_tokens(batches: list[np.ndarray]) -> int:
        return sum(len(b) * int(lengths[b].max()) for b in batches)

    rng = np.random.default_rng(2)
    bucketed = padded_tokens(batch_rows(lengths, 16, shuffle=True, rng=rng))
    plain_order = rng.permutation(len(lengths))
    plain = padded_tokens([plain_order[i : i + 16] for i in range(0, len(lengths), 16)])
    assert bucketed < 0.75 * plain


def test_shuffled_batching_is_seeded() -> None:
    lengths = np.arange(100) % 17
    first = batch_rows(lengths, 8, shuffle=True, rng=np.random.default_rng(3))
    second = batch_rows(lengths, 8, shuffle=True, rng=np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
