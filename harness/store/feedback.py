"""Reading the feedback loop (``protocol: {kind: rounds}``) out of records, and its leaderboard.

A record of the rounds protocol carries a ``rounds`` section (docs/rounds.md): per round,
the prequential evaluation of the window (before the model trained on it), the update that
followed, the probe on the held-out share of window 0 and the forgetting since round 0. Its
ordinary ``metrics`` are the prequential figures: every evaluated window pooled. A record
without that section is not part of the loop, and nothing here reports it.

The helpers here are shared by the leaderboard (:func:`feedback_tables`) and the report views
(:mod:`mtrec.reports.rounds`); they never raise on a malformed section: what is missing reads
as None.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtrec.store.variants import variant_names


def rounds_section(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``rounds`` section of an ok record of the feedback loop; None for any other."""
    if record.get("status") != "ok":
        return None
    section = record.get("rounds")
    if not isinstance(section, Mapping) or not isinstance(section.get("results"), list):
        return None
    return section


def update_strategy(record: Mapping[str, Any]) -> str:
    """How the record's model was updated between rounds (``fine-tune``, ``replay``, ...)."""
    section = record.get("rounds")
    section = section if isinstance(section, Mapping) else {}
    protocol = (record.get("config") or {}).get("protocol") or {}
    found = section.get("update") or (
        protocol.get("update") if isinstance(protocol, Mapping) else None
    )
    return str(found or "?")


def primary_metric(record: Mapping[str, Any], task: str) -> tuple[str, str] | None:
    """(metric, direction) that the loop's lines and tables show for ``task``: the section's
    ``primary_metrics`` (else the task's primary metric), its direction from the section's
    ``directions`` (else the task's); None when the record names none."""
    section = rounds_section(record) or {}
    info = (record.get("tasks") or {}).get(task) or {}
    metric = (section.get("primary_metrics") or {}).get(task) or info.get("primary_metric")
    if not metric:
        return None
    direction = ((section.get("directions") or {}).get(task) or {}).get(metric) or (
        info.get("directions") or {}
    ).get(metric)
    return str(metric), "lower" if direction == "lower" else "higher"


def loop_tasks(record: Mapping[str, Any]) -> list[str]:
    """The tasks of a loop record, in the order the record lists them."""
    section = rounds_section(record) or {}
    names = list(section.get("primary_metrics") or {})
    names += [t for t in (record.get("tasks") or {}) if t not in names]
    return [t for t in names if primary_metric(record, t) is not None]


