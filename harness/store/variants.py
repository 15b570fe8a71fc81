"""Naming backbone variants: the settings that tell one backbone's records apart.

Every setting of a record's resolved config is compared except its identity (backbone,
head set, domain, seed) and how it was measured (``measure``, ``fairness``), so a setting
added to the config later names its variants without a change here: strategy, MTL
architecture, loss weighting, transfer source, learning rate (a list too), input options,
pooling, backbone options, ... A setting is shown only where a record departs from its run's
suite-level value, so a plain record keeps the plain backbone name; where that leaves two
different configurations under one name (runs with different suite-level recipes), both are
named by every setting in which their backbone's records differ. A head set is a setting
only where one backbone meets one domain with several.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# config sections that are not part of what a variant *is*: its identity (columns, seeds)
# and how it was measured
_NOT_SETTINGS = frozenset({"backbone", "head_set", "domain", "seed", "measure", "fairness"})
# settings shown by their value alone, in this order; others read "name=value"
_BY_VALUE = ("training.strategy", "training.architecture", "training.loss_weighting")
# setting families that say what a variant is, besides those; the rest is its recipe
_WHAT_IT_IS = ("transfer.", "input.", "backbone.")


def variant_names(
    records: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
) -> list[tuple[str, str, dict[str, str]]]:
    """(variant, variant without its transfer source, every setting that sets it apart) of
    each (record, the results document holding it).

    A setting sets a record apart when the records of its backbone do not all agree on it and
    the record departs from its suite's own value (for a setting the suite does not set:
    from "unset"). The name shows the settings that say what a variant *is* (strategy,
    architecture, loss weighting, transfer source, input options, pooling, backbone options,
    head set); a recipe setting (learning rate, epochs, ...) joins the name only where the
    name would otherwise be shared with a different configuration, and the third element
    lists them all. Two different configurations that still share a name (runs with
    different suite-level recipes) are both named by every setting in which their backbone's
    records differ.
    """
    flat = [_settings(record) for record, _ in records]
    for (record, _), mine in zip(records, flat, strict=True):
        mine["head_set"] = json.dumps(str(record["head_set"]))
    references = [_suite_settings(document) for _, document in records]
    backbones = [str(record.get("backbone")) for record, _ in records]
    by_backbone: dict[str, list[dict[str, str]]] = {}
    for backbone, mine in zip(backbones, flat, strict=True):
        by_backbone.setdefault(backbone, []).append(mine)
    differing = {
        backbone: {
            key
            for key in set().union(*(g.keys() for g in group))
            if len({g.get(key, "") for g in group}) > 1
        }
        for backbone, group in by_backbone.items()
    }
    # A head set is a setting only where one backbone meets one domain with several (a
    # domain's own head set otherwise goes with its column).
    heads: dict[tuple[str, str], set[str]] = {}
    for backbone, (record, _) in zip(backbones, records, strict=True):
        heads.setdefault((backbone, str(record["domain"])), set()).add(str(record["head_set"]))
    for backbone in differing:
        if not any(len(n) > 1 for (b, _), n in heads.items() if b == backbone):
            differing[backbone].discard("head_set")
    count = len(records)

    def departures(i: int, keys: Iterable[str]) -> dict[str, str]:
        mine, reference = flat[i], references[i]
        return {k: mine.get(k, "") for k in keys if mine.get(k, "") != reference.get(k, "")}

    def signature(i: int) -> str:
        return json.dumps({k: flat[i].get(k, "") for k in sorted(differing[backbones[i]])})

    def shared(names: Sequence[str]) -> set[str]:
        """Names given to more than one configuration."""
        configurations: dict[str, set[str]] = {}
        for i, name in enumerate(names):
            configurations.setdefault(name, set()).add(signature(i))
        return {name for name, found in configurations.items() if len(found) > 1}

    ordered = [_ordered_keys(differing[b]) for b in backbones]
    chosen = [departures(i, [k for k in ordered[i] if _names_variant(k)]) for i in range(count)]
    names = [_name(backbones[i], chosen[i], records[i][0]) for i in range(count)]
    clashing = shared(names)
    # within each clash, the recipe settings that differ there join the name
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name in clashing:
            members.setdefault(name, []).append(i)
    for group in members.values():
        varying = {
            k
            for k in set().union(*(flat[i].keys() for i in group))
            if len({flat[i].get(k, "") for i in group}) > 1
        }
        for i in group:
            chosen[i] = departures(i, [k for k in ordered[i] if _names_variant(k) or k in varying])
            names[i] = _name(backbones[i], chosen[i], records[i][0])
    spelled = shared(names)
    out = []
    for i in range(count):
        record = records[i][0]
        spell = names[i] in spelled
        if spell:
            chosen[i] = {k: flat[i].get(k, "") for k in ordered[i]}
        without = {k: v for k, v in chosen[i].items() if not k.startswith("transfer.")}
        apart = chosen[i] if spell else departures(i, ordered[i])
        out.append(
            (
                _name(backbones[i], chosen[i], record, spelled=spell),
                _name(backbones[i], without, record, spelled=spell),
                {k: _display(k, v, record) for k, v in apart.items()},
            )
        )
    return out


def _names_variant(key: str) -> bool:
    """Whether a setting says what a variant is (not how it was tuned)."""
    return key in _BY_VALUE or key == "head_set" or key.startswith(_WHAT_IT_IS)


def _settings(record: Mapping[str, Any]) -> dict[str, str]:
    """A record's settings, flattened to dotted names with JSON values (for comparing)."""
    config = record.get("config") or {}
    flat: dict[str, str] = {}
    backbone = config.get("backbone") or {}
    _flatten(flat, "backbone", {k: v for k, v in backbone.items() if k != "name"})
    transfer = (config.get("domain") or {}).get("transfer")
    if isinstance(transfer, Mapping):
        sources = transfer.get("sources") or []
        flat["transfer.sources"] = json.dumps(
            [s.get("name") if isinstance(s, Mapping) else s for s in sources]
        )
        _flatten(flat, "transfer", {k: v for k, v in transfer.items() if k != "sources"})
    for key, value in config.items():
        if key not in _NOT_SETTINGS:
            _flatten(flat, key, value)
    return {k: v for k, v in flat.items() if v not in ("null", "{}", "[]")}


