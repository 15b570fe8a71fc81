"""Checking what a domain plugin returned before anything trains on it.

A :class:`~mtrec.specs.DomainData` crosses a plugin boundary, so it is checked once, when
the domain loads: every array as long as the split's ``ids``, the dtypes the specs promise,
finite values, class indices inside the declared classes, ids unique within the domain, and
the label fields and sensitive attributes that are declared present in every split (and
nothing undeclared). A domain that fails is reported with the first problem found, naming
the split and the field, so the plugin's author knows where to look; the caller adds the
domain and plugin names and fails that combination before any training or file writing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mtrec.specs import DomainData, DomainSplit, LabelField, TaskType

SPLITS = ("train", "validation", "test")


def domain_problems(
    data: object,
    *,
    declared_labels: Sequence[str] = (),
    declared_sensitive: Sequence[str] = (),
    declared_context: Sequence[str] | None = None,
) -> list[str]:
    """Every problem with ``data``, each one line naming the split and field; [] when sound.

    ``declared_labels``, ``declared_sensitive`` and ``declared_context`` are what the domain's
    registration says it provides (``DomainSpec``); the loaded data must hold them (the
    context fields exactly, when given: they are what the model reads).
    """
    if not isinstance(data, DomainData):
        return [f"returned {type(data).__name__} from its loader; expected DomainData"]
    problems = list(_declarations(data, declared_labels, declared_sensitive))
    seen_ids: dict[int, str] = {}
    for name in SPLITS:
        split = getattr(data, name)
        if not isinstance(split, DomainSplit):
            problems.append(f"split '{name}' is {type(split).__name__}; expected DomainSplit")
            continue
        problems += [
            f"split '{name}', field '{where}': {what}" for where, what in _split(split, data)
        ]
        problems += _duplicates(name, split, seen_ids)
    if declared_context is not None and tuple(data.context_fields) != tuple(declared_context):
        problems.append(
            f"context_fields {list(data.context_fields)} differ from the registration's "
            f"context_fields {list(declared_context)}"
        )
    return problems


def _declarations(
    data: DomainData, declared_labels: Sequence[str], declared_sensitive: Sequence[str]
) -> Iterator[str]:
    for field_name in declared_labels:
        if field_name not in data.label_fields:
            yield (
                f"label field '{field_name}' is declared in the registration but missing from "
                f"the loaded label_fields (it has: {', '.join(data.label_fields) or 'none'})"
            )
    for field_name, spec in data.label_fields.items():
        if not isinstance(spec, LabelField) or spec.name != field_name:
            yield f"label_fields['{field_name}'] is not a LabelField named '{field_name}'"
    for attribute in declared_sensitive:
        if attribute not in data.sensitive_attributes:
            yield (
                f"sensitive attribute '{attribute}' is declared in the registration but "
                "missing from the loaded sensitive_attributes"
            )


def _split(split: DomainSplit, data: DomainData) -> Iterator[tuple[str, str]]:
    ids = np.asarray(split.ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        yield "ids", f"expected a 1-d integer array, got {_shape(ids)}"
        return
    n = len(ids)
    for name in ("user_ids", "item_ids"):
        values = np.asarray(getattr(split, name))
        if values.ndim != 1 or values.dtype.kind not in "iu":
            yield name, f"expected a 1-d integer array, got {_shape(values)}"
        elif len(values) != n:
            yield name, _length(len(values), n)
    for name in ("user_text", "item_text"):
        texts = getattr(split, name)
        if len(texts) != n:
            yield name, _length(len(texts), n)
        elif not all(isinstance(text, str) for text in texts):
            yield name, "expected one str per row"
    for field_name in data.label_fields:
        if field_name not in split.labels:
            yield f"labels.{field_name}", "declared in label_fields but missing from this split"
    for field_name, values in split.labels.items():
        spec = data.label_fields.get(field_name)
        if spec is None:
            yield f"labels.{field_name}", "present in this split but not declared in label_fields"
            continue
        problem = _labels(np.asarray(values), spec, n)
        if problem:
            yield f"labels.{field_name}", problem
    for attribute in data.sensitive_attributes:
        if attribute not in split.sensitive:
            yield f"sensitive.{attribute}", "declared in sensitive_attributes but missing here"
    for attribute, groups in split.sensitive.items():
        array = np.asarray(groups)
        if attribute not in data.sensitive_attributes:
            yield f"sensitive.{attribute}", "present here but not in sensitive_attributes"
        elif array.ndim != 1:
            yield f"sensitive.{attribute}", f"expected one group per row, got {_shape(array)}"
        elif len(array) != n:
            yield f"sensitive.{attribute}", _length(len(array), n)
    yield from _scene(split, data, n)


def _scene(split: DomainSplit, data: DomainData, n: int) -> Iterator[tuple[str, str]]:
    """Problems with the context, history and timestamps of a split of ``n`` rows."""
    for name in data.context_fields:
        if name not in split.context:
            yield f"context.{name}", "declared in context_fields but missing from this split"
    for name, values in split.context.items():
        array = np.asarray(values)
        if name not in data.context_fields:
            yield f"context.{name}", "present here but not in context_fields"
        elif array.ndim != 1:
            yield f"context.{name}", f"expected one value per row, got {_shape(array)}"
        elif len(array) != n:
            yield f"context.{name}", _length(len(array), n)
        elif not all(isinstance(value, str) for value in array.tolist()):
            yield f"context.{name}", "expected one str per row"
    history = split.history
    if isinstance(history, str) or not isinstance(history, Sequence):
        yield "history", f"expected one sequence of str per row, got {type(history).__name__}"
    elif len(history) and len(history) != n:
        yield "history", f"{len(history)} rows for {n} ids (one entry per row; () for none)"
    else:
        for row, earlier in enumerate(history):
            if isinstance(earlier, str) or not isinstance(earlier, Sequence):
                yield (
                    "history",
                    f"row {row}: expected a sequence of str, got {type(earlier).__name__}",
                )
                break
            if not all(isinstance(phrase, str) for phrase in earlier):
                yield "history", f"row {row}: expected str phrases"
                break
    if split.timestamps is not None:
        stamps = np.asarray(split.timestamps)
        if stamps.ndim != 1 or stamps.dtype.kind not in "iu":
            yield "timestamps", f"expected a 1-d integer array or None, got {_shape(stamps)}"
        elif len(stamps) != n:
            yield "timestamps", _length(len(stamps), n)


def _labels(values: np.ndarray, spec: LabelField, n: int) -> str | None:
    """What is wrong with one label column of a split, or None."""
    multilabel = spec.task_type is TaskType.MULTILABEL
    if len(values) != n:
        return _length(len(values), n)
    if values.ndim != (2 if multilabel else 1):
        return f"expected a {'2' if multilabel else '1'}-d array, got {_shape(values)}"
    if values.dtype.kind not in "iubf":
        return f"expected numbers, got dtype {values.dtype}"
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values).reshape(n, -1).all(axis=1))[0])
        return f"non-finite value at row {bad} ({values.reshape(n, -1)[bad].tolist()})"
    if spec.task_type is TaskType.REGRESSION:
        return None
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        return f"expected integer class values for a {spec.task_type.value} field, got floats"
    if spec.task_type is TaskType.MULTICLASS:
        return _outside(values, 0, len(spec.classes) - 1, f"{len(spec.classes)} declared classes")
    if multilabel and values.shape[1] != len(spec.classes):
        return f"{values.shape[1]} columns for {len(spec.classes)} declared classes"
    return _outside(values, 0, 1, "0/1 labels")


def _outside(values: np.ndarray, low: int, high: int, what: str) -> str | None:
    bad = np.flatnonzero(((values < low) | (values > high)).reshape(len(values), -1).any(axis=1))
    if len(bad) == 0:
        return None
    row = int(bad[0])
    value = values[row].tolist()
    return f"value {value} at row {row} is outside [{low}, {high}] ({what}; {len(bad)} rows)"


def _duplicates(name: str, split: DomainSplit, seen: dict[int, str]) -> list[str]:
    """Ids repeated within this split or shared with an earlier split (the first one)."""
    ids = np.asarray(split.ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        return []
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        return [f"split '{name}', field 'ids': id {int(unique[counts > 1][0])} appears twice"]
    for value in ids.tolist():
        if value in seen:
            return [f"split '{name}', field 'ids': id {value} is also in split '{seen[value]}'"]
        seen[value] = name
    return []


def _length(got: int, n: int) -> str:
    return f"{got} values for {n} ids (arrays of a split are row-aligned)"


def _shape(array: Any) -> str:
    return f"shape {tuple(np.shape(array))} dtype {getattr(array, 'dtype', type(array).__name__)}"


def describe_problems(problems: Sequence[str]) -> str:
    """One line: the first problem, and how many more there are."""
    more = len(problems) - 1
    return problems[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
