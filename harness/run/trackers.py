"""Tracker sinks: every finished record of a sweep, also sent to an experiment tracker.

A tracker is a plugin kind (hook ``mtrec_register_trackers``). A suite turns trackers on with
``trackers: [tensorboard, mlflow]`` (or ``mtrec run --tracker NAME``); unknown names and
trackers whose optional extra is missing are input errors found before anything runs. During
the sweep each finished record goes to every enabled tracker right after it is written to
``results.json``; a tracker that raises is reported as a warning and never fails the sweep.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mtrec.contracts import SweepReporter, TrackerContext, TrackerSpec
from mtrec.errors import UsageError

if TYPE_CHECKING:
    from mtrec.contracts import Combination
    from mtrec.registry import Registry

# Sections of a record whose numeric leaves become scalars ("metrics/click/auc", ...).
SCALAR_SECTIONS = ("metrics", "efficiency", "fairness", "summary")


def check_trackers(names: Sequence[str], registry: Registry[TrackerSpec]) -> list[TrackerSpec]:
    """The trackers a suite names, each one known and usable here; UsageError otherwise."""
    specs = []
    for name in dict.fromkeys(names):
        spec = registry.get(name)  # unknown: did-you-mean error
        reason = spec.available()
        if reason is not None:
            provider = registry.entry(name).provider.describe()
            raise UsageError(f"trackers: '{name}' ({provider}) cannot run here: {reason}")
        specs.append(spec)
    return specs


def with_trackers(
    reporter: SweepReporter, trackers: Sequence[TrackerSpec], context: TrackerContext
) -> SweepReporter:
    """``reporter``, also sending each finished record to ``trackers`` (itself if none)."""
    return _TrackingReporter(reporter, trackers, context) if trackers else reporter


class _TrackingReporter:
    def __init__(
        self, inner: SweepReporter, trackers: Sequence[TrackerSpec], context: TrackerContext
    ) -> None:
        self.inner = inner
        self.trackers = list(trackers)
        self.context = context

    def sweep_started(self, total: int) -> None:
        self.inner.sweep_started(total)

    def combination_started(self, combination: Combination) -> None:
        self.inner.combination_started(combination)

    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None:
        self.inner.epoch_finished(epoch, train_loss, score)

    def combination_finished(self, record: dict[str, Any]) -> None:
        for tracker in self.trackers:
            try:
                tracker.log_record(self.context, record)
            except Exception as exc:
                warnings.warn(
                    f"tracker '{tracker.name}' could not log {record.get('key')}: "
                    f"{type(exc).__name__}: {exc}",
                    stacklevel=2,
                )
        self.inner.combination_finished(record)


# --------------------------------------------------------------------------------------
# what trackers log: shared by the built-ins, there for third-party trackers too
# --------------------------------------------------------------------------------------


def combination_name(record: Mapping[str, Any]) -> str:
    return (
        f"{record.get('backbone')} x {record.get('head_set')} x {record.get('domain')} "
        f"(seed {record.get('seed')})"
    )


def record_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """Every finite number of a record's metrics, efficiency, fairness and summary, keyed by
    its path ("metrics/click/auc", "efficiency/latency_ms/1/p50"); lists (raw latency
    samples, intervals) are left out."""
    scalars: dict[str, float] = {}
    for section in SCALAR_SECTIONS:
        scalars.update(_numbers(record.get(section), section))
    return scalars


def epoch_scalars(record: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, float]]]:
    """(epoch, scalars) for each training epoch: loss, validation score, per-task losses."""
    for entry in (record.get("training") or {}).get("history") or []:
        values = {
            "train/loss": entry.get("train_loss"),
            "validation/score": entry.get("validation_score"),
            # Not "train/loss/TASK": a file store keeps metric names as paths, and one name
            # cannot be both a file and a folder.
            **{f"train/task_loss/{t}": v for t, v in (entry.get("task_losses") or {}).items()},
        }
        yield int(entry.get("epoch", 0)), {k: float(v) for k, v in values.items() if _finite(v)}


def record_params(record: Mapping[str, Any]) -> dict[str, str]:
    """Identity and recipe of a record as flat strings (what trackers call parameters)."""
    params = {
        name: str(record.get(name))
        for name in ("key", "backbone", "head_set", "domain", "seed", "status")
    }
    training = (record.get("config") or {}).get("training") or {}
    params.update({f"training.{k}": str(v) for k, v in sorted(training.items())})
    return params


def _numbers(value: Any, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _numbers(inner, f"{path}/{key}")
    elif _finite(value):
        yield path, float(value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
