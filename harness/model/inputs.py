"""What the backbone reads: the scene, the user and their history, then the item.

A domain hands the core three things per row besides the item text: the user text (a
profile), the user's earlier interactions (:attr:`DomainSplit.history`, newest first) and the
scene of the interaction (:attr:`DomainSplit.context`). :func:`render_split` turns them into
the two text segments every backbone family already reads:

    first segment:  "<context> | <user text>; earlier: <h1>; <h2>; ..."
    second segment: "<item text>"

The context comes first so that truncation (longest first) cuts old history before the
scene. A suite's ``input`` block decides what is rendered (``context: false`` or
``history: 0`` for an ablation); the rendered texts are what the token and feature caches key
on, so an ablation never shares a cache entry with the full input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mtrec.specs import DomainSplit

CONTEXT_SEPARATOR = " | "  # between the context phrase and the user text
HISTORY_OPENER = "; earlier: "  # between the user text and the first earlier interaction
HISTORY_SEPARATOR = "; "  # between earlier interactions


@dataclass(frozen=True, kw_only=True)
class InputOptions:
    """What of a domain's rows the backbone reads (a suite's ``input`` block)."""

    context: bool = True  # render the scene of each interaction
    history: int | None = None  # newest earlier interactions to render; None: all supplied


def context_phrase(split: DomainSplit, row: int) -> str:
    """The scene of one row as words, e.g. "time night, device mobile" ("" without one)."""
    return ", ".join(
        f"{name.replace('_', ' ')} {values[row]}" for name, values in split.context.items()
    )


def user_parts(split: DomainSplit, row: int, options: InputOptions) -> tuple[str, str, str]:
    """The three parts of one row's first segment: context, user text, history ("" if none)."""
    context = context_phrase(split, row) if options.context else ""
    earlier: list[str] = list(split.history[row]) if len(split.history) else []
    if options.history is not None:
        earlier = earlier[: options.history]
    history = HISTORY_OPENER + HISTORY_SEPARATOR.join(earlier) if earlier else ""
    return context, split.user_text[row], history


def join_user_parts(context: str, user: str, history: str) -> str:
    """The first segment from its parts (the inverse layout of :func:`user_parts`)."""
    return (context + CONTEXT_SEPARATOR if context else "") + user + history


def render_split(split: DomainSplit, options: InputOptions) -> DomainSplit:
    """The split with its first segment rendered from context, user text and history.

    ``context``, ``history`` and every other column stay as they were (slicing and fairness
    read them); only ``user_text`` changes. A split with neither context nor history is
    returned as it is.
    """
    if not split.context and not len(split.history):
        return split
    if len(split.history) and len(split.history) != len(split):
        raise ValueError(f"history has {len(split.history)} rows, the split has {len(split)}")
    rendered = [join_user_parts(*user_parts(split, row, options)) for row in range(len(split))]
    return replace(split, user_text=rendered)
