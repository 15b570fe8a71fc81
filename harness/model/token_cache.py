"""Tokenized splits, reused across head sets, seeds, epochs and runs.

The key is a hash of everything that decides the token ids: the tokenizer (its full
serialised definition), the maximum length, whether segment ids are made, and the texts
themselves. A changed template, domain option or tokenizer therefore changes the key; the
same inputs in a later run load from ``$MTREC_CACHE/tokens`` instead of re-tokenizing.

The cache holds token ids only. Labels are not part of the key (two variants of a domain can
share every text and differ in every label), so they are paired with the cached tokens from
the split asked about, on every call. Each file carries its key and a checksum of its
content (:mod:`mtrec.cache_files`): a damaged or swapped file is discarded and re-made.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.cache_files import read_arrays, write_arrays
from mtrec.model.batching import EncodedSplit, TokenizedSplit, tokenize_split, with_labels
from mtrec.specs import DomainSplit


class TokenCache:
    """Tokenized splits by content key: in memory for a sweep, on disk across runs."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder  # None: memory only
        self._memory: dict[str, TokenizedSplit] = {}
        self._fingerprints: dict[int, str] = {}
        self.tokenized = 0  # splits run through a tokenizer
        self.disk_hits = 0  # splits loaded from an earlier run

    def get(
        self, split: DomainSplit, tokenizer: Any, max_length: int, *, segments: bool
    ) -> EncodedSplit:
        """The split's tokens (cached by key) paired with this split's own labels."""
        key = self.key(split, tokenizer, max_length, segments)
        tokens = self._memory.get(key)
        if tokens is None:
            tokens = self._load(key)
            if tokens is None or len(tokens) != len(split):
                tokens = tokenize_split(split, tokenizer, max_length, segments=segments)
                self.tokenized += 1
                self._save(key, tokens)
            else:
                self.disk_hits += 1
            self._memory[key] = tokens
        return with_labels(tokens, split.labels)

    def key(self, split: DomainSplit, tokenizer: Any, max_length: int, segments: bool) -> str:
        digest = hashlib.sha256()
        digest.update(self._fingerprint(tokenizer).encode())
        digest.update(f"|{max_length}|{segments}|{len(split)}|".encode())
        for user, item in zip(split.user_text, split.item_text, strict=True):
            digest.update(user.encode())
            digest.update(b"\x1f")
            digest.update(item.encode())
            digest.update(b"\x1e")
        return digest.hexdigest()[:32]

    def _fingerprint(self, tokenizer: Any) -> str:
        if id(tokenizer) not in self._fingerprints:
            backend = getattr(tokenizer, "backend_tokenizer", None)
            definition = (
                backend.to_str()
                if backend is not None
                else f"{type(tokenizer).__name__}:{getattr(tokenizer, 'name_or_path', '')}:"
                f"{len(tokenizer)}"
            )
            self._fingerprints[id(tokenizer)] = hashlib.sha256(definition.encode()).hexdigest()
        return self._fingerprints[id(tokenizer)]

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.npz"

    def _load(self, key: str) -> TokenizedSplit | None:
        path = self._path(key)
        stored = None if path is None else read_arrays(path, key)
        if stored is None:
            return None  # absent, unreadable or not to be trusted: tokenize again
        try:
            ids, offsets, pad_id = stored["ids"], stored["offsets"], int(stored["pad_id"])
        except (KeyError, TypeError, ValueError):
            return None
        types = stored.get("types")
        bounds = list(itertools.pairwise(offsets))
        return TokenizedSplit(
            input_ids=[ids[start:end] for start, end in bounds],
            token_type_ids=None if types is None else [types[s:e] for s, e in bounds],
            lengths=np.diff(offsets),
            pad_id=pad_id,
        )

    def _save(self, key: str, encoded: TokenizedSplit) -> None:
        path = self._path(key)
        if path is None:
            return
        arrays: dict[str, np.ndarray] = {
            "ids": np.concatenate(encoded.input_ids) if encoded.input_ids else np.zeros(0),
            "offsets": np.concatenate([[0], np.cumsum(encoded.lengths)]).astype(np.int64),
            "pad_id": np.asarray(encoded.pad_id),
        }
        if encoded.token_type_ids is not None:
            arrays["types"] = np.concatenate(encoded.token_type_ids)
        write_arrays(path, key, arrays)  # a cache that cannot be written is skipped
