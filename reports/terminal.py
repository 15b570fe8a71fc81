"""The rich summary printed at the end of ``mtrec run``: an accuracy table and a cost table.

Both stay narrow enough for an 80-column CI log: identity columns only where the run varies
them, one column per task (its primary metric; a ranking task's NDCG, recall, HR and MRR at
its primary cut-off), a few efficiency figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from mtrec.reports.ablation import terminal_table as ablation_table
from mtrec.reports.leaderboard import print_fitted
from mtrec.reports.overview import labelled
from mtrec.reports.rounds import terminal_tables as rounds_tables
from mtrec.reports.summary import (
    compact,
    flops_cell,
    group_gap_cell,
    latency_p50_cell,
    number,
    reference_name,
    shown_metrics,
    strategy,
    task_types,
)
from mtrec.reports.text import terminal_markup
from mtrec.reports.timing import terminal_table as time_table

IDENTITY = (
    ("backbone", "backbone"),
    ("head_set", "head set"),
    ("domain", "domain"),
    ("seed", "seed"),
)


def print_summary(document: Mapping[str, Any], console: Console) -> None:
    # One backbone listed twice with different settings: rows labelled by what differs.
    records = labelled(document.get("records", []))
    suite = terminal_markup(str(document.get("suite", {}).get("name", "")))
    identity = [
        (key, title)
        for key, title in IDENTITY
        if key == "backbone" or len({str(r[key]) for r in records}) > 1
    ]
    with_strategy = len({strategy(r) for r in records}) > 1

    def names(record: Mapping[str, Any]) -> list[str]:
        cells = [terminal_markup(str(record[key])) for key, _ in identity]
        if with_strategy:
            cells[0] += f" [dim]{terminal_markup(strategy(record))}[/dim]"
        return cells

    # Wider than the console: split into tables that repeat the identity columns (never
    # squeezed into zero-width columns).
    for table in (
        _accuracy_table(f"mtrec {suite}: test metrics", records, identity, names),
        _cost_table(f"mtrec {suite}: cost", records, identity, names),
    ):
        print_fitted(console, table, keep=len(identity))
    for table in rounds_tables(document):  # the feedback loop (protocol: rounds)
        print_fitted(console, table, keep=1)
    ablation = ablation_table(document)  # records differing only in their input options
    if ablation is not None:
        console.print(ablation)
    timing = time_table(document)  # where the sweep's time went
    if timing is not None:
        print_fitted(console, timing, keep=1)


def _accuracy_table(
    title: str, records: Sequence[Mapping[str, Any]], identity: list[tuple[str, str]], names: Any
) -> Table:
    ok = [r for r in records if r["status"] == "ok"]
    primaries: dict[tuple[str, str], str] = {}  # (task, metric) -> direction
    for record in ok:
        for task, info in record.get("tasks", {}).items():
            headline = shown_metrics(info) if info.get("type") == "ranking" else []
            for metric in headline or [info["primary_metric"]]:
                primaries.setdefault((task, metric), info["directions"][metric])
    table = Table(title=title, title_justify="left")
    for _, heading in identity:
        table.add_column(heading, no_wrap=True)
    for (task, metric), direction in primaries.items():
        arrow = "\u2191" if direction == "higher" else "\u2193"
        table.add_column(f"{task}\n{metric} {arrow}", justify="right")
    table.add_column("group gap\nper task", justify="right")
    for record in records:
        if record["status"] != "ok":
            table.add_row(*names(record), "[red]failed[/red]", *([""] * len(primaries)))
            continue
        table.add_row(
            *names(record),
            *(number(record["metrics"].get(task, {}).get(metric)) for task, metric in primaries),
            terminal_markup(group_gap_cell(record)),
        )
    shown: set[str] = set()
    for record in ok:  # the no-input reference, once per domain
        if record["domain"] in shown:
            continue
        shown.add(record["domain"])
        trivial = record.get("reference", {}).get("trivial", {})
        cells = [f"[dim]({reference_name(task_types(ok))})[/dim]"] + [
            terminal_markup(str(record[key])) if key == "domain" else "" for key, _ in identity[1:]
        ]
        table.add_row(
            *cells,
            *(
                f"[dim]{number(trivial.get(task, {}).get(metric))}[/dim]"
                for task, metric in primaries
            ),
            "",
        )
    return table


def _cost_table(
    title: str, records: Sequence[Mapping[str, Any]], identity: list[tuple[str, str]], names: Any
) -> Table:
    table = Table(title=title, title_justify="left")
    for _, heading in identity:
        table.add_column(heading, no_wrap=True)
    for heading in (
        "p50 ms\nbs 1",
        "train\nrows/s",
        "infer\nrows/s",
        "peak\nRSS MB",
        "params",
        "FLOPs\n/sample",
    ):
        table.add_column(heading, justify="right")
    for record in records:
        if record["status"] != "ok":
            continue
        efficiency = record.get("efficiency", {})
        table.add_row(
            *names(record),
            latency_p50_cell(record),
            compact(efficiency.get("train_samples_per_s")),
            compact(efficiency.get("inference_samples_per_s")),
            number(efficiency.get("peak_memory_mb"), 0),
            compact(efficiency.get("params")),
            flops_cell(record),
        )
    return table
