"""Input ablations: what the scene and the history are worth, with intervals over users.

A suite can list one backbone with and without context or history (its ``input`` block per
backbone entry). Two ok records of a run that differ only in their input options (same
backbone, head set, domain, seed, training and measurement settings) form an ablation pair
when one reads at least everything the other does (context on vs off, more history vs less):
the *fuller* and the *reduced* input. Per task, the gain is the fuller record's primary
metric minus the reduced one's, signed so that positive means the fuller input serves the task
better, with a paired 95% bootstrap interval: users are resampled (a drawn user brings all
their test rows, in both records at once), and both records are scored on the same resample.

Everything is recomputed from the saved prediction files (``predictions/KEY/TASK.csv``), so
the figures can be checked against them independently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtrec.measure.bootstrap import DEFAULT_RESAMPLES, Clusters, bootstrap
from mtrec.measure.predictions import aligned_predictions, read_user_ids
from mtrec.measure.resampled import weighted_metric
from mtrec.measure.tasks import METRICS


def input_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """A record's input options ({"context", "history"}); None for a record from before."""
    found = record.get("input") or (record.get("config") or {}).get("input")
    if not isinstance(found, Mapping) or "context" not in found or "history" not in found:
        return None
    return {"context": bool(found["context"]), "history": found["history"]}


def reads_at_least(fuller: Mapping[str, Any], reduced: Mapping[str, Any]) -> bool:
    """Whether input ``fuller`` renders everything ``reduced`` does (and so may add to it)."""

    def depth(history: Any) -> float:
        return math.inf if history is None else float(history)

    return fuller["context"] >= reduced["context"] and depth(fuller["history"]) >= depth(
        reduced["history"]
    )


def _identity(record: Mapping[str, Any]) -> str:
    """Everything of a record's config but its input options."""
    config = {k: v for k, v in (record.get("config") or {}).items() if k != "input"}
    return json.dumps(config, sort_keys=True, default=str)


def ablation_pairs(
    records: Sequence[Mapping[str, Any]],
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(fuller, reduced) pairs of ok records that differ only in their input options."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("status") == "ok" and input_of(record) is not None:
            groups.setdefault(_identity(record), []).append(record)
    pairs = []
    for members in groups.values():
        for fuller in members:
            for reduced in members:
                a, b = input_of(fuller), input_of(reduced)
                if a is not None and b is not None and a != b and reads_at_least(a, b):
                    pairs.append((fuller, reduced))
    return pairs


def input_ablations(
    document: Mapping[str, Any], run_dir: Path, *, resamples: int | None = None
) -> list[dict[str, Any]]:
    """Every ablation pair of the run with its per-task gains (see the module doc)."""
    return [
        _ablation(fuller, reduced, run_dir, resamples)
        for fuller, reduced in ablation_pairs(document.get("records") or [])
    ]


def _ablation(
    fuller: Mapping[str, Any], reduced: Mapping[str, Any], run_dir: Path, resamples: int | None
) -> dict[str, Any]:
    fairness = (fuller.get("config") or {}).get("fairness") or {}
    count = resamples if resamples is not None else fairness.get("bootstrap_resamples")
    count = DEFAULT_RESAMPLES if count is None else int(count)
    seed = int(fuller.get("seed") or 0)
    tasks = {}
    for task in fuller.get("tasks") or {}:
        if task in (reduced.get("tasks") or {}):
            figures = task_gain(run_dir, fuller, reduced, task, resamples=count, seed=seed)
            if figures is not None:
                tasks[task] = figures
    return {
        "fuller": str(fuller.get("key")),
        "reduced": str(reduced.get("key")),
        "fuller_input": input_of(fuller),
        "reduced_input": input_of(reduced),
        "backbone": str(fuller.get("backbone")),
        "head_set": str(fuller.get("head_set")),
        "domain": str(fuller.get("domain")),
        "seed": seed,
        "tasks": tasks,
    }


def task_gain(
    run_dir: Path,
    fuller: Mapping[str, Any],
    reduced: Mapping[str, Any],
    task: str,
    *,
    resamples: int,
    seed: int,
) -> dict[str, Any] | None:
    """The fuller input's gain on one task with its paired user-bootstrap interval; None when
    the prediction files are missing or the two records' test rows do not pair up."""
    pair = aligned_predictions((run_dir, reduced), (run_dir, fuller), task)
    if pair is None:
        return None
    before, after = pair
    name = after.primary_metric
    metric = METRICS[name]
    users = Clusters.of(_user_ids(run_dir, reduced, task, len(before.y_true)), len(before.y_true))
    before_on = weighted_metric(before, name)
    after_on = weighted_metric(after, name)

    def gain(units: np.ndarray) -> float | None:
        weights = users.weights(units)
        a, b = after_on(weights), before_on(weights)
        if not (math.isfinite(a) and math.isfinite(b)):
            return None
        return metric.direction * (a - b)

    interval = bootstrap(gain, users.count, resamples=resamples, seed=seed)
    fuller_value, reduced_value = (
        after_on(np.ones(len(after.y_true))),
        before_on(np.ones(len(before.y_true))),
    )
    estimate = None if math.isnan(interval.estimate) else interval.estimate
    bounds = interval.as_list()
    return {
        "metric": name,
        "direction": "higher" if metric.direction > 0 else "lower",
        "fuller": _finite(fuller_value),
        "reduced": _finite(reduced_value),
        "gain": estimate,
        "interval": bounds,
        "significant": bool(bounds is not None and (bounds[0] > 0 or bounds[1] < 0)),
        "users": users.count,
    }


def _user_ids(run_dir: Path, record: Mapping[str, Any], task: str, n: int) -> np.ndarray | None:
    """The user of each row of a record's prediction file (None without a user column).

    The rows :func:`aligned_predictions` pairs are those of the first record in file order
    when both files hold the same rows (one run, one test split), which they do here.
    """
    users = read_user_ids(run_dir, record, task)
    return None if users is None or len(users) != n else np.asarray(users)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
