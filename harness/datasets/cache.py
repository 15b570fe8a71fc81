"""The download cache: where a dataset's sources live and re-verifying their files.

Under :func:`mtrec.paths.cache_dir`, ``datasets/NAME/SOURCE_ID/`` holds the verified files of
one source and its fetch record (``.mtrec-fetch.json``, every file's sha256 at fetch time); a
source folder that exists is complete, so presence of the record means the source is cached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtrec.datasets.errors import ChecksumError, DatasetError, DatasetNotFetchedError
from mtrec.datasets.manifest import FETCH_RECORD, Manifest, Source
from mtrec.paths import cache_dir


def dataset_dir(name: str) -> Path:
    """The cache folder of one dataset: ``$MTREC_CACHE/datasets/NAME``."""
    return cache_dir() / "datasets" / name


@dataclass(frozen=True, kw_only=True)
class CachedSource:
    """A source whose verified files are in the cache."""

    manifest: Manifest
    source: Source
    folder: Path  # datasets/NAME/SOURCE_ID
    record: Mapping[str, Any]  # the fetch record: files and their sha256 at fetch time


def cached_sources(manifest: Manifest) -> list[CachedSource]:
    """The manifest's sources present in the cache, in the manifest's order."""
    present: list[CachedSource] = []
    for source in manifest.sources:
        folder = dataset_dir(manifest.name) / source.id
        record_path = folder / FETCH_RECORD
        if not record_path.is_file():
            continue
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetError(
                f"{record_path}: unreadable fetch record ({exc}); "
                f"run `mtrec datasets fetch {manifest.name} --force`"
            ) from None
        present.append(CachedSource(manifest=manifest, source=source, folder=folder, record=record))
    return present


def require_cached(manifest: Manifest) -> CachedSource:
    """The first cached source, or an error naming the command that fetches the dataset."""
    present = cached_sources(manifest)
    if not present:
        raise DatasetNotFetchedError(
            f"dataset '{manifest.name}' is not in the cache ({dataset_dir(manifest.name)}); "
            f"run `mtrec datasets fetch {manifest.name}` first, or pass the loader option "
            f"path=FOLDER holding its files"
        )
    return present[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True)
class CheckedFile:
    """One cached file and the sha256 it was checked against."""

    name: str
    sha256: str
    pinned_by: str  # "manifest" or "fetch record" (archive members without a pinned sha256)


def verify_cached(cached: CachedSource) -> list[CheckedFile]:
    """Re-hash every file of a cached source; raise ChecksumError on the first mismatch."""
    pinned = cached.source.expected_sha256()
    recorded: Mapping[str, str] = cached.record.get("files", {})
    checked: list[CheckedFile] = []
    for name in cached.source.cached_names():
        path = cached.folder / name
        expected: str | None
        if name in pinned:
            expected, by = pinned[name], "manifest"
        else:
            expected, by = recorded.get(name), "fetch record"
        if not path.is_file():
            raise ChecksumError(
                f"{path}: file missing from the cache; "
                f"run `mtrec datasets fetch {cached.manifest.name} --force`"
            )
        actual = sha256_file(path)
        if expected is None or actual != expected:
            raise ChecksumError(
                f"{path}: sha256 mismatch: expected {expected} ({by}), got {actual}; "
                f"run `mtrec datasets fetch {cached.manifest.name} --force`"
            )
        checked.append(CheckedFile(name=name, sha256=actual, pinned_by=by))
    return checked


def verify_dataset(manifest: Manifest) -> list[tuple[CachedSource, list[CheckedFile]]]:
    """Verify every cached source of a dataset; DatasetNotFetchedError when none is cached."""
    require_cached(manifest)
    return [(cached, verify_cached(cached)) for cached in cached_sources(manifest)]
