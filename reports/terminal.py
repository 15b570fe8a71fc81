"""The rich summary table printed at the end of ``mtrec run``.

It stays narrow enough for an 80-column CI log: one column per task (its primary metric),
identity columns only where the run varies them, and a few efficiency figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.summary import compact, latency_p50, number, worst_group_gap

IDENTITY = (
    ("backbone", "backbone"),
    ("head_set", "head set"),
    ("domain", "domain"),
    ("seed", "seed"),
)


def print_summary(document: Mapping[str, Any], console: Console) -> None:
    records = document.get("records", [])
    ok = [r for r in records if r["status"] == "ok"]
    primaries: dict[str, tuple[str, str]] = {}
    for record in ok:
        for task, info in record.get("tasks", {}).items():
            metric = info["primary_metric"]
            primaries.setdefault(task, (metric, info["directions"][metric]))
    # Show an identity column only when the run varies it (backbone always).
    identity = [
        (key, title)
        for key, title in IDENTITY
        if key == "backbone" or len({str(r[key]) for r in records}) > 1
    ]
    suite = escape(str(document.get("suite", {}).get("name", "")))
    table = Table(title=f"mtrec {suite}: test metrics and cost", title_justify="left")
    for _, title in identity:
        table.add_column(title, no_wrap=True)
    for task, (metric, direction) in primaries.items():
        arrow = "\u2191" if direction == "higher" else "\u2193"
        table.add_column(f"{task}\n{metric} {arrow}", justify="right")
    for title in ("p50 ms\nbs 1", "params", "group\ngap"):
        table.add_column(title, justify="right")
    for record in records:
        names = [escape(str(record[key])) for key, _ in identity]
        if record["status"] != "ok":
            table.add_row(*names, "[red]failed[/red]", *([""] * (len(primaries) + 2)))
            continue
        gap = worst_group_gap(record)
        efficiency = record.get("efficiency", {})
        table.add_row(
            *names,
            *(
                number(record["metrics"].get(task, {}).get(metric))
                for task, (metric, _) in primaries.items()
            ),
            number(latency_p50(record), 2),
            compact(efficiency.get("params")),
            "-" if gap is None else number(gap[1], 3),
        )
    shown: set[str] = set()
    for record in ok:  # the no-input reference, once per domain
        if record["domain"] in shown:
            continue
        shown.add(record["domain"])
        trivial = record.get("reference", {}).get("trivial", {})
        names = ["[dim](trivial)[/dim]"] + [
            escape(str(record[key])) if key == "domain" else "" for key, _ in identity[1:]
        ]
        table.add_row(
            *names,
            *(
                f"[dim]{number(trivial.get(task, {}).get(metric))}[/dim]"
                for task, (metric, _) in primaries.items()
            ),
            "",
            "",
            "",
        )
    console.print(table)
