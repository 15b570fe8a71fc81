"""The leaderboard: backbone variants x domains, one table per task metric, HELM-style ranks.

Built from one or more finished runs (``results.json`` through the one results reader, and
the saved test predictions for single-seed intervals). Pure functions: the renderers in
:mod:`mtrec.reports.leaderboard` only lay the result out.

* **Rows** are backbone *variants*, named by the settings that tell one backbone's records
  apart (:mod:`mtrec.store.variants`); a plain record keeps the plain backbone name.
* **Columns** are domains; tasks of different domains that share a name and metric share a
  table. Records of one domain built with different options (runs pooled from different
  suites) get a column each, named by the options that differ.
* **A cell** is the mean of the metric over the variant's seeds on that domain, with a 95%
  interval (:mod:`mtrec.measure.seed_intervals`): with two or more seeds, the t-interval over
  seeds (mean +- t(0.975, n-1) s/sqrt n); with one seed, the percentile interval of a
  bootstrap over users (each drawn user brings all their test rows) of the saved test
  predictions, ``fairness.bootstrap_resamples`` resamples (1000 when unset), seeded with the
  record's seed. Fairness headlines and transfer gains use the t-interval over seeds; with one
  seed, the worst-task gain has the interval its record carries, the others none.
* **Reference**: each table's floor is the record's trivial reference on the same test
  splits (no input: majority class, train mean, base rate); a ranking task's is the
  most-popular ranking of the same candidates, and is named so.
* **Best** cells are the best mean of their column in the metric's direction (ties all marked).
* **Ranks** (HELM-style): in every (task, domain) column a variant's win rate is the share of
  the other variants with a value there whose mean it beats (a tie counts half). Its win rate
  on a domain is the mean over that domain's task columns, its rank on the domain orders
  variants by that win rate (1 = best; ties share the better rank), and the board orders
  variants by the mean win rate over domains, then the mean rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.errors import UsageError
from mtrec.measure.pareto import summarise
from mtrec.measure.seed_intervals import paired_gain_bootstrap, t_half_width, user_bootstrap
from mtrec.store.compare import load_run
from mtrec.store.feedback import FeedbackTable, feedback_json, feedback_tables
from mtrec.store.variants import domain_names, variant_names

LEVEL = 0.95
TRIVIAL = "trivial predictor"  # the no-input reference of a task
MOST_POPULAR = "most-popular"  # a ranking task's reference: items by training popularity


def reference_name(task: Mapping[str, Any] | None) -> str:
    """What a task's trivial reference is called: ``most-popular`` for a ranking task (its
    ``tasks`` entry in a record), ``trivial predictor`` otherwise."""
    return MOST_POPULAR if (task or {}).get("type") == "ranking" else TRIVIAL


@dataclass(frozen=True, kw_only=True)
class Source:
    """A finished run read for the board."""

    name: str  # as the user named it (folder or stored run)
    path: Path  # the run folder (results.json, predictions/)
    document: Mapping[str, Any]  # its results.json


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One record placed on the board."""

    source: Source  # the run holding it
    record: Mapping[str, Any]  # the record as results.json has it
    variant: str  # its row name
    domain: str  # its column name (the domain, with the options that differ across runs)
    base: str  # its row name without the transfer source (the transfer matrix's row group)
    settings: Mapping[str, str]  # every setting that tells it from its backbone's other rows


@dataclass(frozen=True, kw_only=True)
class Cell:
    """A mean over seeds with its 95% interval."""

    mean: float  # mean of ``values``
    low: float | None  # interval bounds (None: no interval could be had)
    high: float | None
    method: str  # "t over seeds", "bootstrap over users" or "none"
    seeds: tuple[int, ...]  # the seeds averaged
    values: tuple[float, ...]  # one value per seed
    best: bool = False  # the best mean of its column
    rank: int | None = None  # its rank in the column (1 = best)


@dataclass(frozen=True, kw_only=True)
class TaskTable:
    """One task metric: variants x domains."""

    task: str
    metric: str
    direction: str  # "higher" or "lower" is better
    domains: tuple[str, ...]
    rows: tuple[tuple[str, Mapping[str, Cell]], ...]  # (variant, domain -> cell), board order
    # the trivial predictor on the same test splits (each record's reference), per domain:
    # a floor to read the rows against, neither ranked nor marked
    reference: Mapping[str, Cell] = field(default_factory=dict)
    reference_name: str = TRIVIAL  # what the reference is ("most-popular" for ranking)

    @property
    def title(self) -> str:
        arrow = "\u2191" if self.direction == "higher" else "\u2193"
        return f"{self.task} {self.metric} {arrow}"


