"""The "Feedback loop" view: how each update strategy fares round after round.

Reads the ``rounds`` section of every ok record of the rounds protocol (docs/rounds.md;
helpers in :mod:`mtrec.store.feedback`). One row is one record: its backbone (labelled as the
other tables label it; the head set and the seed too where the loop's records vary them) and
its update strategy, grouped by domain. Four figures:

* each task's primary metric per evaluated round (1..R-1), scored before the model trained on
  that round's window, with its 95% bootstrap interval over the window's users;
* forgetting on the probe (the held-out share of window 0): the last round's, and the mean
  over the rounds that report it; positive means worse than after round 0;
* what the updates cost: seconds, samples, steps and FLOPs per update and in total over
  rounds 1..R-1 (round 0's initial training on its own), and the largest peak memory;
* cold and warm rows: the n-weighted mean over rounds of each round's figure on the rows whose
  user or item was never trained on before that round (cold), and on the others (warm).

Records without a ``rounds`` section are not part of it: without any, no renderer shows the
section and every report is as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from mtrec.reports import plots
from mtrec.reports.overview import backbone_labels
from mtrec.reports.plots import text
from mtrec.reports.summary import compact, number
from mtrec.reports.text import markdown_cell, terminal_markup
from mtrec.store.feedback import (
    FeedbackTable,
    evaluated_rounds,
    figure,
    forgetting,
    loop_tasks,
    primary_metric,
    rounds_section,
    task_figure,
    update_rounds,
    update_strategy,
    without_update,
)

TITLE = "Feedback loop"
FORGETTING = (
    "Forgetting: the probe's figure (the held-out share of window 0) after round 0 against "
    "the same probe after the round's update, signed so that positive means worse now; "
    "last: the last round's; mean: over the rounds that report it."
)
COST = (
    "Update cost: per update and in total over rounds 1..R-1 (round 0's initial training in "
    "its own column); peak memory: the largest of the updates'."
)
COLD_WARM = (
    "Cold rows: a round's rows whose user or item no earlier window trained on; warm: the "
    "others. Each figure is the mean over rounds of the round's figure, weighted by the "
    "round's cold (warm) rows; rows: summed over rounds."
)


@dataclass(frozen=True, kw_only=True)
class LoopRecord:
    """An ok record of the feedback loop."""

    domain: str
    name: str  # backbone label (head set, seed where the loop's records vary them)
    update: str  # the update strategy
    record: Mapping[str, Any]
    section: Mapping[str, Any]  # its ``rounds`` section


@dataclass(frozen=True, kw_only=True)
class RoundPoint:
    """One task's figure in one evaluated round."""

    round: int
    value: float | None
    low: float | None  # 95% interval over the window's users (None: not recorded)
    high: float | None
    rows: int | None  # rows evaluated in the round


@dataclass(frozen=True, kw_only=True)
class RoundSeries:
    """One record's primary metric of one task over the rounds."""

    domain: str
    task: str
    metric: str
    direction: str  # "higher" or "lower" is better
    name: str
    update: str
    points: tuple[RoundPoint, ...]  # in round order


@dataclass(frozen=True, kw_only=True)
class ForgettingRow:
    domain: str
    name: str
    update: str
    task: str
    metric: str
    last_round: int | None  # the last round reporting forgetting
    last: float | None  # its forgetting (positive = worse now)
    mean: float | None  # mean over the rounds reporting it


@dataclass(frozen=True, kw_only=True)
class UpdateCost:
    domain: str
    name: str
    update: str
    updates: int  # rounds 1..R-1 with an update entry
    initial_seconds: float | None  # round 0's training
    seconds_mean: float | None
    seconds_total: float | None
    samples_mean: float | None
    samples_total: float | None
    steps_mean: float | None
    steps_total: float | None
    flops_mean: float | None  # over the updates that report FLOPs (None: none does)
    flops_total: float | None
    peak_memory_mb: float | None  # the largest over the updates


