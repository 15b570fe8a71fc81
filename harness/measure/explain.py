"""Faithfulness of explanations, from attributions and re-predictions alone (numpy).

Everything here reads what :mod:`mtrec.run.explain` saves under
``predictions/KEY/explanations/TASK.json``: per sampled row its units' segments, each
explainer's attribution and the head's explained score as the top-attributed units are
removed (deletion) or added to an empty input (insertion) along :data:`FRACTIONS`. So every
figure of a report can be recomputed from the files.

Per row, with s(x) the explained score on the full input:

* deletion AUC: area under s(x without the top-k% units) over k in [0, 1]; lower is more
  faithful (the score falls fast when the units said to matter go);
* insertion AUC: area under s(only the top-k% units) over k; higher is more faithful;
* comprehensiveness (ERASER): mean over k in :data:`ERASER_FRACTIONS` of
  s(x) - s(x without the top-k%); higher is more faithful;
* sufficiency (ERASER): mean over the same k of s(x) - s(only the top-k%); lower is more
  faithful;
* segment shares: each segment's part of the row's absolute attribution mass;
* rank agreement of two explainers: Spearman correlation of their attributions over the row's
  units.

Each is averaged over the sampled rows with a bootstrap interval (rows resampled), and every
explainer is compared with the random reference on the same rows (a paired difference with
its interval: explainer minus random).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mtrec.measure.bootstrap import bootstrap, paired_difference

# Fractions of a row's units removed / kept along the curves; 0 and 1 are the full and the
# empty input. The ERASER bins (1, 5, 10, 20, 50 %) are among them.
FRACTIONS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
ERASER_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
SEGMENTS = ("context", "user", "item")
SPECIAL = "special"

# metric -> "higher" or "lower" is more faithful
DIRECTIONS: Mapping[str, str] = {
    "deletion_auc": "lower",
    "insertion_auc": "higher",
    "comprehensiveness": "higher",
    "sufficiency": "lower",
}


def top_units(attribution: np.ndarray, eligible: np.ndarray, fraction: float) -> np.ndarray:
    """The top ``fraction`` of the eligible units by attribution (ties: earlier unit first),
    as a mask; ceil(fraction * eligible), so any fraction above 0 takes at least one unit."""
    candidates = np.flatnonzero(eligible)
    count = min(len(candidates), math.ceil(round(fraction * len(candidates), 9)))
    order = candidates[np.argsort(-np.asarray(attribution)[candidates], kind="stable")]
    mask: np.ndarray = np.zeros(len(eligible), dtype=bool)
    mask[order[:count]] = True
    return mask


def deletion_keep(attribution: np.ndarray, eligible: np.ndarray, fraction: float) -> np.ndarray:
    """Units kept on the deletion curve at ``fraction``: all but the top ones (special units
    are always kept)."""
    return ~top_units(attribution, eligible, fraction)


def insertion_keep(attribution: np.ndarray, eligible: np.ndarray, fraction: float) -> np.ndarray:
    """Units kept on the insertion curve at ``fraction``: the top ones and the special units."""
    kept: np.ndarray = top_units(attribution, eligible, fraction) | ~np.asarray(eligible)
    return kept


def curve_auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at :data:`FRACTIONS` (trapezoids)."""
    grid = np.asarray(FRACTIONS)
    values = np.asarray(curve, dtype=np.float64)
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(grid)))


def eraser(full: float, curve: np.ndarray) -> float:
    """Mean of s(x) - curve at the ERASER fractions: comprehensiveness on the deletion curve,
    sufficiency on the insertion curve."""
    at = [FRACTIONS.index(fraction) for fraction in ERASER_FRACTIONS]
    return float(np.mean([full - float(curve[index]) for index in at]))


def row_metrics(full: float, deletion: np.ndarray, insertion: np.ndarray) -> dict[str, float]:
    """The four faithfulness figures of one row and one explainer."""
    return {
        "deletion_auc": curve_auc(deletion),
        "insertion_auc": curve_auc(insertion),
        "comprehensiveness": eraser(full, deletion),
        "sufficiency": eraser(full, insertion),
    }


