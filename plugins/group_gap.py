"""``group-gap``: each task's primary metric per sensitive group, and the gap between groups.

Computed with fairlearn's ``MetricFrame`` from the saved test predictions: for every task and
every sensitive attribute, and every pairwise intersection of attributes (named ``a&b``, its
groups ``x&y``), the metric of each group with its size in rows (``group_sizes``) and in users
(``group_users``), and the gap figures: the group minimum and maximum, their difference and
ratio, which group is served worst, and ``difference_ci``, a 95% bootstrap interval of the
difference.

A group of a handful of users measures those users, not the group: its metric swings with one
user's rows and a resample cannot show how much (a one-user group never changes). The gap
figures and the interval therefore cover only the groups with at least ``min_group_users``
users (``fairness.min_group_users``); smaller groups keep their figures in ``by_group`` and are
listed in ``excluded_groups``. ``support`` says how many groups the gap is over and how many
users the smallest of them has. Without user ids every row counts as a user.

The interval comes from ``mtrec.measure.bootstrap`` (``context.bootstrap_resamples`` resamples
seeded by ``context.seed``), resampling users with all their test rows within each group (a user's
rows are not independent draws). A max-min over groups is biased upward and a plain percentile
interval of it never reaches 0, so the interval is built to hold for every group pair at once
(:func:`difference_interval`): without a real gap it reaches down to 0 about 95% of the time, with
one it brackets it.

**A ranking task**'s rows are users (each with their top-K list), not test rows. A user's
group is the attribute value of that user's test rows (``FairnessContext.sensitive`` and
``user_ids`` are per test row; an attribute that takes several values among one user's rows
is reported as not applicable, with the reason). The figures are those above with users in
place of rows: a group's value is the mean over its users of the per-user primary figure
(``ndcg@K`` at the task's cut-off ``RankingInfo.k``), ``group_sizes`` and ``group_users``
both count users, and a bootstrap draws users within each group. ``other_metrics`` holds the
same figures for ``recall@K``, ``hr@K`` and ``mrr@K``; ``users_without_group`` counts ranked
users with no test row to read the attribute from (left out).

``context-gap`` (:func:`context_gap`) reports the same figures per scene: the domain's context
fields (``FairnessContext.context``) take the place of the sensitive attributes. A scene is a
property of a test row, so for a ranking task a field applies only where each user's rows
share one value.

:func:`sensitive_features` and :func:`compare_groups` are shared with the task-type-specific
group metrics in :mod:`mtrec.plugins.task_type_gaps`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np

import mtrec
from mtrec import FairnessContext, FairnessMetricSpec, TaskPredictions, TaskType, hookimpl

if TYPE_CHECKING:
    from mtrec import GroupedMetric, RowsMetric

    # Builds a metric of every group under row weights from the rows' group codes and the
    # number of groups (see mtrec.grouped_metric).
    GroupedFactory = Callable[[np.ndarray, int], GroupedMetric]

INTERSECTION = "&"


def sensitive_features(context: FairnessContext) -> dict[str, np.ndarray]:
    """Each sensitive attribute, then each pair's intersection (``a&b``), as group labels."""
    single = {name: np.asarray(groups).astype(str) for name, groups in context.sensitive.items()}
    features = dict(single)
    for (a, groups_a), (b, groups_b) in combinations(single.items(), 2):
        joined = np.char.add(np.char.add(groups_a, INTERSECTION), groups_b)
        features[f"{a}{INTERSECTION}{b}"] = joined.astype(str)
    return features


