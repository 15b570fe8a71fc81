"""Splits and assembly: random and temporal splits, earlier-rows history, and DomainData.

A domain plugin subsamples its rows, assigns each to train/validation/test, draws every row's
history from strictly earlier rows that hold no held-out label, and cuts the rows into a
:class:`~mtrec.specs.DomainData` whose labels are checked against their fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtrec.datasets.errors import DatasetError
from mtrec.datasets.manifest import Manifest
from mtrec.errors import UsageError
from mtrec.specs import DomainData, DomainSplit, LabelField, TaskType

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "validation", "test")
SPLIT_PROTOCOLS = ("random", "temporal")


def subsample(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``max_rows`` rows (all rows if None)."""
    if max_rows is None or max_rows >= n:
        return np.arange(n, dtype=np.int64)
    if max_rows < 1:
        raise UsageError(f"max_interactions must be >= 1, got {max_rows}")
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(n, size=max_rows, replace=False)).astype(np.int64)


def split_assignment(
    protocol: str,
    user_ids: np.ndarray,
    timestamps: np.ndarray,
    *,
    seed: int,
    fractions: tuple[float, float, float],
) -> np.ndarray:
    """TRAIN/VALIDATION/TEST (0/1/2) per row.

    ``random``: a seeded permutation cut at the manifest's fractions (e.g. 80/10/10).
    ``temporal``: per-user leave-last-out: a user's last interaction (by time, then row order)
    is test, the one before it validation, the rest train; users with two interactions give
    their last to test, users with one keep it in train.
    """
    n = len(user_ids)
    assignment = np.zeros(n, dtype=np.int8)
    if protocol == "random":
        order = np.random.default_rng([seed, 2]).permutation(n)
        n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
        assignment[order[n - n_val - n_test : n - n_test]] = VALIDATION
        assignment[order[n - n_test :]] = TEST
        return assignment
    if protocol != "temporal":
        raise UsageError(f"split must be one of {', '.join(SPLIT_PROTOCOLS)}, got {protocol!r}")
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    users = user_ids[order]
    is_last = np.append(users[1:] != users[:-1], True)
    is_first = np.insert(users[1:] != users[:-1], 0, True)
    count = np.diff(np.append(np.flatnonzero(is_first), n))
    per_row_count = np.repeat(count, count)
    assignment[order[is_last & (per_row_count >= 2)]] = TEST
    second_last = np.append(is_last[1:], False) & (per_row_count >= 3)
    assignment[order[second_last]] = VALIDATION
    return assignment


def earlier_rows(
    user_ids: np.ndarray, timestamps: np.ndarray, assignment: np.ndarray, max_history: int
) -> list[np.ndarray]:
    """Per row, the same user's most recent earlier rows (oldest first, at most ``max_history``).

    Strictly earlier in time: rows with the same timestamp are never history. Training rows
    draw history from training rows only; validation and test rows from training and validation
    rows. So no row's input ever holds a test label, and no training input a held-out label.
    """
    n = len(user_ids)
    empty = np.zeros(0, dtype=np.int64)
    history: list[np.ndarray] = [empty] * n
    if max_history <= 0 or n == 0:
        return history
    order = np.lexsort((np.arange(n), timestamps, user_ids))
    for target_mask, pool_mask in (
        (assignment == TRAIN, assignment == TRAIN),
        (assignment != TRAIN, assignment != TEST),
    ):
        pool = order[pool_mask[order]]
        targets = order[target_mask[order]]
        if not len(pool) or not len(targets):
            continue
        pool_users, pool_first = np.unique(user_ids[pool], return_index=True)
        pool_end = np.append(pool_first[1:], len(pool))
        segments = {
            u: (s, e)
            for u, s, e in zip(
                pool_users.tolist(), pool_first.tolist(), pool_end.tolist(), strict=True
            )
        }
        target_users, target_first = np.unique(user_ids[targets], return_index=True)
        target_end = np.append(target_first[1:], len(targets))
        for user, a, b in zip(
            target_users.tolist(), target_first.tolist(), target_end.tolist(), strict=True
        ):
            if user not in segments:
                continue
            s, e = segments[user]
            rows = pool[s:e]
            wanted = targets[a:b]
            counts = np.searchsorted(timestamps[rows], timestamps[wanted], side="left")
            for row, k in zip(wanted.tolist(), counts.tolist(), strict=True):
                if k:
                    history[row] = rows[max(0, k - max_history) : k]
    return history


def activity_groups(user_ids: np.ndarray, activity: np.ndarray | None = None) -> np.ndarray:
    """Per row: 'active' if the row's user is more active than 80% of users, else 'inactive'.

    ``activity`` is a per-row measure of the user's activity (e.g. history length); by default
    the user's number of rows. A behavioural, non-demographic grouping for datasets without
    demographics, after user-oriented fairness work that contrasts the most active users with
    the rest.
    """
    users, inverse = np.unique(user_ids, return_inverse=True)
    if activity is None:
        per_user = np.bincount(inverse, minlength=len(users)).astype(np.float64)
    else:
        per_user = np.zeros(len(users), dtype=np.float64)
        np.maximum.at(per_user, inverse, np.asarray(activity, dtype=np.float64))
    threshold = np.quantile(per_user, 0.8) if len(users) else 0.0
    active = per_user > threshold
    return np.where(active[inverse], "active", "inactive").astype(object)