def segment_shares(attribution: np.ndarray, segments: Sequence[str]) -> dict[str, float] | None:
    """Each segment's part of the row's absolute attribution (None: no mass at all)."""
    magnitude = np.abs(np.asarray(attribution, dtype=np.float64))
    labels = np.asarray(segments)
    total = float(magnitude[labels != SPECIAL].sum())
    if not math.isfinite(total) or total <= 0:
        return None
    return {segment: float(magnitude[labels == segment].sum()) / total for segment in SEGMENTS}


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman correlation (average ranks for ties); None when either is constant."""
    a, b = _ranks(np.asarray(first, dtype=np.float64)), _ranks(np.asarray(second, np.float64))
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):  # ties share their average rank
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


SEPARATORS = frozenset(',:;.()!?|"')  # units made of these alone are words of their own


def word_mask(
    units: Sequence[str], space_before: Sequence[bool], words: frozenset[str] | set[str]
) -> np.ndarray:
    """Which units belong to one of ``words``: units are joined into words where no space
    precedes them (word pieces), punctuation units (:data:`SEPARATORS`) standing alone; a
    word counts when, lower-cased, it is one of ``words``."""
    wanted = {word.lower() for word in words}
    mask: np.ndarray = np.zeros(len(units), dtype=bool)

    def separate(index: int) -> bool:
        return bool(units[index].strip()) and set(units[index].strip()) <= SEPARATORS

    start = 0
    for index in range(1, len(units) + 1):
        if index == len(units) or space_before[index] or separate(index) or separate(index - 1):
            word = "".join(units[start:index]).strip().lower()
            mask[start:index] = word in wanted
            start = index
    return mask


def planted_share(attribution: np.ndarray, mask: np.ndarray) -> float:
    """The part of a row's positive attribution that falls on the masked units (0 without
    any positive attribution)."""
    values = np.clip(np.asarray(attribution, dtype=np.float64), 0, None)
    total = float(values.sum())
    if not math.isfinite(total) or total <= 0:
        return 0.0
    return float(values[mask].sum()) / total


# -- one task's saved explanations -> its figures ----------------------------------------


def task_figures(saved: Mapping[str, Any], *, resamples: int, seed: int) -> dict[str, Any]:
    """Every figure of one task from its saved explanations (the ``TASK.json`` content).

    Returns ``{"rows": n, "reference": NAME or None, "explainers": {NAME: {METRIC: {estimate,
    interval, direction, vs_random: {estimate, interval}}, "segment_shares": {SEGMENT: share},
    "seconds_per_row": s}}, "agreement": {"A~B": {estimate, interval, rows}}}``.
    """
    rows = saved["rows"]
    names = list(saved["explainers"])
    reference = saved.get("reference")
    n = len(rows)
    per_row = {name: _per_row_metrics(rows, name) for name in names}
    explainers: dict[str, Any] = {}
    for name in names:
        figures: dict[str, Any] = {}
        for metric, direction in DIRECTIONS.items():
            own = per_row[name][metric]
            interval = bootstrap(_mean_of(own), n, resamples=resamples, seed=seed)
            figure: dict[str, Any] = {
                "estimate": interval.estimate,
                "interval": interval.as_list(),
                "direction": direction,
            }
            if reference is not None and name != reference:
                difference = paired_difference(
                    _mean_of(per_row[reference][metric]),
                    _mean_of(own),
                    n,
                    resamples=resamples,
                    seed=seed,
                )
                figure["vs_random"] = {
                    "estimate": difference.estimate,
                    "interval": difference.as_list(),
                }
            figures[metric] = figure
        figures["segment_shares"] = _mean_shares(rows, name)
        figures["seconds_per_row"] = float(saved["seconds"][name]) / max(n, 1)
        explainers[name] = figures
    agreement: dict[str, Any] = {}
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            correlations = _agreements(rows, first, second)
            if not len(correlations):
                continue
            interval = bootstrap(
                _mean_of(correlations), len(correlations), resamples=resamples, seed=seed
            )
            agreement[f"{first}~{second}"] = {
                "estimate": interval.estimate,
                "interval": interval.as_list(),
                "rows": len(correlations),
            }
    return {"rows": n, "reference": reference, "explainers": explainers, "agreement": agreement}


def _mean_of(values: np.ndarray) -> Callable[[np.ndarray], float]:
    return lambda rows: float(values[rows].mean())


def _per_row_metrics(rows: Sequence[Mapping[str, Any]], name: str) -> dict[str, np.ndarray]:
    collected: dict[str, list[float]] = {metric: [] for metric in DIRECTIONS}
    for row in rows:
        entry = row["explainers"][name]
        figures = row_metrics(
            float(row["score"]), np.asarray(entry["deletion"]), np.asarray(entry["insertion"])
        )
        for metric, value in figures.items():
            collected[metric].append(value)
    return {metric: np.asarray(values) for metric, values in collected.items()}


def _mean_shares(rows: Sequence[Mapping[str, Any]], name: str) -> dict[str, float | None]:
    shares = [
        share
        for row in rows
        if (
            share := segment_shares(
                np.asarray(row["explainers"][name]["attribution"]), row["segments"]
            )
        )
        is not None
    ]
    return {
        segment: float(np.mean([share[segment] for share in shares])) if shares else None
        for segment in SEGMENTS
    }


def _agreements(rows: Sequence[Mapping[str, Any]], first: str, second: str) -> np.ndarray:
    """Per row, the Spearman correlation of two explainers (rows where it is undefined left
    out)."""
    values: list[float] = []
    for row in rows:
        eligible = np.asarray(row["segments"]) != SPECIAL
        value = spearman(
            np.asarray(row["explainers"][first]["attribution"])[eligible],
            np.asarray(row["explainers"][second]["attribution"])[eligible],
        )
        if value is not None and math.isfinite(value):
            values.append(value)
    return np.asarray(values)
