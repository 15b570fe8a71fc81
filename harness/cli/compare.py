"""``mtrec compare``: fail on a regression of a candidate run against a baseline run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mtrec.cli.arguments import ERROR_LIMIT, HostFactory, help_literal, seed
from mtrec.errors import UsageError
from mtrec.printable import printable

HELP = "fail on a regression of a candidate run against a baseline run"
DESCRIPTION = (
    "Compare two runs combination by combination; exit 1 when a metric worsens beyond its rule "
    "(and, for accuracy, significantly), 0 otherwise."
)


def add_arguments(compare: argparse.ArgumentParser) -> None:
    # The defaults live with the comparison (which imports the metrics): loaded only when
    # `mtrec compare` is the command.
    from mtrec.measure.bootstrap import DEFAULT_RESAMPLES
    from mtrec.store.compare import DEFAULT_MIN_EFFECT
    from mtrec.store.compare_rules import DEFAULT_RULES

    compare.add_argument("baseline", metavar="BASELINE", help="run folder or stored run name")
    compare.add_argument("candidate", metavar="CANDIDATE", help="run folder or stored run name")
    compare.add_argument(
        "--fail-on",
        default=DEFAULT_RULES,
        metavar="RULES",
        help="comma-separated METRIC:+N%% or METRIC:+N (allowed worsening); METRIC is "
        "TASK.METRIC (rating.rmse, next-item.ndcg@10), '*' (every primary metric) or "
        "latency_p50, flops_per_sample, "
        f"peak_memory_mb, params, ... (default: {help_literal(DEFAULT_RULES)})",
    )
    compare.add_argument(
        "--min-effect",
        type=float,
        default=DEFAULT_MIN_EFFECT,
        metavar="X",
        help=f"smallest absolute accuracy change that can fail (default: {DEFAULT_MIN_EFFECT})",
    )
    compare.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples (default: {DEFAULT_RESAMPLES})",
    )
    compare.add_argument("--seed", type=seed, default=0, help="bootstrap seed (default: 0)")
    compare.add_argument(
        "--summary", type=Path, default=None, metavar="FILE", help="write the Markdown diff here"
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from rich.console import Console

    from mtrec.reports.compare import comparison_json, print_comparison, regression_line
    from mtrec.reports.compare import render_markdown as render_diff
    from mtrec.store.compare import compare_runs, load_run
    from mtrec.store.compare_rules import parse_rules
    from mtrec.store.results_reader import unfinished

    if args.min_effect < 0 or args.resamples < 0:
        raise UsageError("--min-effect and --resamples must not be negative")
    rules = parse_rules(args.fail_on)
    baseline, candidate = load_run(args.baseline), load_run(args.candidate)
    comparison = compare_runs(
        baseline,
        candidate,
        rules,
        min_effect=args.min_effect,
        resamples=args.resamples,
        seed=args.seed,
    )
    for run in (baseline, candidate):
        problem = unfinished(run.document)
        if problem is not None:
            print(f"mtrec compare: warning: {run.name}: {problem}", file=sys.stderr)
    for difference in comparison.environment:
        shown = printable(difference, one_line=True, limit=ERROR_LIMIT)
        print(f"mtrec compare: warning: environments differ: {shown}", file=sys.stderr)
    markdown = render_diff(comparison)
    if args.summary is not None:
        try:
            args.summary.write_text(markdown + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--summary {args.summary}: cannot write ({exc.strerror})") from None
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if args.json:
        print(json.dumps(comparison_json(comparison), indent=2))
    else:
        print_comparison(comparison, Console())
    for check in comparison.regressions:
        line = printable(regression_line(check), one_line=True, limit=ERROR_LIMIT)
        print(f"mtrec compare: {line}", file=sys.stderr)
    return 1 if comparison.regressions else 0
