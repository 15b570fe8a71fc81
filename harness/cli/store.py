"""``mtrec store list|export``: the results store, every record of every run."""

from __future__ import annotations

import argparse
import sys

from mtrec.cli.arguments import HostFactory, add_store_option, open_store
from mtrec.errors import UsageError
from mtrec.printable import printable

HELP = "list or export the results store"
DESCRIPTION = "The results store: every record of every run (SQLite)."


def add_arguments(store: argparse.ArgumentParser) -> None:
    verbs = store.add_subparsers(dest="store_command", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="the runs in the store")
    add_store_option(listing)
    export = verbs.add_parser("export", help="records as JSON or CSV on stdout")
    add_store_option(export)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--run", default=None, metavar="NAME", help="one run, by name or id")


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    store = open_store(args)
    if not store.path.is_file():
        raise UsageError(f"store {store.path}: no such file (run mtrec run first, or --store)")
    if args.store_command == "list":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"runs in {store.path}", title_justify="left")
        for title in ("run id", "name", "suite", "shard", "started", "finished", "ok", "records"):
            table.add_column(title)
        for run in store.runs():
            cells = (
                run["run_id"],
                run["name"],
                run["suite"],
                run["shard"] or "",
                run["started"],
                run["finished"] or "(unfinished)",
                str(run["ok"]),
                str(run["records"]),
            )
            # Stored strings are data: shown literally, without markup or control codes.
            table.add_row(*(Text(printable(cell, one_line=True)) for cell in cells))
        Console().print(table)
        return 0
    if args.format == "csv":
        store.export_csv(sys.stdout, run=args.run)
    else:
        store.export_json(sys.stdout, run=args.run)
    return 0