def evaluated_rounds(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The section's results of rounds 1..R-1 that hold an evaluation, in round order."""
    found = [
        entry
        for entry in section.get("results") or []
        if isinstance(entry, Mapping)
        and isinstance(entry.get("round"), int)
        and entry["round"] >= 1
        and isinstance(entry.get("evaluation"), Mapping)
    ]
    return sorted(found, key=lambda entry: entry["round"])


def update_rounds(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``update`` of each round 1..R-1 (round 0's is the initial training), in order."""
    found = [
        (entry["round"], entry["update"])
        for entry in section.get("results") or []
        if isinstance(entry, Mapping)
        and isinstance(entry.get("round"), int)
        and entry["round"] >= 1
        and isinstance(entry.get("update"), Mapping)
    ]
    return [update for _, update in sorted(found, key=lambda pair: pair[0])]


def figure(value: Any) -> float | None:
    """A finite number, else None (booleans, strings, NaN and null alike)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def task_figure(figures: Any, task: str, metric: str) -> float | None:
    """``figures[task][metric]`` as a finite number, else None."""
    if not isinstance(figures, Mapping):
        return None
    inner = figures.get(task)
    return figure(inner.get(metric)) if isinstance(inner, Mapping) else None


def forgetting(section: Mapping[str, Any], task: str, metric: str) -> list[tuple[int, float]]:
    """(round, forgetting) of every round 1..R-1 that reports it; positive = worse now."""
    found = [
        (entry["round"], value)
        for entry in section.get("results") or []
        if isinstance(entry, Mapping)
        and isinstance(entry.get("round"), int)
        and entry["round"] >= 1
        and (value := task_figure(entry.get("forgetting"), task, metric)) is not None
    ]
    return sorted(found)


# --------------------------------------------------------------------------------------
# the leaderboard's feedback-loop tables
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FeedbackRow:
    """One (variant, update strategy) of a feedback-loop table."""

    variant: str  # the backbone variant, its update strategy aside
    update: str  # the update strategy
    mean: float  # prequential primary metric, mean over seeds
    seeds: tuple[int, ...]  # the seeds averaged
    rank: int  # in its table, 1 = best (ties share the better rank)
    forgetting: float | None  # the last round's forgetting, mean over seeds (positive = worse)
    update_seconds: float | None  # mean seconds of one update (rounds 1..R-1), over seeds


@dataclass(frozen=True, kw_only=True)
class FeedbackTable:
    """The update strategies of one (domain, task), ranked by their prequential metric."""

    domain: str
    task: str
    metric: str
    direction: str  # "higher" or "lower" is better
    rows: tuple[FeedbackRow, ...]  # best first


def feedback_tables(
    entries: Sequence[tuple[Mapping[str, Any], Mapping[str, Any], str]], task: str | None = None
) -> list[FeedbackTable]:
    """The loop's tables from (record, its results document, its domain column) of ok records;
    ``task`` keeps that task only. Empty when no record has a ``rounds`` section."""
    loop = [(r, d, domain) for r, d, domain in entries if rounds_section(r) is not None]
    if not loop:
        return []
    # The variant as the board names it, without the update strategy (its own column).
    names = variant_names([(without_update(r), d) for r, d, _ in loop])
    cells: dict[tuple[str, str, str, str], dict[tuple[str, str], list[Mapping[str, Any]]]] = {}
    for (record, _, domain), (variant, _, _) in zip(loop, names, strict=True):
        for name in loop_tasks(record):
            if task is not None and name != task:
                continue
            metric, direction = primary_metric(record, name) or ("?", "higher")
            key = (domain, name, metric, direction)
            cells.setdefault(key, {}).setdefault((variant, update_strategy(record)), []).append(
                record
            )
    tables = []
    for (domain, name, metric, direction), by_row in cells.items():
        measured = []
        for (variant, update), records in by_row.items():
            pairs = sorted(
                (int(r.get("seed", 0)), value)
                for r in records
                if (value := task_figure(r.get("metrics"), name, metric)) is not None
            )
            if not pairs:
                continue
            last = [
                found[-1][1]
                for r in records
                if (found := forgetting(rounds_section(r) or {}, name, metric))
            ]
            seconds = [
                value
                for r in records
                for update_entry in update_rounds(rounds_section(r) or {})
                if (value := figure(update_entry.get("seconds"))) is not None
            ]
            measured.append(
                (variant, update, sum(v for _, v in pairs) / len(pairs), pairs, last, seconds)
            )
        sign = -1.0 if direction == "lower" else 1.0
        rows = [
            FeedbackRow(
                variant=variant,
                update=update,
                mean=mean,
                seeds=tuple(s for s, _ in pairs),
                rank=1 + sum(1 for other in measured if sign * other[2] > sign * mean),
                forgetting=sum(last) / len(last) if last else None,
                update_seconds=sum(seconds) / len(seconds) if seconds else None,
            )
            for variant, update, mean, pairs, last, seconds in measured
        ]
        rows.sort(key=lambda row: row.rank)
        if rows:
            tables.append(
                FeedbackTable(
                    domain=domain, task=name, metric=metric, direction=direction, rows=tuple(rows)
                )
            )
    return tables


def without_update(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record with its update strategy taken out of its config (so that variant names
    leave it out)."""
    config = record.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("protocol"), Mapping):
        return record
    trimmed = copy.copy(dict(record))
    protocol = {k: v for k, v in config["protocol"].items() if k != "update"}
    trimmed["config"] = {**config, "protocol": protocol}
    return trimmed


def feedback_json(tables: Sequence[FeedbackTable]) -> list[dict[str, Any]]:
    """The tables as JSON-ready data (``mtrec leaderboard --format json``'s ``feedback``)."""
    return [
        {
            "domain": t.domain,
            "task": t.task,
            "metric": t.metric,
            "direction": t.direction,
            "rows": [dict(row.__dict__, seeds=list(row.seeds)) for row in t.rows],
        }
        for t in tables
    ]