def compare_groups(
    metric: RowsMetric,
    groups: np.ndarray,
    *,
    name: str,
    direction: int,
    context: FairnessContext,
    resampled: GroupedFactory | None = None,
) -> dict[str, Any]:
    """A metric per group (fairlearn ``MetricFrame`` over row indices) and the gap figures.

    The gap figures cover the groups with at least ``context.min_group_users`` users.
    ``resampled``, when given, builds a fast all-groups equal of ``metric`` for the bootstrap.
    """
    from fairlearn.metrics import MetricFrame

    labels = np.asarray(groups).astype(str)
    rows = np.arange(len(labels))
    # MetricFrame is handed row indices as y_true/y_pred, so every task shape (class labels,
    # scores, multilabel matrices) goes through the same metric code mtrec reports with.
    frame = MetricFrame(
        metrics=lambda picked, _: metric(picked),
        y_true=rows,
        y_pred=rows,
        sensitive_features=np.asarray(labels, dtype=object),
    )
    by_group = {str(g): _finite(v) for g, v in frame.by_group.items()}
    names, counts = np.unique(labels, return_counts=True)
    users, supported = group_support(labels, context)
    kept = {g: v for g in supported if (v := by_group.get(g)) is not None}
    low = min(kept, key=kept.__getitem__) if kept else None
    high = max(kept, key=kept.__getitem__) if kept else None
    gap = None if low is None or high is None or len(kept) < 2 else kept[high] - kept[low]
    worst = None
    if low is not None and high is not None and len(kept) >= 2:
        worst = low if direction > 0 else high
    interval, interval_all = gap_intervals(
        metric, labels, context, resampled, supported=supported, tested=(1, _tested(context))
    )
    return {
        "metric": name,
        "direction": "higher" if direction > 0 else "lower",
        "by_group": by_group,
        "group_sizes": {str(g): int(n) for g, n in zip(names, counts, strict=True)},
        "group_users": users,
        "min_group_users": context.min_group_users,
        "excluded_groups": sorted(set(names.tolist()) - set(supported)),
        "support": {
            "groups": len(kept),
            "smallest_group_users": min((users[g] for g in kept), default=None),
        },
        "group_min": None if low is None else kept[low],
        "group_max": None if high is None else kept[high],
        "difference": gap,
        "ratio": _ratio(kept, low, high),
        "worst_group": worst,
        "difference_ci": interval,
        # the same, holding for every attribute and intersection at once: the headline's
        "difference_ci_all": interval_all,
    }


def _tested(context: FairnessContext) -> int:
    """How many gaps a task has: each attribute and each pair's intersection."""
    k = len(context.sensitive)
    return k + k * (k - 1) // 2


def group_support(groups: np.ndarray, context: FairnessContext) -> tuple[dict[str, int], list[str]]:
    """Users per group, and the groups with at least ``context.min_group_users`` of them."""
    labels = np.asarray(groups).astype(str)
    users = SamplingUnits.of(labels, context.user_ids).users_per_group(np.unique(labels))
    return users, [g for g, n in users.items() if n >= context.min_group_users]


def difference_interval(
    metric: RowsMetric,
    groups: np.ndarray,
    context: FairnessContext,
    resampled: GroupedFactory | None = None,
    *,
    supported: Sequence[str] | None = None,
    tested: int = 1,
) -> list[float] | None:
    """95% interval of the max-min gap, simultaneous over all pairs of ``supported`` groups.

    On each resample (users, or rows, resampled within groups) every group's metric moves
    away from its value on all rows; the largest pairwise change is the range of those moves.
    With c its 95th percentile, every pairwise difference, and so the largest one, lies
    within c of its estimate: the interval is [max(0, gap - c), gap + c]. ``supported``
    (default: every group) are the groups the gap is over. With ``tested`` attributes
    looked at together (the headline takes the largest gap of all of them), c is the
    100 - 5 / tested percentile instead (Bonferroni), so the interval of whichever gap turns
    out largest still holds 95% of the time.
    """
    (interval,) = gap_intervals(
        metric, groups, context, resampled, supported=supported, tested=(tested,)
    )
    return interval


