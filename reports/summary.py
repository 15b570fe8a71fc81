"""What both renderers show: one row per record, with the figures people compare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mtrec.measure.group_headlines import group_gap_headlines


@dataclass(frozen=True, kw_only=True)
class TaskColumn:
    """A column of the summary table: one metric of one task."""

    task: str  # task name
    metric: str  # metric name
    direction: str  # "higher" or "lower"

    @property
    def title(self) -> str:
        arrow = "\u2191" if self.direction == "higher" else "\u2193"
        return f"{self.task} {self.metric} {arrow}"


def task_columns(records: Iterable[Mapping[str, Any]]) -> list[TaskColumn]:
    """Every (task, metric) pair reported by any ok record, in first-seen order."""
    columns: dict[tuple[str, str], TaskColumn] = {}
    for record in records:
        for task, info in record.get("tasks", {}).items():
            for metric, direction in info.get("directions", {}).items():
                columns.setdefault(
                    (task, metric), TaskColumn(task=task, metric=metric, direction=direction)
                )
    return list(columns.values())


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def compact(value: float | None) -> str:
    """Large counts as 1.2M / 3.4G."""
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def metric_cell(record: Mapping[str, Any], column: TaskColumn) -> str:
    value = record.get("metrics", {}).get(column.task, {}).get(column.metric)
    return number(value)


def latency_p50(record: Mapping[str, Any], batch_size: str = "1") -> float | None:
    latency = record.get("efficiency", {}).get("latency_ms", {})
    entry = latency.get(batch_size) or next(iter(latency.values()), None)
    return None if entry is None else entry.get("p50")


def group_gap_cell(record: Mapping[str, Any], digits: int = 3) -> str:
    """Each task's headline group gap in its own metric: "rating rmse 0.041; click auc 0.02"."""
    return (
        "; ".join(
            f"{h.task} {h.metric} {number(h.difference, digits)}"
            for h in group_gap_headlines(record)
        )
        or "-"
    )


def latency_p50_cell(record: Mapping[str, Any], batch_size: str = "1", digits: int = 2) -> str:
    """p50 latency as served end to end; with a feature cache (frozen), the cached p50 too."""
    shown = number(latency_p50(record, batch_size), digits)
    cached = (record.get("efficiency", {}).get("latency_ms_cached") or {}).get(batch_size)
    return shown if not cached else f"{shown} (cached {number(cached.get('p50'), digits)})"


def flops_cell(record: Mapping[str, Any]) -> str:
    """FLOPs per sample end to end; with a feature cache (frozen), the cached figure too."""
    efficiency = record.get("efficiency", {})
    shown = compact(efficiency.get("flops_per_sample"))
    cached = efficiency.get("flops_per_sample_cached")
    return shown if cached is None else f"{shown} (cached {compact(cached)})"


def strategy(record: Mapping[str, Any]) -> str:
    """How the backbone was trained: full, top_k (k), frozen, none."""
    training = record.get("training", {})
    name = str(
        training.get("strategy")
        or record.get("config", {}).get("training", {}).get("strategy", "?")
    )
    if name == "top_k":
        return f"top_{training.get('trainable_layers', '?')}"
    return name
