"""``mtrec report``: the report of a finished run, written or printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtrec.cli.arguments import HostFactory
from mtrec.errors import UsageError

HELP = "render the report of a finished run"
DESCRIPTION = (
    "Render the report of a run folder: without --format, (re)write report.md and report.html "
    "there and print the Markdown; with --format, print only that format to stdout."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument(
        "--format",
        choices=("md", "html", "json"),
        default=None,
        help="md: the Markdown summary; html: the self-contained HTML page; json: the "
        "summary both are built from (default: write report.md and report.html)",
    )


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from mtrec.reports import build_overview, render_html, render_markdown, write_reports
    from mtrec.store.results_reader import read_results, unfinished

    document = read_results(args.run_dir)
    problem = unfinished(document)
    if problem is not None:
        print(f"mtrec report: warning: {args.run_dir}: {problem}", file=sys.stderr)
    elif not document["records"]:
        print(f"mtrec report: warning: {args.run_dir}: the run holds no records", file=sys.stderr)
    if args.format is None:
        try:
            written = write_reports(document, args.run_dir)
        except OSError as exc:
            raise UsageError(f"{args.run_dir}: cannot write the reports ({exc.strerror})") from None
        print(render_markdown(document, args.run_dir))
        print("wrote " + ", ".join(str(path) for path in written), file=sys.stderr)
    elif args.format == "json":
        print(json.dumps(build_overview(document), indent=2))
    elif args.format == "html":
        print(render_html(document, args.run_dir), end="")
    else:
        print(render_markdown(document, args.run_dir))
    return 0
