"""Renderers of ``mtrec compare``: the terminal table, the Markdown diff for a CI job summary and
the JSON form."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from mtrec.reports.summary import compact, number
from mtrec.reports.text import markdown_cell, terminal_markup
from mtrec.store.compare import UNTESTED, Check, Comparison


def verdict(check: Check) -> str:
    return "REGRESSION" if check.regressed else "ok"


def change_text(check: Check) -> str:
    """'+0.0123 (+1.6%)'; the sign is the raw change, the direction column says which is worse."""
    change, relative = check.change, check.relative_change
    if change is None:
        return "-"
    text = f"{change:+.4g}"
    return text if relative is None else f"{text} ({relative:+.1%})"


def interval_text(check: Check) -> str:
    if check.interval is None:
        return "-"
    low, high = check.interval
    return f"[{low:+.4g}, {high:+.4g}]"


def headline(comparison: Comparison) -> str:
    count = len(comparison.regressions)
    verdict = f"{count} regression{'s' if count != 1 else ''}" if count else "no regression"
    return (
        f"{verdict} in {comparison.matched} matched combination"
        f"{'s' if comparison.matched != 1 else ''} ({len(comparison.checks)} checks)"
    )


def regression_line(check: Check) -> str:
    """One stderr line per regression: metric, combination, baseline -> candidate, rule."""
    if check.metric == "status":
        return f"regression: {check.combination}: {check.note}"
    ci = f"; 95% interval of the change {interval_text(check)}" if check.interval else ""
    return (
        f"regression: {check.metric} of {check.combination}: "
        f"{number(check.baseline)} -> {number(check.candidate)} ({_percent(check)}), "
        f"rule {check.rule}{ci}"
    )


def print_comparison(comparison: Comparison, console: Console) -> None:
    """The checks as a rich table, regressions first; identity columns only where they vary."""
    checks = _ordered(comparison.checks)
    varying = [i for i in range(4) if i == 0 or len({check.parts[i] for check in checks}) > 1]
    titles = ("backbone", "head set", "domain", "seed")
    table = Table(
        title=terminal_markup(f"mtrec compare: {comparison.baseline} -> {comparison.candidate}"),
        title_justify="left",
        caption=headline(comparison),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for i in varying:
        table.add_column(titles[i], no_wrap=True)
    table.add_column("metric", no_wrap=True)
    # The interval is in the Markdown diff and the stderr line: 80 columns hold no more.
    for title in ("before", "after", "change", "allowed"):
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for check in checks:
        table.add_row(
            *(terminal_markup(check.parts[i].removeprefix("seed ")) for i in varying),
            terminal_markup(_metric_title(check)),
            _short(check.baseline),
            _short(check.candidate),
            _percent(check),
            terminal_markup(check.rule.partition(":")[2] or check.rule),
            _SHORT_VERDICT.get(check.note, "[bold red]FAIL[/]" if check.regressed else "ok"),
        )
    console.print(table)
    for check in checks:
        if UNTESTED in check.note:
            reason = check.note.partition(UNTESTED)[2].lstrip(": ")
            where = f"{check.combination}: {check.metric}"
            console.print(terminal_markup(f"{where}: {UNTESTED} ({reason})"), highlight=False)
    for title, labels in (
        ("only in the baseline", comparison.only_baseline),
        ("only in the candidate", comparison.only_candidate),
        ("matched by name, configs differ", comparison.by_identity),
    ):
        for label in labels:
            console.print(f"{title}: {terminal_markup(label)}", highlight=False)


_SHORT_VERDICT = {
    "within tolerance": "[green]ok[/]",
    "not significant (interval includes zero)": "[green]ok[/] [dim](n.s.)[/dim]",
    "not reported by both runs": "[dim]missing[/dim]",
}


def _short(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else compact(value)


def _percent(check: Check) -> str:
    relative = check.relative_change
    if relative is None:
        return "-" if check.change is None else f"{check.change:+.4g}"
    return f"{relative:+.1%}"


def render_markdown(comparison: Comparison) -> str:
    """A Markdown diff for a pull request or a CI job summary."""
    lines = [
        f"## mtrec compare: {markdown_cell(comparison.baseline)} -> "
        f"{markdown_cell(comparison.candidate)}",
        "",
        f"**{headline(comparison)}**; rules: `{', '.join(comparison.rules)}`",
        "",
    ]
    if comparison.environment:
        differences = markdown_cell("; ".join(comparison.environment))
        lines += [f"> environments differ: {differences}", ""]
    if comparison.checks:
        lines += [
            "| combination | metric | baseline | candidate | change | 95% CI | rule | verdict |",
            "|---|---|---:|---:|---:|---:|---|---|",
        ]
        for check in _ordered(comparison.checks):
            mark = "**REGRESSION**" if check.regressed else "ok"
            cells = [
                check.combination,
                _metric_title(check),
                number(check.baseline),
                number(check.candidate),
                change_text(check),
                interval_text(check),
                f"`{check.rule}`",
                f"{mark}: {check.note}",
            ]
            lines.append("| " + " | ".join(markdown_cell(cell) for cell in cells) + " |")
        lines.append("")
    for title, labels in (
        ("Only in the baseline", comparison.only_baseline),
        ("Only in the candidate", comparison.only_candidate),
        ("Matched by name although their configs differ", comparison.by_identity),
    ):
        if labels:
            lines += [f"{title}:", "", *(f"- {markdown_cell(label)}" for label in labels), ""]
    return "\n".join(lines)


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as plain JSON-ready data (``mtrec compare --json``)."""
    document = asdict(comparison)
    document["regressions"] = len(comparison.regressions)
    for raw, check in zip(document["checks"], comparison.checks, strict=True):
        raw["change"] = check.change
        raw["relative_change"] = check.relative_change
    return document


def _metric_title(check: Check) -> str:
    if check.metric == "status":
        return "status"
    return f"{check.metric} {'↑' if check.direction > 0 else '↓'}"


def _ordered(checks: list[Check]) -> list[Check]:
    return sorted(checks, key=lambda check: not check.regressed)
