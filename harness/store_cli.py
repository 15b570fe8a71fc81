"""The command-line side of the store, resume, executors and shards.

``mtrec run`` options (``--store``, ``--resume``, ``--executor``, ``--shard``), the failure
summary printed at the end of a sweep, and the verbs ``mtrec merge`` and
``mtrec store list|export``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from mtrec.printable import printable
from mtrec.store.database import STORE_ENV, Store


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The store, resume, executor and shard options of ``mtrec run``."""
    _store_option(run)
    run.add_argument(
        "--resume",
        action="store_true",
        help="skip combinations with an ok record in the store (copied in with their "
        "predictions); with --out DIR holding a run, continue that run in place. Only "
        "records made by the same mtrec and plugin versions from the same domain data "
        "are reused",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="write the run into an --out folder that holds files mtrec did not write "
        "(refused without it)",
    )
    run.add_argument(
        "--executor",
        default="local",
        metavar="NAME",
        help="where combinations run: local (in process, default), process (a child per "
        "combination), ray (the ray extra), or one a plugin registers",
    )
    run.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only shard I of N of the matrix (by key, the same on every machine); "
        "join shards with mtrec merge",
    )


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"results store (SQLite; default: ${STORE_ENV} or runs/mtrec.sqlite)",
    )


def open_store(args: argparse.Namespace) -> Store:
    return Store(args.store) if args.store is not None else Store.default()


def sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`mtrec.run.runner.run_sweep` from the run options."""
    from mtrec.run.runner import Shard

    return {
        "store": open_store(args),
        "resume": args.resume,
        "force": args.force,
        "executor": args.executor,
        "shard": Shard.parse(args.shard) if args.shard else None,
    }


def failure_summary(result: Any) -> list[str]:
    """Lines summarising a sweep's failures (empty when every combination is ok)."""
    records = result.document["records"]
    failed = result.failed
    if not failed:
        return []
    lines = [f"{len(failed)} of {len(records)} combinations failed:"]
    for record in failed:
        lines.append(
            f"  {record['backbone']} x {record['head_set']} x {record['domain']} "
            f"(seed {record['seed']}, key {record['key']}): "
            f"{printable(record['error'], one_line=True, limit=500)}"
        )
    kinds = Counter(_reason_kind(str(record["error"])) for record in failed)
    if len(failed) > 1:
        lines.append("  by reason: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    return lines


def _reason_kind(error: str) -> str:
    for prefix, kind in (
        ("CUDA out of memory", "out of memory"),
        ("non-finite loss", "non-finite loss"),
        ("worker died", "worker died"),
        ("worker exited", "worker died"),
        ("ray task failed", "ray task failed"),
    ):
        if error.startswith(prefix):
            return kind
    return "raised" if " raised " in error else "other"


# --------------------------------------------------------------------------------------
# mtrec merge, mtrec store
# --------------------------------------------------------------------------------------


def add_store_commands(commands: Any) -> None:
    """``mtrec merge`` and ``mtrec store list|export``."""
    merge = commands.add_parser(
        "merge",
        help="join shard run folders into one run",
        description="Join the run folders of shards of one suite (mtrec run --shard I/N) "
        "into one run folder: records, predictions, tradeoffs. Refuses runs of different "
        "suites and overlapping shards.",
    )
    merge.add_argument("out", type=Path, metavar="OUT", help="the new run folder")
    merge.add_argument("shards", type=Path, nargs="+", metavar="SHARD_DIR")
    _store_option(merge)
    merge.add_argument("--no-store", action="store_true", help="do not add the merged run")

    store = commands.add_parser(
        "store",
        help="list or export the results store",
        description="The results store: every record of every run (SQLite).",
    )
    verbs = store.add_subparsers(dest="store_command", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="the runs in the store")
    _store_option(listing)
    export = verbs.add_parser("export", help="records as JSON or CSV on stdout")
    _store_option(export)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--run", default=None, metavar="NAME", help="one run, by name or id")


def merge_main(args: argparse.Namespace) -> int:
    from mtrec.reports import write_reports
    from mtrec.store.merge import merge_runs

    document = merge_runs(args.out, args.shards, None if args.no_store else open_store(args))
    report_path, _ = write_reports(document, args.out)
    failed = sum(record["status"] != "ok" for record in document["records"])
    print(f"merged {len(document['records'])} records from {len(args.shards)} runs")
    print(f"report: {report_path}")
    return 1 if failed else 0


def store_main(args: argparse.Namespace) -> int:
    store = open_store(args)
    if not store.path.is_file():
        from mtrec.errors import UsageError

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
