"""The ``mtrec`` argument parser: top-level options and one sub-command per command module.

A command's own options are added when argparse meets the command's name (``lazy=True``, what
``mtrec`` does): ``mtrec --help`` lists the commands without importing what their options
show (the built-in suites, compare's default rules).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from mtrec.cli import (
    compare,
    datasets,
    explain,
    leaderboard,
    merge,
    plugins,
    report,
    run,
    store,
    suites,
)
from mtrec.cli.arguments import HostFactory, Parser
from mtrec.version import __version__


class Command(Protocol):
    """What a command module provides."""

    @property
    def HELP(self) -> str: ...  # one line, in `mtrec --help`

    @property
    def DESCRIPTION(self) -> str: ...  # the paragraph of `mtrec COMMAND --help`

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def execute(self, args: argparse.Namespace, host: HostFactory) -> int: ...


# In the order `mtrec --help` lists them.
COMMANDS: dict[str, Command] = {
    "run": run,
    "plugins": plugins,
    "suites": suites,
    "report": report,
    "leaderboard": leaderboard,
    "explain": explain,
    "compare": compare,
    "merge": merge,
    "store": store,
    "datasets": datasets,
}

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsers = argparse._SubParsersAction


class _Commands(_SubParsers):
    """Sub-commands whose options are added when the command is chosen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Callable[[], None]] = {}

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        add_arguments = self.pending.pop(values[0], None)
        if add_arguments is not None:
            add_arguments()
        super().__call__(parser, namespace, values, option_string)


def build_parser(lazy: bool = False) -> argparse.ArgumentParser:
    """The ``mtrec`` parser; every command's options in place unless ``lazy``."""
    parser = Parser(
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
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=Parser, action=_Commands
    )
    assert isinstance(commands, _Commands)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.HELP, description=command.DESCRIPTION)

        def add_arguments(sub: argparse.ArgumentParser = sub, command: Command = command) -> None:
            command.add_arguments(sub)

        if lazy:
            commands.pending[name] = add_arguments
        else:
            add_arguments()
    return parser
