"""The headline group gaps of a record: one per task, in that task's own metric.

A gap in RMSE, one in AUC and one in mAP are in different units, so no single largest gap is
taken across tasks. Per task (its primary metric, as ``group-gap`` reports it) the headline is
the largest gap over the sensitive attributes and their intersections, counting only groups
with at least ``fairness.min_group_users`` users (the plugin leaves the others out of
``difference``), with its interval and its support. Where one number across tasks is needed
(the tradeoff front) it is the largest *relative* gap: the gap as a share of the larger of the
two group values, which has no unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class GroupGapHeadline:
    """The largest supported between-group gap of one task."""

    task: str  # task name
    metric: str  # the task's primary metric, the unit of the gap
    attribute: str  # the attribute or intersection (``a&b``) with the largest gap
    difference: float  # max - min over the supported groups, in the metric's units
    interval: tuple[float, float] | None  # 95% interval, simultaneous over all the gaps
    worst_group: str | None  # the group served worst
    groups: int | None  # how many groups the gap is over (None: a record from before)
    smallest_group_users: int | None  # users in the smallest of them
    min_group_users: int | None  # the support a group needed to count
    relative: float | None  # the gap in % of the larger group value (unit-free)

    def support(self) -> str:
        """E.g. "5 groups, >= 31 users"."""
        if self.groups is None:
            return "-"
        return f"{self.groups} groups, \u2265 {self.smallest_group_users} users"


def group_gap_headlines(record: Mapping[str, Any]) -> list[GroupGapHeadline]:
    """One headline per task with a supported group gap, in the record's task order."""
    gaps = (record.get("fairness") or {}).get("group-gap") or {}
    headlines = []
    for task, attributes in gaps.items() if isinstance(gaps, Mapping) else ():
        if not isinstance(attributes, Mapping):
            continue
        candidates = [
            (attribute, figures, value)
            for attribute, figures in attributes.items()
            if isinstance(figures, Mapping)
            and (value := _number(figures.get("difference"))) is not None
        ]
        if not candidates:
            continue
        attribute, figures, difference = max(candidates, key=lambda c: c[2])
        # the interval that holds for all the task's gaps at once (the largest was picked)
        interval = figures.get("difference_ci_all", figures.get("difference_ci"))
        found = figures.get("support")
        support: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        low, high = _number(figures.get("group_min")), _number(figures.get("group_max"))
        scale = max(abs(low), abs(high)) if low is not None and high is not None else None
        headlines.append(
            GroupGapHeadline(
                task=str(task),
                metric=str(figures.get("metric")),
                attribute=str(attribute),
                difference=difference,
                interval=(float(interval[0]), float(interval[1]))
                if isinstance(interval, list | tuple) and len(interval) == 2
                else None,
                worst_group=None
                if figures.get("worst_group") is None
                else str(figures["worst_group"]),
                groups=support.get("groups"),
                smallest_group_users=support.get("smallest_group_users"),
                min_group_users=figures.get("min_group_users"),
                relative=100.0 * difference / scale if scale else None,
            )
        )
    return headlines


def worst_relative_group_gap(record: Mapping[str, Any]) -> float | None:
    """The largest headline gap in % of its task's metric (None: no supported gap)."""
    values = [h.relative for h in group_gap_headlines(record) if h.relative is not None]
    return max(values) if values else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