@dataclass(frozen=True, kw_only=True)
class Standing:
    """A variant's place on the board."""

    variant: str
    domain_ranks: Mapping[str, int]  # domain -> rank by win rate on that domain
    domain_win_rates: Mapping[str, float]  # domain -> mean win rate over its task columns
    mean_rank: float | None
    mean_win_rate: float | None


@dataclass(frozen=True, kw_only=True)
class Cost:
    """What a variant costs, averaged over its ok records (domains and seeds)."""

    variant: str
    records: int
    latency_p50_ms: float | None  # batch size 1 (else the first measured), end to end
    train_samples_per_s: float | None
    peak_memory_mb: float | None
    flops_per_sample: float | None
    params: float | None


@dataclass(frozen=True, kw_only=True)
class FairnessTable:
    """One fairness headline: variants x domains."""

    name: str  # "d_min" or "worst_group_gap"
    title: str
    direction: str
    domains: tuple[str, ...]
    rows: tuple[tuple[str, Mapping[str, Cell]], ...]


@dataclass(frozen=True, kw_only=True)
class TransferMatrix:
    """Mean relative gain (%) over the target trained alone, source x target."""

    variant: str  # the variant without its transfer source
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]  # (source, target) -> mean gain


@dataclass(frozen=True, kw_only=True)
class Failure:
    run: str
    variant: str
    head_set: str
    domain: str
    seed: int
    error: str


@dataclass(frozen=True, kw_only=True)
class Leaderboard:
    runs: tuple[str, ...]
    tables: tuple[TaskTable, ...]
    standings: tuple[Standing, ...]  # board order
    domains: tuple[str, ...]
    costs: tuple[Cost, ...]
    fairness: tuple[FairnessTable, ...]
    transfers: tuple[TransferMatrix, ...]
    failures: tuple[Failure, ...]
    variants: Mapping[str, Mapping[str, str]]  # variant -> the settings that tell it apart
    notes: tuple[str, ...] = field(default=())  # duplicates left out, filters that matched none
    # the feedback loop (records with a ``rounds`` section): strategies ranked per domain/task
    feedback: tuple[FeedbackTable, ...] = field(default=())


# --------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------


def load_sources(names: Sequence[str]) -> list[Source]:
    """Run folders or stored runs (by name or id); UsageError naming the first bad one."""
    sources = []
    for name in names:
        run = load_run(name)
        sources.append(Source(name=name, path=run.path, document=run.document))
    return sources


def source_of(document: Mapping[str, Any], path: Path | None, name: str = "") -> Source:
    """A source for a document already in hand (the end of ``mtrec run``, ``mtrec report``);
    without ``path`` single-seed cells get no interval (no predictions to resample)."""
    return Source(
        name=name or str(path or "run"), path=path or Path("/nonexistent"), document=document
    )


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------


def build_leaderboard(
    sources: Sequence[Source], *, task: str | None = None, metric: str | None = None
) -> Leaderboard:
    """The board of ``sources``; ``task`` keeps one task's tables, ``metric`` tabulates that
    metric instead of each task's primary one (tasks without it are left out)."""
    entries, notes = _entries(sources)
    ok = [e for e in entries if e.record.get("status") == "ok"]
    tables = _task_tables(ok, task=task, metric=metric)
    if (task or metric) and not tables:
        wanted = " ".join(
            x
            for x in (f"task {task!r}" if task else "", f"metric {metric!r}" if metric else "")
            if x
        )
        known = sorted({f"{t}.{m}" for e in ok for t, m in _task_metrics(e.record, None)})
        raise UsageError(
            f"no record reports {wanted}; the runs have {', '.join(known) or 'no ok records'}"
        )
    standings = _standings(tables)
    order = {s.variant: i for i, s in enumerate(standings)}
    tables = [_ordered(t, order) for t in tables]
    domains = tuple(dict.fromkeys(d for t in tables for d in t.domains))
    variants: dict[str, Mapping[str, str]] = {}
    for entry in entries:
        variants.setdefault(entry.variant, entry.settings)
    return Leaderboard(
        runs=tuple(s.name for s in sources),
        tables=tuple(tables),
        standings=tuple(standings),
        domains=domains,
        costs=tuple(sorted(_costs(ok), key=lambda c: order.get(c.variant, len(order)))),
        fairness=tuple(_fairness_tables(ok, order)),
        transfers=tuple(_transfers(ok)),
        failures=tuple(
            Failure(
                run=e.source.name,
                variant=e.variant,
                head_set=str(e.record["head_set"]),
                domain=e.domain,
                seed=int(e.record["seed"]),
                error=str(e.record.get("error") or "?"),
            )
            for e in entries
            if e.record.get("status") != "ok"
        ),
        variants=variants,
        notes=tuple(notes),
        feedback=tuple(
            feedback_tables([(e.record, e.source.document, e.domain) for e in ok], task=task)
        ),
    )