@dataclass(frozen=True, kw_only=True)
class ColdWarmRow:
    domain: str
    name: str
    update: str
    task: str
    metric: str
    cold: float | None  # n-weighted mean over rounds of the cold rows' figure
    cold_rows: int  # summed over the rounds counted
    warm: float | None
    warm_rows: int


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def loop_records(document: Mapping[str, Any]) -> list[LoopRecord]:
    """Every ok record with a ``rounds`` section, grouped by domain (first-seen order)."""
    records = list(document.get("records") or [])
    # labelled as elsewhere, the update strategy aside (it has a column of its own)
    labels = backbone_labels([without_update(record) for record in records])
    # one backbone under two training strategies (frozen features and LoRA, say): the
    # strategy tells them apart better than every training setting that differs with it
    strategies: dict[str, set[str]] = {}
    for record in records:
        strategies.setdefault(str(record.get("backbone")), set()).add(_strategy_of(record))
    labels = [
        f"{record.get('backbone')} ({_strategy_of(record)})"
        if len(strategies[str(record.get("backbone"))]) > 1
        else label
        for record, label in zip(records, labels, strict=True)
    ]
    found = [
        (record, label, section)
        for record, label in zip(records, labels, strict=True)
        if (section := rounds_section(record)) is not None
    ]
    # the head set joins the name only where one domain's loop ran with several
    heads_by_domain: dict[str, set[str]] = {}
    for r, _, _ in found:
        heads_by_domain.setdefault(str(r.get("domain")), set()).add(str(r.get("head_set")))
    several_heads = any(len(heads) > 1 for heads in heads_by_domain.values())
    several_seeds = len({str(r.get("seed")) for r, _, _ in found}) > 1
    loop = []
    for record, label, section in found:
        name = label
        if several_heads:
            name += f" \u00b7 {record.get('head_set')}"
        if several_seeds:
            name += f" \u00b7 seed {record.get('seed')}"
        loop.append(
            LoopRecord(
                domain=str(record.get("domain")),
                name=name,
                update=update_strategy(record),
                record=record,
                section=section,
            )
        )
    domains = list(dict.fromkeys(entry.domain for entry in loop))
    return sorted(loop, key=lambda entry: domains.index(entry.domain))


def _strategy_of(record: Mapping[str, Any]) -> str:
    training = (record.get("config") or {}).get("training") or {}
    return str(training.get("strategy", "full"))


def round_series(document: Mapping[str, Any]) -> list[RoundSeries]:
    """Each loop record's primary metric of each task per evaluated round, with intervals."""
    out = []
    for entry in loop_records(document):
        for task in loop_tasks(entry.record):
            metric, direction = primary_metric(entry.record, task) or ("?", "higher")
            points = []
            for result in evaluated_rounds(entry.section):
                evaluation = result["evaluation"]
                interval = (evaluation.get("intervals") or {}).get(task) or {}
                bounds = interval.get(metric) if isinstance(interval, Mapping) else None
                low, high = (
                    (figure(bounds[0]), figure(bounds[1]))
                    if isinstance(bounds, list | tuple) and len(bounds) == 2
                    else (None, None)
                )
                rows = evaluation.get("n")
                points.append(
                    RoundPoint(
                        round=int(result["round"]),
                        value=task_figure(evaluation.get("metrics"), task, metric),
                        low=low,
                        high=high,
                        rows=rows if isinstance(rows, int) else None,
                    )
                )
            out.append(
                RoundSeries(
                    domain=entry.domain,
                    task=task,
                    metric=metric,
                    direction=direction,
                    name=entry.name,
                    update=entry.update,
                    points=tuple(points),
                )
            )
    return out


def series_by_task(
    series: Sequence[RoundSeries],
) -> list[tuple[tuple[str, str, str, str], list[RoundSeries]]]:
    """The series grouped by (domain, task, metric, direction), first-seen order."""
    groups: dict[tuple[str, str, str, str], list[RoundSeries]] = {}
    for one in series:
        groups.setdefault((one.domain, one.task, one.metric, one.direction), []).append(one)
    return list(groups.items())


def forgetting_rows(document: Mapping[str, Any]) -> list[ForgettingRow]:
    """Per loop record and task: the last round's forgetting and the mean over rounds."""
    rows = []
    for entry in loop_records(document):
        for task in loop_tasks(entry.record):
            metric, _ = primary_metric(entry.record, task) or ("?", "higher")
            found = forgetting(entry.section, task, metric)
            rows.append(
                ForgettingRow(
                    domain=entry.domain,
                    name=entry.name,
                    update=entry.update,
                    task=task,
                    metric=metric,
                    last_round=found[-1][0] if found else None,
                    last=found[-1][1] if found else None,
                    mean=sum(v for _, v in found) / len(found) if found else None,
                )
            )
    return rows


