"""What both renderers show: one row per record, with the figures people compare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtrec.measure.group_headlines import group_gap_headlines

RANKING = "ranking"  # a task type whose rows are users and whose figures come at cut-offs
# A ranking task reports every figure at every cut-off (tens of them): the tables show these
# at the primary cut-off; the item-side ones have a table of their own, the rest are in the
# HTML report's details and in results.json.
RANKING_HEADLINE = ("ndcg", "recall", "hr", "mrr")
RANKING_ITEM_SIDE = ("coverage", "gini", "pop_lift", "tail_share")
REFERENCE_NAMES = {RANKING: "most-popular"}  # a task type's trivial reference, if not "trivial"


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


def task_columns(
    records: Iterable[Mapping[str, Any]], families: Sequence[str] = RANKING_HEADLINE
) -> list[TaskColumn]:
    """Every (task, metric) pair reported by any ok record, in first-seen order; of a ranking
    task only the ``families`` at its primary cut-off (NDCG, recall, HR and MRR)."""
    columns: dict[tuple[str, str], TaskColumn] = {}
    for record in records:
        for task, info in record.get("tasks", {}).items():
            for metric in shown_metrics(info, families):
                columns.setdefault(
                    (task, metric),
                    TaskColumn(task=task, metric=metric, direction=info["directions"][metric]),
                )
    return list(columns.values())


def ranking_columns(
    records: Iterable[Mapping[str, Any]], families: Sequence[str] = RANKING_ITEM_SIDE
) -> list[TaskColumn]:
    """The ``families`` at the primary cut-off of every ranking task (default: the
    item-side figures), in first-seen order."""
    kept = list(records)
    ranked = {
        task
        for record in kept
        for task, info in (record.get("tasks") or {}).items()
        if is_ranking(info)
    }
    return [column for column in task_columns(kept, families) if column.task in ranked]


def is_ranking(info: Mapping[str, Any] | None) -> bool:
    """Whether a record's ``tasks`` entry is a ranking task."""
    return (info or {}).get("type") == RANKING


def shown_metrics(info: Mapping[str, Any], families: Sequence[str] = RANKING_HEADLINE) -> list[str]:
    """The metrics of a task (its ``tasks`` entry in a record) that a table shows: every one
    it reports; of a ranking task the ``families`` at its primary cut-off (``ndcg@10`` ->
    ``ndcg@10``, ``recall@10``, ...) that it reports."""
    directions = info.get("directions") or {}
    if not is_ranking(info):
        return list(directions)
    _, _, cut = str(info.get("primary_metric", "")).partition("@")
    return [name for name in (f"{family}@{cut}" for family in families) if name in directions]


def reference_name(task_types: Iterable[str | None]) -> str:
    """The name of the no-input reference of tasks of these types, for a row that shows them
    together: "trivial", "most-popular", or "trivial; most-popular for ranking"."""
    kinds = {REFERENCE_NAMES.get(str(kind), "trivial") for kind in task_types}
    if kinds == {"most-popular"}:
        return "most-popular"
    return "trivial; most-popular for ranking" if "most-popular" in kinds else "trivial"


def task_types(records: Iterable[Mapping[str, Any]]) -> list[str | None]:
    """The type of every task of the records (one entry per task and record)."""
    return [
        info.get("type")
        for record in records
        for info in (record.get("tasks") or {}).values()
        if isinstance(info, Mapping)
    ]


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
