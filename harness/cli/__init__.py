"""The ``mtrec`` command line: one module per command.

Exit codes: 0 everything ok, 1 some combination failed, 2 bad input (suite, flag, plugin
name, output folder), 74 the run folder or store could not be written (disk full,
read-only), 130 Ctrl-C, 143 SIGTERM. Errors are one line on stderr, never a traceback
(``-v`` shows it).

Start-up stays short: a command's options are added when that command is chosen, and what a
command runs is imported when it runs, so ``mtrec --help``, ``mtrec --version`` and the
listings import no model library (``tests/test_startup.py``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mtrec.cli.arguments import ERROR_LIMIT
from mtrec.cli.parser import COMMANDS, build_parser
from mtrec.cli.plugins import plugin_listing, registry_kinds
from mtrec.errors import MtrecError, SweepTerminated
from mtrec.printable import printable
from mtrec.run.threads import set_wait_policy

if TYPE_CHECKING:
    import argparse

    from mtrec.plugin_host import PluginHost

__all__ = ["build_parser", "console_main", "main", "plugin_listing", "registry_kinds"]

log = logging.getLogger("mtrec")


def _host(args: argparse.Namespace) -> PluginHost:
    """The plugin host of a command (tests replace this to add plugins of their own)."""
    from mtrec.plugin_host import PluginHost

    return PluginHost(blocked=args.block_plugin)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mtrec`` command; the exit code."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched at run time
    set_wait_policy()  # idle OpenMP threads sleep: read when torch loads, so before that
    parser = build_parser(lazy=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="mtrec: %(message)s"
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        # `_host` is looked up when a command asks for the host, after any test replaced it.
        return COMMANDS[args.command].execute(args, lambda: _host(args))
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
