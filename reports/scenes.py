"""report.md's "Per scene" section: each task's primary metric per context value.

Reads the ``context-gap`` fairness metric of every ok record (``plugins/group_gap.py``): per
task and context field (time of day, device, ...; pairs of fields are left to results.json),
the metric of each value with its rows, and the gap between the best- and worst-served value
with its 95% interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mtrec.reports.summary import number
from mtrec.reports.text import markdown_cell

HEADER = ["record", "task", "context field", "metric per value (rows)", "gap [95% CI]"]


def scene_rows(records: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per ok record, task and context field with context-gap figures."""
    rows = []
    for record in records:
        if record.get("status") != "ok":
            continue
        slices = (record.get("fairness") or {}).get("context-gap")
        if not isinstance(slices, Mapping):
            continue
        name = " \u00b7 ".join(
            (str(record.get("backbone")), str(record.get("domain")), f"seed {record.get('seed')}")
        )
        for task, fields in slices.items():
            if not isinstance(fields, Mapping):
                continue
            for field, figures in fields.items():
                if "&" in str(field) or not isinstance(figures, Mapping):
                    continue
                sizes = figures.get("group_sizes") or {}
                values = ", ".join(
                    f"{value} {number(metric)} ({sizes.get(value, '?')})"
                    for value, metric in (figures.get("by_group") or {}).items()
                )
                interval = figures.get("difference_ci")
                gap = number(figures.get("difference"))
                if isinstance(interval, list) and len(interval) == 2:
                    gap += f" [{number(interval[0])}, {number(interval[1])}]"
                rows.append([name, str(task), f"{field} ({figures.get('metric')})", values, gap])
    return rows


def markdown_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The section ([] when no record has context-gap figures)."""
    rows = scene_rows(records)
    if not rows:
        return []
    lines = [
        "",
        "## Per scene",
        "",
        "Each task's primary metric per context value (the scene of the test rows; "
        "`context-gap`), and the gap between the best- and worst-served value with its 95% "
        "interval over the values with enough rows.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return lines
