"""Reading tables: a data file parsed, typed and range-checked as its manifest's table says.

Delimited, CSV and JSON-lines files (optionally gzip-compressed) are read into columns; bad
input is a :class:`DataFormatError` naming the file and the line. Also finds the folder to read
(a user-supplied path or the cached source) and its format.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.datasets.cache import require_cached
from mtrec.datasets.errors import DataFormatError, DatasetError
from mtrec.datasets.manifest import Manifest, TableSpec

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
