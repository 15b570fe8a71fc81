"""``mtrec leaderboard``: backbone variants x domains over one or more finished runs."""

from __future__ import annotations

import argparse
import json
import sys

from mtrec.cli.arguments import HostFactory

HELP = "the leaderboard of one or more runs: variants x domains, ranked"
DESCRIPTION = (
    "Backbone variants (named by the settings that tell them apart) against domains, one "
    "table per task metric: the mean over seeds with its 95% interval, the best cell of each "
    "column marked, a rank per domain and the mean win rate across domains; then cost, the "
    "fairness headline, transfer gains and failed records. Records of several runs are pooled "
    "(a record measured again in a later run replaces the earlier one)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="run folder, or the name or id of a run in the results store",
    )
    parser.add_argument(
        "--format",
        choices=("terminal", "markdown", "json"),
        default="terminal",
        help="terminal: rich tables fitted to the terminal's width (default); markdown: the "
        "report.md section; json: every cell with its interval, seeds and rank",
    )
    parser.add_argument("--task", default=None, metavar="TASK", help="only this task's table")
    parser.add_argument(
        "--metric",
        default=None,
        metavar="METRIC",
        help="tabulate this metric (rmse, auc, a ranking figure such as recall@20, ...) "
        "instead of each task's primary metric; tasks without it are left out",
    )


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from rich.console import Console

    from mtrec.reports.leaderboard import leaderboard_markdown, print_leaderboard
    from mtrec.store.leaderboard import build_leaderboard, leaderboard_json, load_sources
    from mtrec.store.results_reader import unfinished

    sources = load_sources(args.runs)
    for source in sources:
        problem = unfinished(source.document)
        if problem is not None:
            print(f"mtrec leaderboard: warning: {source.name}: {problem}", file=sys.stderr)
    board = build_leaderboard(sources, task=args.task, metric=args.metric)
    if args.format == "json":
        print(json.dumps(leaderboard_json(board), indent=2, allow_nan=False))
    elif args.format == "markdown":
        print("\n".join(leaderboard_markdown(board, heading="#")))
    else:
        print_leaderboard(board, Console())
    return 0