def update_costs(document: Mapping[str, Any]) -> list[UpdateCost]:
    """Per loop record: what its updates (rounds 1..R-1) cost, per update and in total."""
    rows = []
    for entry in loop_records(document):
        updates = update_rounds(entry.section)

        def values(key: str, kept: Sequence[Mapping[str, Any]] = updates) -> list[float]:
            return [v for u in kept if (v := figure(u.get(key))) is not None]

        initial: list[Mapping[str, Any]] = [
            result["update"]
            for result in entry.section.get("results") or []
            if isinstance(result, Mapping)
            and result.get("round") == 0
            and isinstance(result.get("update"), Mapping)
        ]
        seconds, samples, steps, flops = (
            values(key) for key in ("seconds", "samples", "steps", "flops")
        )
        peaks = values("peak_memory_mb")
        rows.append(
            UpdateCost(
                domain=entry.domain,
                name=entry.name,
                update=entry.update,
                updates=len(updates),
                initial_seconds=next(iter(values("seconds", initial)), None),
                seconds_mean=_mean(seconds),
                seconds_total=sum(seconds) if seconds else None,
                samples_mean=_mean(samples),
                samples_total=sum(samples) if samples else None,
                steps_mean=_mean(steps),
                steps_total=sum(steps) if steps else None,
                flops_mean=_mean(flops),
                flops_total=sum(flops) if flops else None,
                peak_memory_mb=max(peaks) if peaks else None,
            )
        )
    return rows


def cold_warm_rows(document: Mapping[str, Any]) -> list[ColdWarmRow]:
    """Per loop record and task: the cold and warm rows' figures pooled over rounds (the mean
    of the rounds' figures weighted by their rows)."""
    rows = []
    for entry in loop_records(document):
        for task in loop_tasks(entry.record):
            metric, _ = primary_metric(entry.record, task) or ("?", "higher")
            pooled = {}
            for side in ("cold", "warm"):
                weighted, counted = 0.0, 0
                for result in evaluated_rounds(entry.section):
                    part = result["evaluation"].get(side)
                    if not isinstance(part, Mapping):
                        continue
                    n = part.get("n")
                    value = task_figure(part.get("metrics"), task, metric)
                    if isinstance(n, int) and n > 0 and value is not None:
                        weighted += n * value
                        counted += n
                pooled[side] = (weighted / counted if counted else None, counted)
            rows.append(
                ColdWarmRow(
                    domain=entry.domain,
                    name=entry.name,
                    update=entry.update,
                    task=task,
                    metric=metric,
                    cold=pooled["cold"][0],
                    cold_rows=pooled["cold"][1],
                    warm=pooled["warm"][0],
                    warm_rows=pooled["warm"][1],
                )
            )
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def protocol_text(document: Mapping[str, Any]) -> str:
    """One sentence on the protocol the loop ran (from the first loop record)."""
    loop = loop_records(document)
    protocol = (loop[0].section.get("protocol") or {}) if loop else {}
    rounds = protocol.get("rounds", "?")
    window = {"time": "equal spans of time", "count": "equal numbers of rows"}.get(
        str(protocol.get("window")), str(protocol.get("window", "?"))
    )
    budget = protocol.get("budget") or {}
    spend = ", ".join(f"{key} {value}" for key, value in budget.items() if value is not None)
    return (
        f"{rounds} windows ({window}): round 0 trains on window 0; each later round first "
        "scores its window with the model as it was before (prequential), then updates the "
        "model on it with the record's update strategy."
        + (f" Each update spends at most {spend}." if spend else "")
        + " The records' test metrics are these prequential figures, every window pooled. "
        "Per round: the figure [95% bootstrap interval over the window's users]."
    )


# --------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------


def _arrow(direction: str) -> str:
    return "\u2191" if direction == "higher" else "\u2193"


def point_text(point: RoundPoint | None) -> str:
    """E.g. "0.7120 [0.6900, 0.7300]"."""
    if point is None or point.value is None:
        return "-"
    if point.low is None or point.high is None:
        return number(point.value)
    return f"{number(point.value)} [{number(point.low)}, {number(point.high)}]"


def _rounds(members: Sequence[RoundSeries]) -> list[int]:
    return sorted({p.round for one in members for p in one.points})


def _at(one: RoundSeries, round_number: int) -> RoundPoint | None:
    return next((p for p in one.points if p.round == round_number), None)


