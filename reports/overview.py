"""The figures every report is built from, gathered once from a run's results.json.

``build_overview(document)`` is what ``mtrec report --format json`` prints and what the HTML
report plots: one entry per combination with its tradeoff summary (``mtrec.measure.pareto``), the
per-task gains, every group's figure for the heatmap and the raw latency samples. It holds
raw strings; renderers escape them for their own format.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mtrec.measure.pareto import OBJECTIVES, annotate_tradeoffs
from mtrec.measure.tasks import relative_gain
from mtrec.reports.ablation import ablation_rows
from mtrec.reports.summary import reference_name, strategy

IDENTITY = ("backbone", "strategy", "head_set", "domain", "seed")


def build_overview(document: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the reports show, as plain JSON-ready data."""
    if "tradeoffs" not in document:  # a run from before the tradeoff summary: compute it
        annotated = copy.deepcopy(dict(document))
        annotate_tradeoffs(annotated)
        document = annotated
    records: list[Mapping[str, Any]] = list(document.get("records", []))
    labels = combination_labels(records)
    backbones = backbone_labels(records)
    combinations = [_combination(i, r, labels[i], backbones[i]) for i, r in enumerate(records)]
    ok = [(c, r) for c, r in zip(combinations, records, strict=True) if r["status"] == "ok"]
    env = document.get("environment", {})
    suite = document.get("suite", {})
    return {
        "run": {
            "suite": suite.get("name"),
            "description": suite.get("description"),
            "started": document.get("started"),
            "finished": document.get("finished"),
            "ok": len(ok),
            "failed": len(records) - len(ok),
            "environment": {
                key: env.get(key)
                for key in ("mtrec", "python", "torch", "transformers", "device", "device_name")
            },
        },
        "objectives": [objective._asdict() for objective in OBJECTIVES],
        "front": list(document.get("tradeoffs", {}).get("front", [])),
        "tasks": _tasks(r for _, r in ok),
        "combinations": combinations,
        "trivial": _trivial(r for _, r in ok),
        "subtask_gains": [row for c, r in ok for row in _subtask_gains(c, r)],
        "trivial_gains": _trivial_gains(ok),
        "group_gaps": [row for c, r in ok for row in _group_gaps(c, r)],
        "latency": [row for c, r in ok for row in _latency(c, r)],
        "ablations": ablation_rows(document),  # fuller vs reduced input, per task
    }


