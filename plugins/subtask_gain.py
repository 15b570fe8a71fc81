"""``subtask-gain``: what each task gains or loses from sharing the backbone with the others.

For every task t of a multi-task combination, its primary metric N_t is compared with the
same task trained alone (same backbone, domain and budget; one run per baseline seed, B_t is
their mean), with the metric's direction s_t (+1 when higher is better):

* per-task gain ``D_t = 100 * s_t * (N_t - B_t) / |B_t|``; ``dm`` = mean of D_t
* ``d_min`` = the worst task's gain; ``negative_transfer`` = tasks with D_t below -2 standard
  errors (``se``)
* spread: ``range`` and ``mean_abs_pairwise_gap`` of D_t; ``jain``: Jain's index of the ratios
  r_t (N_t / B_t, or B_t / N_t when lower is better), 1 when every task fares alike
* ``ci``: a 95% interval of D_t, computed from the saved predictions, holding two sources of
  uncertainty. The test users: a paired cluster bootstrap draws users (each with all their
  test rows, which share the user's tastes and are no independent draws), and scores the
  multi-task run and the baselines on the same draw. The training seed: with two or more
  baseline seeds their spread on the same test rows is pure seed noise; the multi-task run is
  one seed of the same kind and the baseline a mean of B, so the gain varies by
  ``seed_sd * sqrt(1 + 1/B)`` (the multi-task run's seed spread taken to equal the
  baselines'). Each resample adds a normal draw of that size; ``se`` combines both and
  ``seed_se`` is the seed part (null with one baseline seed: the interval then reflects the
  test users only).

A ranking task's baseline is a single-task ranking model: its rows are users, as the
multi-task run's are. The runs are lined up by user id (:func:`aligned_users`; with identical
candidates they rank the same users) and compared on the users all of them ranked
(``users``; ``users_left_out`` counts the others); every row is one user, so the bootstrap
draws users directly. A task whose runs cannot be lined up (no user ids, or no user in
common) is listed under ``skipped`` with the reason instead of a gain.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import mtrec
from mtrec import FairnessContext, FairnessMetricSpec, TaskPredictions, TaskType, hookimpl

if TYPE_CHECKING:
    from mtrec import Clusters, Interval


def gain(value: float, baseline: float, direction: int) -> float | None:
    """D_t in percent; None when the baseline is zero or a figure is not finite."""
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline == 0:
        return None
    return 100.0 * direction * (value - baseline) / abs(baseline)


def ratio(value: float, baseline: float, direction: int) -> float | None:
    """r_t, oriented so that above 1 means the multi-task model is better."""
    top, bottom = (value, baseline) if direction > 0 else (baseline, value)
    if not (math.isfinite(top) and math.isfinite(bottom)) or bottom == 0:
        return None
    return top / bottom


def jain_index(values: Sequence[float]) -> float | None:
    """(sum x)^2 / (n * sum x^2): 1 when all are equal, 1/n when one takes everything."""
    array = np.asarray(values, dtype=np.float64)
    if len(array) == 0 or not np.any(array):
        return None
    return float(array.sum() ** 2 / (len(array) * np.square(array).sum()))


def aligned_users(
    multi: TaskPredictions, baselines: Sequence[TaskPredictions]
) -> tuple[TaskPredictions, list[TaskPredictions], int] | str:
    """A ranking task's runs on the users all of them ranked, in the multi-task run's order,
    and how many of its users were left out; a string (the reason) when they cannot be
    lined up."""
    if multi.user_ids is None or any(b.user_ids is None for b in baselines):
        return "a ranking run has no user ids to line the runs up by"
    mine = np.asarray(multi.user_ids)
    shared = np.ones(len(mine), dtype=bool)
    for baseline in baselines:
        shared &= np.isin(mine, np.asarray(baseline.user_ids))
    if not shared.any():
        return "the multi-task run and its baselines ranked no user in common"
    rows = np.flatnonzero(shared)
    lined_up = []
    for baseline in baselines:
        theirs = np.asarray(baseline.user_ids)
        order = np.argsort(theirs, kind="stable")
        lined_up.append(baseline.take(order[np.searchsorted(theirs[order], mine[rows])]))
    return multi.take(rows), lined_up, int(len(mine) - len(rows))


def task_gain(
    multi: TaskPredictions,
    baselines: Sequence[TaskPredictions],
    *,
    resamples: int,
    seed: int,
    user_ids: np.ndarray | None = None,
) -> dict[str, Any]:
    """D_t of one task, with its interval and standard error (users resampled, seeds added).

    A ranking task's runs must be lined up by user first (:func:`aligned_users`); its rows
    are users, so ``user_ids`` (of test rows) is not read."""
    ranked = multi.task_type is TaskType.RANKING
    if ranked:
        user_ids = None  # each row is one user already
    metric = mtrec.METRICS[multi.primary_metric]
    value = metric.compute(multi)
    per_seed = [metric.compute(b) for b in baselines]
    baseline = float(np.mean(per_seed))
    d = gain(value, baseline, metric.direction)
    seed_se = None
    if len(per_seed) > 1 and baseline != 0 and d is not None:
        spread = float(np.std(per_seed, ddof=1)) * math.sqrt(1.0 + 1.0 / len(per_seed))
        seed_se = 100.0 * spread / abs(baseline)
    users = mtrec.Clusters.of(user_ids, len(multi.y_true))
    interval = _gain_interval(
        multi, baselines, resamples=resamples, seed=seed, clusters=users, seed_se=seed_se
    )
    return {
        "metric": metric.name,
        "direction": "higher" if metric.direction > 0 else "lower",
        "baseline": baseline,
        "baseline_by_seed": per_seed,
        "multi_task": value,
        "gain": d,
        "ratio": ratio(value, baseline, metric.direction),
        "se": interval.se,
        "seed_se": seed_se,
        "ci": interval.as_list(),
        "resampled": "users" if ranked or users.count < users.rows else "rows",
        "negative_transfer": bool(
            d is not None and interval.se is not None and d < -2.0 * interval.se
        ),
    }


def _gain_interval(
    multi: TaskPredictions,
    baselines: Sequence[TaskPredictions],
    *,
    resamples: int,
    seed: int,
    clusters: Clusters,
    seed_se: float | None,
) -> Interval:
    """Paired cluster bootstrap of D_t over users, each resample shifted by seed noise."""
    metric = mtrec.METRICS[multi.primary_metric]
    multi_on = mtrec.weighted_metric(multi, metric.name)
    baselines_on = [mtrec.weighted_metric(b, metric.name) for b in baselines]

    def on_users(users: np.ndarray) -> float | None:
        weights = clusters.weights(users)
        base = float(np.mean([on(weights) for on in baselines_on]))
        return gain(multi_on(weights), base, metric.direction)

    sampled = mtrec.bootstrap(on_users, clusters.count, resamples=resamples, seed=seed, keep=True)
    if seed_se is None or not sampled.values:
        return sampled
    noise = np.random.default_rng([seed, 1]).normal(0.0, seed_se, len(sampled.values))
    return mtrec.percentile_interval(sampled.estimate, list(np.asarray(sampled.values) + noise))


def subtask_gain(context: FairnessContext) -> dict[str, Any]:
    if not context.baselines:
        return {
            "applicable": False,
            "reason": "no single-task baselines (one-task head set, trivial backbone, "
            "or fairness.baseline_seeds: 0)",
        }
    tasks: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for task, predictions in context.tasks.items():
        if task not in context.baselines:
            continue
        baselines = list(context.baselines[task])
        left_out = None
        if predictions.task_type is TaskType.RANKING:
            lined_up = aligned_users(predictions, baselines)
            if isinstance(lined_up, str):
                skipped[task] = lined_up
                continue
            predictions, baselines, left_out = lined_up
        tasks[task] = task_gain(
            predictions,
            baselines,
            resamples=context.bootstrap_resamples,
            seed=context.seed,
            user_ids=context.user_ids,
        )
        if left_out is not None:
            tasks[task]["users"] = len(predictions.y_pred)
            tasks[task]["users_left_out"] = left_out
    gains = {task: t["gain"] for task, t in tasks.items() if t["gain"] is not None}
    values = list(gains.values())
    ratios = [t["ratio"] for t in tasks.values() if t["ratio"] is not None]
    pairs = list(itertools.combinations(values, 2))
    return {
        "baseline_seeds": len(next(iter(context.baselines.values()))),
        "tasks": tasks,
        "dm": float(np.mean(values)) if values else None,
        "d_min": min(values) if values else None,
        "worst_task": min(gains, key=gains.__getitem__) if gains else None,
        "range": max(values) - min(values) if values else None,
        "mean_abs_pairwise_gap": (
            float(np.mean([abs(a - b) for a, b in pairs])) if pairs else 0.0 if values else None
        ),
        "jain": jain_index(ratios),
        "negative_transfer": [task for task, t in tasks.items() if t["negative_transfer"]],
        "skipped": skipped,
    }


@hookimpl
def mtrec_register_fairness_metrics() -> list[FairnessMetricSpec]:
    return [
        FairnessMetricSpec(
            name="subtask-gain",
            scope="subtask",
            compute=subtask_gain,
            description="each task's gain over the same task trained alone; worst task, "
            "negative transfer, spread and Jain's index",
            needs=("baselines",),
        )
    ]
