"""Reading a run folder's ``results.json`` back: one reader for report, compare and merge.

A results file is input like any other: it may be from another mtrec version, hand-edited,
truncated or not an mtrec file at all. :func:`read_results` checks what the readers rely on
(a known ``schema_version``, a records list, every record's identity, status and metric
tables) and raises one :class:`~mtrec.errors.UsageError` naming the file and the field, so
no reader meets a malformed document half-way through and fails with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtrec.errors import UsageError
from mtrec.printable import echoed
from mtrec.store.results import SCHEMA_VERSION

RESULTS = "results.json"
KNOWN_SCHEMA_VERSIONS = frozenset({SCHEMA_VERSION})  # the versions this mtrec can read
STATUSES = ("ok", "failed")


def read_results(folder: Path, *, name: str | None = None) -> dict[str, Any]:
    """The checked ``results.json`` of the run folder ``folder`` (``name``: how the user
    named it, for messages); UsageError when it is missing, unreadable or malformed."""
    shown = name or str(folder)
    path = folder / RESULTS
    if not path.is_file():
        raise UsageError(f"{shown}: no {RESULTS} here; pass a run folder")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    check_results(document, str(path))
    return document  # type: ignore[no-any-return]


def check_results(document: Any, origin: str) -> None:
    """UsageError naming ``origin`` and the field when ``document`` is not a results document
    this mtrec can read."""
    if not isinstance(document, dict):
        raise UsageError(
            f"{origin}: not an mtrec results document: a JSON {_kind(document)}, where an "
            "object with schema_version and records is expected"
        )
    if "schema_version" not in document:
        raise UsageError(f"{origin}: schema_version: missing; not an mtrec results document")
    version = document["schema_version"]
    if isinstance(version, bool) or version not in KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise UsageError(
            f"{origin}: schema_version: {echoed(version)} is not one this mtrec reads "
            f"({known}); use the mtrec version that wrote it"
        )
    records = document.get("records")
    if not isinstance(records, list):
        raise UsageError(f"{origin}: records: expected a list, got {_kind(records)}")
    for index, record in enumerate(records):
        _check_record(record, f"{origin}: records[{index}]")


def unfinished(document: Mapping[str, Any]) -> str | None:
    """Why the run is not finished (still running, or killed), or None when it finished."""
    if document.get("finished"):
        return None
    count = len(document.get("records", []))
    return (
        f"the run has not finished (no 'finished' time; {count} record"
        f"{'s' if count != 1 else ''} so far): still running, or stopped before the end"
    )


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict):
        raise UsageError(f"{where}: expected an object, got {_kind(record)}")
    for field in ("key", "backbone", "head_set", "domain"):
        value = record.get(field)
        if not isinstance(value, str) or not value:
            raise UsageError(f"{where}.{field}: expected a non-empty string, got {_kind(value)}")
    seed = record.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"{where}.seed: expected an integer, got {_kind(seed)}")
    if record.get("status") not in STATUSES:
        raise UsageError(
            f"{where}.status: expected 'ok' or 'failed', got {echoed(record.get('status'))}"
        )
    for field in ("efficiency", "fairness", "config", "tasks", "predictions"):
        value = record.get(field)
        if value is not None and not isinstance(value, dict):
            raise UsageError(f"{where}.{field}: expected an object, got {_kind(value)}")
    metrics = record.get("metrics")
    if metrics is None and record["status"] != "ok":
        return
    if not isinstance(metrics, dict):
        raise UsageError(f"{where}.metrics: expected an object, got {_kind(metrics)}")
    for task, values in metrics.items():
        if not isinstance(values, dict):
            raise UsageError(
                f"{where}.metrics.{task}: expected an object of metric values, got {_kind(values)}"
            )
        for metric, value in values.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise UsageError(
                    f"{where}.metrics.{task}.{metric}: expected a number, got {_kind(value)}"
                )
    for task, info in (record.get("tasks") or {}).items():
        if not isinstance(info, dict) or not isinstance(info.get("primary_metric"), str):
            raise UsageError(f"{where}.tasks.{task}: expected an object with a primary_metric")


def _kind(value: Any) -> str:
    """A JSON value's kind, for messages ('a list', 'null', 'the string ...')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {echoed(value)}"
    if isinstance(value, str):
        return f"the string {echoed(value, limit=60)}"
    if isinstance(value, list):
        return "an array"
    return "an object"