def backbone_labels(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The backbone of each record as reports show it: its name, and where the run holds the
    same backbone with different settings (loader options, pooling, training overrides),
    the settings that tell them apart: ``id-embedding (options.dim=32)``."""
    settings = [_backbone_settings(record) for record in records]
    differing: dict[str, set[str]] = {}
    for record, mine in zip(records, settings, strict=True):
        name = str(record.get("backbone"))
        for other_record, other in zip(records, settings, strict=True):
            if str(other_record.get("backbone")) != name:
                continue
            differing.setdefault(name, set()).update(
                key for key in mine.keys() | other.keys() if mine.get(key) != other.get(key)
            )
    labels = []
    for record, mine in zip(records, settings, strict=True):
        name = str(record.get("backbone"))
        keys = sorted(differing.get(name, ()))
        shown = ", ".join(f"{key}={_setting_text(mine.get(key))}" for key in keys)
        labels.append(f"{name} ({shown})" if shown else name)
    return labels


def labelled(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``records`` whose ``backbone`` is its label (:func:`backbone_labels`), for
    renderers that show one row per record."""
    return [
        {**record, "backbone": label}
        for record, label in zip(records, backbone_labels(records), strict=True)
    ]


def _backbone_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's backbone settings, flattened: options.dim, pooling, training.lr, ...
    (the strategy has its own column)."""
    config = record.get("config") or {}
    backbone = config.get("backbone") or {}
    flat: dict[str, Any] = {"pooling": backbone.get("pooling")}
    for key, value in (backbone.get("options") or {}).items():
        flat[f"options.{key}"] = value
    # what the backbone read (the record says it even where the key leaves the default out)
    for key, value in (record.get("input") or config.get("input") or {}).items():
        flat[f"input.{key}"] = value
    for key, value in (config.get("training") or {}).items():
        if key != "strategy":
            flat[f"training.{key}"] = value
    # the feedback loop (protocol: rounds): one record per update strategy
    update = (config.get("protocol") or {}).get("update")
    if update is not None:
        flat["update"] = update
    return flat


def _setting_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def combination_labels(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """A short name per record: the identity fields that vary in this run, backbone always
    (labelled by its settings where the run holds one backbone with different settings)."""
    backbones = backbone_labels(records)
    by_record = {id(record): label for record, label in zip(records, backbones, strict=True)}

    def field(record: Mapping[str, Any], name: str) -> str:
        if name == "backbone":
            return by_record[id(record)]
        return strategy(record) if name == "strategy" else str(record.get(name))

    varying = [
        name
        for name in IDENTITY
        if name == "backbone" or len({field(r, name) for r in records}) > 1
    ]
    labels = []
    for record in records:
        parts = [field(record, name) for name in varying]
        if "seed" in varying:
            parts[-1] = f"seed {parts[-1]}"
        labels.append(" \u00b7 ".join(parts))
    # Two records that differ only in settings outside the identity keep apart by key.
    counts = {label: labels.count(label) for label in labels}
    return [
        f"{label} [{str(r.get('key', ''))[:8]}]" if counts[label] > 1 else label
        for label, r in zip(labels, records, strict=True)
    ]


def _combination(
    index: int, record: Mapping[str, Any], label: str, backbone_label: str
) -> dict[str, Any]:
    efficiency = record.get("efficiency") or {}
    return {
        "id": f"c{index}",
        "key": record.get("key"),
        "label": label,
        "backbone": record.get("backbone"),
        "backbone_label": backbone_label,
        "strategy": strategy(record),
        "head_set": record.get("head_set"),
        "domain": record.get("domain"),
        "seed": record.get("seed"),
        "status": record.get("status"),
        "error": record.get("error"),
        "summary": record.get("summary") if record.get("status") == "ok" else None,
        "pareto_optimal": record.get("status") == "ok" and bool(record.get("pareto_optimal")),
        "metrics": record.get("metrics") or {},
        "efficiency": {
            key: efficiency.get(key)
            for key in (
                "train_samples_per_s",
                "inference_samples_per_s",
                "params",
                "trainable_params",
                "flops_per_sample",
                "peak_memory_mb",
                "cuda_peak_memory_mb",
                "mfu",
                "ranking",
            )
        },
        "transfer": record.get("transfer"),
    }


def _tasks(records: Any) -> list[dict[str, Any]]:
    """Every task with its type, primary metric, every metric's direction and what its
    trivial reference is ("trivial", or "most-popular" for a ranking task), in first-seen
    order."""
    tasks: dict[str, dict[str, Any]] = {}
    for record in records:
        for task, info in (record.get("tasks") or {}).items():
            entry = tasks.setdefault(
                task,
                {
                    "task": task,
                    "type": info.get("type"),
                    "primary_metric": info.get("primary_metric"),
                    "directions": {},
                    "reference": reference_name([info.get("type")]),
                },
            )
            for metric, direction in (info.get("directions") or {}).items():
                entry["directions"].setdefault(metric, direction)
    return list(tasks.values())


def _trivial(records: Any) -> list[dict[str, Any]]:
    """The trivial predictor's test metrics, once per domain."""
    rows: dict[str, dict[str, Any]] = {}
    for record in records:
        trivial = (record.get("reference") or {}).get("trivial")
        if trivial and record["domain"] not in rows:
            rows[record["domain"]] = {"domain": record["domain"], "metrics": trivial}
    return list(rows.values())


def _subtask_gains(combination: Mapping[str, Any], record: Mapping[str, Any]) -> list[Any]:
    """Per-task gains over single-task baselines (``subtask-gain``), when the run has them."""
    entry = (record.get("fairness") or {}).get("subtask-gain")
    if not isinstance(entry, Mapping):
        return []
    return [
        {
            "combination": combination["id"],
            "label": combination["label"],
            "task": task,
            "metric": figures.get("metric"),
            "gain": figures.get("gain"),
            "ci": figures.get("ci"),
            "se": figures.get("se"),
            "baseline": figures.get("baseline"),
            "multi_task": figures.get("multi_task"),
            "negative_transfer": bool(figures.get("negative_transfer")),
        }
        for task, figures in (entry.get("tasks") or {}).items()
        if _finite(figures.get("gain"))
    ]


def _trivial_gains(ok: Sequence[tuple[dict[str, Any], Mapping[str, Any]]]) -> list[Any]:
    """Per-task relative gain (%) of the primary metric over the trivial predictor (a
    ranking task's: the most-popular ranking; ``reference`` names it).

    Seeds of one configuration are pooled: the bar is their mean and the interval their
    range (no interval with a single seed).
    """
    pooled: dict[tuple[str, str], dict[str, Any]] = {}
    for combination, record in ok:
        trivial = (record.get("reference") or {}).get("trivial") or {}
        config = tuple(str(combination[name]) for name in IDENTITY if name != "seed")
        for task, info in (record.get("tasks") or {}).items():
            metric = info.get("primary_metric")
            value = finite((record.get("metrics") or {}).get(task, {}).get(metric))
            base = finite((trivial.get(task) or {}).get(metric))
            if value is None or base is None:
                continue
            sign = 1 if (info.get("directions") or {}).get(metric) != "lower" else -1
            row = pooled.setdefault(
                (" \u00b7 ".join(config), task),
                {
                    "config": config,
                    "task": task,
                    "metric": metric,
                    "reference": reference_name([info.get("type")]),
                    "seeds": [],
                    "gains": [],
                },
            )
            row["seeds"].append(record.get("seed"))
            row["gains"].append(relative_gain(value, base, sign))
    labels = _config_labels([row["config"] for row in pooled.values()])
    rows = []
    for row in pooled.values():
        gains = row["gains"]
        rows.append(
            {
                "label": labels[row["config"]],
                "task": row["task"],
                "metric": row["metric"],
                "reference": row["reference"],
                "gain": sum(gains) / len(gains),
                "range": [min(gains), max(gains)] if len(gains) > 1 else None,
                "seeds": row["seeds"],
            }
        )
    return rows


def _config_labels(configs: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """Names of configurations (identity without the seed): the fields that vary."""
    names = [name for name in IDENTITY if name != "seed"]
    varying = [
        i for i, name in enumerate(names) if name == "backbone" or len({c[i] for c in configs}) > 1
    ]
    return {c: " \u00b7 ".join(c[i] for i in varying) for c in configs}


def _group_gaps(combination: Mapping[str, Any], record: Mapping[str, Any]) -> list[Any]:
    """One row per (task, attribute, group): the group's metric and its shortfall from the best."""
    gaps = (record.get("fairness") or {}).get("group-gap") or {}
    rows = []
    for task, attributes in gaps.items():
        if not isinstance(attributes, Mapping):
            continue
        for attribute, figures in attributes.items():
            by_group = {
                group: value
                for group, value in (figures.get("by_group") or {}).items()
                if _finite(value)
            }
            if not by_group:
                continue
            lower = figures.get("direction") == "lower"
            # the best of the groups a gap counts: a one-user group neither sets it nor
            # stretches the colour scale (fairness.min_group_users)
            left_out = set(figures.get("excluded_groups") or [])
            counted = [v for g, v in by_group.items() if g not in left_out] or list(
                by_group.values()
            )
            best = min(counted) if lower else max(counted)
            for group, value in by_group.items():
                rows.append(
                    {
                        "combination": combination["id"],
                        "label": combination["label"],
                        "task": task,
                        "attribute": attribute,
                        "group": group,
                        "metric": figures.get("metric"),
                        "direction": figures.get("direction"),
                        "value": value,
                        "size": (figures.get("group_sizes") or {}).get(group),
                        "shortfall": abs(value - best),
                        "worst": group == figures.get("worst_group"),
                        # too few users to count in the gap (fairness.min_group_users)
                        "excluded": group in (figures.get("excluded_groups") or []),
                        "users": (figures.get("group_users") or {}).get(group),
                        "difference": figures.get("difference"),
                        "difference_ci": figures.get("difference_ci"),
                    }
                )
    return rows


def _latency(combination: Mapping[str, Any], record: Mapping[str, Any]) -> list[Any]:
    latency = (record.get("efficiency") or {}).get("latency_ms") or {}
    rows = []
    for batch_size, entry in latency.items():
        if not isinstance(entry, Mapping):
            continue
        rows.append(
            {
                "combination": combination["id"],
                "label": combination["label"],
                "batch_size": str(batch_size),
                "samples": [v for v in entry.get("samples") or [] if _finite(v)],
                **{k: entry.get(k) for k in ("p50", "p90", "p95", "p99", "mean", "std")},
                "seq_len": entry.get("seq_len"),
            }
        )
    return rows


def _finite(value: Any) -> bool:
    return finite(value) is not None


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
