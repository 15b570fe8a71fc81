"""Running one combination: fit, evaluate, measure, fairness, baselines, transfer -> a record.

The steps live in their own modules (:mod:`~mtrec.run.fit`, :mod:`~mtrec.run.record`,
:mod:`~mtrec.run.baselines`, :mod:`~mtrec.run.transfer`); here they are put together, and the
record's files (predictions, validation history, baselines) are written.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.evaluation import (
    save_predictions,
    score_tasks,
)
from mtrec.measure.predictions import save_item_counts, save_train_labels
from mtrec.measure.tasks import (
    METRICS,
    SELECTION_RULE,
    task_metric_names,
)
from mtrec.model.architectures import expert_gates
from mtrec.model.training import effective_precision
from mtrec.plugin_host import PluginHost
from mtrec.run.baselines import baseline_seeds, plain_variant_key, single_task_baselines
from mtrec.run.checkpoints import MODELS, describe_fit, save_checkpoint
from mtrec.run.explain import explain_combination
from mtrec.run.fit import EpochCallback, fit_variant, trivial_scores
from mtrec.run.phases import phase, release_heap
from mtrec.run.plugin_calls import check_head_set, load_domain
from mtrec.run.ranking import popularity_scores
from mtrec.run.record import fairness_results, measure_cost, selected_fairness
from mtrec.run.rounds import run_rounds
from mtrec.run.sweep_cache import Outcome, SweepCache
from mtrec.run.transfer import transfer_gain
from mtrec.specs import (
    TaskPredictions,
    TaskType,
)


def run_combination(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    device: torch.device,
    predictions_dir: Path,
    fairness_metrics: list[str] | None,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train and evaluate one combination; return the JSON-ready parts of its record.

    Raises on failure; the caller records the error and goes on with the sweep.
    """
    if combination.protocol is not None:  # the feedback loop: its own record section
        return run_rounds(
            combination,
            host,
            cache,
            device=device,
            predictions_dir=predictions_dir,
            fairness_metrics=fairness_metrics,
        )
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    head_set = registries.head_sets.get(combination.head_set.name)
    reason = backbone_spec.available()
    if reason:
        raise CombinationError(f"backbone '{backbone_spec.name}' is not available: {reason}")
    with phase("load"):
        data = load_domain(
            combination.domain.name, combination.domain.options, combination, host, cache
        )
    check_head_set(head_set, data, combination.domain.name)

    fit = fit_variant(
        combination,
        host,
        cache,
        data=data,
        head_set=head_set,
        training=combination.training,
        seed=combination.seed,
        device=device,
        on_epoch=on_epoch,
        count_flops=combination.measure.flops,
        transfer=combination.domain.transfer,
    )
    if combination.domain.transfer is None:
        # A transfer of this very combination compares against it: trained once.
        cache.outcomes[plain_variant_key(combination, host)] = Outcome.of(
            fit.test_run.tasks, fit.heads
        )
    model, heads, test_enc = fit.model, fit.heads, fit.test_enc
    metrics = score_tasks(fit.test_run.tasks)
    setup = fit.ranking
    test_candidates = setup.candidates("test") if setup is not None else None
    files = save_predictions(predictions_dir, data.test, fit.test_run.tasks, test_candidates)
    trivial = trivial_scores(heads, fit.train_split.labels, test_enc.labels)
    ranked_tasks = tuple(h.task for h in heads if h.task_type is TaskType.RANKING)
    if setup is not None:  # the most-popular ranking of the same candidates
        trivial.update(popularity_scores(setup, "test", ranked_tasks))
    # What the trivial reference, item exposure and validation history are computed from.
    context_files = {
        # (a ranking head's reference is the most-popular list: in ranking/TASK.json)
        "train_labels": save_train_labels(
            predictions_dir,
            [h for h in heads if h.task_type is not TaskType.RANKING],
            fit.train_split.labels,
        ),
        "items": save_item_counts(predictions_dir, data),
    }
    validation_files = {
        str(epoch): {
            task: f"{predictions_dir.name}/validation/epoch-{epoch}/{name}"
            for task, name in zip(
                tasks,
                save_predictions(
                    predictions_dir / "validation" / f"epoch-{epoch}",
                    data.validation,
                    tasks,
                    setup.candidates("validation") if setup is not None else None,
                ),
                strict=True,
            )
        }
        for epoch, tasks in enumerate(fit.validation_runs, start=1)
    }

    train_memory, inference_memory = fit.memory
    efficiency = measure_cost(
        model,
        test_enc,
        combination,
        device,
        fit.trained,
        fit.test_run.samples,
        fit.test_run.seconds,
        fit.flops,
        fit.serving,
    )
    efficiency["memory"] = {
        "train": asdict(train_memory),
        "inference": asdict(inference_memory),
    }
    efficiency["peak_memory_mb"] = max(train_memory.peak_rss_mb, inference_memory.peak_rss_mb)
    cuda_peaks = [
        m.cuda_peak_allocated_mb
        for m in (train_memory, inference_memory)
        if m.cuda_peak_allocated_mb is not None
    ]
    efficiency["cuda_peak_memory_mb"] = max(cuda_peaks) if cuda_peaks else None
    efficiency["params"] += int(fit.details.get("frozen_backbone_params", 0))
    if fit.ranking_cost is not None:  # scoring every test user's candidates
        efficiency["ranking"] = dict(fit.ranking_cost)
    # The per-epoch validation predictions are saved and the cost is measured: drop them and
    # the uncached serving path (it holds a frozen backbone; kept when the model is saved with
    # it), and give their pages back before single-task baselines train beside this model.
    fit = replace(
        fit, validation_runs=(), serving=fit.serving if combination.output.save_model else None
    )
    gc.collect()
    release_heap()
    selected = selected_fairness(host, fairness_metrics)
    baselines: dict[str, list[TaskPredictions]] = {}
    if any("baselines" in spec.needs for spec in selected):
        with phase("baselines", whole=True):  # whole fits: their training is not ours
            baselines = single_task_baselines(
                combination, host, cache, data=data, head_set=head_set, device=device
            )
    with phase("fairness"):
        fairness = fairness_results(
            host, selected, combination, fit.test_run.tasks, data, metrics, baselines
        )
    baseline_files = {
        task: [
            f"{predictions_dir.name}/baselines/seed-{seed}/"
            + save_predictions(
                predictions_dir / "baselines" / f"seed-{seed}",
                data.test,
                {task: predictions},
                test_candidates,
            )[0]
            for seed, predictions in zip(baseline_seeds(combination), runs, strict=True)
        ]
        for task, runs in baselines.items()
    }
    trained = fit.trained
    record = {
        "tasks": {
            head.task: {
                "type": head.task_type.value,
                "label_field": head.label_field,
                "loss": head.loss,
                "primary_metric": fit.test_run.tasks[head.task].primary_metric,
                "directions": {
                    name: "higher" if METRICS[name].direction > 0 else "lower"
                    for name in task_metric_names(fit.test_run.tasks[head.task])
                },
                "n_test": len(fit.test_run.tasks[head.task].y_pred),
                **(
                    {"ranking": _ranking_facts(fit.test_run.tasks[head.task])}
                    if head.task_type is TaskType.RANKING
                    else {}
                ),
            }
            for head in heads
        },
        "metrics": metrics,
        "reference": {"trivial": trivial},
        "training": {
            "epochs_run": len(trained.history),
            "best_epoch": trained.best_epoch,
            "best_validation_score": trained.best_validation_score,
            "selection_rule": SELECTION_RULE,
            "lr": fit.lr,  # the learning rate the kept model trained at
            "validation_reference": trained.validation_reference,
            "stopped_early": trained.stopped_early,
            "steps": trained.steps,
            "train_seconds": trained.train_seconds,
            "n_train": len(fit.train_split),
            "n_validation": len(fit.val_enc),
            "history": trained.history,
            "architecture": fit.architecture,
            "loss_weighting": combination.training.loss_weighting,
            "precision": effective_precision(device, combination.training.precision),
            "gate_weights": {
                task: [float(w) for w in weights]
                for task, weights in (expert_gates(fit.model.tower) or {}).items()
            },
            **fit.details,
            # training.lr as a list: each rate tried -> validation score, and the one kept
            **({"lr_search": dict(fit.lr_search)} if fit.lr_search is not None else {}),
        },
        "efficiency": efficiency,
        "fairness": fairness,
        "predictions": {
            head.task: f"{predictions_dir.name}/{name}"
            for head, name in zip(heads, files, strict=True)
        },
    }
    record["prediction_context"] = {
        name: f"{predictions_dir.name}/{file}" for name, file in context_files.items()
    }
    record["validation_predictions"] = validation_files
    if baseline_files:
        record["baseline_predictions"] = baseline_files
    if combination.domain.transfer is not None:
        with phase("baselines", whole=True):  # the target-alone reference: a fit of its own
            record["transfer"] = transfer_gain(
                combination,
                host,
                cache,
                data=data,
                head_set=head_set,
                device=device,
                stage=fit.transfer or {},
                metrics=metrics,
            )
    if combination.explain is not None:  # last: the model is still here, every figure taken
        with phase("explain"):
            record["explanations"] = explain_combination(
                combination,
                host,
                model=model,
                test_split=data.test,
                test_tokens=test_enc,
                device=device,
                predictions_dir=predictions_dir,
            )
    if combination.output.save_model:  # last: a record that fails on the way saves nothing
        run_dir = predictions_dir.parent.parent
        record["model"] = save_checkpoint(
            model,
            run_dir / MODELS / combination.key,
            description=describe_fit(
                combination,
                fit,
                family=backbone_spec.family,
                head_set=head_set,
                label_fields=data.label_fields,
            ),
            relative_to=run_dir,
        )
    return record


def _ranking_facts(predictions: TaskPredictions) -> dict[str, Any]:
    """How a ranking task's lists were drawn, for the record (the files hold the rest)."""
    info = predictions.ranking
    assert info is not None
    return {
        "protocol": info.protocol,
        "negatives": info.negatives,
        "sampling": info.sampling,
        "relevance": info.relevance,
        "k": list(info.ks),
        "candidate_seed": info.seed,
        "users": len(predictions.y_pred),
        "catalogue": len(info.catalogue),
        "reference": "most-popular",
    }
