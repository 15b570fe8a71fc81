"""What every command shares: the one-line-error parser, argument types, the store option.

Imports only the standard library at module level: it is loaded for every ``mtrec`` call.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from mtrec.plugin_host import PluginHost
    from mtrec.store.database import Store

ERROR_LIMIT = 1000  # characters of a one-line error message

# What a command calls for the plugin host (loading plugins is left to the commands that
# need them).
HostFactory = Callable[[], "PluginHost"]


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def help_literal(value: object) -> str:
    """A value shown verbatim in argparse help: argparse %-formats help strings, so a '%' in
    an interpolated value (a default rule like '*:+2%') must be doubled."""
    return str(value).replace("%", "%%")


def seed(value: str) -> int:
    """A seed as numpy and torch take it: an integer in [0, 2**32)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {value!r}") from None
    if not 0 <= number < 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {number}")
    return number


def folder(value: str) -> Path:
    """A folder to write; Path("") is the current folder, so an empty value is refused."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    return Path(value)


def names(value: str) -> list[str]:
    """Comma-separated names, at least one."""
    listed = [name.strip() for name in value.split(",") if name.strip()]
    if not listed:
        raise argparse.ArgumentTypeError("expected one or more names, comma separated")
    return listed


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store PATH``: the results store a command reads or writes."""
    from mtrec.store.database import STORE_ENV

    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"results store (SQLite; default: ${STORE_ENV} or runs/mtrec.sqlite)",
    )


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--store``, else the default one."""
    from mtrec.store.database import Store

    return Store(args.store) if args.store is not None else Store.default()
