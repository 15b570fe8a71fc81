"""The "Input ablation" view: what the scene and the history are worth, per task.

Reads ``results.json``'s ``ablations`` (:mod:`mtrec.measure.ablation`): for each pair of
records that differ only in their input options, the fuller input's primary-metric gain over
the reduced one, with its paired 95% bootstrap interval over users. One row per pair and
task, in the terminal summary, report.md and report.html.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from mtrec.reports.plots import text
from mtrec.reports.summary import number
from mtrec.reports.text import markdown_cell, terminal_markup

EXPLANATION = (
    "Gain of the fuller input over the reduced one (records that differ only in their input "
    "options), in each task's primary metric, signed so that positive means the fuller input "
    "serves the task better; [95% interval], paired bootstrap over users. * : the interval "
    "excludes 0."
)


def describe_input(options: Mapping[str, Any] | None) -> str:
    """E.g. "context, all history", "no context, 2 earlier", "context, no history"."""
    if not isinstance(options, Mapping):
        return "?"
    scene = "context" if options.get("context") else "no context"
    history = options.get("history")
    earlier = (
        "all history" if history is None else "no history" if history == 0 else f"{history} earlier"
    )
    return f"{scene}, {earlier}"


def ablation_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One plain row per ablation pair and task, for every renderer."""
    rows = []
    ablations = document.get("ablations")
    for ablation in ablations if isinstance(ablations, list) else []:
        if not isinstance(ablation, Mapping):
            continue
        for task, figures in (ablation.get("tasks") or {}).items():
            interval = figures.get("interval")
            rows.append(
                {
                    "backbone": str(ablation.get("backbone")),
                    "head_set": str(ablation.get("head_set")),
                    "domain": str(ablation.get("domain")),
                    "seed": ablation.get("seed"),
                    "fuller": describe_input(ablation.get("fuller_input")),
                    "reduced": describe_input(ablation.get("reduced_input")),
                    "task": str(task),
                    "metric": str(figures.get("metric")),
                    "fuller_value": figures.get("fuller"),
                    "reduced_value": figures.get("reduced"),
                    "gain": figures.get("gain"),
                    "interval": list(interval) if isinstance(interval, list) else None,
                    "significant": bool(figures.get("significant")),
                    "users": figures.get("users"),
                }
            )
    return rows


def gain_text(row: Mapping[str, Any]) -> str:
    """E.g. "+0.4952 [+0.3663, +0.6190] *"."""
    gain = row.get("gain")
    if gain is None:
        return "-"
    shown = _signed(gain)
    interval = row.get("interval")
    if interval:
        shown += f" [{_signed(interval[0])}, {_signed(interval[1])}]"
    return shown + (" *" if row.get("significant") else "")


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "") + number(value)


HEADER = ["backbone", "domain", "seed", "task", "fuller input", "reduced input", "metric",
          "fuller", "reduced", "gain [95% CI]"]  # fmt: skip


def _cells(row: Mapping[str, Any]) -> list[str]:
    return [
        row["backbone"],
        row["domain"],
        str(row["seed"]),
        row["task"],
        row["fuller"],
        row["reduced"],
        row["metric"],
        number(row["fuller_value"]),
        number(row["reduced_value"]),
        gain_text(row),
    ]


def markdown_lines(document: Mapping[str, Any]) -> list[str]:
    """report.md's "Input ablation" section ([] when the run has no ablation pair)."""
    rows = ablation_rows(document)
    if not rows:
        return []
    lines = ["", "## Input ablation", "", EXPLANATION, ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for row in rows:
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in _cells(row)) + " |")
    return lines


def terminal_table(document: Mapping[str, Any]) -> Table | None:
    """The terminal's ablation table, narrow enough for 80 columns (None without pairs)."""
    rows = ablation_rows(document)
    if not rows:
        return None
    suite = terminal_markup(str(document.get("suite", {}).get("name", "")))
    table = Table(title=f"mtrec {suite}: input ablation (fuller vs reduced input)")
    table.add_column("backbone \u00b7 domain \u00b7 task", overflow="fold")
    table.add_column("fuller vs reduced", overflow="fold")
    table.add_column("gain [95% CI]", justify="right", overflow="fold")
    for row in rows:
        table.add_row(
            terminal_markup(f"{row['backbone']} \u00b7 {row['domain']} \u00b7 {row['task']}"),
            terminal_markup(f"{row['fuller']} vs {row['reduced']}"),
            terminal_markup(f"{row['metric']} {gain_text(row)}"),
        )
    table.caption = "* the interval excludes 0 (paired bootstrap over users)"
    return table


def html_section(rows: Sequence[Mapping[str, Any]]) -> str:
    """report.html's "Input ablation" section from :func:`ablation_rows`."""
    head = "".join(f'<th scope="col">{text(h)}</th>' for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in _cells(row)) + "</tr>" for row in rows
    )
    return (
        f"<p>{text(EXPLANATION)}</p>"
        f'<div class="scroll"><table class="sortable" data-table="ablation">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