def _entries(sources: Sequence[Source]) -> tuple[list[Entry], list[str]]:
    """Every record with its variant name; a record measured again (same variant, head set,
    domain and seed in a later run) replaces the earlier one, with a note."""
    pairs = [(s, r) for s in sources for r in s.document.get("records", [])]
    names = variant_names([(r, s.document) for s, r in pairs])
    domains = domain_names([r for _, r in pairs])
    kept: dict[tuple[str, str, str, int], Entry] = {}
    notes = []
    for (source, record), (variant, base, settings), domain in zip(
        pairs, names, domains, strict=True
    ):
        key = (variant, str(record["head_set"]), domain, int(record["seed"]))
        if key in kept:
            notes.append(
                f"{variant} on {key[2]} seed {key[3]}: the record of {source.name} replaces "
                f"the one of {kept[key].source.name}"
            )
        kept[key] = Entry(
            source=source,
            record=record,
            variant=variant,
            domain=domain,
            base=base,
            settings=settings,
        )
    return list(kept.values()), notes


# --------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------


def seed_cell(values: Sequence[float], seeds: Sequence[int]) -> Cell:
    """Mean of per-seed values with the t-interval over seeds (needs two or more)."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    if len(array) < 2:
        return Cell(
            mean=mean, low=None, high=None, method="none", seeds=tuple(seeds), values=tuple(values)
        )
    half = t_half_width(array, LEVEL)
    return Cell(
        mean=mean,
        low=mean - half,
        high=mean + half,
        method="t over seeds",
        seeds=tuple(seeds),
        values=tuple(float(v) for v in values),
    )


def _metric_cell(entries: Sequence[Entry], task: str, metric: str) -> Cell | None:
    pairs = sorted(
        (
            (int(e.record["seed"]), value, e)
            for e in entries
            if (value := _finite(((e.record.get("metrics") or {}).get(task) or {}).get(metric)))
            is not None
        ),
        key=lambda triple: (triple[0], triple[1]),
    )
    if not pairs:
        return None
    cell = seed_cell([v for _, v, _ in pairs], [s for s, _, _ in pairs])
    if len(pairs) == 1:
        entry = pairs[0][2]
        interval = user_bootstrap(entry.source.path, entry.record, task, metric, LEVEL)
        if interval is not None:
            cell = Cell(
                mean=cell.mean,
                low=interval[0],
                high=interval[1],
                method="bootstrap over users",
                seeds=cell.seeds,
                values=cell.values,
            )
    return cell


# --------------------------------------------------------------------------------------
# tables and ranks
# --------------------------------------------------------------------------------------


def _task_metrics(record: Mapping[str, Any], metric: str | None) -> list[tuple[str, str]]:
    out = []
    for task, info in (record.get("tasks") or {}).items():
        name = metric or info.get("primary_metric")
        if name and name in (info.get("directions") or {}):
            out.append((task, name))
    return out


def _task_tables(ok: Sequence[Entry], *, task: str | None, metric: str | None) -> list[TaskTable]:
    groups: dict[tuple[str, str], dict[str, dict[str, list[Entry]]]] = {}
    directions: dict[tuple[str, str], str] = {}
    references: dict[tuple[str, str], str] = {}
    for entry in ok:
        for name, metric_name in _task_metrics(entry.record, metric):
            if task is not None and name != task:
                continue
            key = (name, metric_name)
            directions.setdefault(key, entry.record["tasks"][name]["directions"][metric_name])
            references.setdefault(key, reference_name(entry.record["tasks"][name]))
            by_variant = groups.setdefault(key, {})
            by_variant.setdefault(entry.variant, {}).setdefault(entry.domain, []).append(entry)
    tables = []
    for (name, metric_name), by_variant in groups.items():
        domains = tuple(dict.fromkeys(d for cells in by_variant.values() for d in cells))
        direction = directions[(name, metric_name)]
        raw = {
            variant: {
                domain: cell
                for domain, members in cells.items()
                if (cell := _metric_cell(members, name, metric_name)) is not None
            }
            for variant, cells in by_variant.items()
        }
        tables.append(
            TaskTable(
                task=name,
                metric=metric_name,
                direction=direction,
                domains=domains,
                rows=tuple((v, _marked(raw, v, direction)) for v in raw),
                reference=_unless_shown(_trivial_cells(by_variant, name, metric_name), raw),
                reference_name=references[(name, metric_name)],
            )
        )
    return tables


def _unless_shown(
    reference: dict[str, Cell], rows: Mapping[str, Mapping[str, Cell]]
) -> dict[str, Cell]:
    """No reference row where a variant already shows exactly its figures (a ``trivial``
    backbone in the suite)."""
    for cells in rows.values():
        if reference and all(
            domain in cells and (cells[domain].seeds, cells[domain].values) == (c.seeds, c.values)
            for domain, c in reference.items()
        ):
            return {}
    return reference


def _trivial_cells(
    by_variant: Mapping[str, Mapping[str, Sequence[Entry]]], task: str, metric: str
) -> dict[str, Cell]:
    """The trivial reference per domain: one value per seed (the first record's of that
    seed; records of one domain and seed share their test split), mean and t-interval."""
    found: dict[str, dict[int, float]] = {}
    for cells in by_variant.values():
        for domain, members in cells.items():
            for entry in members:
                trivial = (entry.record.get("reference") or {}).get("trivial") or {}
                value = _finite((trivial.get(task) or {}).get(metric))
                if value is not None:
                    found.setdefault(domain, {}).setdefault(int(entry.record["seed"]), value)
    return {
        domain: seed_cell([by_seed[s] for s in sorted(by_seed)], sorted(by_seed))
        for domain, by_seed in found.items()
    }


def _marked(raw: Mapping[str, Mapping[str, Cell]], variant: str, direction: str) -> dict[str, Cell]:
    """The variant's cells with column ranks, and best marks where a column has two or more
    values (a lone value is not a win)."""
    out = {}
    for domain, cell in raw[variant].items():
        column = [cells[domain].mean for cells in raw.values() if domain in cells]
        rank = column_rank(cell.mean, column, direction)
        out[domain] = Cell(**{**cell.__dict__, "best": rank == 1 and len(column) > 1, "rank": rank})
    return out


def column_rank(value: float, column: Sequence[float], direction: str) -> int:
    """1 + how many values of ``column`` are better than ``value`` (ties share the rank)."""
    sign = -1.0 if direction == "lower" else 1.0
    return 1 + sum(1 for other in column if sign * other > sign * value)


def win_rate(value: float, column: Sequence[float], direction: str) -> float | None:
    """Share of the *other* values of ``column`` that ``value`` beats, ties counting half;
    None when it has no other value to beat."""
    if len(column) < 2:
        return None
    sign = -1.0 if direction == "lower" else 1.0
    wins = sum(1.0 for other in column if sign * value > sign * other)
    ties = sum(1.0 for other in column if other == value) - 1.0  # itself
    return (wins + 0.5 * ties) / (len(column) - 1)


def _standings(tables: Sequence[TaskTable]) -> list[Standing]:
    rates: dict[str, dict[str, list[float]]] = {}
    variants: list[str] = []
    for table in tables:
        for variant, _ in table.rows:
            if variant not in variants:
                variants.append(variant)
        for domain in table.domains:
            column = [cells[domain].mean for _, cells in table.rows if domain in cells]
            for variant, cells in table.rows:
                if domain in cells:
                    rate = win_rate(cells[domain].mean, column, table.direction)
                    if rate is not None:
                        rates.setdefault(variant, {}).setdefault(domain, []).append(rate)
    domain_rates = {
        v: {d: float(np.mean(r)) for d, r in rates.get(v, {}).items()} for v in variants
    }
    domains = list(dict.fromkeys(d for t in tables for d in t.domains))
    ranks: dict[str, dict[str, int]] = {v: {} for v in variants}
    for domain in domains:
        column = [by[domain] for by in domain_rates.values() if domain in by]
        for variant in variants:
            if domain in domain_rates[variant]:
                ranks[variant][domain] = column_rank(
                    domain_rates[variant][domain], column, "higher"
                )
    standings = [
        Standing(
            variant=v,
            domain_ranks=ranks[v],
            domain_win_rates=domain_rates[v],
            mean_rank=float(np.mean(list(ranks[v].values()))) if ranks[v] else None,
            mean_win_rate=(
                float(np.mean(list(domain_rates[v].values()))) if domain_rates[v] else None
            ),
        )
        for v in variants
    ]
    return sorted(
        standings,
        key=lambda s: (
            -(s.mean_win_rate if s.mean_win_rate is not None else -1.0),
            s.mean_rank if s.mean_rank is not None else math.inf,
        ),
    )


def _ordered(table: TaskTable, order: Mapping[str, int]) -> TaskTable:
    rows = sorted(table.rows, key=lambda row: order.get(row[0], len(order)))
    return TaskTable(
        task=table.task,
        metric=table.metric,
        direction=table.direction,
        domains=table.domains,
        rows=tuple(rows),
        reference=table.reference,
        reference_name=table.reference_name,
    )


# --------------------------------------------------------------------------------------
# cost, fairness, transfer
# --------------------------------------------------------------------------------------


def _costs(ok: Sequence[Entry]) -> list[Cost]:
    by_variant: dict[str, list[Entry]] = {}
    for entry in ok:
        by_variant.setdefault(entry.variant, []).append(entry)
    costs = []
    for variant, entries in by_variant.items():
        efficiency = [e.record.get("efficiency") or {} for e in entries]

        def mean(values: Iterable[Any]) -> float | None:
            kept = [v for v in (_finite(x) for x in values) if v is not None]
            return float(np.mean(kept)) if kept else None

        costs.append(
            Cost(
                variant=variant,
                records=len(entries),
                latency_p50_ms=mean(summarise(e.record)["latency_p50_ms"] for e in entries),
                train_samples_per_s=mean(x.get("train_samples_per_s") for x in efficiency),
                peak_memory_mb=mean(x.get("peak_memory_mb") for x in efficiency),
                flops_per_sample=mean(x.get("flops_per_sample") for x in efficiency),
                params=mean(x.get("params") for x in efficiency),
            )
        )
    return costs


_HEADLINES = (
    ("d_min", "worst-task gain D_min % (over single-task baselines)", "higher"),
    ("worst_group_gap", "worst group gap (% of the task's metric)", "lower"),
)


def _fairness_tables(ok: Sequence[Entry], order: Mapping[str, int]) -> list[FairnessTable]:
    tables = []
    for name, title, direction in _HEADLINES:
        found: dict[str, dict[str, list[tuple[int, float, Entry]]]] = {}
        for entry in ok:
            value = _finite(summarise(entry.record).get(name))
            if value is not None:
                found.setdefault(entry.variant, {}).setdefault(entry.domain, []).append(
                    (int(entry.record["seed"]), value, entry)
                )
        if not found:
            continue
        rows = []
        for variant in sorted(found, key=lambda v: order.get(v, len(order))):
            cells = {}
            for domain, triples in found[variant].items():
                triples.sort(key=lambda t: (t[0], t[1]))
                cell = seed_cell([v for _, v, _ in triples], [s for s, _, _ in triples])
                if len(triples) == 1 and name == "d_min":
                    interval = _worst_task_interval(triples[0][2].record)
                    if interval is not None:
                        cell = Cell(
                            **{
                                **cell.__dict__,
                                "low": interval[0],
                                "high": interval[1],
                                "method": "bootstrap over users",
                            }
                        )
                cells[domain] = cell
            rows.append((variant, cells))
        domains = tuple(dict.fromkeys(d for _, cells in rows for d in cells))
        raw = dict(rows)
        tables.append(
            FairnessTable(
                name=name,
                title=title,
                direction=direction,
                domains=domains,
                rows=tuple((v, _marked(raw, v, direction)) for v in raw),
            )
        )
    return tables


def _worst_task_interval(record: Mapping[str, Any]) -> tuple[float, float] | None:
    """The recorded bootstrap interval of the worst task's gain (subtask-gain)."""
    entry = (record.get("fairness") or {}).get("subtask-gain")
    if not isinstance(entry, Mapping):
        return None
    worst = entry.get("worst_task")
    ci = ((entry.get("tasks") or {}).get(worst) or {}).get("ci") if worst else None
    if isinstance(ci, list) and len(ci) == 2 and all(_finite(x) is not None for x in ci):
        return float(ci[0]), float(ci[1])
    return None