def _metric_title(key: tuple[str, str, str, str], several_domains: bool) -> str:
    domain, task, metric, direction = key
    where = f" ({domain})" if several_domains else ""
    return f"{task} {metric} {_arrow(direction)} per round{where}"


def _forgetting_cells(row: ForgettingRow) -> list[str]:
    last = number(_signed_zero(row.last))
    if row.last is not None and row.last_round is not None:
        last += f" (round {row.last_round})"
    mean = number(_signed_zero(row.mean))
    return [row.domain, row.name, row.update, row.task, row.metric, last, mean]


FORGETTING_HEADER = ["domain", "backbone", "update", "task", "metric", "last round", "mean"]
COST_HEADER = [
    "domain", "backbone", "update", "updates", "initial s", "s / update", "total s",
    "samples / update", "total samples", "steps / update", "total steps", "FLOPs / update",
    "total FLOPs", "peak MB",
]  # fmt: skip
COLD_WARM_HEADER = ["domain", "backbone", "update", "task", "metric", "cold", "cold rows",
                    "warm", "warm rows"]  # fmt: skip


def _signed_zero(value: float | None) -> float | None:
    """-0.0 (no change, computed as a difference) shown as 0."""
    return None if value is None else value + 0.0


def _count(value: float | None) -> str:
    """A count: a whole number with separators, a mean to one decimal."""
    if value is None:
        return "-"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _amount(value: float | None, digits: int) -> str:
    """Seconds or megabytes, fixed-point with separators (never an exponent)."""
    return "-" if value is None else f"{value:,.{digits}f}"


def _cost_cells(row: UpdateCost) -> list[str]:
    return [
        row.domain,
        row.name,
        row.update,
        str(row.updates),
        _amount(row.initial_seconds, 2),
        _amount(row.seconds_mean, 2),
        _amount(row.seconds_total, 2),
        _count(row.samples_mean),
        _count(row.samples_total),
        _count(row.steps_mean),
        _count(row.steps_total),
        compact(row.flops_mean),
        compact(row.flops_total),
        _amount(row.peak_memory_mb, 0),
    ]


