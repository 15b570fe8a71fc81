"""Strings from data, plugins and files made safe to show: in a terminal and in one line.

Group names, item texts, error messages and plugin descriptions are data mtrec does not
control. Shown raw, an escape sequence from a data file renames the terminal or hides text,
and a value of megabytes makes a "one-line" error unreadable. Everything mtrec prints that it
did not write itself goes through :func:`printable`.
"""

from __future__ import annotations

import re
import reprlib

# C0 controls (bar tab and newline), DEL and C1 controls, and the Unicode characters that
# reorder or hide text (bidirectional overrides and isolates, zero-width joiners).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# An escape sequence as a whole (CSI ... final byte, OSC ... BEL/ST), so its parameters do
# not stay behind as stray text once the ESC is gone.
_ESCAPE_SEQUENCE = re.compile(
    r"(\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor, clear screen), 7- or 8-bit
    r"|(\x1b\]|\x9d)[^\x07\x1b\x9c]*(\x07|\x1b\\|\x9c)?"  # OSC (window title, links)
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)
DEFAULT_LIMIT = 200  # characters of one echoed value


def printable(value: object, *, limit: int | None = None, one_line: bool = False) -> str:
    """``value`` as text without control characters or escape sequences.

    ``one_line`` turns tabs and line breaks into spaces; ``limit`` cuts the text to that
    many characters and says how much was left out.
    """
    text = _ESCAPE_SEQUENCE.sub("", str(value))
    text = _CONTROL.sub("", text)
    if one_line:
        text = re.sub(r"[\t\n]+", " ", text)
    return truncated(text, limit) if limit is not None else text


def truncated(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def echoed(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """The ``repr`` of a value quoted in an error message: printable, at most ``limit``
    characters, and built without walking all of a huge nested value."""
    shortener = reprlib.Repr()
    shortener.maxlevel, shortener.maxlist, shortener.maxdict = 3, 6, 6
    shortener.maxstring = shortener.maxother = limit
    return printable(shortener.repr(value), one_line=True, limit=limit)
