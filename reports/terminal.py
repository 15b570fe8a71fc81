"""The rich summary table printed at the end of ``mtrec run``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.summary import compact, latency_p50, metric_cell, number, task_columns, worst_group_gap


def print_summary(document: Mapping[str, Any], console: Console) -> None:
    records = document.get("records", [])
    ok = [r for r in records if r["status"] == "ok"]
    columns = task_columns(ok)
    table = Table(title=f"mtrec: {escape(str(document.get('suite', {}).get('name', '')))}",
                  show_lines=False)
    for title in ("backbone", "head set", "domain", "seed"):
        table.add_column(title, no_wrap=True)
    for column in columns:
        table.add_column(column.title, justify="right")
    for title in ("p50 ms", "params", "FLOPs/sample", "gap"):
        table.add_column(title, justify="right")
    for record in records:
        names = [escape(str(record[k])) for k in ("backbone", "head_set", "domain", "seed")]
        if record["status"] != "ok":
            reason = escape(str(record.get("error") or "failed"))
            table.add_row(*names, f"[red]failed[/red]: {reason}",
                          *([""] * (len(columns) + 3)))
            continue
        gap = worst_group_gap(record)
        efficiency = record.get("efficiency", {})
        table.add_row(
            *names,
            *(metric_cell(record, column) for column in columns),
            number(latency_p50(record), 2),
            compact(efficiency.get("params")),
            compact(efficiency.get("flops_per_sample")),
            "-" if gap is None else number(gap[1], 3),
        )
    console.print(table)