def _transfers(ok: Sequence[Entry]) -> list[TransferMatrix]:
    """Each transfer's mean gain over the target alone; one seed: the paired bootstrap over
    users against the target-alone record of the same run, when the run holds it."""
    found: dict[str, dict[tuple[str, str], list[tuple[int, float, Entry]]]] = {}
    for entry in ok:
        transfer = entry.record.get("transfer")
        if not isinstance(transfer, Mapping):
            continue
        gain = _finite(transfer.get("mean_gain"))
        if gain is None:
            continue
        sources = "+".join(
            str(s.get("domain")) for s in transfer.get("sources") or [] if isinstance(s, Mapping)
        )
        found.setdefault(entry.base, {}).setdefault((sources or "?", entry.domain), []).append(
            (int(entry.record["seed"]), gain, entry)
        )
    alone = {(id(e.source), str(e.record["key"]), int(e.record["seed"])): e for e in ok}
    matrices = []
    for base, pairs in found.items():
        cells = {}
        for key, values in pairs.items():
            values.sort(key=lambda v: (v[0], v[1]))
            cell = seed_cell([v for _, v, _ in values], [s for s, _, _ in values])
            if len(values) == 1:
                cell = _paired_transfer_cell(cell, values[0][2], alone)
            cells[key] = cell
        matrices.append(
            TransferMatrix(
                variant=base,
                sources=tuple(dict.fromkeys(s for s, _ in pairs)),
                targets=tuple(dict.fromkeys(t for _, t in pairs)),
                cells=cells,
            )
        )
    return matrices


