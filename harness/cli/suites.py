"""``mtrec suites``: the built-in suites and what they run."""

from __future__ import annotations

import argparse

from mtrec.cli.arguments import HostFactory

HELP = "list the built-in suites"
DESCRIPTION = "List the built-in suites and what they run."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    from rich.console import Console
    from rich.table import Table

    from mtrec.config import builtin_suites, load_suite

    table = Table(title="built-in suites", title_justify="left")
    for title in ("name", "backbones", "head sets", "domains", "seeds", "description"):
        table.add_column(title, overflow="fold")  # wrapped at 80 columns, never cut short
    for name in builtin_suites():
        suite = load_suite(name)
        table.add_row(
            name,
            ", ".join(b.name for b in suite.backbones),
            "auto" if suite.head_sets == "auto" else ", ".join(h.name for h in suite.head_sets),
            ", ".join(d.name for d in suite.domains),
            ", ".join(str(s) for s in suite.seeds),
            suite.description,
        )
    Console().print(table)
    return 0
