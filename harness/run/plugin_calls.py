"""Calling into plugins for a combination, and the domain it trains on.

A plugin that raises fails the combination with a message naming the plugin
(:func:`call_plugin`); a domain is loaded once per sweep and checked before anything trains on
it (:func:`load_domain`), and a head set is checked against the domain's label fields
(:func:`check_head_set`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.ranking import RELEVANCE
from mtrec.measure.tasks import (
    LOSSES,
)
from mtrec.model.inputs import InputOptions, render_split
from mtrec.plugin_host import PluginHost
from mtrec.run.domain_checks import describe_problems, domain_problems
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import DomainData, HeadSetSpec, HeadSpec, TaskType


def call_plugin(
    host: PluginHost, kind: str, name: str, function: Callable[..., Any], **kwargs: Any
) -> Any:
    """Call into a plugin; name the plugin in any error it raises."""
    try:
        return function(**kwargs)
    except CombinationError:
        raise
    except Exception as exc:
        provider = host.provider_of(kind, name)
        singular = {
            "backbones": "backbone",
            "domains": "domain",
            "fairness_metrics": "fairness metric",
            "update_strategies": "update strategy",
        }[kind]
        raise CombinationError(
            f"{singular} '{name}' ({provider.describe()}) raised {type(exc).__name__}: {exc}"
        ) from exc


def load_domain(
    name: str,
    options: Mapping[str, Any],
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
) -> DomainData:
    """The domain as the combination's backbone reads it: loaded and checked once per sweep,
    then rendered (:func:`mtrec.model.inputs.render_split`) under the combination's input
    options, once per options. Every family, strategy, baseline and transfer source gets its
    data from here, so each reads the same rendered texts (and the caches key on them)."""
    raw = _load_checked(name, options, combination, host, cache)
    input_options = InputOptions(
        context=combination.input.context, history=combination.input.history
    )
    key = json.dumps(
        {
            "name": name,
            "options": dict(options),
            "seed": combination.seed,
            "input": {"context": input_options.context, "history": input_options.history},
        },
        sort_keys=True,
    )
    if key not in cache.rendered:
        cache.rendered[key] = replace(
            raw,
            train=render_split(raw.train, input_options),
            validation=render_split(raw.validation, input_options),
            test=render_split(raw.test, input_options),
        )
    return cache.rendered[key]


def _load_checked(
    name: str,
    options: Mapping[str, Any],
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
) -> DomainData:
    """The domain as its plugin returned it, checked (once per name, options and seed)."""
    key = json.dumps(
        {"name": name, "options": dict(options), "seed": combination.seed}, sort_keys=True
    )
    if key not in cache.domains:
        spec = host.registries.domains.get(name)
        data = call_plugin(host, "domains", spec.name, spec.load, seed=combination.seed, **options)
        # Checked here, once per load: nothing trains on (or writes files from) bad arrays.
        problems = domain_problems(
            data,
            declared_labels=spec.label_fields,
            declared_sensitive=spec.sensitive_attributes,
            declared_context=spec.context_fields,
        )
        if problems:
            provider = host.provider_of("domains", spec.name)
            raise CombinationError(
                f"domain '{spec.name}' ({provider.describe()}) returned invalid data: "
                + describe_problems(problems)
            )
        cache.domains[key] = data
    return cache.domains[key]


def check_head_set(head_set: HeadSetSpec, data: DomainData, domain: str) -> None:
    for head in head_set.heads:
        if head.task_type is TaskType.RANKING:
            _check_ranking_head(head, head_set, data, domain)
            continue
        field_ = data.label_fields.get(head.label_field)
        if field_ is None:
            raise CombinationError(
                f"head set '{head_set.name}' needs label field '{head.label_field}' that "
                f"domain '{domain}' does not provide (it has: {', '.join(data.label_fields)})"
            )
        if field_.task_type is not head.task_type:
            raise CombinationError(
                f"head '{head.task}' of head set '{head_set.name}' is {head.task_type.value} "
                f"but label field '{head.label_field}' of domain '{domain}' is "
                f"{field_.task_type.value}"
            )
        if head.loss != LOSSES[head.task_type]:
            raise CombinationError(
                f"head '{head.task}' of head set '{head_set.name}': loss '{head.loss}' does not "
                f"fit a {head.task_type.value} task (use '{LOSSES[head.task_type]}')"
            )
        if head.task_type is TaskType.MULTICLASS and len(field_.classes) < 2:
            raise CombinationError(
                f"label field '{head.label_field}' of domain '{domain}' declares fewer than "
                "2 classes"
            )


def _check_ranking_head(
    head: HeadSpec, head_set: HeadSetSpec, data: DomainData, domain: str
) -> None:
    """A ranking head reads the relevance column the harness derives (``RELEVANCE``)."""
    if head.label_field != RELEVANCE:
        raise CombinationError(
            f"ranking head '{head.task}' of head set '{head_set.name}' names label field "
            f"'{head.label_field}'; a ranking head reads '{RELEVANCE}', the column derived from "
            "the suite's evaluation.ranking.relevance rule"
        )
    if RELEVANCE in data.label_fields:
        raise CombinationError(
            f"domain '{domain}' has a label field '{RELEVANCE}'; that name is reserved for the "
            f"relevance column of ranking heads (head '{head.task}' of '{head_set.name}')"
        )
    if head.loss != LOSSES[TaskType.RANKING]:
        raise CombinationError(
            f"head '{head.task}' of head set '{head_set.name}': loss '{head.loss}' does not "
            f"fit a ranking task (use '{LOSSES[TaskType.RANKING]}': pointwise over sampled "
            "negatives)"
        )