def _cold_warm_cells(row: ColdWarmRow) -> list[str]:
    return [
        row.domain,
        row.name,
        row.update,
        row.task,
        row.metric,
        number(row.cold),
        number(row.cold_rows),
        number(row.warm),
        number(row.warm_rows),
    ]


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(markdown_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def markdown_lines(document: Mapping[str, Any]) -> list[str]:
    """report.md's "Feedback loop" section ([] when no ok record has a ``rounds`` section)."""
    if not loop_records(document):
        return []
    lines = ["", f"## {TITLE}", "", protocol_text(document)]
    groups = series_by_task(round_series(document))
    several = len({key[0] for key, _ in groups}) > 1
    for key, members in groups:
        numbers = _rounds(members)
        lines += ["", f"### {markdown_cell(_metric_title(key, several))}", ""]
        lines += _md_table(
            ["backbone", "update", *(f"round {r}" for r in numbers)],
            [[m.name, m.update, *(point_text(_at(m, r)) for r in numbers)] for m in members],
        )
    lines += ["", "### Forgetting", "", FORGETTING, ""]
    lines += _md_table(FORGETTING_HEADER, [_forgetting_cells(r) for r in forgetting_rows(document)])
    lines += ["", "### Update cost", "", COST, ""]
    lines += _md_table(COST_HEADER, [_cost_cells(r) for r in update_costs(document)])
    lines += ["", "### Cold and warm rows", "", COLD_WARM, ""]
    lines += _md_table(COLD_WARM_HEADER, [_cold_warm_cells(r) for r in cold_warm_rows(document)])
    return lines


# --------------------------------------------------------------------------------------
# terminal
# --------------------------------------------------------------------------------------


def terminal_tables(document: Mapping[str, Any]) -> list[Table]:
    """The terminal's feedback-loop tables ([] without a loop record): one per task of the
    metric per round, then forgetting, update cost and cold/warm, one row per record."""
    loop = loop_records(document)
    if not loop:
        return []
    suite = terminal_markup(str(document.get("suite", {}).get("name", "")))
    several = len({entry.domain for entry in loop}) > 1

    def who(domain: str, name: str, update: str) -> str:
        shown = f"{domain} \u00b7 {name}" if several else name
        return f"{terminal_markup(shown)} [dim]{terminal_markup(update)}[/dim]"

    tables = []
    for key, members in series_by_task(round_series(document)):
        numbers = _rounds(members)
        table = Table(
            title=f"mtrec {suite}: {terminal_markup(_metric_title(key, several))}",
            title_justify="left",
        )
        table.add_column("backbone update")
        for r in numbers:
            table.add_column(f"round {r}", justify="right")
        for m in members:
            cells = []
            for r in numbers:
                point = _at(m, r)
                shown = number(point.value) if point is not None else "-"
                if point is not None and point.low is not None and point.high is not None:
                    shown += f"\n[dim][{number(point.low)}, {number(point.high)}][/dim]"
                cells.append(shown)
            table.add_row(who(m.domain, m.name, m.update), *cells)
        table.caption = "prequential: each window scored before the update on it; [95% CI]"
        tables.append(table)
    forgetting_table = Table(
        title=f"mtrec {suite}: forgetting (positive = worse than after round 0)",
        title_justify="left",
    )
    for heading, justify in (("backbone update", "left"), ("task", "left"),
                             ("last", "right"), ("mean", "right")):  # fmt: skip
        forgetting_table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for row in forgetting_rows(document):
        forgetting_table.add_row(
            who(row.domain, row.name, row.update),
            terminal_markup(f"{row.task} {row.metric}"),
            number(_signed_zero(row.last)),
            number(_signed_zero(row.mean)),
        )
    tables.append(forgetting_table)
    cost_table = Table(title=f"mtrec {suite}: update cost (rounds 1..R-1)", title_justify="left")
    cost_table.add_column("backbone update")
    for heading in ("s /\nupdate", "total s", "samples\n/ update", "steps\n/ update",
                    "FLOPs\n/ update", "peak MB"):  # fmt: skip
        cost_table.add_column(heading, justify="right")
    for cost in update_costs(document):
        cost_table.add_row(
            who(cost.domain, cost.name, cost.update),
            _amount(cost.seconds_mean, 2),
            _amount(cost.seconds_total, 2),
            _count(cost.samples_mean),
            _count(cost.steps_mean),
            compact(cost.flops_mean),
            _amount(cost.peak_memory_mb, 0),
        )
    tables.append(cost_table)
    cold_table = Table(
        title=f"mtrec {suite}: cold vs warm rows (n-weighted over rounds)", title_justify="left"
    )
    for heading, justify in (("backbone update", "left"), ("task", "left"),
                             ("cold (rows)", "right"), ("warm (rows)", "right")):  # fmt: skip
        cold_table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for cw in cold_warm_rows(document):
        cold_table.add_row(
            who(cw.domain, cw.name, cw.update),
            terminal_markup(f"{cw.task} {cw.metric}"),
            f"{number(cw.cold)} ({number(cw.cold_rows)})",
            f"{number(cw.warm)} ({number(cw.warm_rows)})",
        )
    tables.append(cold_table)
    return tables


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------


def _html_table(name: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col">{text(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table class="sortable" data-table="{text(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def html_section(document: Mapping[str, Any]) -> str | None:
    """report.html's "Feedback loop" section (None without a loop record): per task, a line
    per (backbone, update strategy) over the rounds with its interval as a band, and the
    tables of report.md."""
    if not loop_records(document):
        return None
    parts = [f"<p>{text(protocol_text(document))}</p>"]
    groups = series_by_task(round_series(document))
    several = len({key[0] for key, _ in groups}) > 1
    for key, members in groups:
        domain, task, metric, direction = key
        numbers = _rounds(members)
        title = _metric_title(key, several)
        lines = [
            plots.Line(
                label=f"{m.name} \u00b7 {m.update}",
                points=tuple(
                    (float(p.round), p.value, p.low, p.high)
                    for p in m.points
                    if p.value is not None
                ),
            )
            for m in members
        ]
        svg = plots.round_lines(
            lines,
            x_label="round (window scored before the update on it)",
            y_label=f"{task} {metric} {_arrow(direction)}",
            title=title,
        )
        caption = (
            f"{task} {metric} ({'higher' if direction == 'higher' else 'lower'} is better) per "
            "round, one line per backbone and update strategy; band: the 95% bootstrap "
            "interval over the window's users."
        )
        parts.append(
            f"<h3>{text(title)}</h3><figure>{svg}<figcaption>{text(caption)}</figcaption></figure>"
        )
        parts.append(
            _html_table(
                f"rounds {domain} {task}",
                ["backbone", "update", *(f"round {r}" for r in numbers)],
                [[m.name, m.update, *(point_text(_at(m, r)) for r in numbers)] for m in members],
            )
        )
    parts += ["<h3>Forgetting</h3>", f"<p>{text(FORGETTING)}</p>"]
    parts.append(
        _html_table(
            "rounds forgetting",
            FORGETTING_HEADER,
            [_forgetting_cells(r) for r in forgetting_rows(document)],
        )
    )
    parts += ["<h3>Update cost</h3>", f"<p>{text(COST)}</p>"]
    parts.append(
        _html_table("rounds cost", COST_HEADER, [_cost_cells(r) for r in update_costs(document)])
    )
    parts += ["<h3>Cold and warm rows</h3>", f"<p>{text(COLD_WARM)}</p>"]
    parts.append(
        _html_table(
            "rounds cold-warm",
            COLD_WARM_HEADER,
            [_cold_warm_cells(r) for r in cold_warm_rows(document)],
        )
    )
    return "".join(parts)


# --------------------------------------------------------------------------------------
# the leaderboard's feedback-loop section (:func:`mtrec.store.feedback.feedback_tables`)
# --------------------------------------------------------------------------------------

BOARD_TITLE = "Feedback loop: update strategies ranked"
BOARD_READING = (
    "Feedback loop: per domain and task, the update strategies ranked by their prequential "
    "primary metric (each window scored before the model trained on it; mean over seeds), "
    "with the last round's forgetting (positive = worse than after round 0) and the mean "
    "seconds of one update."
)
BOARD_HEADER = ["domain", "task", "rank", "variant", "update", "prequential", "forgetting (last)",
                "s / update", "seeds"]  # fmt: skip


def board_rows(tables: Sequence[FeedbackTable]) -> list[list[str]]:
    """One row per (domain, task, variant, update strategy), best first within a table."""
    return [
        [
            table.domain,
            f"{table.task} {table.metric} {_arrow(table.direction)}",
            str(row.rank),
            row.variant,
            row.update,
            number(row.mean),
            number(_signed_zero(row.forgetting)),
            _amount(row.update_seconds, 2),
            ", ".join(str(seed) for seed in row.seeds),
        ]
        for table in tables
        for row in table.rows
    ]


def board_markdown(tables: Sequence[FeedbackTable], heading: str = "##") -> list[str]:
    """The leaderboard's "Feedback loop" lines ([] without loop records)."""
    if not tables:
        return []
    return [
        f"{heading}# {BOARD_TITLE}",
        "",
        BOARD_READING,
        "",
        *_md_table(BOARD_HEADER, board_rows(tables)),
        "",
    ]


def board_table(tables: Sequence[FeedbackTable], title: str) -> Table | None:
    """The leaderboard's feedback-loop table for the terminal, narrow enough for 80 columns
    (None without loop records)."""
    if not tables:
        return None
    several = len({t.domain for t in tables}) > 1
    table = Table(title=f"{title}: feedback loop (strategies ranked)", title_justify="left")
    table.add_column("task")
    table.add_column("rank", justify="right")
    table.add_column("variant \u00b7 update")
    for heading in ("prequential", "forgetting\n(last)", "s /\nupdate"):
        table.add_column(heading, justify="right")
    for t in tables:
        task = f"{t.task} {t.metric} {_arrow(t.direction)}"
        for row in t.rows:
            table.add_row(
                terminal_markup(f"{t.domain} \u00b7 {task}" if several else task),
                str(row.rank),
                terminal_markup(f"{row.variant} \u00b7 {row.update}"),
                number(row.mean),
                number(_signed_zero(row.forgetting)),
                _amount(row.update_seconds, 2),
            )
    table.caption = (
        "ranked by the prequential primary metric (mean over seeds); forgetting: the last "
        "round's, positive = worse than after round 0; s / update: rounds 1..R-1"
    )
    return table


def board_html(tables: Sequence[FeedbackTable]) -> str:
    """The leaderboard's feedback-loop fragment ("" without loop records)."""
    if not tables:
        return ""
    return f"<h3>{text(BOARD_TITLE)}</h3><p>{text(BOARD_READING)}</p>" + _html_table(
        "leaderboard feedback", BOARD_HEADER, board_rows(tables)
    )
