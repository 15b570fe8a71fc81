"""Cache entries on disk that vouch for themselves.

Every entry mtrec keeps between runs (tokenized splits, variant predictions, built tiny
checkpoints) carries the key it was stored under and a SHA-256 of its content. Reading an
entry checks both: a truncated or bit-flipped file, a valid file of another key copied over
this one, or anything that cannot be read at all is discarded with a warning naming the
file, and the caller recomputes it. A cache can then only cost time, never change a result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger("mtrec.cache")

INTEGRITY = "__integrity__"  # the npz member holding {"key": ..., "sha256": ...}
MANIFEST = "mtrec-integrity.json"  # the same for a folder entry, one digest per file


def array_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_arrays(path: Path, key: str, arrays: Mapping[str, np.ndarray]) -> bool:
    """Store ``arrays`` under ``key`` at ``path`` atomically; False if it cannot be written
    (a cache that cannot be written is skipped, never an error)."""
    seal = json.dumps({"key": key, "sha256": array_digest(arrays)})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            np.savez(handle, **arrays, **{INTEGRITY: np.asarray(seal)})  # type: ignore[arg-type]
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        return False
    return True


def read_arrays(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key`` at ``path``; None when absent or not to be trusted
    (then the file is removed and a warning names it)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name != INTEGRITY}
            seal = json.loads(str(archive[INTEGRITY])) if INTEGRITY in archive.files else None
    except Exception as exc:
        discard(path, f"unreadable ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(seal, dict) or "key" not in seal or "sha256" not in seal:
        discard(path, "no integrity record (written by an older mtrec or another tool)")
        return None
    if seal["key"] != key:
        discard(path, f"holds the entry of another key ({str(seal['key'])[:16]})")
        return None
    if seal["sha256"] != array_digest(arrays):
        discard(path, "content does not match its checksum (corrupted)")
        return None
    return arrays


def seal_folder(folder: Path, key: str, files: Iterable[str] | None = None) -> None:
    """Write the integrity manifest of a folder entry: its key and each file's SHA-256."""
    names = sorted(files) if files is not None else _files(folder)
    manifest = {"key": key, "files": {name: file_digest(folder / name) for name in names}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def folder_is_sound(folder: Path, key: str) -> bool:
    """Whether a folder entry matches its manifest (key and every file's digest). A folder
    that does not is removed with a warning naming the file at fault."""
    if not folder.is_dir():
        return False
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        recorded_key = manifest["key"]
    except Exception as exc:
        discard(folder, f"no readable integrity manifest ({type(exc).__name__})")
        return False
    if recorded_key != key:
        discard(folder, f"holds the entry of another key ({str(recorded_key)[:16]})")
        return False
    for name, expected in files.items():
        try:
            actual = file_digest(folder / name)
        except OSError as exc:
            discard(folder, f"{name} is unreadable ({type(exc).__name__})")
            return False
        if actual != expected:
            discard(folder, f"{name} does not match its checksum (corrupted or truncated)")
            return False
    return True


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discard(path: Path, reason: str) -> None:
    """Remove a cache entry that cannot be trusted, saying which and why."""
    log.warning("cache entry %s discarded and recomputed: %s", path, reason)
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # a later write replaces it atomically anyway


def _files(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.name != MANIFEST
    )