def _suite_settings(document: Mapping[str, Any]) -> dict[str, str]:
    """The suite-level values of a run (what a plain record of that run has)."""
    config = (document.get("suite") or {}).get("config") or {}
    flat: dict[str, str] = {}
    for key, value in config.items():
        if key not in _NOT_SETTINGS and key not in ("name", "description", "seeds"):
            _flatten(flat, key, value)
    return {k: v for k, v in flat.items() if v not in ("null", "{}", "[]")}


def _flatten(flat: dict[str, str], prefix: str, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flatten(flat, f"{prefix}.{key}", inner)
    else:
        flat[prefix] = json.dumps(value, sort_keys=True)


def _ordered_keys(keys: Iterable[str]) -> list[str]:
    first = [k for k in (*_BY_VALUE, "transfer.sources") if k in keys]
    return first + sorted(k for k in keys if k not in first)


def _name(
    backbone: str, shown: Mapping[str, str], record: Mapping[str, Any], spelled: bool = False
) -> str:
    """``backbone (frozen, mmoe, from synthetic-ecommerce, lr=0.003)``; ``spelled``: every
    setting as name=value."""
    parts = []
    for key, value in shown.items():
        text = _display(key, value, record)
        if spelled or key not in (*_BY_VALUE, "transfer.sources"):
            text = f"{_short(key, shown)}={text}"
        parts.append(text)
    return f"{backbone} ({', '.join(parts)})" if parts else backbone


def _display(key: str, value: str, record: Mapping[str, Any] | None = None) -> str:
    """A setting's value as a name shows it."""
    try:
        decoded = json.loads(value) if value else None
    except json.JSONDecodeError:
        decoded = value
    if key == "training.strategy" and decoded == "top_k" and record is not None:
        layers = (record.get("training") or {}).get("trainable_layers")
        top_k = layers or ((record.get("config") or {}).get("training") or {}).get("top_k")
        return f"top_{top_k}"
    if key == "transfer.sources" and isinstance(decoded, list):
        return "from " + "+".join(str(s) for s in decoded)
    if decoded is None:
        return "unset"
    if isinstance(decoded, float):
        return f"{decoded:g}"
    if isinstance(decoded, str):
        return decoded
    return json.dumps(decoded, sort_keys=True)


def _short(key: str, among: Iterable[str]) -> str:
    """The last part of a dotted setting name, unless another shown setting ends alike."""
    last = key.rpartition(".")[2]
    same = [k for k in among if k.rpartition(".")[2] == last]
    return last if len(same) <= 1 else key


def domain_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each record's domain as a column shows it: its name, and where records of one domain
    were built with different options (runs pooled from different suites), the options that
    differ: ``synthetic-ecommerce (n_users=120)``. Records of different data never share a
    column."""
    options = []
    for record in records:
        flat: dict[str, str] = {}
        domain = (record.get("config") or {}).get("domain") or {}
        _flatten(flat, "options", domain.get("options") or {})
        options.append({k: v for k, v in flat.items() if v not in ("null", "{}", "[]")})
    by_name: dict[str, list[dict[str, str]]] = {}
    for record, mine in zip(records, options, strict=True):
        by_name.setdefault(str(record["domain"]), []).append(mine)
    differing = {
        name: sorted(
            key
            for key in set().union(*(g.keys() for g in group))
            if len({g.get(key, "") for g in group}) > 1
        )
        for name, group in by_name.items()
    }
    names = []
    for record, mine in zip(records, options, strict=True):
        name = str(record["domain"])
        shown = {key: mine.get(key, "") for key in differing[name]}
        parts = [f"{_short(k, shown)}={_display(k, v)}" for k, v in shown.items()]
        names.append(f"{name} ({', '.join(parts)})" if parts else name)
    return names
