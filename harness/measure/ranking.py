"""Ranking tasks: what is relevant, which items each user's list is drawn from, the lists, and
every figure computed from them.

A ranking head scores (user, item) pairs. For each user of the evaluated split with at least
one relevant held-out item, the items are ranked among the user's **candidates**:

* ``full``: every catalogue item except those the user met before (training rows, and for the
  test split validation rows too), as RecBole's full ranking does;
* ``sampled``: the user's relevant items plus ``negatives`` items the user never met in any
  split, drawn without replacement, uniformly or in proportion to training popularity
  (count + 1).

Candidates are seeded by the domain, the split and the seed (:func:`candidate_seed`), never by
the model, so every backbone of a sweep ranks identical lists; the popularity baseline
(most-popular, ties to the lower item id) ranks them too.

The figures, per user u with relevant set R_u and list L_u (best first), averaged over users:

* ``hr@K``: 1 if any of L_u[:K] is relevant; ``recall@K``: hits / |R_u|; ``precision@K``:
  hits / K;
* ``ndcg@K``: sum over relevant L_u[i], i < K, of 1 / log2(i + 2), divided by the same sum
  over i < min(|R_u|, K) (binary gains);
* ``mrr@K``: 1 / (rank of the first relevant item) if it is within K, else 0;
* ``map@K``: sum over relevant L_u[i], i < K, of precision@(i + 1), divided by min(|R_u|, K).

Item-side figures, over every user's L_u[:K] at the primary cut-off K (``RankingInfo.k``):

* ``coverage@K``: distinct recommended items / catalogue size;
* ``gini@K``: Gini coefficient of how often each catalogue item is recommended (items never
  recommended count as 0);
* ``pop_lift@K``: mean training popularity of the recommended items / mean over the catalogue
  (1: as popular as a uniform draw; above 1: popular items are favoured);
* ``tail_share@K``: share of the recommendations that are tail items, the catalogue outside its
  most popular 20 % (by training count, ties to the lower item id).
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from mtrec.specs import DomainData, DomainSplit, RankingInfo, TaskPredictions, TaskType

# A ranking head's label column: derived by the harness from the suite's relevance rule.
RELEVANCE = "relevance"
HEAD_SHARE = 0.2  # the most popular share of the catalogue; the rest is the tail
ACCURACY = ("ndcg", "recall", "hr", "mrr", "map", "precision")  # at every cut-off
ITEM_SIDE = ("coverage", "gini", "pop_lift", "tail_share")  # at the primary cut-off
# direction of each family of ranking figures: +1 higher is better
DIRECTIONS: Mapping[str, int] = {
    **dict.fromkeys(ACCURACY, 1),
    "coverage": 1,
    "gini": -1,
    "pop_lift": -1,
    "tail_share": 1,
}
_OPERATORS: Mapping[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
    "<=": operator.le,
    "<": operator.lt,
}


# --------------------------------------------------------------------------------------
# catalogue, relevance and candidates
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Catalogue:
    """Every item of any split: its id, its text (first row it appears in) and popularity."""

    item_ids: np.ndarray  # int64, ascending
    texts: np.ndarray  # object array of str, aligned with item_ids
    train_counts: np.ndarray  # int64 training interactions, aligned

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.item_ids, np.asarray(item_ids, dtype=np.int64))


def catalogue_of(data: DomainData) -> Catalogue:
    splits = (data.train, data.validation, data.test)
    ids = np.concatenate([np.asarray(s.item_ids, dtype=np.int64) for s in splits])
    texts = np.concatenate([np.asarray(list(s.item_text), dtype=object) for s in splits])
    item_ids, first = np.unique(ids, return_index=True)
    train_ids = np.asarray(data.train.item_ids, dtype=np.int64)
    counts = np.zeros(len(item_ids), dtype=np.int64)
    np.add.at(counts, np.searchsorted(item_ids, train_ids), 1)
    return Catalogue(item_ids=item_ids, texts=texts[first], train_counts=counts)


def relevant_rows(split: DomainSplit, rule: str) -> np.ndarray:
    """Boolean mask of the rows the rule makes relevant ("observed": every row)."""
    if rule == "observed":
        return np.ones(len(split), dtype=bool)
    field, op, number = _parse_rule(rule)
    if field not in split.labels:
        raise ValueError(
            f"evaluation.ranking.relevance {rule!r} reads label field '{field}', which this "
            f"domain does not provide (it has: {', '.join(split.labels) or 'none'})"
        )
    values = np.asarray(split.labels[field])
    if values.ndim != 1:
        raise ValueError(
            f"evaluation.ranking.relevance {rule!r}: label field '{field}' is multilabel; "
            "a relevance rule needs one value per row"
        )
    return np.asarray(_OPERATORS[op](values.astype(np.float64), number), dtype=bool)


def _parse_rule(rule: str) -> tuple[str, str, float]:
    from mtrec.config import RELEVANCE_RULE  # the one grammar, checked when a suite is read

    match = RELEVANCE_RULE.fullmatch(rule)
    if match is None:
        raise ValueError(f"relevance rule {rule!r} is not 'observed' or 'FIELD OP NUMBER'")
    return match.group(1), match.group(2), float(match.group(3))


def candidate_seed(domain: str, split: str, seed: int) -> int:
    """The seed of a split's candidates: from the domain, the split and the seed only."""
    digest = hashlib.sha256(f"{domain}\0{split}\0{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True, kw_only=True)
class RankingProblem:
    """The users of one evaluated split, their relevant items and their candidates."""

    split: str  # "validation" or "test"
    user_ids: np.ndarray  # int64 [U], ascending
    state_rows: np.ndarray  # int64 [U]: the split row whose user side represents the user
    relevant: tuple[np.ndarray, ...]  # per user: relevant item ids (int64, ascending)
    candidates: tuple[np.ndarray, ...]  # per user: candidate catalogue positions (ascending)
    info: RankingInfo

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def n_pairs(self) -> int:
        return int(sum(len(c) for c in self.candidates))


def ranking_problem(
    data: DomainData,
    catalogue: Catalogue,
    *,
    split: str,
    domain: str,
    seed: int,
    protocol: str,
    negatives: int,
    sampling: str,
    relevance: str,
    ks: Sequence[int],
) -> RankingProblem:
    """Users, relevant items and candidates of ``split`` ("validation" or "test").

    Relevant items are the user's held-out rows the rule accepts, less any item the user
    already met (those are never candidates); users left with none are not ranked.
    """
    evaluated: DomainSplit = getattr(data, split)
    seen_splits = [data.train] if split == "validation" else [data.train, data.validation]
    seen = _items_by_user(seen_splits)
    met = _items_by_user([data.train, data.validation, data.test])
    mask = relevant_rows(evaluated, relevance)
    users = np.asarray(evaluated.user_ids, dtype=np.int64)
    items = np.asarray(evaluated.item_ids, dtype=np.int64)
    rng = np.random.default_rng(candidate_seed(domain, split, seed))
    n_items = len(catalogue.item_ids)
    popularity = catalogue.train_counts.astype(np.float64) + 1.0
    kept_users: list[int] = []
    state_rows: list[int] = []
    relevant: list[np.ndarray] = []
    candidates: list[np.ndarray] = []
    rows_by_user = _rows_by_user(users)
    for user in sorted(rows_by_user):
        rows = rows_by_user[user]
        user_seen = seen.get(user, _EMPTY)
        good = rows[mask[rows]]
        chosen = np.setdiff1d(items[good], user_seen)
        if len(chosen) == 0:
            continue
        if protocol == "full":
            keep = np.ones(n_items, dtype=bool)
            keep[catalogue.positions(user_seen)] = False
            pool = np.flatnonzero(keep)
        else:
            never = np.ones(n_items, dtype=bool)
            never[catalogue.positions(met.get(user, _EMPTY))] = False
            options = np.flatnonzero(never)
            take = min(negatives, len(options))
            if sampling == "popularity" and take:
                weights = popularity[options] / popularity[options].sum()
                drawn = rng.choice(options, size=take, replace=False, p=weights)
            else:
                drawn = rng.choice(options, size=take, replace=False) if take else options[:0]
            pool = np.union1d(catalogue.positions(chosen), drawn)
        kept_users.append(user)
        state_rows.append(int(good[0]))
        relevant.append(chosen)
        candidates.append(pool.astype(np.int64))
    info = RankingInfo(
        ks=tuple(sorted(set(int(k) for k in ks))),
        protocol=protocol,
        negatives=0 if protocol == "full" else int(negatives),
        sampling="" if protocol == "full" else sampling,
        relevance=relevance,
        seed=int(seed),
        catalogue=catalogue.item_ids,
        train_counts=catalogue.train_counts,
    )
    return RankingProblem(
        split=split,
        user_ids=np.asarray(kept_users, dtype=np.int64),
        state_rows=np.asarray(state_rows, dtype=np.int64),
        relevant=tuple(relevant),
        candidates=tuple(candidates),
        info=info,
    )


_EMPTY = np.zeros(0, dtype=np.int64)


def _rows_by_user(users: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(users, kind="stable")
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    ends = np.r_[starts[1:], len(order)]
    return (
        {int(sorted_users[s]): order[s:e] for s, e in zip(starts, ends, strict=True)}
        if len(order)
        else {}
    )


def _items_by_user(splits: Sequence[DomainSplit]) -> dict[int, np.ndarray]:
    if not splits:
        return {}
    users = np.concatenate([np.asarray(s.user_ids, dtype=np.int64) for s in splits])
    items = np.concatenate([np.asarray(s.item_ids, dtype=np.int64) for s in splits])
    return {user: np.unique(items[rows]) for user, rows in _rows_by_user(users).items()}


# --------------------------------------------------------------------------------------
# what the model scores: (user, candidate) pairs as a split, and training negatives
# --------------------------------------------------------------------------------------


def pair_split(
    evaluated: DomainSplit, problem: RankingProblem, catalogue: Catalogue
) -> DomainSplit:
    """One row per (user, candidate): the user side of the user's state row, the item side
    of the catalogue item. No labels: only the ranking heads read these rows."""
    sizes = np.fromiter((len(c) for c in problem.candidates), np.int64, count=len(problem))
    state = np.repeat(problem.state_rows, sizes)
    positions = np.concatenate(problem.candidates) if len(problem) else np.zeros(0, dtype=np.int64)
    user_text = np.asarray(list(evaluated.user_text), dtype=object)
    # object arrays of str: a Sequence[str] to every reader, without copying 1M strings
    return DomainSplit(
        ids=np.arange(len(state), dtype=np.int64),
        user_ids=np.asarray(evaluated.user_ids, dtype=np.int64)[state],
        item_ids=catalogue.item_ids[positions],
        user_text=cast("Sequence[str]", user_text[state]),
        item_text=cast("Sequence[str]", catalogue.texts[positions]),
        labels={},
        sensitive={},
    )


def with_negatives(
    train: DomainSplit,
    catalogue: Catalogue,
    *,
    relevance: str,
    per_positive: int,
    seed: int,
    missing: Callable[[np.ndarray, int], np.ndarray],
) -> DomainSplit:
    """The training split plus ``per_positive`` sampled negatives per relevant row.

    A negative row is the relevant row's user side with an item the user has no training
    row with, drawn uniformly from the catalogue. The ``RELEVANCE`` column is 1 on relevant
    rows and 0 elsewhere; every other label of a negative row is ``missing(values, n)`` (the
    losses leave such rows out).
    """
    if RELEVANCE in train.labels:
        raise ValueError(
            f"the domain has a label field '{RELEVANCE}'; that name is the ranking heads' "
            "derived relevance column"
        )
    relevant = relevant_rows(train, relevance)
    positives = np.flatnonzero(relevant)
    rng = np.random.default_rng(candidate_seed("train-negatives", "train", seed))
    source = np.repeat(positives, per_positive)
    users = np.asarray(train.user_ids, dtype=np.int64)
    seen = {user: frozenset(items.tolist()) for user, items in _items_by_user([train]).items()}
    drawn = rng.integers(0, len(catalogue.item_ids), size=len(source))
    # redraw the few that hit an item the user has a training row with
    for _ in range(20):
        clash = np.fromiter(
            (
                int(catalogue.item_ids[d]) in seen.get(int(users[s]), frozenset())
                for s, d in zip(source, drawn, strict=True)
            ),
            bool,
            count=len(source),
        )
        if not clash.any():
            break
        drawn[clash] = rng.integers(0, len(catalogue.item_ids), size=int(clash.sum()))
    n = len(source)
    start = int(np.max(train.ids)) + 1 if len(train) else 0
    user_text = list(train.user_text)
    labels = {
        name: np.concatenate([values, missing(values, n)]) for name, values in train.labels.items()
    }
    labels[RELEVANCE] = np.concatenate([relevant.astype(np.int64), np.zeros(n, dtype=np.int64)])
    history = list(train.history)
    return DomainSplit(
        ids=np.concatenate([train.ids, np.arange(start, start + n, dtype=np.int64)]),
        user_ids=np.concatenate([users, users[source]]),
        item_ids=np.concatenate([np.asarray(train.item_ids, np.int64), catalogue.item_ids[drawn]]),
        user_text=user_text + [user_text[int(s)] for s in source],
        item_text=list(train.item_text) + list(catalogue.texts[drawn]),
        labels=labels,
        sensitive={k: np.concatenate([v, v[source]]) for k, v in train.sensitive.items()},
        context={k: np.concatenate([v, v[source]]) for k, v in train.context.items()},
        history=history + [history[int(s)] for s in source] if history else (),
        timestamps=None
        if train.timestamps is None
        else np.concatenate([train.timestamps, train.timestamps[source]]),
    )


# --------------------------------------------------------------------------------------
# lists
# --------------------------------------------------------------------------------------


def top_lists(
    problem: RankingProblem, scores: np.ndarray, *, task: str, catalogue: Catalogue
) -> TaskPredictions:
    """Each user's top max(ks) candidates by score (ties to the lower item id)."""
    kmax = max(problem.info.ks)
    sizes = np.fromiter((len(c) for c in problem.candidates), np.int64, count=len(problem))
    if len(scores) != int(sizes.sum()):
        raise ValueError(f"{len(scores)} scores for {int(sizes.sum())} candidate pairs")
    positions = np.concatenate(problem.candidates) if len(problem) else np.zeros(0, dtype=np.int64)
    items = catalogue.item_ids[positions]
    owner = np.repeat(np.arange(len(problem)), sizes)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.lexsort((items, -scores, owner))
    starts = np.r_[0, np.cumsum(sizes)[:-1]] if len(sizes) else np.zeros(0, dtype=np.int64)
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    keep = order[rank < kmax]
    kept_owner = owner[keep]
    slot = rank[rank < kmax]
    top = np.full((len(problem), kmax), -1, dtype=np.int64)
    top_score = np.full((len(problem), kmax), np.nan, dtype=np.float64)
    top[kept_owner, slot] = items[keep]
    top_score[kept_owner, slot] = scores[keep]
    return TaskPredictions(
        task=task,
        task_type=TaskType.RANKING,
        y_true=relevant_matrix(problem),
        y_pred=top,
        score=top_score,
        primary_metric=f"ndcg@{problem.info.k}",
        user_ids=problem.user_ids,
        ranking=problem.info,
    )


def relevant_matrix(problem: RankingProblem) -> np.ndarray:
    """Int64 [users, R]: each user's relevant item ids, -1 padded (``TaskPredictions.y_true``)."""
    width = max((len(r) for r in problem.relevant), default=0)
    relevant = np.full((len(problem), max(width, 1)), -1, dtype=np.int64)
    for row, values in enumerate(problem.relevant):
        relevant[row, : len(values)] = values
    return relevant


def popularity_lists(
    problem: RankingProblem, *, task: str, catalogue: Catalogue
) -> TaskPredictions:
    """The most-popular baseline: every user's candidates by training popularity."""
    positions = np.concatenate(problem.candidates) if len(problem) else np.zeros(0, dtype=np.int64)
    return top_lists(
        problem,
        catalogue.train_counts[positions].astype(np.float64),
        task=task,
        catalogue=catalogue,
    )


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


def metric_names(info: RankingInfo) -> tuple[str, ...]:
    """The figures a ranking task reports, primary (ndcg at ``info.k``) first."""
    names = [f"ndcg@{info.k}"]
    for family in ACCURACY:
        names += [f"{family}@{k}" for k in info.ks if f"{family}@{k}" != names[0]]
    names += [f"{family}@{info.k}" for family in ITEM_SIDE]
    return tuple(names)


def parse_metric(name: str) -> tuple[str, int] | None:
    """("ndcg", 10) for "ndcg@10"; None for a name that is not a ranking figure."""
    family, at, cut = name.partition("@")
    if not at or family not in DIRECTIONS or not cut.isdigit() or int(cut) < 1:
        return None
    return family, int(cut)


def hits(predictions: TaskPredictions) -> np.ndarray:
    """Bool [users, max(ks)]: whether each listed item is relevant to its user."""
    top, relevant = predictions.y_pred, predictions.y_true
    found = (top[:, :, None] == relevant[:, None, :]) & (relevant[:, None, :] >= 0)
    return np.asarray(found.any(axis=2) & (top >= 0))


def per_user(predictions: TaskPredictions, family: str, k: int) -> np.ndarray:
    """One value per user of an accuracy figure (``ACCURACY``) at cut-off ``k``."""
    hit = hits(predictions)[:, :k].astype(np.float64)
    n_relevant = (predictions.y_true >= 0).sum(axis=1).astype(np.float64)
    found = hit.sum(axis=1)
    values: np.ndarray
    if family == "hr":
        values = (found > 0).astype(np.float64)
    elif family == "recall":
        values = found / np.maximum(n_relevant, 1.0)
    elif family == "precision":
        values = found / k
    elif family in ("ndcg", "mrr", "map"):
        values = _positional(hit, n_relevant, family, k)
    else:
        raise ValueError(f"unknown ranking figure '{family}'")
    return np.asarray(values, dtype=np.float64)


def _positional(hit: np.ndarray, n_relevant: np.ndarray, family: str, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, hit.shape[1] + 2))
    if family == "ndcg":
        ideal_count = np.minimum(n_relevant, k).astype(np.int64)
        ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
        out: np.ndarray = (hit * discounts).sum(axis=1) / np.maximum(ideal[ideal_count], 1e-12)
        return out
    if family == "mrr":
        first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
        out = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
        return out
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, hit.shape[1] + 1)
    out = (precision_at * hit).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1.0)
    return out


