"""``item-exposure``: who gets recommended (scope "item").

**A ranking task** (``TaskType.RANKING``) has real top-K lists: every user's items ranked
among their candidates (``mtrec.measure.ranking``). Its figures come from those lists cut at
the task's primary cut-off (``RankingInfo.k``), with the same code as the task's own metrics,
so ``coverage`` equals the task's ``coverage@K`` and so on:

* ``coverage``, ``gini_exposure``, ``popularity_lift`` and ``tail_share``: the task's
  ``coverage@K``, ``gini@K``, ``pop_lift@K`` and ``tail_share@K`` (catalogue, popularity and
  tail as the task defines them);
* each with a 95% bootstrap interval over users (``*_ci``; a resample draws users, each with
  their list; ``context.bootstrap_resamples`` resamples seeded by ``context.seed``). Coverage
  and Gini depend on how many *distinct* users a resample holds (about 63 % of them), so their
  resamples sit below the estimate; every interval is therefore the percentile interval moved
  by the bootstrap's estimate of that bias and kept within the figure's range
  (``mtrec.debiased``), with ``*_bias`` reported.

When a head set has a ranking task, its result is the headline (``"headline": true``); the
other heads' figures below say which ranking task supersedes them.

**A binary or regression head** scores user-item pairs but makes no list: every test user is
"recommended" the top ``k`` of their *own test rows* by score (ties broken by row order; an item
recommended twice to one user counts once), which re-orders what the user already met rather
than choosing from the catalogue (``"source": "test rows"``). Over those recommendations:

* ``coverage``: distinct recommended items / ``n_items`` (the catalogue over all splits);
* ``gini_exposure``: Gini coefficient of how often each catalogue item is recommended, items
  never recommended counting as zero exposure (0: equal exposure, towards 1: a few items get
  everything);
* ``avg_popularity_recommended``: mean training-interaction count of the recommended items,
  against ``avg_popularity_test``, the same mean over all test rows (what recommending at
  random among a user's rows would give); ``popularity_lift`` is their ratio.

``users_ranked`` counts the users with more than ``k`` test rows: only for them does the
ranking choose anything. Multiclass and multilabel heads are not applicable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import mtrec
from mtrec import FairnessContext, FairnessMetricSpec, TaskPredictions, TaskType, hookimpl

DEFAULT_K = 10


def recommendations(
    user_ids: np.ndarray, item_ids: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, int]:
    """Item ids recommended to all users (top ``k`` distinct items per user), and how many
    users had more than ``k`` rows to choose from."""
    # Sort by user, then score descending, then row: each user's rows come best first.
    order = np.lexsort((np.arange(len(scores)), -scores, user_ids))
    users, items = user_ids[order], item_ids[order]
    pairs = np.stack([users, items], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)
    keep = np.zeros(len(order), dtype=bool)
    keep[first] = True  # the best row of each (user, item) pair
    users, items = users[keep], items[keep]
    # Position of each row within its user's block (rows stay sorted by user after masking).
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)
    return items[rank < k], int((sizes > k).sum())


def gini(exposure: np.ndarray) -> float:
    """Gini coefficient of non-negative exposure counts (0 when nothing is exposed)."""
    values = np.sort(np.asarray(exposure, dtype=np.float64))
    total = values.sum()
    if len(values) == 0 or total == 0:
        return 0.0
    n = len(values)
    ranks = np.arange(1, n + 1)
    return float((2.0 * (ranks * values).sum()) / (n * total) - (n + 1) / n)


def item_exposure(k: int | None = None) -> Callable[[FairnessContext], dict[str, Any]]:
    """The ``item-exposure`` metric with ``k`` recommendations per user.

    ``None``: the suite's ``fairness.top_k`` (``FairnessContext.top_k``).
    """

    def compute(context: FairnessContext) -> dict[str, Any]:
        lists = [t for t, p in context.tasks.items() if p.task_type is TaskType.RANKING]
        result: dict[str, Any] = {}
        for task, predictions in context.tasks.items():
            if predictions.task_type is TaskType.RANKING:
                result[task] = {**list_exposure(predictions, context), "headline": True}
                continue
            figures = _task_exposure(predictions, context, k or context.top_k)
            if "applicable" not in figures:
                figures["headline"] = not lists
                if lists:
                    figures["superseded_by"] = lists[0]
            result[task] = figures
        return result

    return compute


# The item-side figures of a ranking task, by the names this metric reports them under.
LIST_FIGURES = {
    "coverage": "coverage",
    "gini_exposure": "gini",
    "popularity_lift": "pop_lift",
    "tail_share": "tail_share",
}


def list_exposure(predictions: TaskPredictions, context: FairnessContext) -> dict[str, Any]:
    """Item-side figures of a ranking task's top-K lists, each with its interval over users."""
    info = predictions.ranking
    if info is None:
        return {"applicable": False, "reason": f"ranking task '{predictions.task}' has no lists"}
    k = info.k
    listed = predictions.y_pred[:, :k]
    listed = listed[listed >= 0]
    counts = info.train_counts.astype(np.float64)
    recommended_popularity = (
        float(counts[np.searchsorted(info.catalogue, listed)].mean()) if len(listed) else None
    )
    figures: dict[str, Any] = {
        "source": "ranked lists",
        "k": k,
        "protocol": info.protocol,
        "n_users": len(predictions.y_pred),
        "recommendations": len(listed),
        "distinct_items": len(np.unique(listed)),
        "n_items": len(info.catalogue),
        "avg_popularity_recommended": recommended_popularity,
        "avg_popularity_catalogue": float(counts.mean()) if len(counts) else None,
        "resampled": "users",
    }
    users = len(predictions.y_pred)
    for reported, family in LIST_FIGURES.items():
        name = f"{family}@{k}"
        sampled = mtrec.bootstrap(
            _drawn(mtrec.weighted_metric(predictions, name), users),
            users,
            resamples=context.bootstrap_resamples,
            seed=context.seed,
            keep=True,
        )
        interval = mtrec.debiased(
            sampled, lowest=0.0, highest=None if family == "pop_lift" else 1.0
        )
        bias = float(np.mean(sampled.values)) - sampled.estimate if sampled.values else None
        # the point figure is the task's own (its lists as they are)
        figures[reported] = _finite(mtrec.METRICS[name].compute(predictions))
        figures[f"{reported}_metric"] = name
        figures[f"{reported}_ci"] = interval.as_list()
        figures[f"{reported}_bias"] = bias
    return figures


