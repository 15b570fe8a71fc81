"""Tokenize once, pad per batch, bucket by length; or batch integer columns.

A split is tokenized in one call of the fast tokenizer, without padding, and kept as a list of
token-id arrays; each batch is padded only to its own longest row. Training batches come from
length-sorted pools so little compute goes to padding, while batch order stays random.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from mtrec.specs import DomainSplit

POOL_BATCHES = 50  # batches per length-sorted pool when shuffling


@dataclass(frozen=True, kw_only=True)
class Batch:
    """One batch on the host (or, after :meth:`to`, on the device)."""

    rows: np.ndarray  # row indices into the split, in batch order
    inputs: Mapping[str, torch.Tensor]  # keyword arguments of the encoder
    labels: Mapping[str, torch.Tensor]  # label field -> [B] or [B, K]

    def to(self, device: torch.device) -> Batch:
        non_blocking = device.type == "cuda"

        def move(tensor: torch.Tensor) -> torch.Tensor:
            if non_blocking:
                tensor = tensor.pin_memory()
            return tensor.to(device, non_blocking=non_blocking)

        return Batch(
            rows=self.rows,
            inputs={name: move(values) for name, values in self.inputs.items()},
            labels={name: move(values) for name, values in self.labels.items()},
        )

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return dict(self.inputs)

    def __len__(self) -> int:
        return len(self.rows)


class Batchable(Protocol):
    """A split the training loop can batch: tokens (:class:`EncodedSplit`) or ids/rows."""

    @property
    def labels(self) -> Mapping[str, np.ndarray]: ...

    def __len__(self) -> int: ...

    def sort_keys(self) -> np.ndarray:
        """Per-row cost to bucket by (token counts), or all equal."""
        ...

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch: ...


def _labels(
    labels: Mapping[str, np.ndarray], rows: np.ndarray, fields: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(labels[name][rows])) for name in fields}


@dataclass(frozen=True, kw_only=True)
class TokenizedSplit:
    """The token ids of a split's rows and nothing else: what a token cache may hold.

    Labels are deliberately absent: two splits with the same texts share these tokens even
    when their labels differ, so labels are paired with tokens per use (:func:`with_labels`).
    """

    input_ids: list[np.ndarray]  # one int64 array per row, no padding
    token_type_ids: list[np.ndarray] | None  # segment ids where the tokenizer makes them
    lengths: np.ndarray  # tokens per row
    pad_id: int  # the tokenizer's pad token id

    def __len__(self) -> int:
        return len(self.input_ids)

    def inputs(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Encoder inputs of the given rows, padded to their longest row."""
        width = int(self.lengths[rows].max())
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64) if self.token_type_ids else None
        for slot, row in enumerate(rows):
            length = self.lengths[row]
            input_ids[slot, :length] = self.input_ids[row]
            mask[slot, :length] = 1
            if types is not None and self.token_type_ids is not None:
                types[slot, :length] = self.token_type_ids[row]
        inputs = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(mask),
        }
        if types is not None:
            inputs["token_type_ids"] = torch.from_numpy(types)
        return inputs


@dataclass(frozen=True, kw_only=True)
class EncodedSplit:
    """A split ready to batch: shared tokens paired with the labels of THIS split."""

    tokens: TokenizedSplit  # may be shared with other splits of the same texts
    labels: Mapping[str, np.ndarray]  # label field -> values, row-aligned with tokens

    def __post_init__(self) -> None:
        for name, values in self.labels.items():
            if len(values) != len(self.tokens):
                raise ValueError(
                    f"label field '{name}' has {len(values)} rows for {len(self.tokens)} "
                    "tokenized rows"
                )

    @property
    def input_ids(self) -> list[np.ndarray]:
        return self.tokens.input_ids

    @property
    def token_type_ids(self) -> list[np.ndarray] | None:
        return self.tokens.token_type_ids

    @property
    def lengths(self) -> np.ndarray:
        return self.tokens.lengths

    @property
    def pad_id(self) -> int:
        return self.tokens.pad_id

    def __len__(self) -> int:
        return len(self.tokens)

    def sort_keys(self) -> np.ndarray:
        return self.tokens.lengths

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch:
        """Pad the given rows to their longest row."""
        return Batch(
            rows=rows,
            inputs=self.tokens.inputs(rows),
            labels=_labels(self.labels, rows, label_fields),
        )


