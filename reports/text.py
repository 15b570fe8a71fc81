"""Data strings made safe for the report formats that are not HTML (HTML escapes its own).

Group names, item texts, error messages and names from mtrec.plugins are data: in report.md they
must not open HTML tags, links or table cells, and in a terminal they must not carry escape
sequences or Rich markup. Every Markdown cell goes through :func:`markdown_cell`, every data
string printed with Rich markup through :func:`terminal_markup`.
"""

from __future__ import annotations

from rich.markup import escape

from mtrec.printable import printable


def markdown_cell(value: object) -> str:
    """``value`` as literal text in one Markdown table cell (or line).

    Control characters go, line breaks become spaces; ``<`` and ``>`` become entities, so no
    raw HTML (``<img onerror=...>``, ``<script>``) or autolink can open; ``|`` cannot end the
    cell; ``](`` cannot start a link target. Renderers show the text exactly as it was.
    """
    text = printable(value, one_line=True)
    for raw, safe in (
        ("\\", "\\\\"),
        ("|", "\\|"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("](", "\\]("),
    ):
        text = text.replace(raw, safe)
    return text


def terminal_markup(value: object) -> str:
    """``value`` for a Rich string with markup on: shown literally, no control sequences."""
    return escape(printable(value, one_line=True))
