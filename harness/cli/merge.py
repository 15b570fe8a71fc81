"""``mtrec merge``: join the run folders of shards of one suite into one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from mtrec.cli.arguments import HostFactory, add_store_option, open_store

HELP = "join shard run folders into one run"
DESCRIPTION = (
    "Join the run folders of shards of one suite (mtrec run --shard I/N) into one run folder: "
    "records, predictions, tradeoffs. Refuses runs of different suites and overlapping shards."
)


def add_arguments(merge: argparse.ArgumentParser) -> None:
    merge.add_argument("out", type=Path, metavar="OUT", help="the new run folder")
    merge.add_argument("shards", type=Path, nargs="+", metavar="SHARD_DIR")
    add_store_option(merge)
    merge.add_argument("--no-store", action="store_true", help="do not add the merged run")


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from mtrec.reports import write_reports
    from mtrec.store.merge import merge_runs

    document = merge_runs(args.out, args.shards, None if args.no_store else open_store(args))
    report_path, _ = write_reports(document, args.out)
    failed = sum(record["status"] != "ok" for record in document["records"])
    print(f"merged {len(document['records'])} records from {len(args.shards)} runs")
    print(f"report: {report_path}")
    return 1 if failed else 0
