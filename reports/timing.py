"""The "Where the time went" view: a sweep's time per phase, and the share that was model work.

Reads results.json's ``timing`` block (:func:`mtrec.run.phases.sweep_timing`): start-up, each
record phase summed over the combinations the run computed, the sweep's own time between
combinations and the reports. A run without that block (written before it existed, or merged
from shards) falls back to its records' ``efficiency.time_breakdown``. Shares are of the summed
time, which is the wall time when combinations run one at a time. In the terminal summary,
report.md and report.html.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from mtrec.reports.plots import text
from mtrec.reports.text import markdown_cell, terminal_markup
from mtrec.run.phases import MODEL_WORK, PHASES

# What each row holds, in the order shown.
LABELS = {
    "startup": "start-up (imports, suite, plugins)",
    "load": "loading backbones and domains",
    "tokenise": "tokenising (token cache)",
    "encode": "encoding (frozen feature cache)",
    "train": "training steps",
    "validation": "validation passes",
    "test": "test inference",
    "latency": "latency measurement",
    "flops": "FLOPs counting",
    "baselines": "baselines and transfer references (whole fits)",
    "fairness": "fairness metrics",
    "explain": "explanations",
    "other": "rest of the combinations (model building, files, scoring)",
    "between": "between combinations (checks, results.json, tradeoffs)",
}
EXPLANATION = (
    "Seconds per phase, summed over the combinations this run computed, and each phase's share "
    "of the total (the wall time when combinations run one at a time). Model work is "
    "training steps, validation passes and test inference. Writing the reports is not here "
    "(results.json's timing.reports_s). Peak RSS is the process's largest resident set size "
    "sampled in the phase (MiB), the highest over the combinations."
)


@dataclass(frozen=True, kw_only=True)
class TimeRow:
    """One phase of the sweep."""

    phase: str  # "startup", a record phase (PHASES), "between" or "reports"
    label: str  # what the phase holds, for the reader
    seconds: float
    share: float  # of the total, in [0, 1]
    model_work: bool  # training or inference steps
    peak_rss_mb: float | None  # the largest resident set size sampled in it (None: not sampled)


@dataclass(frozen=True, kw_only=True)
class TimeSummary:
    """Where a sweep's time went."""

    rows: list[TimeRow]  # phases that took any time, in :data:`LABELS` order
    total_s: float  # the seconds every share is of
    model_work_share: float  # (train + validation + test) / total_s


def time_summary(document: Mapping[str, Any]) -> TimeSummary | None:
    """The rows of the view; None when the run holds no timing (older results)."""
    timing = document.get("timing")
    timing = timing if isinstance(timing, Mapping) else {}
    phases = timing.get("phases")
    if not isinstance(phases, Mapping):
        phases = _summed_records(document, "time_breakdown", sum)
    rss = timing.get("rss_by_phase_mb")
    if not isinstance(rss, Mapping):
        rss = _summed_records(document, "rss_by_phase_mb", max)
    seconds = {
        "startup": timing.get("startup_s"),
        **{name: phases.get(name) for name in PHASES},
        "between": timing.get("outside_records_s"),
        # not "reports": a report cannot hold its own writing time, and `mtrec report`
        # must render the same report the run wrote (results.json keeps timing.reports_s)
    }
    taken = {
        name: float(value)
        for name, value in seconds.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    }
    total = sum(taken.values())
    if total <= 0:
        return None
    rows = [
        TimeRow(
            phase=name,
            label=LABELS[name],
            seconds=taken[name],
            share=taken[name] / total,
            model_work=name in MODEL_WORK,
            peak_rss_mb=_number(rss.get(name)),
        )
        for name in LABELS
        if name in taken
    ]
    work = sum(taken.get(name, 0.0) for name in MODEL_WORK)
    return TimeSummary(rows=rows, total_s=total, model_work_share=work / total)


def _summed_records(
    document: Mapping[str, Any], field: str, combine: Callable[[Iterable[float]], float]
) -> dict[str, float]:
    """Each phase's ``efficiency[field]`` values over the records, combined (sum or max)."""
    values: dict[str, list[float]] = {}
    for record in document.get("records") or []:
        by_phase = (record.get("efficiency") or {}).get(field)
        for name, value in (by_phase if isinstance(by_phase, Mapping) else {}).items():
            if _number(value) is not None:
                values.setdefault(name, []).append(float(value))
    return {name: combine(found) for name, found in values.items()}


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _seconds(value: float) -> str:
    return f"{value:,.1f}"


def _percent(share: float) -> str:
    return f"{100.0 * share:.1f}%"


def _headline(summary: TimeSummary) -> str:
    return f"Model work: {_percent(summary.model_work_share)} of {_seconds(summary.total_s)} s."


HEADER = ["phase", "seconds", "share", "model work", "peak RSS (MiB)"]


def _rss(row: TimeRow) -> str:
    return "" if row.peak_rss_mb is None else f"{row.peak_rss_mb:,.0f}"


def _cells(row: TimeRow) -> list[str]:
    return [
        row.label,
        _seconds(row.seconds),
        _percent(row.share),
        "yes" if row.model_work else "",
        _rss(row),
    ]


def markdown_lines(document: Mapping[str, Any]) -> list[str]:
    """report.md's "Where the time went" section ([] when the run holds no timing)."""
    summary = time_summary(document)
    if summary is None:
        return []
    lines = ["", "## Where the time went", "", EXPLANATION, ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for row in summary.rows:
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in _cells(row)) + " |")
    lines += ["", _headline(summary)]
    return lines


def terminal_table(document: Mapping[str, Any]) -> Table | None:
    """The terminal's time table (None when the run holds no timing)."""
    summary = time_summary(document)
    if summary is None:
        return None
    suite = terminal_markup(str(document.get("suite", {}).get("name", "")))
    table = Table(title=f"mtrec {suite}: where the time went", title_justify="left")
    table.add_column("phase", overflow="fold")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    table.add_column("peak RSS (MiB)", justify="right")
    for row in summary.rows:
        label = f"[bold]{row.label}[/bold]" if row.model_work else row.label
        table.add_row(label, _seconds(row.seconds), _percent(row.share), _rss(row))
    table.caption = f"{_headline(summary)} (bold: model work)"
    return table


def html_section(document: Mapping[str, Any]) -> str | None:
    """report.html's "Where the time went" section (None when the run holds no timing)."""
    summary = time_summary(document)
    if summary is None:
        return None
    head = "".join(f'<th scope="col">{text(h)}</th>' for h in HEADER)
    body = "".join(
        f'<tr><td>{text(row.label)}</td><td class="num" data-sort="{row.seconds}">'
        f'{text(_seconds(row.seconds))}</td><td class="num" data-sort="{row.share}">'
        f"{text(_percent(row.share))}</td><td>{'yes' if row.model_work else ''}</td>"
        f'<td class="num" data-sort="{row.peak_rss_mb or 0}">{text(_rss(row))}</td></tr>'
        for row in summary.rows
    )
    return (
        f"<p>{text(EXPLANATION)}</p>"
        f'<div class="scroll"><table class="sortable" data-table="time">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        f"<p>{text(_headline(summary))}</p>"
    )
