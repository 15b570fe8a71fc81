"""``mtrec run``: train and evaluate every combination of a suite."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtrec.cli.arguments import (
    HostFactory,
    add_store_option,
    folder,
    help_literal,
    names,
    open_store,
    seed,
)
from mtrec.printable import printable

if TYPE_CHECKING:
    from mtrec.config import Suite

HELP = "train and evaluate every combination of a suite"
DESCRIPTION = (
    "Train and evaluate every combination of a suite; "
    "write results.json, predictions/ and report.md to the run folder."
)


def add_arguments(run: argparse.ArgumentParser) -> None:
    from mtrec.config import DEFAULT_SUITE, builtin_suites

    run.add_argument(
        "suite",
        nargs="?",
        default=None,
        metavar="SUITE",
        help=f"built-in suite name ({help_literal(', '.join(builtin_suites()))}) or a YAML "
        f"file; default: {help_literal(DEFAULT_SUITE)}",
    )
    run.add_argument(
        "--out",
        type=folder,
        default=None,
        metavar="DIR",
        help="run folder (default: runs/SUITE-TIMESTAMP)",
    )
    run.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda",
        help="where to train; auto takes CUDA when present (default: auto)",
    )
    run.add_argument(
        "--seed",
        type=seed,
        action="append",
        default=None,
        metavar="N",
        help="run with this seed instead of the suite's seeds (repeatable)",
    )
    run.add_argument(
        "--backbones",
        type=names,
        default=None,
        metavar="A,B",
        help="only these backbones (names, comma separated)",
    )
    run.add_argument(
        "--head-sets", type=names, default=None, metavar="A,B", help="only these head sets"
    )
    run.add_argument(
        "--domains", type=names, default=None, metavar="A,B", help="only these domains"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars or table")
    run.add_argument(
        "--threads",
        type=threads,
        default=None,
        metavar="N",
        help="torch intra-op threads (default: OMP_NUM_THREADS if set, else the cores other "
        "work leaves free now); idle threads sleep rather than spin",
    )
    run.add_argument(
        "--tracker",
        action="append",
        default=None,
        metavar="NAME",
        help="also send every record to this tracker (tensorboard, mlflow; repeatable)",
    )
    add_store_option(run)
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


def threads(value: str) -> int:
    """A thread count: a positive integer."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 thread, got {number}")
    return number


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from rich.console import Console

    from mtrec.config import load_suite
    from mtrec.reports import print_summary, write_reports
    from mtrec.reports.leaderboard import print_run_leaderboard
    from mtrec.run.phases import process_age_seconds
    from mtrec.run.progress import RichReporter
    from mtrec.run.runner import default_run_dir, note_reports_time, run_sweep
    from mtrec.run.threads import apply_threads

    suite = narrow(load_suite(args.suite), args)
    apply_threads(args.threads)  # before any model work; recorded in the environment block
    plugin_host = host()
    out: Path = args.out or default_run_dir(suite)
    console = Console(stderr=True, quiet=args.quiet)
    with RichReporter(console) as reporter:
        result = run_sweep(
            suite,
            plugin_host,
            out,
            device=args.device,
            reporter=reporter,
            startup_s=process_age_seconds(),
            **sweep_options(args),
        )
    reports_started = time.perf_counter()
    report_path, html_path = write_reports(result.document, out)
    # The comparison view first, then one row per record.
    print_run_leaderboard(result.document, out, Console(quiet=args.quiet))
    print_summary(result.document, Console(quiet=args.quiet))
    note_reports_time(result.document, out, time.perf_counter() - reports_started)
    for line in failure_summary(result):
        console.print(line, markup=False, highlight=False)
    if args.quiet and result.failed:
        # --quiet drops the table, not the news that something failed.
        print(
            f"mtrec run: {len(result.failed)} of {len(result.document['records'])} "
            f"combinations failed; reasons in {report_path}",
            file=sys.stderr,
        )
    print(f"html report: {html_path}")
    print(f"report: {report_path}")
    return 1 if result.failed else 0


def narrow(suite: Suite, args: argparse.Namespace) -> Suite:
    """Apply --seed/--backbones/--head-sets/--domains/--tracker to a loaded suite."""
    from mtrec.config import BackboneEntry, DomainEntry, HeadSetEntry

    update: dict[str, Any] = {}
    if args.seed:
        update["seeds"] = list(dict.fromkeys(args.seed))
    if getattr(args, "tracker", None):
        update["trackers"] = list(dict.fromkeys([*suite.trackers, *args.tracker]))
    for flag, key, entry_type in (
        ("backbones", "backbones", BackboneEntry),
        ("head_sets", "head_sets", HeadSetEntry),
        ("domains", "domains", DomainEntry),
    ):
        listed = getattr(args, flag)
        if listed is None:
            continue
        # Keep the suite's settings for a name it lists; a new name gets defaults.
        entries = getattr(suite, key)
        existing = {entry.name: entry for entry in entries if not isinstance(entry, str)}
        update[key] = [existing.get(name) or entry_type(name=name) for name in listed]
        update["include"] = []
    if update:
        suite = suite.model_copy(update=update)
        suite = suite.model_copy(update={"path": f"{suite.path} (narrowed by flags)"})
    return suite


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