def _drawn(on_weights: Callable[[np.ndarray], float], users: int) -> Callable[[np.ndarray], float]:
    """The figure of the drawn users (row indices), from how often each was drawn."""
    return lambda rows: on_weights(np.bincount(rows, minlength=users).astype(np.float64))


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _task_exposure(
    predictions: TaskPredictions, context: FairnessContext, k: int
) -> dict[str, Any]:
    scores = _ranking_scores(predictions)
    if scores is None:
        return {
            "applicable": False,
            "reason": f"a {predictions.task_type.value} head does not score items "
            "(binary heads with scores and regression heads do)",
        }
    missing = [
        name
        for name, value in (
            ("user_ids", context.user_ids),
            ("item_ids", context.item_ids),
            ("train_item_ids", context.train_item_ids),
            ("n_items", context.n_items),
        )
        if value is None
    ]
    if missing:
        return {"applicable": False, "reason": f"the run provided no {', '.join(missing)}"}
    assert context.user_ids is not None and context.item_ids is not None
    assert context.train_item_ids is not None and context.n_items is not None
    item_ids = np.asarray(context.item_ids, dtype=np.int64)
    recommended, ranked = recommendations(
        np.asarray(context.user_ids, dtype=np.int64), item_ids, scores, k
    )
    train_items, train_counts = np.unique(
        np.asarray(context.train_item_ids, dtype=np.int64), return_counts=True
    )
    popularity = dict(zip(train_items.tolist(), train_counts.tolist(), strict=True))
    distinct, exposure = np.unique(recommended, return_counts=True)
    n_items = max(context.n_items, len(distinct))
    padded = np.concatenate([exposure, np.zeros(n_items - len(distinct))])
    recommended_popularity = _mean_popularity(recommended, popularity)
    test_popularity = _mean_popularity(item_ids, popularity)
    return {
        "source": "test rows",
        "note": "each user's own test rows re-ordered by the head's score; only the "
        "users_ranked users had more than k rows to choose from",
        "k": k,
        "ranked_by": "score" if predictions.task_type is TaskType.BINARY else "y_pred",
        "n_users": len(np.unique(context.user_ids)),
        "users_ranked": ranked,
        "recommendations": len(recommended),
        "distinct_items": len(distinct),
        "n_items": n_items,
        "coverage": len(distinct) / n_items if n_items else None,
        "gini_exposure": gini(padded),
        "avg_popularity_recommended": recommended_popularity,
        "avg_popularity_test": test_popularity,
        "popularity_lift": (
            recommended_popularity / test_popularity
            if recommended_popularity is not None and test_popularity
            else None
        ),
    }


def _mean_popularity(items: np.ndarray, popularity: dict[int, int]) -> float | None:
    """Mean training-interaction count of ``items`` (None for no items)."""
    if len(items) == 0:
        return None
    return float(np.mean([popularity.get(item, 0) for item in items.tolist()]))


def _ranking_scores(predictions: TaskPredictions) -> np.ndarray | None:
    if predictions.task_type is TaskType.BINARY and predictions.score is not None:
        return np.asarray(predictions.score, dtype=np.float64)
    if predictions.task_type is TaskType.REGRESSION:
        return np.asarray(predictions.y_pred, dtype=np.float64)
    return None


@hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    return [
        FairnessMetricSpec(
            name="item-exposure",
            scope="item",
            compute=item_exposure(),
            description="catalogue coverage, Gini of exposure, popularity lift and tail share "
            "of a ranking task's top-K lists, with intervals over users; for binary/"
            f"regression heads each user's own test rows re-ordered (k: fairness.top_k, "
            f"default {DEFAULT_K})",
        )
    ]