def item_side(predictions: TaskPredictions, family: str, k: int) -> float:
    """An item-side figure (``ITEM_SIDE``) of every user's list cut at ``k``."""
    info = predictions.ranking
    if info is None:
        raise ValueError(f"task '{predictions.task}' has no ranking info")
    listed = predictions.y_pred[:, :k]
    listed = listed[listed >= 0]
    catalogue = info.catalogue
    if len(listed) == 0 or len(catalogue) == 0:
        return float("nan")
    positions = np.searchsorted(catalogue, listed)
    exposure = np.bincount(positions, minlength=len(catalogue))
    counts = info.train_counts.astype(np.float64)
    if family == "coverage":
        return float((exposure > 0).sum() / len(catalogue))
    if family == "gini":
        return gini(exposure)
    if family == "pop_lift":
        return float(counts[positions].mean() / max(counts.mean(), 1e-12))
    if family == "tail_share":
        return float(np.isin(positions, tail_positions(counts), invert=False).mean())
    raise ValueError(f"unknown item-side figure '{family}'")


def tail_positions(train_counts: np.ndarray) -> np.ndarray:
    """Catalogue positions outside the most popular ``HEAD_SHARE`` (ties: lower id first)."""
    n = len(train_counts)
    by_popularity = np.lexsort((np.arange(n), -np.asarray(train_counts)))
    head = math.ceil(HEAD_SHARE * n)
    return np.sort(by_popularity[head:])


def gini(exposure: np.ndarray) -> float:
    """Gini coefficient of non-negative exposure counts (0 when nothing is exposed)."""
    values = np.sort(np.asarray(exposure, dtype=np.float64))
    total = values.sum()
    if len(values) == 0 or total == 0:
        return 0.0
    n = len(values)
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * values).sum()) / (n * total) - (n + 1) / n)


def ranking_metric(predictions: TaskPredictions, name: str) -> float:
    """One figure of a ranking task's saved lists, by name ("ndcg@10", "coverage@10")."""
    parsed = parse_metric(name)
    if parsed is None:
        raise ValueError(f"'{name}' is not a ranking figure")
    family, k = parsed
    if len(predictions.y_pred) == 0:
        return float("nan")
    if family in ITEM_SIDE:
        return item_side(predictions, family, k)
    return float(per_user(predictions, family, k).mean())


def ranking_metrics(predictions: TaskPredictions) -> dict[str, float]:
    """Every figure of a ranking task, in ``metric_names`` order."""
    if predictions.ranking is None:
        raise ValueError(f"ranking task '{predictions.task}' has no ranking info")
    return {name: ranking_metric(predictions, name) for name in metric_names(predictions.ranking)}
