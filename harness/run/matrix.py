"""Matrix expansion: backbones x head sets x domains x seeds, with include/exclude.

Every combination has a key: a hash of its resolved configuration, so the same config always
gets the same key (and a changed learning rate gets a new one).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from mtrec.config import (
    BackboneEntry,
    DomainEntry,
    HeadSetEntry,
    Suite,
    TrainingConfig,
)
from mtrec.contracts import Combination
from mtrec.errors import ConfigError, UnknownNameError, UsageError
from mtrec.plugin_host import Registries


def expand(suite: Suite, pairing: Mapping[str, str] | None = None) -> list[Combination]:
    """The suite's combinations in a stable order, duplicates removed.

    ``pairing`` (domain -> its own head set, :func:`domain_head_sets`) is what
    ``head_sets: auto`` pairs each domain with; a list of head sets is crossed with every
    domain.
    """
    cells: list[tuple[BackboneEntry, HeadSetEntry, DomainEntry]] = [
        (backbone, head_set, domain)
        for backbone in suite.backbones
        for domain in suite.domains
        for head_set in _head_sets_of(suite, domain, pairing)
        if not any(
            pattern.matches(backbone.name, head_set.name, domain.name) for pattern in suite.exclude
        )
    ]
    cells += [(entry.backbone, entry.head_set, entry.domain) for entry in suite.include]
    combinations: dict[str, Combination] = {}
    for seed in suite.seeds:
        for backbone, head_set, domain in cells:
            for update in _updates(suite, backbone):
                combination = Combination(
                    backbone=backbone,
                    head_set=head_set,
                    domain=domain,
                    seed=seed,
                    training=merge_training(suite.training, backbone),
                    measure=suite.measure,
                    fairness=suite.fairness,
                    explain=suite.explain,
                    input=backbone.input or suite.input,
                    ranking=suite.evaluation.ranking,
                    output=suite.output,
                    protocol=suite.protocol,
                    update=update,
                )
                combinations.setdefault(combination.key, combination)
    return list(combinations.values())


def _updates(suite: Suite, backbone: BackboneEntry) -> list[str | None]:
    """The update strategies a cell runs under the rounds protocol (one combination each)."""
    if suite.protocol is None:
        return [None]
    return list(backbone.updates or suite.protocol.updates)


def _head_sets_of(
    suite: Suite, domain: DomainEntry, pairing: Mapping[str, str] | None
) -> list[HeadSetEntry]:
    if suite.head_sets != "auto":
        return suite.head_sets
    if pairing is None or domain.name not in pairing:
        raise ConfigError(
            f"{suite.path}: head_sets: auto pairs each domain with its own head set, which "
            f"only the registered domains know; domain '{domain.name}' was not looked up"
        )
    return [HeadSetEntry(name=pairing[domain.name])]


def domain_head_sets(suite: Suite, registries: Registries) -> dict[str, str] | None:
    """Domain -> its own head set (``DomainSpec.head_set``) under ``head_sets: auto``; None
    for a listed head set. A domain without one, or naming an unregistered one, is bad input."""
    if suite.head_sets != "auto":
        return None
    pairing: dict[str, str] = {}
    for index, domain in enumerate(suite.domains):
        own = registries.domains.get(domain.name).head_set
        where = f"{suite.path}: domains[{index}]: domain '{domain.name}'"
        if own is None:
            raise ConfigError(
                f"{where} declares no head set of its own, so head_sets: auto cannot pair it; "
                "list the suite's head_sets"
            )
        if own not in registries.head_sets:
            raise ConfigError(
                f"{where} declares head set '{own}', which is not registered: "
                f"{registries.head_sets.unknown_message(own)}"
            )
        pairing[domain.name] = own
    return pairing


def merge_training(base: TrainingConfig, backbone: BackboneEntry) -> TrainingConfig:
    overrides = backbone.training.model_dump(exclude_none=True)
    return base.model_copy(update=overrides)


def check_suite(suite: Suite, registries: Registries) -> list[Combination]:
    """Expand the suite and check every name and option against the registries.

    Raises before anything runs or is written: unknown names, bad loader options and an
    empty matrix are all input errors.
    """
    origin = suite.path

    def check(registry: Any, name: str, field: str) -> None:
        if name not in registry:
            raise UnknownNameError(f"{origin}: {field}: {registry.unknown_message(name)}")

    # Every backbone entry, listed or in an include, gets the same checks.
    backbones = [(f"backbones[{i}]", backbone) for i, backbone in enumerate(suite.backbones)] + [
        (f"include[{i}].backbone", entry.backbone) for i, entry in enumerate(suite.include)
    ]
    for field_name, backbone in backbones:
        check(registries.backbones, backbone.name, field_name)
        try:  # a family member ("hybrid:x") is checked when it resolves
            spec = registries.backbones.get(backbone.name)
        except UsageError as exc:
            raise type(exc)(f"{origin}: {field_name}: {exc}") from None
        _check_options(
            spec.load,
            backbone.options,
            f"{origin}: {field_name}.options",
        )
    for index, head_set in enumerate(suite.head_sets if suite.head_sets != "auto" else []):
        check(registries.head_sets, head_set.name, f"head_sets[{index}]")
    for index, domain in enumerate(suite.domains):
        check(registries.domains, domain.name, f"domains[{index}]")
        _check_options(
            registries.domains.get(domain.name).load,
            {"seed": 0, **domain.options},
            f"{origin}: domains[{index}].options",
        )
    domain_fields = [(f"domains[{i}]", domain) for i, domain in enumerate(suite.domains)] + [
        (f"include[{i}].domain", entry.domain) for i, entry in enumerate(suite.include)
    ]
    for field_name, domain in domain_fields:
        for index, source in enumerate(domain.transfer.sources if domain.transfer else []):
            where = f"{field_name}.transfer.sources[{index}]"
            check(registries.domains, source.name, where)
            check(registries.head_sets, source.head_set, f"{where}.head_set")
            _check_options(
                registries.domains.get(source.name).load,
                {"seed": 0, **source.options},
                f"{origin}: {where}.options",
            )
    for index, entry in enumerate(suite.include):
        check(registries.head_sets, entry.head_set.name, f"include[{index}].head_set")
        check(registries.domains, entry.domain.name, f"include[{index}].domain")
        _check_options(
            registries.domains.get(entry.domain.name).load,
            {"seed": 0, **entry.domain.options},
            f"{origin}: include[{index}].domain.options",
        )
    trainings = [("training", suite.training)] + [
        (f"{field_name}.training", merge_training(suite.training, backbone))
        for field_name, backbone in backbones
    ]
    for field, training in trainings:
        if training.architecture is not None:
            check(registries.architectures, training.architecture, f"{field}.architecture")
            _check_options(
                registries.architectures.get(training.architecture).build,
                {"in_features": 8, "tasks": ("a",), **training.architecture_options},
                f"{origin}: {field}.architecture_options",
            )
        check(registries.loss_weightings, training.loss_weighting, f"{field}.loss_weighting")
        _check_options(
            registries.loss_weightings.get(training.loss_weighting).build,
            {"tasks": ("a",), **training.loss_weighting_options},
            f"{origin}: {field}.loss_weighting_options",
        )
    for index, metric in enumerate(suite.fairness_metrics or []):
        check(registries.fairness_metrics, metric, f"fairness_metrics[{index}]")
    _check_protocol(suite, registries, backbones, domain_fields)
    pairing = domain_head_sets(suite, registries)
    _check_exclude(suite, pairing)
    combinations = expand(suite, pairing)
    if not combinations:
        raise ConfigError(
            f"{origin}: the matrix is empty: list at least one backbone, head set and domain "
            "(or an include entry), and check that exclude does not remove everything"
        )
    return combinations


def _check_protocol(
    suite: Suite,
    registries: Registries,
    backbones: list[tuple[str, BackboneEntry]],
    domains: list[tuple[str, DomainEntry]],
) -> None:
    """Update strategies exist, and only a suite with the rounds protocol names them."""
    origin = suite.path
    if suite.protocol is not None:
        for index, name in enumerate(suite.protocol.updates):
            if name not in registries.update_strategies:
                raise UnknownNameError(
                    f"{origin}: protocol.updates[{index}]: "
                    + registries.update_strategies.unknown_message(name)
                )
    for field_name, backbone in backbones:
        if backbone.updates is None:
            continue
        if suite.protocol is None:
            raise ConfigError(
                f"{origin}: {field_name}.updates: update strategies need "
                "protocol: {kind: rounds} in the suite"
            )
        for index, name in enumerate(backbone.updates):
            if name not in registries.update_strategies:
                raise UnknownNameError(
                    f"{origin}: {field_name}.updates[{index}]: "
                    + registries.update_strategies.unknown_message(name)
                )
    if suite.protocol is not None:
        for field_name, domain in domains:
            if domain.transfer is not None:
                raise ConfigError(
                    f"{origin}: {field_name}.transfer: the rounds protocol trains on one "
                    "domain's time windows; it does not combine with transfer"
                )


def _check_exclude(suite: Suite, pairing: Mapping[str, str] | None) -> None:
    """An exclude pattern naming something the suite does not list matches nothing: a typo,
    most likely, that would leave the combinations it meant to drop in the sweep."""
    listed = {
        "backbone": [entry.name for entry in suite.backbones],
        "head_set": (
            list(dict.fromkeys(pairing.values()))
            if pairing is not None
            else [entry.name for entry in suite.head_sets if isinstance(entry, HeadSetEntry)]
        ),
        "domain": [entry.name for entry in suite.domains],
    }
    for index, pattern in enumerate(suite.exclude):
        for axis, names in listed.items():
            name = getattr(pattern, axis)
            if name is None or name in names:
                continue
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{suite.path}: exclude[{index}].{axis}: '{name}' is not among the suite's "
                f"{axis.replace('_', ' ')}s, so the pattern matches nothing{hint} "
                f"listed: {', '.join(names) or 'none'}"
            )


def _check_options(load: Any, options: dict[str, Any], where: str) -> None:
    """Bind loader options to the loader's signature now, not mid-sweep."""
    try:
        inspect.signature(load).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError:  # builtins without a signature: nothing to check up front
        return
