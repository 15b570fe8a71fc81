"""The Explanations section of report.md and report.html, and one row in the terminal.

Reads each ok record's ``explanations`` (the figures) and, for the example rows, the saved
``predictions/KEY/explanations/TASK.json``: a handful of rows per task rendered as text with the
top-attributed units highlighted. Every string from the run is escaped where it enters
markup; the highlight is a CSS class (``attr-1`` strongest .. ``attr-3``), never an inline
colour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.reports.plots import text
from mtrec.reports.summary import number
from mtrec.reports.text import markdown_cell

EXAMPLE_ROWS = 2  # example rows per record and task
TOP_UNITS = 3  # highlighted units per example row
METRICS = ("deletion_auc", "insertion_auc", "comprehensiveness", "sufficiency")
METRIC_TITLES = ("deletion AUC ↓", "insertion AUC ↑", "comprehensiveness ↑", "sufficiency ↓")
SEGMENTS = ("context", "user", "item")
# The explainer an example row is shown with: the first of these the record ran.
PREFERRED = ("integrated-gradients", "id-integrated-gradients", "attention-rollout")

STYLE = """
.attr-1 { background: #f4a259; font-weight: 600; }
.attr-2 { background: #f8c58c; }
.attr-3 { background: #fbe0bf; }
.segment-context { color: #555; font-style: italic; }
.explained { font-family: ui-monospace, Menlo, Consolas, monospace; line-height: 1.7; }
"""


def explained_records(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ok records with explanation figures."""
    return [
        record
        for record in document.get("records", [])
        if record.get("status") == "ok" and (record.get("explanations") or {}).get("tasks")
    ]


def _figure(figure: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``estimate [low, high]`` (``-`` without a value)."""
    if not figure or figure.get("estimate") is None:
        return "-"
    shown = number(figure["estimate"], digits)
    interval = figure.get("interval")
    if interval:
        shown += f" [{number(interval[0], digits)}, {number(interval[1], digits)}]"
    return shown


def _milliseconds(seconds: Any) -> str:
    return "-" if not isinstance(seconds, (int, float)) else f"{seconds * 1000:.2f}"


def _difference(figure: Mapping[str, Any]) -> str:
    return _figure(figure.get("vs_random")) if figure.get("vs_random") else "(reference)"


def faithfulness_rows(document: Mapping[str, Any]) -> Iterator[list[str]]:
    """One row per record, task and explainer: the four figures, comprehensiveness against
    the random reference, seconds per explained row."""
    for record in explained_records(document):
        for task, figures in record["explanations"]["tasks"].items():
            for name, explainer in figures["explainers"].items():
                yield [
                    record["backbone"],
                    record["domain"],
                    task,
                    name,
                    *(_figure(explainer.get(metric)) for metric in METRICS),
                    _difference(explainer.get("comprehensiveness", {})),
                    _milliseconds(explainer.get("seconds_per_row")),
                ]


def share_rows(document: Mapping[str, Any]) -> Iterator[list[str]]:
    """One row per record, task and explainer: each segment's share of the attribution."""
    for record in explained_records(document):
        for task, figures in record["explanations"]["tasks"].items():
            for name, explainer in figures["explainers"].items():
                shares = explainer.get("segment_shares") or {}
                yield [
                    record["backbone"],
                    task,
                    name,
                    *(number(shares.get(segment), 2) for segment in SEGMENTS),
                ]


FAITHFULNESS_HEADER = [
    "backbone",
    "domain",
    "task",
    "explainer",
    *METRIC_TITLES,
    "comprehensiveness - random",
    "ms / row",
]
SHARE_HEADER = ["backbone", "task", "explainer", *SEGMENTS]


# -- example rows -------------------------------------------------------------------------


def load_saved(run_dir: Path, record: Mapping[str, Any], task: str) -> dict[str, Any] | None:
    """A task's saved explanations of a record (None when the file is gone or unreadable)."""
    relative = (record.get("explanations") or {}).get("files", {}).get(task)
    if not relative:
        return None
    path = run_dir / "predictions" / relative
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded


def shown_explainer(saved: Mapping[str, Any]) -> str | None:
    """The explainer example rows are shown with (the first non-reference one otherwise)."""
    names = list(saved.get("explainers", []))
    for name in PREFERRED:
        if name in names:
            return name
    others = [name for name in names if name != saved.get("reference")]
    return others[0] if others else (names[0] if names else None)


def ranked_units(row: Mapping[str, Any], explainer: str) -> dict[int, int]:
    """Unit index -> rank (1 = strongest) of the row's top units by attribution."""
    attribution = np.asarray(row["explainers"][explainer]["attribution"], dtype=np.float64)
    eligible = np.asarray([segment != "special" for segment in row["segments"]])
    candidates = np.flatnonzero(eligible)
    order = candidates[np.argsort(-attribution[candidates], kind="stable")]
    return {int(unit): rank for rank, unit in enumerate(order[:TOP_UNITS], start=1)}


def _pieces(row: Mapping[str, Any]) -> Iterator[tuple[int, str, bool, str]]:
    """(unit, text, space before, segment) of the row's non-special units, segment breaks
    marked by a '||' unit of segment 'break'."""
    previous = None
    for index, (unit, spaced, segment) in enumerate(
        zip(row["units"], row["space_before"], row["segments"], strict=True)
    ):
        if segment == "special":
            continue
        if segment == "item" and previous not in (None, "item"):
            yield -1, "||", True, "break"
        previous = segment
        yield index, unit, bool(spaced), segment


def example_markdown(row: Mapping[str, Any], explainer: str) -> str:
    """The row's text with its top units in bold (rank in brackets), escaped."""
    ranks = ranked_units(row, explainer)
    out: list[str] = []
    for index, unit, spaced, _segment in _pieces(row):
        shown = _markdown_literal(unit)
        if index in ranks:
            shown = f"**{shown}**<sup>{ranks[index]}</sup>"
        out.append((" " if spaced and out else "") + shown)
    return "".join(out)


def example_html(row: Mapping[str, Any], explainer: str) -> str:
    """The row's text with its top units in ``attr-N`` spans, escaped."""
    ranks = ranked_units(row, explainer)
    out: list[str] = []
    for index, unit, spaced, segment in _pieces(row):
        classes = [f"segment-{segment}"] if segment == "context" else []
        if index in ranks:
            classes.append(f"attr-{ranks[index]}")
        body = text(unit)
        if classes:
            body = f'<span class="{" ".join(classes)}">{body}</span>'
        out.append((" " if spaced and out else "") + body)
    return f'<p class="explained">{"".join(out)}</p>'


def _markdown_literal(value: str) -> str:
    escaped = markdown_cell(value)
    for raw in ("*", "_", "`", "[", "]", "#"):
        escaped = escaped.replace(raw, "\\" + raw)
    return escaped


def examples(
    document: Mapping[str, Any], run_dir: Path | None
) -> Iterator[tuple[Mapping[str, Any], str, str, list[Mapping[str, Any]]]]:
    """(record, task, explainer, rows) of the example rows per record and task."""
    if run_dir is None:
        return
    for record in explained_records(document):
        for task in record["explanations"]["tasks"]:
            saved = load_saved(run_dir, record, task)
            if saved is None:
                continue
            explainer = shown_explainer(saved)
            if explainer is None:
                continue
            yield record, task, explainer, list(saved["rows"][:EXAMPLE_ROWS])


# -- the two report formats ---------------------------------------------------------------


def markdown_lines(document: Mapping[str, Any], run_dir: Path | None = None) -> list[str]:
    """The Explanations section of report.md (nothing when no record has explanations)."""
    if not explained_records(document):
        return []
    lines = [
        "",
        "## Explanations",
        "",
        "Faithfulness of each explainer per backbone and task on a seeded sample of test rows "
        "(mean [95% bootstrap interval]); ↓ lower / ↑ higher is more faithful; the last "
        "figures are comprehensiveness minus the random reference's on the same rows.",
        "",
    ]
    lines += _markdown_table(FAITHFULNESS_HEADER, list(faithfulness_rows(document)))
    lines += ["", "Share of each head's absolute attribution per input segment:", ""]
    lines += _markdown_table(SHARE_HEADER, list(share_rows(document)))
    shown = list(examples(document, run_dir))
    if shown:
        lines += ["", "Example rows (top units in bold, rank in superscript; `||` item):", ""]
        for record, task, explainer, rows in shown:
            for row in rows:
                lines.append(
                    f"- {markdown_cell(record['backbone'])} / {markdown_cell(task)} / "
                    f"{markdown_cell(explainer)}, row {row['row']}: "
                    f"{example_markdown(row, explainer)}"
                )
    return lines


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(markdown_cell(cell) for cell in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def html_section(document: Mapping[str, Any], run_dir: Path | None = None) -> str | None:
    """The Explanations section of report.html (None when no record has explanations)."""
    if not explained_records(document):
        return None
    parts = [
        '<p class="note">Faithfulness per backbone and task on a seeded sample of test rows '
        "(mean [95% bootstrap interval]); ↓ lower / ↑ higher is more faithful.</p>",
        _html_table(FAITHFULNESS_HEADER, list(faithfulness_rows(document)), "explanations"),
        "<h3>Segment shares</h3>",
        _html_table(SHARE_HEADER, list(share_rows(document)), "explanation-shares"),
    ]
    shown = list(examples(document, run_dir))
    if shown:
        parts.append("<h3>Example rows</h3>")
        for record, task, explainer, rows in shown:
            parts.append(f"<h4>{text(record['backbone'])} / {text(task)} / {text(explainer)}</h4>")
            parts += [example_html(row, explainer) for row in rows]
    return "".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> str:
    head = "".join(f'<th scope="col">{text(cell)}</th>' for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table class="sortable" data-table="{text(name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


# -- one row in the terminal --------------------------------------------------------------


def terminal_row(saved: Mapping[str, Any], row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(style, text) pieces of one row per explainer for a Rich console: the row's text with
    its top units styled, then each explainer's top units with their attribution."""
    pieces: list[tuple[str, str]] = []
    for name in saved["explainers"]:
        ranks = ranked_units(row, name)
        pieces.append(("bold", f"{name}\n"))
        for index, unit, spaced, segment in _pieces(row):
            style = {1: "bold reverse", 2: "bold underline", 3: "underline"}.get(
                ranks.get(index, 0), "dim" if segment == "context" else ""
            )
            pieces.append((style, (" " if spaced else "") + unit))
        attribution = row["explainers"][name]["attribution"]
        top = ", ".join(
            f"{row['units'][unit]!r} {attribution[unit]:+.4f}"
            for unit, _rank in sorted(ranks.items(), key=lambda item: item[1])
        )
        pieces.append(("", f"\n  top: {top}\n"))
    return pieces
