"""The ``mtrec`` command line.

Exit codes: 0 everything ok, 1 some combination failed, 2 bad input (suite, flag, plugin
name, output folder), 74 the run folder or store could not be written (disk full,
read-only), 130 Ctrl-C, 143 SIGTERM. Errors are one line on stderr, never a traceback
(``-v`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtrec import __version__
from mtrec.errors import MtrecError, SweepTerminated, UsageError
from mtrec.printable import printable

log = logging.getLogger("mtrec")
ERROR_LIMIT = 1000  # characters of a one-line error message


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def help_literal(value: object) -> str:
    """A value shown verbatim in argparse help: argparse %-formats help strings, so a '%' in
    an interpolated value (a default rule like '*:+2%') must be doubled."""
    return str(value).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mtrec",
        description="Benchmark transformer-backbone multi-task recommenders: accuracy, cost "
        "and fairness of every backbone x head set x domain combination.",
    )
    parser.add_argument("--version", action="version", version=f"mtrec {__version__}")
    parser.add_argument(
        "--block-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="do not load the plugin NAME (repeatable; also MTREC_BLOCK_PLUGINS=a,b)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log plugin loading and show tracebacks"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from mtrec.config import DEFAULT_SUITE, builtin_suites

    run = commands.add_parser(
        "run",
        help="train and evaluate every combination of a suite",
        description="Train and evaluate every combination of a suite; "
        "write results.json, predictions/ and report.md to the run folder.",
    )
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
        type=_folder,
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
        type=_seed,
        action="append",
        default=None,
        metavar="N",
        help="run with this seed instead of the suite's seeds (repeatable)",
    )
    run.add_argument(
        "--backbones",
        type=_names,
        default=None,
        metavar="A,B",
        help="only these backbones (names, comma separated)",
    )
    run.add_argument(
        "--head-sets", type=_names, default=None, metavar="A,B", help="only these head sets"
    )
    run.add_argument(
        "--domains", type=_names, default=None, metavar="A,B", help="only these domains"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars or table")
    run.add_argument(
        "--tracker",
        action="append",
        default=None,
        metavar="NAME",
        help="also send every record to this tracker (tensorboard, mlflow; repeatable)",
    )
    from mtrec.store_cli import add_run_options, add_store_commands

    add_run_options(run)

    plugins = commands.add_parser(
        "plugins",
        help="list every registered plugin item per kind",
        description="List every registered item of every plugin kind (backbones, head sets, "
        "domains, fairness metrics, architectures, loss weightings, trackers, executors) "
        "with the plugin and version providing it.",
    )
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    commands.add_parser(
        "suites",
        help="list the built-in suites",
        description="List the built-in suites and what they run.",
    )

    report = commands.add_parser(
        "report",
        help="render the report of a finished run",
        description="Render the report of a run folder: without --format, (re)write "
        "report.md and report.html there and print the Markdown; with --format, print only "
        "that format to stdout.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument(
        "--format",
        choices=("md", "html", "json"),
        default=None,
        help="md: the Markdown summary; html: the self-contained HTML page; json: the "
        "summary both are built from (default: write report.md and report.html)",
    )
    _add_compare_command(commands)
    add_store_commands(commands)
    from mtrec.datasets_cli import add_datasets_commands

    add_datasets_commands(commands)
    return parser


def _seed(value: str) -> int:
    """A seed as numpy and torch take it: an integer in [0, 2**32)."""
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {value!r}") from None
    if not 0 <= seed < 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {seed}")
    return seed


def _folder(value: str) -> Path:
    # Path("") is the current folder: an empty --out must not write a run there.
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    return Path(value)


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected one or more names, comma separated")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched at run time
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="mtrec: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        from mtrec.datasets_cli import datasets_main

        handler = {
            "run": _run,
            "plugins": _plugins,
            "suites": _suites,
            "report": _report,
            "compare": _compare,
            "merge": _merge,
            "store": _store,
            "datasets": datasets_main,
        }
        return handler[args.command](args)
    except MtrecError as exc:
        if args.verbose:
            log.exception("error")
        # One line, whatever the message quotes: no control characters, no megabytes.
        message = printable(exc, one_line=True, limit=ERROR_LIMIT)
        print(f"mtrec {args.command}: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mtrec: interrupted", file=sys.stderr)
        return 130
    except SweepTerminated:  # SIGTERM during a sweep: workers stopped, records kept
        print("mtrec: terminated", file=sys.stderr)
        return 143


# --------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------


def _host(args: argparse.Namespace) -> Any:
    from mtrec.plugin_host import PluginHost

    return PluginHost(blocked=args.block_plugin)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mtrec.config import load_suite
    from mtrec.reports import print_summary, write_reports
    from mtrec.run.runner import default_run_dir, run_sweep
    from mtrec.store_cli import failure_summary, sweep_options

    suite = _narrow(load_suite(args.suite), args)
    host = _host(args)
    out: Path = args.out or default_run_dir(suite)
    console = Console(stderr=True, quiet=args.quiet)
    from mtrec.run.progress import RichReporter

    with RichReporter(console) as reporter:
        result = run_sweep(
            suite, host, out, device=args.device, reporter=reporter, **sweep_options(args)
        )
    report_path, html_path = write_reports(result.document, out)
    print_summary(result.document, Console(quiet=args.quiet))
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


def _merge(args: argparse.Namespace) -> int:
    from mtrec.store_cli import merge_main

    return merge_main(args)


def _store(args: argparse.Namespace) -> int:
    from mtrec.store_cli import store_main

    return store_main(args)


def _narrow(suite: Any, args: argparse.Namespace) -> Any:
    """Apply --seed/--backbones/--head-sets/--domains to a loaded suite."""
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
        names = getattr(args, flag)
        if names is None:
            continue
        # Keep the suite's settings for a name it lists; a new name gets defaults.
        existing = {entry.name: entry for entry in getattr(suite, key)}
        update[key] = [existing.get(name) or entry_type(name=name) for name in names]
        update["include"] = []
    if update:
        suite = suite.model_copy(update=update)
        suite = suite.model_copy(update={"path": f"{suite.path} (narrowed by flags)"})
    return suite


def _plugins(args: argparse.Namespace) -> int:
    host = _host(args)
    listing = plugin_listing(host)
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def cell(value: object) -> Text:
        # Plugin-provided strings are shown as they are: no Rich markup, no control codes.
        return Text(printable(value, one_line=True))

    console = Console()
    for kind in registry_kinds():
        table = Table(title=kind.replace("_", " "), title_justify="left")
        for title in ("name", "plugin", "version", "description"):
            table.add_column(title)
        for item in listing[kind]:
            version = f"{item['distribution']} {item['version']}".strip()
            table.add_row(
                cell(item["name"]), cell(item["plugin"]), cell(version), cell(item["description"])
            )
        console.print(table)
    if host.blocked:
        console.print(cell(f"blocked plugins: {', '.join(host.blocked)}"))
    return 0


def registry_kinds() -> list[str]:
    """Every plugin kind, in the order the registries declare them."""
    import dataclasses

    from mtrec.plugin_host import Registries

    return [registry.name for registry in dataclasses.fields(Registries)]


def plugin_listing(host: Any) -> dict[str, Any]:
    """Every registered item per kind with its provider (``mtrec plugins --json``)."""
    registries = host.registries

    def provided(entry: Any, **extra: Any) -> dict[str, Any]:
        return {
            "name": entry.spec.name,
            "plugin": entry.provider.plugin,
            "distribution": entry.provider.distribution,
            "version": entry.provider.version,
            "description": getattr(entry.spec, "description", ""),
            **extra,
        }

    # What a kind shows beyond name, provider and description.
    details: dict[str, Any] = {
        "backbones": lambda spec: {
            "family": spec.family.value,
            "pooling": spec.pooling.value,
            "pretrained": spec.pretrained,
            "unavailable": spec.available(),
        },
        "head_sets": lambda spec: {
            "architecture": spec.architecture,
            "heads": [
                {
                    "task": h.task,
                    "type": h.task_type.value,
                    "label_field": h.label_field,
                    "loss": h.loss,
                }
                for h in spec.heads
            ],
        },
        "domains": lambda spec: {
            "domain_kind": spec.domain_kind,
            "label_fields": list(spec.label_fields),
            "sensitive_attributes": list(spec.sensitive_attributes),
        },
        "fairness_metrics": lambda spec: {"scope": spec.scope},
    }
    listing: dict[str, Any] = {
        "plugins": [
            {
                "name": p.name,
                "distribution": p.distribution,
                "version": p.version,
                "module": p.module,
            }
            for p in host.loaded
        ],
        "blocked": host.blocked,
    }
    for kind in registry_kinds():

        def extra(spec: Any, kind: str = kind) -> dict[str, Any]:
            if kind in details:
                shown: dict[str, Any] = details[kind](spec)
                return shown
            available = getattr(spec, "available", None)
            return {"unavailable": available()} if callable(available) else {}

        listing[kind] = [provided(e, **extra(e.spec)) for e in getattr(registries, kind)]
    return listing


def _suites(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtrec.config import builtin_suites, load_suite

    table = Table(title="built-in suites", title_justify="left")
    for title in ("name", "backbones", "head sets", "domains", "seeds", "description"):
        table.add_column(title)
    for name in builtin_suites():
        suite = load_suite(name)
        table.add_row(
            name,
            ", ".join(b.name for b in suite.backbones),
            ", ".join(h.name for h in suite.head_sets),
            ", ".join(d.name for d in suite.domains),
            ", ".join(str(s) for s in suite.seeds),
            suite.description,
        )
    Console().print(table)
    return 0


def _report(args: argparse.Namespace) -> int:
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
        print(render_markdown(document))
        print("wrote " + ", ".join(str(path) for path in written), file=sys.stderr)
    elif args.format == "json":
        print(json.dumps(build_overview(document), indent=2))
    elif args.format == "html":
        print(render_html(document), end="")
    else:
        print(render_markdown(document))
    return 0


def _add_compare_command(commands: Any) -> None:
    from mtrec.measure.bootstrap import DEFAULT_RESAMPLES
    from mtrec.store.compare import DEFAULT_MIN_EFFECT
    from mtrec.store.compare_rules import DEFAULT_RULES

    compare = commands.add_parser(
        "compare",
        help="fail on a regression of a candidate run against a baseline run",
        description="Compare two runs combination by combination; exit 1 when a metric worsens "
        "beyond its rule (and, for accuracy, significantly), 0 otherwise.",
    )
    compare.add_argument("baseline", metavar="BASELINE", help="run folder or stored run name")
    compare.add_argument("candidate", metavar="CANDIDATE", help="run folder or stored run name")
    compare.add_argument(
        "--fail-on",
        default=DEFAULT_RULES,
        metavar="RULES",
        help="comma-separated METRIC:+N%% or METRIC:+N (allowed worsening); METRIC is "
        "TASK.METRIC, '*' (every primary metric) or latency_p50, flops_per_sample, "
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
    compare.add_argument("--seed", type=_seed, default=0, help="bootstrap seed (default: 0)")
    compare.add_argument(
        "--summary", type=Path, default=None, metavar="FILE", help="write the Markdown diff here"
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _compare(args: argparse.Namespace) -> int:
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


def console_main() -> None:
    """Entry point of the ``mtrec`` console script."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`mtrec report RUN | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's own final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    console_main()
