"""Ranking heads in a fit: the candidates of a combination, the extra rows it trains and is
scored on, and its lists.

The candidates (:func:`ranking_setup`) depend on the domain's data, the suite's
``evaluation.ranking`` and the seed, and are built once per sweep for all backbones, so every
row of a sweep ranks the same lists. A fit with ranking heads trains on the training split
plus sampled negatives (:func:`mtrec.measure.ranking.with_negatives`) and is scored on
``rank:validation`` / ``rank:test``: one row per (user, candidate), which every strategy
wraps like any split (tokens, cached features, IDs). Validation (checkpoint selection) ranks
among ``validation_negatives`` sampled items; the test split under the declared protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrec.config import RankingConfig
from mtrec.contracts import Combination
from mtrec.measure import ranking
from mtrec.measure.evaluation import pair_scores
from mtrec.model.batching import Batchable
from mtrec.model.multitask import MultiTaskModel, missing_labels
from mtrec.run.sweep_cache import RankingTruth, SweepCache
from mtrec.specs import DomainData, DomainSplit, HeadSetSpec, TaskPredictions, TaskType

PAIR_SPLITS = {"validation": "rank:validation", "test": "rank:test"}


@dataclass(frozen=True, kw_only=True)
class RankingSetup:
    """What every fit of one (domain data, seed, ranking config) ranks."""

    config: RankingConfig
    catalogue: ranking.Catalogue
    validation: ranking.RankingProblem  # sampled, ``validation_negatives`` per user
    test: ranking.RankingProblem  # the declared protocol

    def problem(self, split: str) -> ranking.RankingProblem:
        return self.validation if split == "validation" else self.test

    def truth(self) -> RankingTruth:
        """The test users and their relevant items, for lists saved by another variant."""
        return RankingTruth(
            user_ids=self.test.user_ids,
            y_true=ranking.relevant_matrix(self.test),
            info=self.test.info,
        )

    def candidates(self, split: str) -> dict[int, np.ndarray]:
        """User -> candidate item ids, for the saved lists."""
        problem = self.problem(split)
        return {
            int(user): self.catalogue.item_ids[positions]
            for user, positions in zip(problem.user_ids, problem.candidates, strict=True)
        }


def ranking_tasks(head_set: HeadSetSpec) -> tuple[str, ...]:
    return tuple(h.task for h in head_set.heads if h.task_type is TaskType.RANKING)


def ranking_truth(
    combination: Combination, cache: SweepCache, data: DomainData, head_set: HeadSetSpec
) -> RankingTruth | None:
    """What saved ranking lists of ``head_set`` on ``data`` are scored against (None: the
    head set ranks nothing)."""
    if not ranking_tasks(head_set):
        return None
    return ranking_setup(combination, cache, data).truth()


def ranking_setup(combination: Combination, cache: SweepCache, data: DomainData) -> RankingSetup:
    """The catalogue and the validation/test candidates, built once per sweep.

    Seeded by the combination's (data) seed: a single-task baseline trained at another seed
    ranks the very candidates of the combination it is compared with.
    """
    config = combination.ranking
    seed = combination.seed
    key = (id(data), seed, json.dumps(config.model_dump(mode="json"), sort_keys=True))
    found = cache.rankings.get(key)
    if isinstance(found, RankingSetup):
        return found
    catalogue = ranking.catalogue_of(data)
    domain, relevance = combination.domain.name, config.relevance
    setup = RankingSetup(
        config=config,
        catalogue=catalogue,
        validation=ranking.ranking_problem(
            data,
            catalogue,
            split="validation",
            protocol="sampled",
            negatives=config.validation_negatives,
            sampling=config.sampling,
            ks=config.k,
            domain=domain,
            seed=seed,
            relevance=relevance,
        ),
        test=ranking.ranking_problem(
            data,
            catalogue,
            split="test",
            protocol=config.protocol,
            negatives=config.negatives,
            sampling=config.sampling,
            ks=config.k,
            domain=domain,
            seed=seed,
            relevance=relevance,
        ),
    )
    cache.rankings[key] = setup
    return setup


def training_rows(train: DomainSplit, setup: RankingSetup, seed: int) -> DomainSplit:
    """The training split plus the ranking heads' sampled negatives."""
    return ranking.with_negatives(
        train,
        setup.catalogue,
        relevance=setup.config.relevance,
        per_positive=setup.config.train_negatives,
        seed=seed,
        missing=missing_labels,
    )


def pair_splits(data: DomainData, setup: RankingSetup) -> dict[str, DomainSplit]:
    """``rank:validation`` and ``rank:test``: one row per (user, candidate)."""
    return {
        name: ranking.pair_split(getattr(data, split), setup.problem(split), setup.catalogue)
        for split, name in PAIR_SPLITS.items()
    }


@dataclass(frozen=True, kw_only=True)
class RankedRun:
    """The lists of every ranking task on one split, and what scoring them cost."""

    tasks: Mapping[str, TaskPredictions]
    seconds: float
    users: int
    pairs: int

    def cost(self, protocol: str) -> dict[str, float | int | str]:
        return {
            "protocol": protocol,
            "users": self.users,
            "candidate_pairs": self.pairs,
            "seconds": self.seconds,
            "ms_per_user": 1000.0 * self.seconds / max(self.users, 1),
        }


def ranked(
    model: MultiTaskModel | None,
    pairs: Batchable | None,
    setup: RankingSetup,
    split: str,
    tasks: Sequence[str],
    *,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> RankedRun:
    """Each ranking task's lists on ``split``; by popularity when there is no model (the
    trivial predictor ranks the most popular items first)."""
    problem = setup.problem(split)
    started = time.perf_counter()
    if model is None or pairs is None:
        lists = {
            task: ranking.popularity_lists(problem, task=task, catalogue=setup.catalogue)
            for task in tasks
        }
    else:
        scores = pair_scores(
            model, pairs, tasks, batch_size=batch_size, device=device, precision=precision
        )
        lists = {
            task: ranking.top_lists(problem, scores[task], task=task, catalogue=setup.catalogue)
            for task in tasks
        }
    return RankedRun(
        tasks=lists,
        seconds=time.perf_counter() - started,
        users=len(problem),
        pairs=problem.n_pairs,
    )


def popularity_scores(
    setup: RankingSetup, split: str, tasks: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Every figure of the most-popular ranking (the trivial reference of a ranking task)."""
    from mtrec.measure.tasks import compute_metrics

    problem = setup.problem(split)
    return {
        task: compute_metrics(
            ranking.popularity_lists(problem, task=task, catalogue=setup.catalogue)
        )
        for task in tasks
    }


RANKING_BATCH = 4096  # candidate pairs per forward pass: pairs are cheap rows


def pair_batch_size(pairs: Batchable, eval_batch_size: int) -> int:
    """Rows per forward pass over candidate pairs: large for pairs of IDs or cached
    features, the suite's evaluation batch for tokenized text."""
    tokenized = getattr(pairs, "lengths", None) is not None
    return eval_batch_size if tokenized else max(eval_batch_size, RANKING_BATCH)


def no_ranking_heads(head_set: HeadSetSpec) -> HeadSetSpec | None:
    """The head set without its ranking heads (None if nothing is left)."""
    from dataclasses import replace

    heads = tuple(h for h in head_set.heads if h.task_type is not TaskType.RANKING)
    return replace(head_set, heads=heads) if heads else None