def dense_ids(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Dense int64 ids for arbitrary keys, in order of first appearance, and the keys."""
    index: dict[Any, int] = {}
    dense = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64)
    return dense, list(index)


def check_loader_options(
    domain: str, split: str, max_history: int, max_interactions: int | None
) -> None:
    """The options every real-data loader shares; a bad value is a UsageError naming it."""
    if split not in SPLIT_PROTOCOLS:
        raise UsageError(
            f"{domain}: option split must be {' or '.join(SPLIT_PROTOCOLS)}, got {split!r}"
        )
    for name, value, low in (
        ("max_history", max_history, 0),
        ("max_interactions", max_interactions, 1),
    ):
        if value is None and name == "max_interactions":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(f"{domain}: option {name} must be an integer >= {low}, got {value!r}")


def _check_labels(origin: str, name: str, values: np.ndarray, fld: LabelField, n: int) -> None:
    def fail(problem: str) -> DatasetError:
        return DatasetError(f"{origin}: label '{name}': {problem}")

    if len(values) != n:
        raise fail(f"{len(values)} values for {n} rows")
    if fld.task_type is TaskType.REGRESSION:
        if not np.all(np.isfinite(values)):
            raise fail("values must be finite")
    elif fld.task_type is TaskType.BINARY:
        if not np.isin(values, (0, 1)).all():
            raise fail("binary labels must be 0 or 1")
    elif fld.task_type is TaskType.MULTICLASS:
        if len(values) and (values.min() < 0 or values.max() >= len(fld.classes)):
            raise fail(f"class index outside [0, {len(fld.classes) - 1}]")
    elif (
        values.ndim != 2 or values.shape[1] != len(fld.classes) or not np.isin(values, (0, 1)).all()
    ):
        raise fail(f"multilabel labels must be a 0/1 matrix with {len(fld.classes)} columns")


@dataclass(frozen=True, kw_only=True)
class Interactions:
    """Every row of a loaded dataset, column-oriented, before it is cut into splits."""

    ids: np.ndarray  # int64, unique
    user_ids: np.ndarray  # int64
    item_ids: np.ndarray  # int64
    user_text: Sequence[str]
    item_text: Sequence[str]
    labels: Mapping[str, np.ndarray]
    sensitive: Mapping[str, np.ndarray]
    label_fields: Mapping[str, LabelField] = field(default_factory=dict)
    context: Mapping[str, np.ndarray] = field(default_factory=dict)  # field -> str per row
    history: Sequence[Sequence[str]] = ()  # per row, earlier interactions newest first
    timestamps: np.ndarray | None = None  # int64 seconds since the epoch per row


def assemble_domain(rows: Interactions, assignment: np.ndarray, *, origin: str) -> DomainData:
    """Cut rows into train/validation/test; an empty split or a bad label is a DatasetError."""
    n = len(rows.ids)
    for name, fld in rows.label_fields.items():
        _check_labels(origin, name, np.asarray(rows.labels[name]), fld, n)
    if len(np.unique(rows.ids)) != n:
        raise DatasetError(f"{origin}: interaction ids are not unique")
    splits: list[DomainSplit] = []
    for code, split_name in enumerate(SPLIT_NAMES):
        index = np.flatnonzero(assignment == code)
        if not len(index):
            raise DatasetError(
                f"{origin}: split '{split_name}' is empty ({n} interactions); "
                "use more interactions (max_interactions) or the other split protocol"
            )
        splits.append(
            DomainSplit(
                ids=rows.ids[index].astype(np.int64),
                user_ids=rows.user_ids[index].astype(np.int64),
                item_ids=rows.item_ids[index].astype(np.int64),
                user_text=[rows.user_text[i] for i in index.tolist()],
                item_text=[rows.item_text[i] for i in index.tolist()],
                labels={k: np.asarray(v)[index] for k, v in rows.labels.items()},
                sensitive={
                    k: np.asarray(v, dtype=object)[index] for k, v in rows.sensitive.items()
                },
                context={k: np.asarray(v, dtype=object)[index] for k, v in rows.context.items()},
                history=[tuple(rows.history[i]) for i in index.tolist()] if rows.history else (),
                timestamps=None
                if rows.timestamps is None
                else np.asarray(rows.timestamps, dtype=np.int64)[index],
            )
        )
    return DomainData(
        train=splits[0],
        validation=splits[1],
        test=splits[2],
        label_fields=dict(rows.label_fields),
        sensitive_attributes=tuple(rows.sensitive),
        context_fields=tuple(rows.context),
    )


def label_fields_from(
    manifest: Manifest, classes: Mapping[str, Sequence[str]] | None = None
) -> dict[str, LabelField]:
    """LabelFields for the manifest's tasks; ``classes`` overrides classes derived from data."""
    classes = classes or {}
    return {
        t.name: LabelField(
            name=t.name, task_type=t.type, classes=tuple(classes.get(t.name, t.classes))
        )
        for t in manifest.tasks
    }