def gap_intervals(
    metric: RowsMetric,
    groups: np.ndarray,
    context: FairnessContext,
    resampled: GroupedFactory | None = None,
    *,
    supported: Sequence[str] | None = None,
    tested: Sequence[int] = (1,),
) -> list[list[float] | None]:
    """:func:`difference_interval` for each count in ``tested``, from one set of resamples."""
    labels = np.asarray(groups).astype(str)
    names, codes = np.unique(labels, return_inverse=True)
    included = np.isin(names, list(names if supported is None else supported))
    by_group = (resampled or partial(mtrec.grouped_loop, metric))(codes, len(names))
    units = SamplingUnits.of(labels, context.user_ids)
    full = np.where(included, by_group(np.ones(len(labels))), np.nan)
    if np.isfinite(full).sum() < 2:
        return [None for _ in tested]
    gap = float(np.nanmax(full) - np.nanmin(full))
    # A resample of n units spreads a mean by sqrt((n - 1) / n) of its sampling spread; undo
    # that per group, which matters for the small groups that set the gap most often.
    users = np.bincount(np.unique(units.groups, return_inverse=True)[1], minlength=len(names))
    inflate = np.sqrt(users / np.maximum(users - 1, 1))

    def largest_change(picked_units: np.ndarray) -> float | None:
        moves = (by_group(units.weights(picked_units)) - full) * inflate
        moves = moves[np.isfinite(moves)]
        return float(moves.max() - moves.min()) if len(moves) >= 2 else None

    spread = mtrec.bootstrap(
        largest_change,
        units.count,
        resamples=context.bootstrap_resamples,
        seed=context.seed,
        strata=units.groups,
        keep=True,
    )
    if len(spread.values) < 2:
        return [None for _ in tested]
    bounds = np.percentile(spread.values, [100.0 - 5.0 / max(count, 1) for count in tested])
    return [[max(0.0, gap - float(c)), gap + float(c)] for c in bounds]


@dataclass(frozen=True, kw_only=True)
class SamplingUnits:
    """What a bootstrap resamples: users with all their test rows, or single rows.

    A user's rows share the user's tastes, so they are not independent draws; resampling rows
    would make intervals too narrow. Rows are the units only when there are no user ids or a
    user falls in more than one group (a row-level attribute).
    """

    count: int  # number of units
    groups: np.ndarray  # the group of each unit (bootstrap strata)
    unit_of_row: np.ndarray  # the unit each row belongs to

    @classmethod
    def of(cls, labels: np.ndarray, user_ids: np.ndarray | None) -> SamplingUnits:
        n = len(labels)
        by_row = cls(count=n, groups=labels, unit_of_row=np.arange(n))
        clusters = mtrec.Clusters.of(user_ids, n)
        if clusters.count == n:
            return by_row
        _, label_codes = np.unique(labels, return_inverse=True)
        pairs = np.unique(np.stack([clusters.unit_of_row, label_codes.reshape(-1)]), axis=1)
        if pairs.shape[1] != clusters.count:
            return by_row  # some user is in several groups
        return cls(
            count=clusters.count,
            groups=labels[clusters.first_row()],
            unit_of_row=clusters.unit_of_row,
        )

    def weights(self, units: np.ndarray) -> np.ndarray:
        """How often each row is drawn when these units are (a unit brings all its rows)."""
        drawn: np.ndarray = np.bincount(units, minlength=self.count)[self.unit_of_row]
        return drawn.astype(np.float64)

    def users_per_group(self, names: np.ndarray) -> dict[str, int]:
        """How many units (users) each group has."""
        present, counts = np.unique(self.groups, return_counts=True)
        found = dict(zip(present.tolist(), counts.tolist(), strict=True))
        return {str(g): int(found.get(g, 0)) for g in names.tolist()}


def group_gap(context: FairnessContext) -> dict[str, Any]:
    """Task -> attribute (and intersection) -> the primary metric's group figures."""
    features = sensitive_features(context)
    result: dict[str, Any] = {}
    for task, predictions in context.tasks.items():
        if predictions.task_type is TaskType.RANKING:
            result[task] = {
                attribute: ranking_group_gap(predictions, groups, attribute, context)
                for attribute, groups in features.items()
            }
            continue
        name = predictions.primary_metric
        metric = mtrec.exact_metric(predictions, name)
        resampled = partial(mtrec.grouped_metric, predictions, name)
        result[task] = {
            attribute: compare_groups(
                metric,
                groups,
                name=name,
                direction=mtrec.METRICS[name].direction,
                context=context,
                resampled=resampled,
            )
            for attribute, groups in features.items()
        }
    return result


# The per-user figures compared between groups of a ranking task besides its primary one.
RANKING_FIGURES = ("ndcg", "recall", "hr", "mrr")


