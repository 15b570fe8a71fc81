"""``item-exposure``: who gets recommended when a head's scores rank items (scope "item").

A head ranks items when it scores user-item pairs: a binary head (click, like: the positive
class probability) or a regression head (rating: the predicted value). For each such head,
every test user is "recommended" the top ``k`` of their own test rows by score (ties broken by
row order; an item recommended twice to one user counts once). Over those recommendations:

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
        return {
            task: _task_exposure(predictions, context, k or context.top_k)
            for task, predictions in context.tasks.items()
        }

    return compute


def _task_exposure(predictions: TaskPredictions, context: FairnessContext, k: int) -> Any:
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
            description="top-k per user from binary/regression scores (k: fairness.top_k, "
            f"default {DEFAULT_K}): catalogue coverage, Gini of exposure, popularity of "
            "recommended items",
        )
    ]
