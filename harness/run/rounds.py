"""The feedback loop: a model trained on the past, evaluated on what comes next, then updated.

Under ``protocol: {kind: rounds}`` a combination meets its domain in time order. Every row of
the domain (its train, validation and test splits together) is ordered by timestamp and cut
into ``rounds`` windows. Round 0 trains the model on the first window. Each later round then

1. predicts every row of its window with the model as it stands: the model has never trained
   on these rows (the prequential order; :func:`check_prequential` holds the loop to it);
2. updates the model on the window, as the combination's update strategy plans it (a plugin:
   which rows, from which weights, which parameters), within the protocol's budget;
3. predicts the probe again: a share of window 0 held out from all training, so forgetting is
   the probe's metric right after round 0 against now.

Each round's predictions are saved (``PRED/rounds/round-R/``), and every per-round figure in
the record is recomputed from them by the tests. After each round the model's weights and the
results so far are written to ``RUN/rounds/KEY/``; a run resumed after a kill starts after the
last completed round. The record's ordinary ``metrics`` are the prequential figures: every
evaluated window pooled.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrec.config import ProtocolConfig, TrainingConfig
from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.bootstrap import Clusters, bootstrap
from mtrec.measure.efficiency import flops_per_sample, track_memory
from mtrec.measure.evaluation import predict, save_predictions, score_tasks
from mtrec.measure.predictions import read_predictions
from mtrec.measure.resampled import weighted_metric
from mtrec.measure.tasks import METRICS, relative_gain, task_metric_names
from mtrec.model.batching import Batch, Batchable
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.strategies import with_lora
from mtrec.model.training import TrainResult
from mtrec.plugin_host import PluginHost
from mtrec.run.checkpoints import MODELS, describe_model, save_checkpoint
from mtrec.run.fit import Built, build_variant, train_on, trivial_scores
from mtrec.run.phases import phase
from mtrec.run.plugin_calls import call_plugin, check_head_set, load_domain
from mtrec.run.ranking import no_ranking_heads, ranking_tasks
from mtrec.run.record import fairness_results, measure_cost, selected_fairness
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import (
    DomainData,
    DomainSplit,
    HeadSetSpec,
    HeadSpec,
    TaskPredictions,
    UpdateContext,
    UpdatePlan,
)

ROUNDS = "rounds"  # RUN/rounds/KEY: the loop's state, for a resumed run
STATE = "state.json"
WEIGHTS = "model.safetensors"
FORMAT = 1


# --------------------------------------------------------------------------------------
# rows: one time-ordered pool, windows of it, and batches of any subset
# --------------------------------------------------------------------------------------


def take(split: DomainSplit, rows: np.ndarray) -> DomainSplit:
    """The rows ``rows`` of a split, in that order."""
    rows = np.asarray(rows, dtype=np.int64)
    return replace(
        split,
        ids=split.ids[rows],
        user_ids=split.user_ids[rows],
        item_ids=split.item_ids[rows],
        user_text=[split.user_text[i] for i in rows],
        item_text=[split.item_text[i] for i in rows],
        labels={name: values[rows] for name, values in split.labels.items()},
        sensitive={name: values[rows] for name, values in split.sensitive.items()},
        context={name: values[rows] for name, values in split.context.items()},
        history=[split.history[i] for i in rows] if len(split.history) else (),
        timestamps=None if split.timestamps is None else split.timestamps[rows],
    )


def time_ordered(data: DomainData) -> DomainSplit:
    """Every row of the domain in one split, ordered by time (ties keep the loader's order)."""
    parts = (data.train, data.validation, data.test)
    stamps = [part.timestamps for part in parts]
    has_time = all(s is not None for s in stamps)

    def joined(values: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(v) for v in values])

    pool = DomainSplit(
        ids=joined([p.ids for p in parts]),
        user_ids=joined([p.user_ids for p in parts]),
        item_ids=joined([p.item_ids for p in parts]),
        user_text=[t for p in parts for t in p.user_text],
        item_text=[t for p in parts for t in p.item_text],
        labels={k: joined([p.labels[k] for p in parts]) for k in data.train.labels},
        sensitive={k: joined([p.sensitive[k] for p in parts]) for k in data.train.sensitive},
        context={k: joined([p.context[k] for p in parts]) for k in data.train.context},
        history=(
            [h for p in parts for h in p.history]
            if all(len(p.history) == len(p) for p in parts)
            else ()
        ),
        timestamps=joined([s for s in stamps if s is not None]) if has_time else None,
    )
    if pool.timestamps is None:
        return pool
    return take(pool, np.argsort(pool.timestamps, kind="stable"))