def user_groups(
    predictions: TaskPredictions, groups: np.ndarray, context: FairnessContext
) -> np.ndarray | str:
    """The group of each ranked user (row of ``predictions``), read from the test rows;
    ``""`` for a user without test rows. A string (the reason) when the groups cannot be
    given to users: no user ids, or one user's rows in several groups."""
    if context.user_ids is None or predictions.user_ids is None:
        return "the run provided no user ids to give each ranked user a group"
    labels = np.asarray(groups).astype(str)
    row_users = np.asarray(context.user_ids)
    if len(row_users) != len(labels):
        return f"{len(labels)} group labels for {len(row_users)} test rows"
    pairs = np.unique(np.stack([row_users.astype(str), labels]), axis=1)
    users, counts = np.unique(pairs[0], return_counts=True)
    if (counts > 1).any():
        example = users[np.argmax(counts > 1)]
        return (
            f"user {example}'s test rows fall in several groups; a ranking task's rows are "
            "users, so each user needs one group"
        )
    group_of = dict(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))
    ranked = np.asarray(predictions.user_ids).astype(str)
    return np.array([group_of.get(user, "") for user in ranked.tolist()], dtype=str)


def ranking_group_gap(
    predictions: TaskPredictions, groups: np.ndarray, attribute: str, context: FairnessContext
) -> dict[str, Any]:
    """A ranking task's group figures for one attribute: users are the rows and the units."""
    info = predictions.ranking
    labels = user_groups(predictions, groups, context)
    if info is None or isinstance(labels, str):
        reason = labels if isinstance(labels, str) else "the task has no ranking info"
        return {"applicable": False, "reason": f"'{attribute}': {reason}"}
    known = np.flatnonzero(labels != "")
    if len(known) == 0:
        return {"applicable": False, "reason": f"'{attribute}': no ranked user has test rows"}
    ranked = predictions.take(known)
    users = replace(context, user_ids=np.asarray(ranked.user_ids))  # a row is a user
    figures = {}
    for name in dict.fromkeys(
        [predictions.primary_metric, *(f"{family}@{info.k}" for family in RANKING_FIGURES)]
    ):
        figures[name] = compare_groups(
            mtrec.exact_metric(ranked, name),
            labels[known],
            name=name,
            direction=mtrec.METRICS[name].direction,
            context=users,
            resampled=partial(mtrec.grouped_metric, ranked, name),
        )
    headline = figures.pop(predictions.primary_metric)
    return {
        **headline,
        "unit": "users",
        "users_without_group": int(len(labels) - len(known)),
        "other_metrics": figures,
    }


def context_gap(context: FairnessContext) -> dict[str, Any]:
    """Task -> context field (and pair of fields, ``a&b``) -> the primary metric per value.

    The same figures as :func:`group_gap`, with the scene of each test row
    (``FairnessContext.context``: time of day, device, ...) in place of the sensitive
    attributes: how well each task is served in each scene. A context value is a property of
    the row, not the user, so where a user's rows fall in several values the bootstrap
    resamples rows. Empty when the domain records no context.

    A ranking task's rows are users: a field applies where each user's test rows share one
    value of it; where no field does, the task is ``{"applicable": false, "reason": ...}``.
    """
    if not context.context:
        return {}
    result = group_gap(replace(context, sensitive=dict(context.context)))
    for task, fields in result.items():
        if context.tasks[task].task_type is TaskType.RANKING and all(
            figures.get("applicable") is False for figures in fields.values()
        ):
            result[task] = {
                "applicable": False,
                "reason": "a ranking task's rows are users and a scene belongs to a test row: "
                "no context field has one value per user",
            }
    return result


def _ratio(kept: dict[str, float], low: str | None, high: str | None) -> float | None:
    """Smallest over largest group value (fairlearn's between-groups ratio)."""
    if low is None or high is None or len(kept) < 2 or kept[high] == 0:
        return None
    return _finite(kept[low] / kept[high])


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    return [
        FairnessMetricSpec(
            name="group-gap",
            scope="group",
            compute=group_gap,
            description="per-group primary metric of each task, the max-min gap and its "
            "bootstrap interval, per attribute and intersection (fairlearn)",
        ),
        FairnessMetricSpec(
            name="context-gap",
            scope="group",
            compute=context_gap,
            description="per-scene primary metric of each task (time of day, device, ...): "
            "group-gap's figures over the domain's context fields instead of sensitive "
            "attributes",
        ),
    ]
