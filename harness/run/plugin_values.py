"""Values plugins hand back for a record, made JSON-ready at the boundary.

A fairness metric returns "a JSON-ready result", but numpy makes it easy to return
``np.float32`` or an array instead. :func:`json_value` turns numpy scalars and arrays into
Python numbers and lists and mapping keys into strings; anything else JSON cannot hold is
refused with the path to it, so the caller can fail that one metric, not the whole record.
A failed metric is recorded as ``{"error": reason}``: :func:`metric_result` is how readers
skip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class NotJsonError(ValueError):
    """A plugin value JSON cannot hold; the message names where it sits."""


def json_value(value: Any, path: str = "") -> Any:
    """``value`` with numpy scalars/arrays converted and mapping keys as strings.

    Non-finite floats stay floats (the results writer turns them into null). Raises
    :class:`NotJsonError` naming the first value that is not JSON.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value
    if isinstance(value, np.generic):
        item = value.item()
        if isinstance(item, bool | int | float | str):
            return item
        raise NotJsonError(f"at {path or 'the top'}: {type(value).__name__} is not a JSON value")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufU":
            raise NotJsonError(f"at {path or 'the top'}: an array of {value.dtype} is not JSON")
        return value.tolist()
    if isinstance(value, Mapping):
        converted = {}
        for key, inner in value.items():
            if not isinstance(key, str | int | np.str_ | np.integer):
                raise NotJsonError(f"at {path or 'the top'}: key {key!r} is not a string")
            name = str(key)
            converted[name] = json_value(inner, f"{path}.{name}" if path else name)
        return converted
    if isinstance(value, list | tuple):
        return [json_value(inner, f"{path}[{i}]") for i, inner in enumerate(value)]
    raise NotJsonError(f"at {path or 'the top'}: {type(value).__name__} is not a JSON value")


def metric_result(record: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The fairness metric ``name`` of a record; {} when it is absent or failed."""
    result = (record.get("fairness") or {}).get(name)
    if not isinstance(result, Mapping) or failed_metric(result):
        return {}
    return result


def failed_metric(result: Any) -> bool:
    """Whether a fairness result is a recorded failure (``{"error": reason}``)."""
    return isinstance(result, Mapping) and set(result) == {"error"}