def cut_windows(pool: DomainSplit, protocol: ProtocolConfig, domain: str) -> list[np.ndarray]:
    """The rows of each window: consecutive runs of the time-ordered pool."""
    n, count = len(pool), protocol.rounds
    if protocol.window == "count" or pool.timestamps is None:
        if protocol.window == "time":
            raise CombinationError(
                f"domain '{domain}' has no timestamps: the rounds protocol needs "
                "window: count to cut it into windows of equal size"
            )
        bounds = np.linspace(0, n, count + 1).round().astype(np.int64)
    else:
        stamps = pool.timestamps.astype(np.float64)
        edges = np.linspace(stamps[0], stamps[-1], count + 1)
        bounds = np.searchsorted(stamps, edges, side="left")
        bounds[0], bounds[-1] = 0, n
    windows = [np.arange(bounds[i], bounds[i + 1]) for i in range(count)]
    for index, rows in enumerate(windows):
        if len(rows) < 4:
            raise CombinationError(
                f"domain '{domain}': window {index} of {count} holds {len(rows)} rows; "
                "use fewer rounds or window: count"
            )
    return windows


@dataclass(frozen=True, kw_only=True)
class Windows:
    """The rows each round reads, all fixed before any model exists."""

    rows: list[np.ndarray]  # each window's rows (pool indices)
    train: list[np.ndarray]  # rows an update may train on (window 0: without the probe)
    validation: list[np.ndarray]  # the newest rows of each window: epoch selection only
    probe: np.ndarray  # window 0's held-out rows: forgetting


def plan_windows(pool: DomainSplit, protocol: ProtocolConfig, seed: int, domain: str) -> Windows:
    windows = cut_windows(pool, protocol, domain)
    rng = np.random.default_rng([seed, 0x70726F6265])  # "probe"
    first = windows[0]
    n_probe = max(1, round(protocol.holdout * len(first)))
    probe = np.sort(rng.choice(first, size=n_probe, replace=False))
    learnable = [np.setdiff1d(first, probe), *windows[1:]]
    train, validation = [], []
    for rows in learnable:
        n_val = min(len(rows) - 1, max(1, math.ceil(protocol.validation * len(rows))))
        train.append(rows[: len(rows) - n_val])  # rows are in time order: the newest validate
        validation.append(rows[len(rows) - n_val :])
    return Windows(rows=windows, train=train, validation=validation, probe=probe)


@dataclass(frozen=True)
class Rows:
    """Some rows of an already encoded split, batched like it (no copy of their inputs)."""

    base: Batchable
    rows: np.ndarray
    labels: Mapping[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        labels = {name: values[self.rows] for name, values in self.base.labels.items()}
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.rows)

    def sort_keys(self) -> np.ndarray:
        keys: np.ndarray = np.asarray(self.base.sort_keys())[self.rows]
        return keys

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch:
        batch = self.base.collate(self.rows[rows], label_fields)
        return Batch(rows=rows, inputs=batch.inputs, labels=batch.labels)


# --------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------