def with_labels(tokens: TokenizedSplit, labels: Mapping[str, np.ndarray]) -> EncodedSplit:
    """Pair (possibly cached) tokens with the labels of the split being used now."""
    return EncodedSplit(tokens=tokens, labels=dict(labels))


@dataclass(frozen=True, kw_only=True)
class IndexedSplit:
    """A split whose inputs are integer columns (user/item ids, rows of a feature table)."""

    columns: Mapping[str, np.ndarray]  # encoder keyword -> int64 [n]
    labels: Mapping[str, np.ndarray]  # label field -> values, row-aligned

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def sort_keys(self) -> np.ndarray:
        return np.zeros(len(self), dtype=np.int64)

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch:
        inputs = {name: torch.from_numpy(values[rows]) for name, values in self.columns.items()}
        return Batch(rows=rows, inputs=inputs, labels=_labels(self.labels, rows, label_fields))


@dataclass(frozen=True, kw_only=True)
class WithIds:
    """Another split's batches plus each row's ``user_ids`` and ``item_ids`` (hybrid
    backbones read the text and the ids)."""

    split: Batchable  # the text side: tokens, or rows of a feature table
    user_ids: np.ndarray  # int64 [n], row-aligned with ``split``
    item_ids: np.ndarray  # int64 [n]

    @property
    def labels(self) -> Mapping[str, np.ndarray]:
        return self.split.labels

    @property
    def lengths(self) -> np.ndarray | None:
        """Tokens per row when the text side is tokenized (for the record), else None."""
        return getattr(self.split, "lengths", None)

    def __len__(self) -> int:
        return len(self.split)

    def sort_keys(self) -> np.ndarray:
        return self.split.sort_keys()

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch:
        batch = self.split.collate(rows, label_fields)
        inputs = {
            **batch.inputs,
            "user_ids": torch.from_numpy(np.ascontiguousarray(self.user_ids[rows])),
            "item_ids": torch.from_numpy(np.ascontiguousarray(self.item_ids[rows])),
        }
        return Batch(rows=batch.rows, inputs=inputs, labels=batch.labels)


def tokenize_split(
    split: DomainSplit, tokenizer: Any, max_length: int, *, segments: bool
) -> TokenizedSplit:
    """Tokenize every row of a split as a (user text, item text) pair, once; no labels."""
    encoded = tokenizer(
        list(split.user_text),
        list(split.item_text),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=segments,
    )
    input_ids = [np.asarray(ids, dtype=np.int64) for ids in encoded["input_ids"]]
    token_types = (
        [np.asarray(ids, dtype=np.int64) for ids in encoded["token_type_ids"]]
        if segments and "token_type_ids" in encoded
        else None
    )
    return TokenizedSplit(
        input_ids=input_ids,
        token_type_ids=token_types,
        lengths=np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids)),
        pad_id=int(tokenizer.pad_token_id),
    )


def encode_split(
    split: DomainSplit, tokenizer: Any, max_length: int, *, segments: bool
) -> EncodedSplit:
    """Tokenize a split and pair the tokens with its own labels (no cache involved)."""
    return with_labels(
        tokenize_split(split, tokenizer, max_length, segments=segments), split.labels
    )


def batch_rows(
    lengths: np.ndarray, batch_size: int, *, shuffle: bool, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Row indices per batch.

    Shuffled: random pools of ``POOL_BATCHES`` batches, sorted by length inside each pool,
    batches in random order. Not shuffled: sorted by length (the caller restores order).
    """
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[start : start + batch_size] for start in range(0, n, batch_size)]
    if rng is None:
        raise ValueError("shuffled batching needs a random generator")
    order = rng.permutation(n)
    pool = batch_size * POOL_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, n, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def iterate_batches(
    split: Batchable,
    batch_size: int,
    *,
    label_fields: tuple[str, ...] = (),
    shuffle: bool = False,
    rng: np.random.Generator | None = None,
) -> Iterator[Batch]:
    for rows in batch_rows(split.sort_keys(), batch_size, shuffle=shuffle, rng=rng):
        yield split.collate(rows, label_fields)