def _paired_transfer_cell(
    cell: Cell, entry: Entry, alone: Mapping[tuple[int, str, int], Entry]
) -> Cell:
    reference = alone.get(
        (id(entry.source), str(entry.record["transfer"].get("target_alone_key")), cell.seeds[0])
    )
    if reference is None:
        return cell
    found = paired_gain_bootstrap(entry.source.path, entry.record, reference.record, LEVEL)
    # the interval belongs to this gain only if the predictions reproduce it
    if found is None or not math.isclose(found[0], cell.mean, rel_tol=1e-9, abs_tol=1e-9):
        return cell
    return replace(cell, low=found[1], high=found[2], method="bootstrap over users")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------
# output as data
# --------------------------------------------------------------------------------------


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """The board as plain JSON-ready data (``mtrec leaderboard --format json``)."""

    def cell(c: Cell) -> dict[str, Any]:
        return {
            "mean": c.mean,
            "ci": None if c.low is None or c.high is None else [c.low, c.high],
            "interval": c.method,
            "seeds": list(c.seeds),
            "values": list(c.values),
            "best": c.best,
            "rank": c.rank,
        }

    return {
        "runs": list(board.runs),
        "interval_level": LEVEL,
        "domains": list(board.domains),
        "variants": {v: dict(s) for v, s in board.variants.items()},
        "tables": [
            {
                "task": t.task,
                "metric": t.metric,
                "direction": t.direction,
                "domains": list(t.domains),
                "rows": [
                    {"variant": v, "cells": {d: cell(c) for d, c in cells.items()}}
                    for v, cells in t.rows
                ],
                "trivial": {d: cell(c) for d, c in t.reference.items()},
                "trivial_name": t.reference_name,
            }
            for t in board.tables
        ],
        "standings": [
            {
                "variant": s.variant,
                "domain_ranks": dict(s.domain_ranks),
                "domain_win_rates": dict(s.domain_win_rates),
                "mean_rank": s.mean_rank,
                "mean_win_rate": s.mean_win_rate,
            }
            for s in board.standings
        ],
        "cost": [c.__dict__ for c in board.costs],
        "fairness": [
            {
                "name": f.name,
                "title": f.title,
                "direction": f.direction,
                "rows": [
                    {"variant": v, "cells": {d: cell(c) for d, c in cells.items()}}
                    for v, cells in f.rows
                ],
            }
            for f in board.fairness
        ],
        "transfers": [
            {
                "variant": m.variant,
                "cells": [{"source": s, "target": t, **cell(c)} for (s, t), c in m.cells.items()],
            }
            for m in board.transfers
        ],
        "failures": [f.__dict__ for f in board.failures],
        "notes": list(board.notes),
        **({"feedback": feedback_json(board.feedback)} if board.feedback else {}),
    }