def check_prequential(round_index: int, trained_on: np.ndarray, evaluated: np.ndarray) -> None:
    """Refuse to score a window the model has trained on (evaluation after the update)."""
    overlap = np.intersect1d(trained_on, evaluated)
    if len(overlap):
        raise CombinationError(
            f"round {round_index}: {len(overlap)} evaluated rows were trained on before "
            "their evaluation; the rounds protocol evaluates each window before updating on it"
        )


@dataclass
class _Loop:
    """What the loop carries from round to round (and a resumed run reads back)."""

    model: MultiTaskModel
    pool_enc: Batchable
    details: Mapping[str, Any]
    built: Built  # what built the current model (its architecture, its uncached path)
    adapters: bool = False  # low-rank adapters were added by an update
    trained_on: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    results: list[dict[str, Any]] = field(default_factory=list)


def run_rounds(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    device: torch.device,
    predictions_dir: Path,
    fairness_metrics: list[str] | None,
) -> dict[str, Any]:
    """Run the feedback loop of one combination; return the JSON-ready parts of its record."""
    protocol = combination.protocol
    assert protocol is not None and combination.update is not None
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    reason = backbone_spec.available()
    if reason:
        raise CombinationError(f"backbone '{backbone_spec.name}' is not available: {reason}")
    registries.update_strategies.get(combination.update)  # unknown: a clear error now
    full_head_set = registries.head_sets.get(combination.head_set.name)
    with phase("load"):
        data = load_domain(
            combination.domain.name, combination.domain.options, combination, host, cache
        )
    check_head_set(full_head_set, data, combination.domain.name)
    head_set = no_ranking_heads(full_head_set)
    if head_set is None:
        raise CombinationError(
            f"head set '{full_head_set.name}' has only ranking heads; the rounds protocol "
            "scores per-row tasks"
        )
    pool = time_ordered(data)
    windows = plan_windows(pool, protocol, combination.seed, combination.domain.name)
    training = combination.training
    update_config = training.model_copy(
        update={"epochs": protocol.budget.epochs, "max_train_samples": None}
    )
    run_dir = predictions_dir.parent.parent
    state_dir = run_dir / ROUNDS / combination.key

    torch.manual_seed(combination.seed)
    np.random.seed(combination.seed % 2**32)
    built = _build(combination, host, cache, data, pool, windows.train[0], head_set, device)
    loop = _Loop(
        model=built.prepared.model,
        pool_enc=built.prepared.splits["test"],
        details=built.prepared.details,
        built=built,
    )
    flops = None
    if combination.measure.flops and built.prepared.trains:
        with phase("flops"):
            flops = flops_per_sample(loop.model, Rows(loop.pool_enc, windows.rows[0][:16]), device)
    resumed_from = _resume(state_dir, loop, combination, device)
    heads = loop.model.head_specs()
    staged = state_dir / "predictions"  # laid out like RUN/predictions
    selected = [
        spec for spec in selected_fairness(host, fairness_metrics) if "baselines" not in spec.needs
    ]
    evaluations: list[Mapping[str, TaskPredictions]] = []
    for done in loop.results:  # rounds a resumed run does not redo: their saved predictions
        if done["evaluation"] is not None:
            evaluations.append(
                _read_back(staged, done["evaluation"]["predictions"], _task_info(done))
            )
    first_train_seconds = 0.0 if not loop.results else loop.results[0]["update"]["seconds"]
    for round_index in range(len(loop.results), protocol.rounds):
        result: dict[str, Any] = {"round": round_index, "evaluation": None}
        round_dir = staged / combination.key / ROUNDS / f"round-{round_index}"
        if round_index > 0:
            rows = windows.rows[round_index]
            check_prequential(round_index, loop.trained_on, rows)
            with phase("test"):
                tasks, seconds = _predict(loop, rows, training, device)
            evaluations.append(tasks)
            result["evaluation"] = _evaluation(
                combination,
                host,
                selected,
                tasks,
                seconds,
                heads=heads,
                data=data,
                pool=pool,
                windows=windows,
                round_index=round_index,
                folder=round_dir,
                base=staged,
            )
        with phase("train"):
            result["update"] = _update(
                combination,
                host,
                cache,
                loop,
                data=data,
                pool=pool,
                windows=windows,
                round_index=round_index,
                head_set=head_set,
                config=training if round_index == 0 else update_config,
                device=device,
                flops=flops,
            )
        if round_index == 0:
            first_train_seconds = result["update"]["seconds"]
        with phase("test"):
            probe, _ = _predict(loop, windows.probe, training, device)
        result["probe"] = {
            "metrics": score_tasks(probe),
            "predictions": _save(round_dir / "probe", take(pool, windows.probe), probe, staged),
        }
        result["forgetting"] = (
            None
            if round_index == 0
            else _forgetting(loop.results[0]["probe"]["metrics"], result["probe"]["metrics"])
        )
        loop.results.append(result)
        _save_state(state_dir, loop, round_index)

    # the rounds' files join the record's; the loop's state has served its purpose
    target = predictions_dir / ROUNDS
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(staged / combination.key / ROUNDS, target)
    shutil.rmtree(state_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        state_dir.parent.rmdir()  # RUN/rounds, once no loop is left unfinished

    pooled = {task: _concat([run[task] for run in evaluations]) for task in evaluations[0]}
    evaluated_rows = np.concatenate(windows.rows[1:])
    pooled_split = take(pool, evaluated_rows)
    files = save_predictions(predictions_dir, pooled_split, pooled, None)
    metrics = score_tasks(pooled)
    first_train = take(pool, windows.train[0])
    pooled_data = replace(data, train=first_train, validation=first_train, test=pooled_split)
    with phase("fairness"):
        fairness = fairness_results(host, selected, combination, pooled, pooled_data, metrics, {})
    last = Rows(loop.pool_enc, windows.rows[-1])
    efficiency = measure_cost(
        loop.model,
        last,
        combination,
        device,
        _train_result(loop.results, first_train_seconds),
        sum(len(rows) for rows in windows.rows[1:]),
        sum(r["evaluation"]["seconds"] for r in loop.results if r["evaluation"]),
        flops,
        None,
    )
    saved = None
    if combination.output.save_model:  # the model after the last update
        strategy = loop.details.get("strategy")
        saved = save_checkpoint(
            loop.model,
            run_dir / MODELS / combination.key,
            description=describe_model(
                combination,
                loop.model,
                heads=heads,
                details=loop.details,
                serving_encoder=None
                if loop.built.prepared.serving is None
                else loop.built.prepared.serving.encoder,
                architecture=loop.built.architecture.name,
                family=loop.built.family,
                head_set=head_set,
                label_fields=data.label_fields,
                # adapters an update added to a fully trained backbone rebuild as lora
                strategy="lora" if loop.adapters and strategy != "lora" else None,
            ),
            relative_to=run_dir,
        )
    updates = [r["update"] for r in loop.results]
    efficiency["peak_memory_mb"] = max(u["peak_memory_mb"] for u in updates)
    efficiency["params"] += int(loop.details.get("frozen_backbone_params", 0))
    return {
        "tasks": {
            head.task: {
                "type": head.task_type.value,
                "label_field": head.label_field,
                "loss": head.loss,
                "primary_metric": pooled[head.task].primary_metric,
                "directions": _directions(pooled[head.task]),
                "n_test": len(pooled[head.task].y_pred),
            }
            for head in heads
        },
        "metrics": metrics,
        "reference": {"trivial": trivial_scores(heads, first_train.labels, pooled_split.labels)},
        "training": {
            "epochs_run": sum(len(u.get("history", [])) for u in updates),
            "best_epoch": 0,
            "stopped_early": False,
            "history": [],
            "steps": sum(u["steps"] for u in updates),
            "train_seconds": sum(u["seconds"] for u in updates),
            "n_train": len(windows.train[0]),
            "n_validation": len(windows.validation[0]),
            **dict(loop.details),
            **(
                {"ranking_heads_left_out": list(ranking_tasks(full_head_set))}
                if ranking_tasks(full_head_set)
                else {}
            ),
        },
        "efficiency": efficiency,
        "fairness": fairness,
        "predictions": {
            head.task: f"{predictions_dir.name}/{name}"
            for head, name in zip(heads, files, strict=True)
        },
        **({"model": saved} if saved is not None else {}),
        "rounds": {
            "protocol": protocol.model_dump(mode="json", exclude={"updates"}),
            "update": combination.update,
            "primary_metrics": {task: p.primary_metric for task, p in pooled.items()},
            "directions": {task: _directions(p) for task, p in pooled.items()},
            "windows": _describe_windows(pool, windows),
            "results": loop.results,
            "resumed_from": resumed_from,
        },
    }


def _build(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    data: DomainData,
    pool: DomainSplit,
    train_rows: np.ndarray,
    head_set: HeadSetSpec,
    device: torch.device,
) -> Built:
    """A freshly loaded model over the whole pool (encoded once; rows are picked per use)."""
    first = take(pool, train_rows)
    built = build_variant(
        combination,
        host,
        cache,
        splits={"train": first, "validation": pool, "test": pool},
        head_set=head_set,
        config=combination.training,
        device=device,
        label_fields=data.label_fields,
    )
    built.prepared.model.set_target_scaling(first.labels)
    built.prepared.model.to(device)
    return built


def _predict(
    loop: _Loop, rows: np.ndarray, training: TrainingConfig, device: torch.device
) -> tuple[dict[str, TaskPredictions], float]:
    run = predict(
        loop.model,
        Rows(loop.pool_enc, rows),
        batch_size=training.eval_batch_size,
        device=device,
        precision=training.precision,
    )
    return dict(run.tasks), run.seconds


def _update(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    loop: _Loop,
    *,
    data: DomainData,
    pool: DomainSplit,
    windows: Windows,
    round_index: int,
    head_set: HeadSetSpec,
    config: TrainingConfig,
    device: torch.device,
    flops: float | None,
) -> dict[str, Any]:
    """Plan this round's update with the strategy, check the plan, train it within budget."""
    protocol = combination.protocol
    assert protocol is not None
    seed = combination.seed
    rng = np.random.default_rng([seed, round_index, 0x757064617465])  # "update"
    name = "initial" if round_index == 0 else str(combination.update)
    if round_index == 0:
        plan = UpdatePlan(rows=windows.train[0])
    else:
        context = UpdateContext(
            round=round_index,
            new_rows=windows.train[round_index].copy(),
            seen_rows=np.concatenate(windows.train[:round_index]),
            rng=rng,
            replay=protocol.replay,
        )
        plan = call_plugin(host, "update_strategies", name, _planner(host, name), context=context)
        _check_plan(plan, name, windows, round_index)
    if plan.rows is None:
        return {
            "strategy": name,
            "start": "current",
            "adapters": False,
            "seconds": 0.0,
            "train_seconds": 0.0,
            "samples": 0,
            "steps": 0,
            "rows": 0,
            "epochs": 0,
            "flops": 0.0 if flops is not None else None,
            "peak_memory_mb": 0.0,
            "cuda_peak_memory_mb": None,
        }
    rows = np.asarray(plan.rows, dtype=np.int64)
    if round_index == 0 and config.max_train_samples is not None:
        rows = rows[: config.max_train_samples]  # as a single training takes its first rows
    budget = protocol.budget.samples if round_index > 0 else None
    if budget is not None and len(rows) > budget:
        rows = np.sort(rng.choice(rows, size=budget, replace=False))
    validation = windows.validation[round_index]
    # Each round draws its own random numbers (dropout, a fresh model's init), so a resumed
    # loop trains exactly as one that never stopped.
    torch.manual_seed(seed + 1000 * round_index)
    with track_memory(device) as memory:
        started = time.perf_counter()
        if plan.start == "fresh":
            built = _build(combination, host, cache, data, pool, rows, head_set, device)
            loop.model, loop.pool_enc = built.prepared.model, built.prepared.splits["test"]
            loop.details, loop.adapters, loop.built = built.prepared.details, False, built
        if plan.adapters and not loop.adapters:
            _add_adapters(loop, combination, device)
        if loop.details.get("strategy") == "none":  # the trivial predictor refits its constants
            loop.model.fit_constant_outputs(take(pool, rows).labels)
            trained = TrainResult()
        else:
            heads = loop.model.head_specs()
            weighting = host.registries.loss_weightings.get(config.loss_weighting).build(
                tasks=tuple(head.task for head in heads), **config.loss_weighting_options
            )
            trained = train_on(
                loop.model,
                take(pool, rows),
                Rows(loop.pool_enc, rows),
                Rows(loop.pool_enc, validation),
                config,
                device=device,
                seed=seed + round_index,
                on_epoch=None,
                weighting=weighting,
            )
        seconds = time.perf_counter() - started
    loop.trained_on = np.union1d(loop.trained_on, np.union1d(rows, validation))
    return {
        "strategy": name,
        "start": plan.start,
        "adapters": bool(plan.adapters),
        "seconds": seconds,  # the whole update: a fresh load included
        "train_seconds": trained.train_seconds,
        "samples": trained.train_samples,
        "steps": trained.steps,
        "rows": len(rows),
        "epochs": len(trained.history),
        "best_epoch": trained.best_epoch,
        # a training step costs about three forward passes (forward, two backward)
        "flops": None if flops is None else 3.0 * flops * trained.train_samples,
        "peak_memory_mb": memory.peak_rss_mb,
        "cuda_peak_memory_mb": memory.cuda_peak_allocated_mb,
    }


def _planner(host: PluginHost, name: str) -> Any:
    return host.registries.update_strategies.get(name).plan


def _check_plan(plan: Any, name: str, windows: Windows, round_index: int) -> None:
    """A plan may train only on rows the loop has revealed: no probe, no future window."""
    if not isinstance(plan, UpdatePlan):
        raise CombinationError(
            f"update strategy '{name}' returned {type(plan).__name__}; expected UpdatePlan"
        )
    if plan.start not in ("current", "fresh"):
        raise CombinationError(
            f"update strategy '{name}': start is {plan.start!r}; expected 'current' or 'fresh'"
        )
    if plan.rows is None:
        return
    rows = np.asarray(plan.rows)
    allowed = np.concatenate(windows.train[: round_index + 1])
    if rows.dtype.kind not in "iu" or len(rows) == 0 or not np.isin(rows, allowed).all():
        raise CombinationError(
            f"update strategy '{name}' planned rows outside the training rows revealed by "
            f"round {round_index} (or none): an update may not read the probe or the future"
        )


def _add_adapters(loop: _Loop, combination: Combination, device: torch.device) -> None:
    """Low-rank adapters on the backbone's attention; every other backbone weight fixed."""
    strategy = loop.details.get("strategy")
    if strategy == "lora":  # the model trains adapters only already
        loop.adapters = True
        return
    backbone = getattr(loop.model.encoder, "backbone", None)
    if backbone is None or strategy not in ("full", "top_k"):
        raise CombinationError(
            f"update 'lora' needs a language backbone in the model; '{combination.backbone.name}' "
            f"(strategy {strategy}) has none to put adapters on"
        )
    loop.model.encoder.backbone, _ = with_lora(backbone, combination.training.lora_r)
    loop.model.to(device)
    loop.adapters = True


def _evaluation(
    combination: Combination,
    host: PluginHost,
    selected: list[Any],
    tasks: Mapping[str, TaskPredictions],
    seconds: float,
    *,
    heads: Sequence[HeadSpec],
    data: DomainData,
    pool: DomainSplit,
    windows: Windows,
    round_index: int,
    folder: Path,
    base: Path,
) -> dict[str, Any]:
    """Every figure of one round's prequential evaluation."""
    rows = windows.rows[round_index]
    split = take(pool, rows)
    earlier = np.concatenate(windows.rows[:round_index])
    cold = ~(
        np.isin(split.user_ids, pool.user_ids[earlier])
        & np.isin(split.item_ids, pool.item_ids[earlier])
    )
    metrics = score_tasks(tasks)
    parts: dict[str, Any] = {}
    for name, mask in (("cold", cold), ("warm", ~cold)):
        picked = np.flatnonzero(mask)
        parts[name] = {
            "n": len(picked),
            "metrics": score_tasks({t: p.take(picked) for t, p in tasks.items()})
            if len(picked)
            else {},
        }
    seen = take(pool, np.concatenate(windows.train[:round_index]))
    window_data = replace(data, train=seen, validation=seen, test=split)
    # Subtask fairness on this window: each task's gain over the trivial predictor fitted on
    # the rows revealed for training so far; a drift against one task shows as its gain falling.
    trivial = trivial_scores(heads, seen.labels, split.labels)
    gains = {
        task: relative_gain(
            metrics[task][p.primary_metric],
            trivial[task][p.primary_metric],
            METRICS[p.primary_metric].direction,
        )
        for task, p in tasks.items()
    }
    with phase("fairness"):
        fairness = fairness_results(host, selected, combination, tasks, window_data, metrics, {})
    return {
        "n": len(rows),
        "seconds": seconds,
        "tasks": {
            task: {"type": p.task_type.value, "primary_metric": p.primary_metric}
            for task, p in tasks.items()
        },
        "metrics": metrics,
        "intervals": _intervals(tasks, split.user_ids, combination),
        **parts,
        "fairness": fairness,
        "subtasks": {
            "reference": {t: trivial[t][p.primary_metric] for t, p in tasks.items()},
            "gain": gains,
            "spread": max(gains.values()) - min(gains.values()),
        },
        "predictions": _save(folder, split, tasks, base),
    }


def _intervals(
    tasks: Mapping[str, TaskPredictions], users: np.ndarray, combination: Combination
) -> dict[str, dict[str, list[float] | None]]:
    """95% intervals of every figure: a bootstrap over users (a user brings all their rows)."""
    resamples = combination.fairness.bootstrap_resamples
    clusters = Clusters.of(np.asarray(users), len(users))
    out: dict[str, dict[str, list[float] | None]] = {}
    for task, predictions in tasks.items():
        out[task] = {}
        for name in task_metric_names(predictions):
            interval = bootstrap(
                _on_users(weighted_metric(predictions, name), clusters),
                clusters.count,
                resamples=resamples,
                seed=combination.seed,
            )
            out[task][name] = interval.as_list()
    return out


def _on_users(on_weights: Any, clusters: Clusters) -> Any:
    return lambda units: on_weights(clusters.weights(units))


def _save(
    folder: Path, split: DomainSplit, tasks: Mapping[str, TaskPredictions], base: Path
) -> dict[str, str]:
    """Save one round's predictions; their paths as the record names them (under ``base``,
    laid out like RUN/predictions, where they are copied when the loop is done)."""
    names = save_predictions(folder, split, tasks, None)
    relative = folder.relative_to(base).as_posix()
    return {task: f"{relative}/{name}" for task, name in zip(tasks, names, strict=True)}


def _forgetting(
    then: Mapping[str, Mapping[str, float]], now: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """How much worse the probe is now than right after round 0 (positive: forgotten)."""
    return {
        task: {
            name: (then[task][name] - value) * METRICS[name].direction
            for name, value in figures.items()
            if name in then.get(task, {}) and math.isfinite(value)
        }
        for task, figures in now.items()
    }


def _directions(predictions: TaskPredictions) -> dict[str, str]:
    return {
        name: "higher" if METRICS[name].direction > 0 else "lower"
        for name in task_metric_names(predictions)
    }


def _concat(runs: Sequence[TaskPredictions]) -> TaskPredictions:
    first = runs[0]
    return replace(
        first,
        y_true=np.concatenate([r.y_true for r in runs]),
        y_pred=np.concatenate([r.y_pred for r in runs]),
        score=None
        if first.score is None
        else np.concatenate([r.score for r in runs if r.score is not None]),
    )


def _describe_windows(pool: DomainSplit, windows: Windows) -> list[dict[str, Any]]:
    described = []
    users: set[int] = set()
    items: set[int] = set()
    for index, rows in enumerate(windows.rows):
        window_users = set(pool.user_ids[rows].tolist())
        window_items = set(pool.item_ids[rows].tolist())
        stamps = pool.timestamps
        described.append(
            {
                "round": index,
                "rows": len(rows),
                "train_rows": len(windows.train[index]),
                "validation_rows": len(windows.validation[index]),
                "start": None if stamps is None else int(stamps[rows[0]]),
                "end": None if stamps is None else int(stamps[rows[-1]]),
                "new_users": len(window_users - users),
                "new_items": len(window_items - items),
            }
        )
        users |= window_users
        items |= window_items
    return described


def _task_info(result: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What reading a round's files back needs of each task (its type, its primary metric)."""
    tasks: dict[str, dict[str, Any]] = result["evaluation"]["tasks"]
    return tasks


def _train_result(results: Sequence[Mapping[str, Any]], seconds: float) -> TrainResult:
    first = results[0]["update"]
    return TrainResult(train_seconds=seconds, train_samples=int(first["samples"]))


# --------------------------------------------------------------------------------------
# the loop's state on disk: a killed run resumes after its last completed round
# --------------------------------------------------------------------------------------


def _save_state(folder: Path, loop: _Loop, round_index: int) -> None:
    """Weights first (a file of their own), then the state naming them, atomically."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    weights = f"round-{round_index}.{WEIGHTS}"
    save_model(loop.model, str(folder / weights))
    state = {
        "format": FORMAT,
        "completed": round_index,
        "weights": weights,
        "adapters": loop.adapters,
        "strategy": loop.details.get("strategy"),
        "trained_on": loop.trained_on.tolist(),
        "results": loop.results,
    }
    staging = folder / f".{STATE}.partial"
    staging.write_text(json.dumps(state), encoding="utf-8")
    os.replace(staging, folder / STATE)
    for old in folder.glob(f"round-*.{WEIGHTS}"):
        if old.name != weights:
            old.unlink()


def _resume(
    folder: Path, loop: _Loop, combination: Combination, device: torch.device
) -> int | None:
    """Take up the loop after its last completed round, if an earlier attempt got that far."""
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if state.get("format") != FORMAT or not (folder / state["weights"]).is_file():
        return None
    from safetensors.torch import load_model

    if state["strategy"] != loop.details.get("strategy"):
        return None  # a retrain rebuilt it another way: start over
    if state["adapters"]:
        _add_adapters(loop, combination, device)
    load_model(loop.model, str(folder / state["weights"]), device=str(device))
    loop.results = list(state["results"])
    loop.trained_on = np.asarray(state["trained_on"], dtype=np.int64)
    return int(state["completed"])


def _read_back(
    base: Path, files: Mapping[str, str], tasks: Mapping[str, Mapping[str, Any]]
) -> dict[str, TaskPredictions]:
    """A completed round's evaluation as saved (a resumed run does not predict it again)."""
    out = {}
    for task, info in tasks.items():
        record = {"predictions": files, "tasks": {task: info}}
        read = read_predictions(base.parent, record, task)  # reads base.parent/predictions/...
        if read is None:
            raise CombinationError(f"resuming the rounds: {base / files[task]} is missing")
        out[task] = read[1]
    return out
