"""Tradeoffs between combinations: one summary per record and the Pareto front over them.

Each ok record is reduced to a few objectives (accuracy score, latency, memory, worst-task gain,
worst group gap). A record is on the front when no other record is at least as good on every
objective both of them report and strictly better on one. An objective a record lacks (None:
no single-task baselines, no sensitive attribute) is left out of every comparison involving
that record, so a missing figure never counts as good or bad.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from mtrec.measure.group_headlines import worst_relative_group_gap
from mtrec.measure.tasks import log_ratio, selection_score

Key = TypeVar("Key", bound=Hashable)


class Objective(NamedTuple):
    """One axis of the tradeoff."""

    name: str  # key in a summary
    direction: str  # "higher" or "lower" is better
    label: str  # short human-readable title with unit


OBJECTIVES: tuple[Objective, ...] = (
    Objective("score", "higher", "accuracy score (geometric-mean % gain over trivial)"),
    Objective("latency_p50_ms", "lower", "p50 latency ms"),
    # On a GPU the memory that limits a model is the device's: the CUDA allocator peak there,
    # process RSS on the CPU.
    Objective("peak_memory_mb", "lower", "peak memory MB (CUDA peak on a GPU, else RSS)"),
    Objective("d_min", "higher", "worst-task gain D_min %"),
    Objective("worst_group_gap", "lower", "worst group gap (% of the metric)"),
)


def summarise(record: Mapping[str, Any]) -> dict[str, float | None]:
    """The objectives of one record; None where the record does not carry the figure."""
    efficiency = record.get("efficiency") or {}
    subtask = (record.get("fairness") or {}).get("subtask-gain") or {}
    return {
        "score": _score(record),
        "latency_p50_ms": _latency_p50(efficiency),
        "peak_memory_mb": _peak_memory(efficiency),
        "d_min": _number(subtask.get("d_min")) if isinstance(subtask, Mapping) else None,
        "worst_group_gap": _worst_group_gap(record),
    }


def pareto_front(summaries: Mapping[Key, Mapping[str, Any]]) -> list[Key]:
    """Keys of the summaries no other summary dominates, in the mapping's order.

    Equal summaries do not dominate each other, so ties stay on the front together.
    """
    items = list(summaries.items())
    return [
        key
        for key, summary in items
        if not any(other_key != key and dominates(other, summary) for other_key, other in items)
    ]


def dominates(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective both report, and better
    on one."""
    better = False
    for objective in OBJECTIVES:
        x, y = _number(a.get(objective.name)), _number(b.get(objective.name))
        if x is None or y is None:
            continue
        if objective.direction == "lower":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def annotate_tradeoffs(document: dict[str, Any]) -> None:
    """Set ``summary`` and ``pareto_optimal`` on every ok record and ``tradeoffs`` on the run."""
    records: Sequence[dict[str, Any]] = [
        record for record in document.get("records", []) if record.get("status") == "ok"
    ]
    summaries: dict[int, dict[str, float | None]] = {}
    for index, record in enumerate(records):
        record["summary"] = summaries[index] = summarise(record)
    front = set(pareto_front(summaries))
    keys: list[str] = []
    for index, record in enumerate(records):
        record["pareto_optimal"] = index in front
        if index in front and record["key"] not in keys:
            keys.append(record["key"])
    document["tradeoffs"] = {
        "objectives": [objective._asdict() for objective in OBJECTIVES],
        "front": keys,
    }


def _score(record: Mapping[str, Any]) -> float | None:
    """Geometric-mean gain (%) of the tasks' primary test metrics over the trivial predictor,
    the rule that selects checkpoints too (``tasks.SELECTION_RULE``)."""
    metrics = record.get("metrics") or {}
    trivial = (record.get("reference") or {}).get("trivial") or {}
    ratios = []
    for task, info in (record.get("tasks") or {}).items():
        name = info.get("primary_metric")
        value = _number((metrics.get(task) or {}).get(name))
        base = _number((trivial.get(task) or {}).get(name))
        if value is None or base is None:
            continue
        direction = 1 if info.get("directions", {}).get(name, "higher") == "higher" else -1
        ratios.append(log_ratio(value, base, direction))
    return selection_score(ratios) if ratios else None


def _latency_p50(efficiency: Mapping[str, Any]) -> float | None:
    latency = efficiency.get("latency_ms") or {}
    entry = latency.get("1") or next(iter(latency.values()), None)
    return None if not isinstance(entry, Mapping) else _number(entry.get("p50"))


def _peak_memory(efficiency: Mapping[str, Any]) -> float | None:
    """CUDA peak memory where the record ran on a GPU (it carries one), else peak RSS."""
    cuda = _number(efficiency.get("cuda_peak_memory_mb"))
    return cuda if cuda is not None else _number(efficiency.get("peak_memory_mb"))


def _worst_group_gap(record: Mapping[str, Any]) -> float | None:
    """The largest per-task headline group gap, in % of the task's metric (unit-free)."""
    return worst_relative_group_gap(record)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
