"""Variants trained for comparison: single-task baselines, and the outcome cache they share.

A variant's test predictions are kept by a key that holds what decides them (backbone,
domain, seeds, training, head, and the versions of mtrec and of the plugins providing them):
from this sweep, else from disk, else trained now.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from mtrec import version
from mtrec.config import InputConfig
from mtrec.contracts import Combination
from mtrec.paths import cache_dir
from mtrec.plugin_host import PluginHost
from mtrec.run.fit import Fit, fit_variant
from mtrec.run.phases import release_heap
from mtrec.run.ranking import ranking_truth
from mtrec.run.sweep_cache import Outcome, RankingTruth, SweepCache
from mtrec.specs import (
    DomainData,
    Family,
    HeadSetSpec,
    TaskPredictions,
    TaskType,
)


def variant_outcome(
    cache: SweepCache,
    key: str,
    produce: Callable[[], Fit],
    labels: Mapping[str, np.ndarray],
    ranked: RankingTruth | None = None,
) -> dict[str, TaskPredictions]:
    """A variant's test predictions from this sweep, else from disk, else trained now (and
    kept), always scored against ``labels``: the test split of the combination asking (and
    ranking lists against ``ranked``, its test users' relevant items)."""
    outcome = cache.outcomes.get(key)
    path = cache_dir() / "outcomes" / f"{key}.npz"
    if outcome is None or not outcome.fits(labels, ranked):
        outcome = Outcome.load(path, key)
    if outcome is None or not outcome.fits(labels, ranked):
        fit = produce()
        outcome = Outcome.of(fit.test_run.tasks, fit.heads)
        outcome.save(path, key)
    cache.outcomes[key] = outcome
    return outcome.on(labels, ranked)


def variant_key(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps({**parts, "mtrec": version.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _providers(host: PluginHost, combination: Combination, *kinds: str) -> list[str]:
    """'distribution version' of the plugins providing the combination's items of ``kinds``."""
    names = {
        "backbones": combination.backbone.name,
        "head_sets": combination.head_set.name,
        "domains": combination.domain.name,
    }
    providers = [host.provider_of(kind, names[kind]) for kind in kinds]
    return [f"{p.distribution} {p.version}" for p in providers]


def plain_variant_key(combination: Combination, host: PluginHost) -> str:
    """Outcome-cache key of a combination trained on its own domain (no transfer).

    Like the single-task baselines' keys it holds the mtrec version and the versions of the
    plugins providing the backbone, head set and domain: an upgrade trains it again.
    """
    return variant_key(
        {
            "kind": "combination",
            "combination": combination.key,
            "providers": _providers(host, combination, "backbones", "head_sets", "domains"),
        }
    )


def baseline_seeds(combination: Combination) -> list[int]:
    """Training seeds of the single-task baselines; data always comes from the combination's."""
    return [combination.seed + offset for offset in range(combination.fairness.baseline_seeds)]


def single_task_baselines(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    device: torch.device,
) -> dict[str, list[TaskPredictions]]:
    """Each task trained alone on the same backbone, domain and budget, once per key.

    The key holds the backbone, domain, data seed, training seed, training settings and the
    head, not the head set: every head set (and run) with that task reuses the same baseline.
    A single-task model keeps the combination's architecture (a one-task tower: same experts
    and widths), so only the sharing differs; loss weighting is moot with one task (equal).
    Baselines of the trivial backbone would be the trivial predictor itself, so there are none.
    """
    family = host.registries.backbones.get(combination.backbone.name).family
    if family is Family.TRIVIAL or len(head_set.heads) < 2 or not baseline_seeds(combination):
        return {}
    training = combination.training.model_copy(
        update={
            "architecture": combination.training.architecture or head_set.architecture,
            "loss_weighting": "equal",
            "loss_weighting_options": {},
            "compile": False,
        }
    )
    common = {
        # a new release of the backbone's or domain's plugin may change what they give
        "providers": _providers(host, combination, "backbones", "domains"),
        "backbone": combination.backbone.model_dump(mode="json", exclude={"training"}),
        "domain": {"name": combination.domain.name, "options": combination.domain.options},
        "data_seed": combination.seed,
        "training": training.model_dump(mode="json"),
    }
    if combination.input != InputConfig():  # what the texts render (the default: as before)
        common["input"] = combination.input.model_dump(mode="json")
    baselines: dict[str, list[TaskPredictions]] = {}
    for head in head_set.heads:
        alone = HeadSetSpec(
            name=f"{head.task} alone",
            heads=(head,),
            architecture=head_set.architecture,
            hidden_size=head_set.hidden_size,
        )
        runs = []
        for seed in baseline_seeds(combination):
            key = variant_key(
                {
                    **common,
                    "kind": "single-task",
                    "seed": seed,
                    "head": asdict(head),
                    "hidden_size": head_set.hidden_size,
                    # a ranking head's lists depend on the protocol they were drawn under
                    **(
                        {"ranking": combination.ranking.model_dump(mode="json")}
                        if head.task_type is TaskType.RANKING
                        else {}
                    ),
                }
            )

            def produce(seed: int = seed, alone: HeadSetSpec = alone) -> Fit:
                cache.baseline_trainings += 1
                return fit_variant(
                    combination,
                    host,
                    cache,
                    data=data,
                    head_set=alone,
                    training=training,
                    seed=seed,
                    device=device,
                )

            runs.append(
                variant_outcome(
                    cache,
                    key,
                    produce,
                    data.test.labels,
                    ranking_truth(combination, cache, data, alone),
                )[head.task]
            )
            # the baseline's model and splits are garbage now: give their pages back before
            # the next one trains, so that baselines do not stack up the heap
            gc.collect()
            release_heap()
        baselines[head.task] = runs
    return baselines
