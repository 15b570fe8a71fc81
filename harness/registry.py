"""One typed registry per plugin kind, with attribution and did-you-mean."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from mtrec.errors import PluginError, UnknownNameError


class _Named(Protocol):
    @property
    def name(self) -> str: ...


SpecT = TypeVar("SpecT", bound=_Named)


@dataclass(frozen=True, kw_only=True)
class Provider:
    """Which plugin registered an item."""

    plugin: str  # entry-point (plugin) name
    distribution: str  # distribution that ships the plugin, "" if not from a package
    version: str  # that distribution's version, "" if unknown

    def describe(self) -> str:
        dist = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"plugin '{self.plugin}'{dist}"


@dataclass(frozen=True, kw_only=True)
class Entry(Generic[SpecT]):
    """A registered item and who registered it."""

    spec: SpecT  # the item itself
    provider: Provider  # the plugin that returned it


def _takes_two(function: Callable[..., object]) -> bool:
    """Whether ``function`` takes a second positional argument."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


class Registry(Generic[SpecT]):
    """Items of one kind (backbone, head set, ...) by unique name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[SpecT]] = {}

    def add(self, spec: SpecT, provider: Provider) -> None:
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"{provider.describe()} registered a {self.kind} without a name: {spec!r}"
            )
        if name in self._entries:
            first = self._entries[name].provider
            raise PluginError(
                f"{self.kind} '{name}' is registered twice: by {first.describe()} "
                f"and by {provider.describe()}; block one of them with --block-plugin"
            )
        self._entries[name] = Entry(spec=spec, provider=provider)

    def get(self, name: str) -> SpecT:
        return self.entry(name).spec

    def entry(self, name: str) -> Entry[SpecT]:
        if name in self._entries:
            return self._entries[name]
        family = self._family_of(name)
        if family is not None:
            specialise = getattr(family.spec, "specialise", None)
            assert specialise is not None
            rest = name[len(family.spec.name) :]
            # A family built on other items ("hybrid:minilm-l6") also gets the lookup.
            spec = specialise(rest, self.get) if _takes_two(specialise) else specialise(rest)
            return Entry(spec=spec, provider=family.provider)
        raise UnknownNameError(self.unknown_message(name))

    def _family_of(self, name: str) -> Entry[SpecT] | None:
        """The entry of a parametric family ("hf:") that ``name`` ("hf:gpt2") belongs to."""
        prefix, colon, rest = name.partition(":")
        family = self._entries.get(prefix + colon) if colon and rest else None
        if family is None or getattr(family.spec, "specialise", None) is None:
            return None
        return family

    def unknown_message(self, name: str) -> str:
        known = sorted(self._entries)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = ", ".join(known) if known else "none (is mtrec-harness installed?)"
        kinds = f"{self.kind[:-1]}ies" if self.kind.endswith("y") else f"{self.kind}s"
        return f"unknown {self.kind} '{name}'{hint} known {kinds}: {listing}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        return isinstance(name, str) and self._family_of(name) is not None

    def __iter__(self) -> Iterator[Entry[SpecT]]:
        return iter(self._entries[name] for name in sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
