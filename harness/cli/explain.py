"""``mtrec explain``: one test row's explanation from a finished run, in the terminal."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mtrec.cli.arguments import HostFactory
from mtrec.errors import UsageError

HELP = "print one test row's explanation (a run made with explain:)"
DESCRIPTION = (
    "Print how each explainer attributed one sampled test row of a combination: the row's "
    "text with its top units marked, per task head, with the head's explained score and the "
    "explainers' faithfulness on the row. KEY is the combination's key (results.json, "
    "predictions/KEY); ID is the row's interaction id (or, with --index, its test-split row)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--key", required=True, help="the combination's key")
    parser.add_argument("--row", required=True, type=int, metavar="ID", help="the row's id")
    parser.add_argument(
        "--index",
        action="store_true",
        help="ID is the row's index in the test split, not its interaction id",
    )
    parser.add_argument("--task", action="append", default=None, help="only this task")


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from rich.console import Console
    from rich.text import Text

    from mtrec.measure.explain import row_metrics
    from mtrec.printable import printable
    from mtrec.reports.explanations import load_saved, terminal_row
    from mtrec.store.results_reader import read_results

    document = read_results(args.run_dir)
    record = _record(document, args.key, args.run_dir)
    explanations = record.get("explanations") or {}
    tasks = list(explanations.get("tasks") or {})
    if not tasks:
        raise UsageError(
            f"{args.run_dir}: combination {args.key} has no explanations "
            "(run its suite with an explain: block)"
        )
    for task in args.task or []:
        if task not in tasks:
            raise UsageError(f"--task: '{task}' was not explained (explained: {', '.join(tasks)})")
    console = Console(highlight=False)
    shown = 0
    for task in args.task or tasks:
        saved = load_saved(args.run_dir, record, task)
        if saved is None:
            raise UsageError(
                f"{args.run_dir}: predictions/{explanations['files'].get(task)} is missing or "
                "unreadable"
            )
        row = _row(saved, args.row, by_index=args.index)
        if row is None:
            continue
        shown += 1
        head = Text(
            printable(
                f"{record['backbone']} x {record['head_set']} x {record['domain']}: task {task}, "
                f"row {row['row']} (id {row['id']}), explained score {row['score']:.4f}",
                one_line=True,
            ),
            style="bold",
        )
        console.print(head)
        body = Text()
        for style, piece in terminal_row(saved, row):
            body.append(printable(piece).replace("\t", " "), style=style or None)
        console.print(body)
        for name in saved["explainers"]:
            entry = row["explainers"][name]
            figures = row_metrics(float(row["score"]), entry["deletion"], entry["insertion"])
            console.print(
                Text(
                    printable(f"  {name}: ", one_line=True)
                    + ", ".join(f"{metric} {value:.4f}" for metric, value in figures.items())
                )
            )
    if not shown:
        what = "test-split row" if args.index else "row id"
        sampled = ", ".join(str(r["id"]) for r in _first_rows(args.run_dir, record, tasks))
        raise UsageError(
            f"--row: {what} {args.row} is not among the explained rows of {args.key} "
            f"(ids sampled include {sampled})"
        )
    return 0


def _record(document: dict[str, Any], key: str, run_dir: Path) -> dict[str, Any]:
    found: dict[str, Any] | None = None
    for record in document.get("records", []):
        if record.get("key") == key:
            found = record
    if found is None:
        keys = [str(r.get("key")) for r in document.get("records", [])]
        raise UsageError(
            f"--key: {run_dir} has no combination {key!r} (keys: {', '.join(keys) or 'none'})"
        )
    if found.get("status") != "ok":
        raise UsageError(f"--key: combination {key} failed; it has no explanations")
    return found


def _row(saved: dict[str, Any], wanted: int, *, by_index: bool) -> dict[str, Any] | None:
    for row in saved.get("rows", []):
        if (row["row"] if by_index else row["id"]) == wanted:
            found: dict[str, Any] = row
            return found
    return None


def _first_rows(run_dir: Path, record: dict[str, Any], tasks: list[str]) -> list[dict[str, Any]]:
    from mtrec.reports.explanations import load_saved

    saved = load_saved(run_dir, record, tasks[0])
    return list(saved["rows"][:5]) if saved else []
