"""``mtrec plugins``: every registered item of every plugin kind, with its provider."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from mtrec.cli.arguments import HostFactory
from mtrec.printable import printable

if TYPE_CHECKING:
    from mtrec.plugin_host import PluginHost

HELP = "list every registered plugin item per kind"
DESCRIPTION = (
    "List every registered item of every plugin kind (backbones, head sets, domains, fairness "
    "metrics, architectures, loss weightings, trackers, executors, explainers) with the plugin "
    "and version providing it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def execute(args: argparse.Namespace, host: HostFactory) -> int:
    plugin_host = host()
    listing = plugin_listing(plugin_host)
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
    if plugin_host.blocked:
        console.print(cell(f"blocked plugins: {', '.join(plugin_host.blocked)}"))
    return 0


def registry_kinds() -> list[str]:
    """Every plugin kind, in the order the registries declare them."""
    import dataclasses

    from mtrec.plugin_host import Registries

    return [registry.name for registry in dataclasses.fields(Registries)]


def plugin_listing(host: PluginHost) -> dict[str, Any]:
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
        "explainers": lambda spec: {
            "families": [family.value for family in spec.families],
            "reference": spec.reference,
            "unavailable": spec.available(),
        },
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
