"""Running one combination: build, train, evaluate, measure, fairness -> a record.

Everything a combination needs from earlier work (domain data, tokenized splits) comes from a
:class:`SweepCache`, so a domain is generated once and a split is tokenized once per
(tokenizer, domain, max length), whatever the number of head sets and seeds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrec import version
from mtrec.cache_files import read_arrays, write_arrays
from mtrec.config import TrainingConfig, TransferConfig
from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.efficiency import (
    PhaseMemory,
    flops_per_sample,
    measure_latency,
    model_flops_utilisation,
    parameter_counts,
    track_memory,
    uncached,
)
from mtrec.measure.evaluation import (
    PredictionRun,
    predict,
    save_predictions,
    score_tasks,
    validation_score,
)
from mtrec.measure.predictions import save_item_counts, save_train_labels
from mtrec.measure.tasks import (
    LOSSES,
    METRICS,
    SELECTION_RULE,
    TASK_METRICS,
    primary_metric,
    relative_gain,
    trivial_predictions,
)
from mtrec.model.architectures import expert_gates
from mtrec.model.batching import Batchable, EncodedSplit
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.strategies import FeatureCache, ServingPath, accepts_segments, prepare
from mtrec.model.token_cache import TokenCache
from mtrec.model.training import TrainResult, Validation, effective_precision, train
from mtrec.model.weighting import LossWeighting
from mtrec.paths import cache_dir
from mtrec.plugin_host import PluginHost
from mtrec.run.domain_checks import describe_problems, domain_problems
from mtrec.run.plugin_values import NotJsonError, json_value
from mtrec.specs import (
    DomainData,
    DomainSplit,
    FairnessContext,
    FairnessMetricSpec,
    Family,
    HeadSetSpec,
    HeadSpec,
    LoadedBackbone,
    TaskPredictions,
    TaskType,
)

EpochCallback = Callable[[int, float, float], None]


@dataclass
class SweepCache:
    """Work shared between the combinations of one sweep (in this process)."""

    domains: dict[str, DomainData] = field(default_factory=dict)
    tokens: TokenCache = field(default_factory=lambda: TokenCache(cache_dir() / "tokens"))
    features: FeatureCache = field(default_factory=FeatureCache)  # frozen-backbone features
    # Test predictions of variants (baselines, target-alone runs, plain combinations) by key.
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    baseline_trainings: int = 0  # single-task baselines trained (not reused) in this sweep


@dataclass(frozen=True, kw_only=True)
class Fit:
    """A model trained for one variant of a combination, and its test predictions."""

    model: MultiTaskModel
    heads: list[HeadSpec]
    details: Mapping[str, Any]  # strategy facts (prepare)
    trained: TrainResult
    train_split: DomainSplit  # after max_train_samples
    val_enc: Batchable
    test_enc: Batchable
    test_run: PredictionRun
    flops: float | None
    architecture: str
    memory: tuple[PhaseMemory, PhaseMemory]  # training, inference
    serving: ServingPath | None  # frozen: the uncached path, for end-to-end cost
    transfer: Mapping[str, Any] | None  # what the source stage did, when there was one
    # each epoch's validation predictions (task -> predictions), in epoch order
    validation_runs: Sequence[Mapping[str, TaskPredictions]] = ()


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
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    head_set = registries.head_sets.get(combination.head_set.name)
    reason = backbone_spec.available()
    if reason:
        raise CombinationError(f"backbone '{backbone_spec.name}' is not available: {reason}")
    data = _load_domain(
        combination.domain.name, combination.domain.options, combination, host, cache
    )
    _check_head_set(head_set, data, combination.domain.name)

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
    files = save_predictions(predictions_dir, data.test, fit.test_run.tasks)
    trivial = trivial_scores(heads, fit.train_split.labels, test_enc.labels)
    # What the trivial reference, item exposure and validation history are computed from.
    context_files = {
        "train_labels": save_train_labels(predictions_dir, heads, fit.train_split.labels),
        "items": save_item_counts(predictions_dir, data),
    }
    validation_files = {
        str(epoch): {
            task: f"{predictions_dir.name}/validation/epoch-{epoch}/{name}"
            for task, name in zip(
                tasks,
                save_predictions(
                    predictions_dir / "validation" / f"epoch-{epoch}", data.validation, tasks
                ),
                strict=True,
            )
        }
        for epoch, tasks in enumerate(fit.validation_runs, start=1)
    }

    train_memory, inference_memory = fit.memory
    efficiency = _measure(
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
    selected = _selected_fairness(host, fairness_metrics)
    baselines: dict[str, list[TaskPredictions]] = {}
    if any("baselines" in spec.needs for spec in selected):
        baselines = single_task_baselines(
            combination, host, cache, data=data, head_set=head_set, device=device
        )
    fairness = _fairness(host, selected, combination, fit.test_run.tasks, data, metrics, baselines)
    baseline_files = {
        task: [
            f"{predictions_dir.name}/baselines/seed-{seed}/"
            + save_predictions(
                predictions_dir / "baselines" / f"seed-{seed}", data.test, {task: predictions}
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
                "primary_metric": primary_metric(head.task_type),
                "directions": {
                    name: "higher" if METRICS[name].direction > 0 else "lower"
                    for name in TASK_METRICS[head.task_type]
                },
                "n_test": len(test_enc),
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
    return record


def fit_variant(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    training: TrainingConfig,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    count_flops: bool = False,
    transfer: TransferConfig | None = None,
) -> Fit:
    """Load the combination's backbone afresh, train ``head_set`` on ``data``, predict test.

    The combination itself, its single-task baselines and its target-alone reference are all
    variants: same backbone and domain, their own heads, seed and (for transfer) source stage.
    """
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    config = training
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    family = backbone_spec.family
    loaded: LoadedBackbone | None = None
    if family is not Family.TRIVIAL:
        loaded = _call_plugin(
            host,
            "backbones",
            backbone_spec.name,
            backbone_spec.load,
            **combination.backbone.options,
        )
        if not isinstance(loaded, LoadedBackbone):
            provider = host.provider_of("backbones", backbone_spec.name)
            raise CombinationError(
                f"backbone '{backbone_spec.name}' ({provider.describe()}) returned "
                f"{type(loaded).__name__} from its loader; expected LoadedBackbone"
            )
    train_split = data.train
    if config.max_train_samples is not None and config.max_train_samples < len(train_split):
        train_split = _head(train_split, config.max_train_samples)
    splits = {"train": train_split, "validation": data.validation, "test": data.test}

    architecture = registries.architectures.get(config.architecture or head_set.architecture)

    def build_model(
        encoder: torch.nn.Module, width: int, heads: HeadSetSpec = head_set, fields: Any = None
    ) -> MultiTaskModel:
        return MultiTaskModel(
            encoder,
            out_features=width,
            head_set=heads,
            label_fields=fields or data.label_fields,
            dropout=config.dropout,
            architecture=architecture,
            architecture_options=config.architecture_options,
        )

    encoded_splits = _no_text
    if loaded is not None and loaded.tokenizer is not None:
        tokenizer = loaded.tokenizer
        segments = family is Family.ENCODER and accepts_segments(loaded.model)

        def encoded_splits(split_name: str, split: DomainSplit) -> EncodedSplit:
            return cache.tokens.get(split, tokenizer, config.max_length, segments=segments)

    prepared = prepare(
        family=family,
        backbone_name=backbone_spec.name,
        loaded=loaded,
        pooling=combination.backbone.pooling,
        splits=splits,
        build_model=build_model,
        strategy=config.strategy,
        top_k=config.top_k,
        lora_r=config.lora_r,
        max_length=config.max_length,
        encoded_splits=encoded_splits,
        features=cache.features,
        device=device,
        precision=config.precision,
        backbone_options=combination.backbone.options,
    )
    model = prepared.model
    model.set_target_scaling(train_split.labels)
    model.to(device)
    train_enc = prepared.splits["train"]
    val_enc = prepared.splits["validation"]
    test_enc = prepared.splits["test"]
    # Counted before any compilation: the count depends on the architecture and the test
    # batch, not on the weights.
    flops = flops_per_sample(model, test_enc, device) if count_flops else None
    if config.compile:
        model.encoder = torch.compile(model.encoder)  # type: ignore[assignment]
    heads = model.head_specs()

    stage: dict[str, Any] | None = None
    if transfer is not None:
        if family not in (Family.ENCODER, Family.DECODER) or not prepared.trains:
            raise CombinationError(
                f"transfer needs a language backbone; '{backbone_spec.name}' is {family.value}"
            )
        if prepared.details.get("strategy") == "frozen":
            raise CombinationError(
                "transfer needs a backbone that trains (strategy full, top_k or lora), "
                "not frozen: a frozen backbone carries nothing from source to target"
            )
        stage = _source_stage(
            combination,
            host,
            cache,
            transfer=transfer,
            model=model,
            build_model=build_model,
            encoded_splits=encoded_splits,
            config=config,
            seed=seed,
            device=device,
        )

    weighting = registries.loss_weightings.get(config.loss_weighting).build(
        tasks=tuple(head.task for head in heads), **config.loss_weighting_options
    )
    validation_runs: list[Mapping[str, TaskPredictions]] = []
    with track_memory(device) as train_memory:
        trained = (
            _train_on(
                model,
                train_split,
                train_enc,
                val_enc,
                config,
                device=device,
                seed=seed,
                on_epoch=on_epoch,
                weighting=weighting,
                validation_runs=validation_runs,
            )
            if prepared.trains
            else TrainResult()
        )
    with track_memory(device) as inference_memory:
        test_run = predict(
            model,
            test_enc,
            batch_size=config.eval_batch_size,
            device=device,
            precision=config.precision,
        )
    return Fit(
        model=model,
        heads=heads,
        details=prepared.details,
        trained=trained,
        train_split=train_split,
        val_enc=val_enc,
        test_enc=test_enc,
        test_run=test_run,
        flops=flops,
        architecture=architecture.name,
        memory=(train_memory, inference_memory),
        serving=prepared.serving,
        transfer=stage,
        validation_runs=validation_runs,
    )


def trivial_scores(
    heads: Sequence[HeadSpec],
    train_labels: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
) -> dict[str, dict[str, float]]:
    """Every metric of the trivial predictor (fitted on the train labels) on ``labels``."""
    return score_tasks(
        {
            head.task: trivial_predictions(
                head.task, head.task_type, train_labels[head.label_field], labels[head.label_field]
            )
            for head in heads
        }
    )


def _train_on(
    model: MultiTaskModel,
    train_split: DomainSplit,
    train_enc: Batchable,
    val_enc: Batchable,
    config: TrainingConfig,
    *,
    device: torch.device,
    seed: int,
    on_epoch: EpochCallback | None,
    weighting: LossWeighting,
    validation_runs: list[Mapping[str, TaskPredictions]] | None = None,
) -> TrainResult:
    """Train with early stopping on the validation score (``tasks.SELECTION_RULE``)."""
    heads = model.head_specs()
    val_reference = trivial_scores(heads, train_split.labels, val_enc.labels)

    def validate() -> Validation:
        run = predict(
            model,
            val_enc,
            batch_size=config.eval_batch_size,
            device=device,
            precision=config.precision,
        )
        if validation_runs is not None:  # kept for the prediction files
            validation_runs.append(run.tasks)
        return validation_score(score_tasks(run.tasks), val_reference, run.tasks)

    return train(
        model,
        train_enc,
        validate,
        config,
        device=device,
        seed=seed,
        on_epoch=on_epoch,
        weighting=weighting,
    )


def _source_stage(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    transfer: TransferConfig,
    model: MultiTaskModel,
    build_model: Callable[..., MultiTaskModel],
    encoded_splits: Callable[[str, DomainSplit], EncodedSplit],
    config: TrainingConfig,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Train the target model's encoder multi-task on each source domain, in order.

    Each source gets its own heads (its head set) on the very encoder the target model
    holds, so whatever the sources teach the backbone is there when the target training
    starts; the source heads are dropped afterwards.
    """
    registries = host.registries
    width = _encoder_width(model)
    source_config = config.model_copy(
        update={
            "epochs": transfer.epochs or config.epochs,
            "max_train_samples": transfer.max_train_samples,
        }
    )
    done: list[dict[str, Any]] = []
    for index, source in enumerate(transfer.sources):
        data = _load_domain(source.name, source.options, combination, host, cache)
        head_set = registries.head_sets.get(source.head_set)
        _check_head_set(head_set, data, source.name)
        train_split = data.train
        if source_config.max_train_samples is not None:
            train_split = _head(train_split, source_config.max_train_samples)
        source_model = build_model(model.encoder, width, head_set, data.label_fields)
        source_model.set_target_scaling(train_split.labels)
        source_model.to(device)
        heads = source_model.head_specs()
        trained = _train_on(
            source_model,
            train_split,
            encoded_splits("train", train_split),
            encoded_splits("validation", data.validation),
            source_config,
            device=device,
            seed=seed + index,
            on_epoch=None,
            weighting=registries.loss_weightings.get(config.loss_weighting).build(
                tasks=tuple(head.task for head in heads), **config.loss_weighting_options
            ),
        )
        done.append(
            {
                "domain": source.name,
                "options": dict(source.options),
                "head_set": head_set.name,
                "n_train": len(train_split),
                "epochs_run": len(trained.history),
                "steps": trained.steps,
                "train_seconds": trained.train_seconds,
                "best_validation_score": trained.best_validation_score,
            }
        )
    return {"sources": done}


def _encoder_width(model: MultiTaskModel) -> int:
    return model.encoder_features


def _head(split: DomainSplit, n: int) -> DomainSplit:
    """The first ``n`` rows of a split (``training.max_train_samples``)."""
    return replace(
        split,
        ids=split.ids[:n],
        user_ids=split.user_ids[:n],
        item_ids=split.item_ids[:n],
        user_text=list(split.user_text)[:n],
        item_text=list(split.item_text)[:n],
        labels={k: v[:n] for k, v in split.labels.items()},
        sensitive={k: v[:n] for k, v in split.sensitive.items()},
    )


def _call_plugin(
    host: PluginHost, kind: str, name: str, function: Callable[..., Any], **kwargs: Any
) -> Any:
    """Call into a plugin; name the plugin in any error it raises."""
    try:
        return function(**kwargs)
    except CombinationError:
        raise
    except Exception as exc:
        provider = host.provider_of(kind, name)
        singular = {
            "backbones": "backbone",
            "domains": "domain",
            "fairness_metrics": "fairness metric",
        }[kind]
        raise CombinationError(
            f"{singular} '{name}' ({provider.describe()}) raised {type(exc).__name__}: {exc}"
        ) from exc


def _load_domain(
    name: str,
    options: Mapping[str, Any],
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
) -> DomainData:
    key = json.dumps(
        {"name": name, "options": dict(options), "seed": combination.seed}, sort_keys=True
    )
    if key not in cache.domains:
        spec = host.registries.domains.get(name)
        data = _call_plugin(host, "domains", spec.name, spec.load, seed=combination.seed, **options)
        # Checked here, once per load: nothing trains on (or writes files from) bad arrays.
        problems = domain_problems(
            data,
            declared_labels=spec.label_fields,
            declared_sensitive=spec.sensitive_attributes,
        )
        if problems:
            provider = host.provider_of("domains", spec.name)
            raise CombinationError(
                f"domain '{spec.name}' ({provider.describe()}) returned invalid data: "
                + describe_problems(problems)
            )
        cache.domains[key] = data
    return cache.domains[key]


def _check_head_set(head_set: HeadSetSpec, data: DomainData, domain: str) -> None:
    for head in head_set.heads:
        field_ = data.label_fields.get(head.label_field)
        if field_ is None:
            raise CombinationError(
                f"head set '{head_set.name}' needs label field '{head.label_field}' that "
                f"domain '{domain}' does not provide (it has: {', '.join(data.label_fields)})"
            )
        if field_.task_type is not head.task_type:
            raise CombinationError(
                f"head '{head.task}' of head set '{head_set.name}' is {head.task_type.value} "
                f"but label field '{head.label_field}' of domain '{domain}' is "
                f"{field_.task_type.value}"
            )
        if head.loss != LOSSES[head.task_type]:
            raise CombinationError(
                f"head '{head.task}' of head set '{head_set.name}': loss '{head.loss}' does not "
                f"fit a {head.task_type.value} task (use '{LOSSES[head.task_type]}')"
            )
        if head.task_type is TaskType.MULTICLASS and len(field_.classes) < 2:
            raise CombinationError(
                f"label field '{head.label_field}' of domain '{domain}' declares fewer than "
                "2 classes"
            )


def _no_text(split_name: str, split: DomainSplit) -> EncodedSplit:
    raise CombinationError("this backbone has no tokenizer: it cannot read text")


def _measure(
    model: MultiTaskModel,
    test_enc: Batchable,
    combination: Combination,
    device: torch.device,
    trained: TrainResult,
    inference_samples: int,
    inference_seconds: float,
    flops: float | None,
    serving: ServingPath | None = None,
) -> dict[str, Any]:
    """Cost of the trained model as it would be served.

    With a feature cache (strategy ``frozen``) a request with new texts runs the backbone
    too: ``latency_ms`` and ``flops_per_sample`` are that end-to-end cost (what the Pareto
    front and ``compare`` read), ``latency_ms_cached`` and ``flops_per_sample_cached`` the cost
    when both texts' features are cached. Without a cache the ``_cached`` fields are null.
    """
    total, trainable = parameter_counts(model)
    measure = combination.measure

    def latencies(served: MultiTaskModel, rows: Batchable) -> dict[str, Any]:
        return {
            str(size): measure_latency(
                served, rows, size, measure, device, combination.training.precision
            )
            for size in measure.latency_batch_sizes
        }

    latency = latencies(model, test_enc)
    cached_latency, cached_flops = None, None
    if serving is not None:
        cached_latency, cached_flops = latency, flops
        with uncached(model, serving.encoder, device) as end_to_end:
            latency = latencies(end_to_end, serving.split)
            flops = flops_per_sample(end_to_end, serving.split, device) if measure.flops else None
    inference_rate = inference_samples / inference_seconds if inference_seconds else 0.0
    return {
        "latency_ms": latency,
        "latency_ms_cached": cached_latency,
        "seq_len_median": (
            float(np.median(test_enc.lengths)) if isinstance(test_enc, EncodedSplit) else None
        ),
        "train_samples_per_s": trained.train_samples_per_second,
        "inference_samples_per_s": inference_rate,
        "params": total,
        "trainable_params": trainable,
        "flops_per_sample": flops,
        "flops_per_sample_cached": cached_flops,
        # throughput was measured on the path test prediction took (cached, if any)
        "mfu": model_flops_utilisation(
            cached_flops if serving is not None else flops, inference_rate, device
        ),
        "device": str(device),
    }


def _selected_fairness(host: PluginHost, selected: list[str] | None) -> list[FairnessMetricSpec]:
    registry = host.registries.fairness_metrics
    return [registry.get(name) for name in (selected if selected is not None else registry.names())]


def _fairness(
    host: PluginHost,
    selected: list[FairnessMetricSpec],
    combination: Combination,
    tasks: Mapping[str, TaskPredictions],
    data: DomainData,
    metrics: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, list[TaskPredictions]],
) -> dict[str, Any]:
    context = FairnessContext(
        combination_key=combination.key,
        tasks=tasks,
        sensitive=dict(data.test.sensitive),
        metrics=metrics,
        user_ids=np.asarray(data.test.user_ids),
        item_ids=np.asarray(data.test.item_ids),
        train_item_ids=np.asarray(data.train.item_ids),
        n_items=len(
            set(np.asarray(data.train.item_ids).tolist())
            | set(np.asarray(data.validation.item_ids).tolist())
            | set(np.asarray(data.test.item_ids).tolist())
        ),
        baselines=baselines,
        bootstrap_resamples=combination.fairness.bootstrap_resamples,
        top_k=combination.fairness.top_k,
        seed=combination.seed,
        min_group_users=combination.fairness.min_group_users,
    )
    return {spec.name: _fairness_metric(host, spec, context) for spec in selected}


def _fairness_metric(host: PluginHost, spec: FairnessMetricSpec, context: FairnessContext) -> Any:
    """One metric's JSON-ready result, or ``{"error": reason}``: a metric that raises or
    returns what JSON cannot hold fails alone; the combination and other metrics stand."""
    try:
        result = _call_plugin(host, "fairness_metrics", spec.name, spec.compute, context=context)
        return json_value(result)
    except CombinationError as exc:
        return {"error": str(exc)}
    except NotJsonError as exc:
        provider = host.provider_of("fairness_metrics", spec.name)
        return {
            "error": f"fairness metric '{spec.name}' ({provider.describe()}) returned a value "
            f"that is not JSON {exc}"
        }


# --------------------------------------------------------------------------------------
# variants: single-task baselines and the target-alone reference of a transfer
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What a variant leaves for others to compare against: its test predictions.

    Only predictions: labels are not determined by the variant's key alone (a plugin can
    change its data), so they are attached from the test split being scored now
    (:meth:`on`), never stored with the predictions.
    """

    tasks: Mapping[str, OutcomeTask]

    @classmethod
    def of(cls, tasks: Mapping[str, TaskPredictions], heads: Sequence[HeadSpec]) -> Outcome:
        fields = {head.task: head.label_field for head in heads}
        return cls(
            tasks={
                task: OutcomeTask(
                    task_type=p.task_type,
                    label_field=fields[task],
                    primary_metric=p.primary_metric,
                    y_pred=p.y_pred,
                    score=p.score,
                )
                for task, p in tasks.items()
            }
        )

    def on(self, labels: Mapping[str, np.ndarray]) -> dict[str, TaskPredictions]:
        """The predictions paired with ``labels`` (label field -> values of the test split)."""
        return {
            task: TaskPredictions(
                task=task,
                task_type=info.task_type,
                y_true=label_array(info.task_type, labels[info.label_field]),
                y_pred=info.y_pred,
                score=info.score,
                primary_metric=info.primary_metric,
            )
            for task, info in self.tasks.items()
        }

    def fits(self, labels: Mapping[str, np.ndarray]) -> bool:
        """Whether every task has a label column of the same length as its predictions."""
        return all(
            info.label_field in labels and len(labels[info.label_field]) == len(info.y_pred)
            for info in self.tasks.values()
        )

    def save(self, path: Path, key: str) -> None:
        """One ``.npz`` (arrays, task table, key and checksum), written atomically."""
        arrays: dict[str, Any] = {}
        table: dict[str, Any] = {}
        for task, p in self.tasks.items():
            arrays[f"{task}.y_pred"] = p.y_pred
            if p.score is not None:
                arrays[f"{task}.score"] = p.score
            table[task] = {
                "type": p.task_type.value,
                "label_field": p.label_field,
                "primary_metric": p.primary_metric,
            }
        arrays["__tasks__"] = np.asarray(json.dumps(table))
        write_arrays(path, key, arrays)

    @classmethod
    def load(cls, path: Path, key: str) -> Outcome | None:
        """The outcome stored under ``key``; None when absent, damaged or of another key."""
        archive = read_arrays(path, key)
        if archive is None:
            return None
        try:
            table = json.loads(str(archive["__tasks__"]))
            tasks = {
                task: OutcomeTask(
                    task_type=TaskType(info["type"]),
                    label_field=info["label_field"],
                    primary_metric=info["primary_metric"],
                    y_pred=archive[f"{task}.y_pred"],
                    score=archive.get(f"{task}.score"),
                )
                for task, info in table.items()
            }
        except (KeyError, ValueError, TypeError):
            return None  # an older layout: train it again
        return cls(tasks=tasks)


@dataclass(frozen=True, kw_only=True)
class OutcomeTask:
    """One task of an outcome: predictions and which label column they are scored against."""

    task_type: TaskType  # decides metrics and the label dtype
    label_field: str  # the domain label column holding y_true
    primary_metric: str  # the metric that ranks this task
    y_pred: np.ndarray  # predicted class / 0-1 decision / value, in test row order
    score: np.ndarray | None  # probabilities where the task has them


def label_array(task_type: TaskType, values: np.ndarray) -> np.ndarray:
    """Labels as predictions carry them: float64 targets, int64 classes and 0/1 flags."""
    return np.asarray(values, dtype=np.float64 if task_type is TaskType.REGRESSION else np.int64)


def _outcome(
    cache: SweepCache,
    key: str,
    produce: Callable[[], Fit],
    labels: Mapping[str, np.ndarray],
) -> dict[str, TaskPredictions]:
    """A variant's test predictions from this sweep, else from disk, else trained now (and
    kept), always scored against ``labels``: the test split of the combination asking."""
    outcome = cache.outcomes.get(key)
    path = cache_dir() / "outcomes" / f"{key}.npz"
    if outcome is None or not outcome.fits(labels):
        outcome = Outcome.load(path, key)
    if outcome is None or not outcome.fits(labels):
        fit = produce()
        outcome = Outcome.of(fit.test_run.tasks, fit.heads)
        outcome.save(path, key)
    cache.outcomes[key] = outcome
    return outcome.on(labels)


def _variant_key(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps({**parts, "mtrec": version.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _providers(host: PluginHost, combination: Combination, *kinds: str) -> list[str]:
    """'distribution version' of the plugins providing the combination's items of ``kinds``."""
    names = {
        "backbones": combination.backbone.name,
        "head_sets": combination.head_set.name,
        "domains": combination.domain.name,
    }
    providers = [host.provider_of(kind, names[kind]) for kind in kinds]
    return [f"{p.distribution} {p.version}" for p in providers]


def plain_variant_key(combination: Combination, host: PluginHost) -> str:
    """Outcome-cache key of a combination trained on its own domain (no transfer).

    Like the single-task baselines' keys it holds the mtrec version and the versions of the
    plugins providing the backbone, head set and domain: an upgrade trains it again.
    """
    return _variant_key(
        {
            "kind": "combination",
            "combination": combination.key,
            "providers": _providers(host, combination, "backbones", "head_sets", "domains"),
        }
    )


def baseline_seeds(combination: Combination) -> list[int]:
    """Training seeds of the single-task baselines; data always comes from the combination's."""
    return [combination.seed + offset for offset in range(combination.fairness.baseline_seeds)]


def single_task_baselines(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    device: torch.device,
) -> dict[str, list[TaskPredictions]]:
    """Each task trained alone on the same backbone, domain and budget, once per key.

    The key holds the backbone, domain, data seed, training seed, training settings and the
    head, not the head set: every head set (and run) with that task reuses the same baseline.
    A single-task model keeps the combination's architecture (a one-task tower: same experts
    and widths), so only the sharing differs; loss weighting is moot with one task (equal).
    Baselines of the trivial backbone would be the trivial predictor itself, so there are none.
    """
    family = host.registries.backbones.get(combination.backbone.name).family
    if family is Family.TRIVIAL or len(head_set.heads) < 2 or not baseline_seeds(combination):
        return {}
    training = combination.training.model_copy(
        update={
            "architecture": combination.training.architecture or head_set.architecture,
            "loss_weighting": "equal",
            "loss_weighting_options": {},
            "compile": False,
        }
    )
    common = {
        # a new release of the backbone's or domain's plugin may change what they give
        "providers": _providers(host, combination, "backbones", "domains"),
        "backbone": combination.backbone.model_dump(mode="json", exclude={"training"}),
        "domain": {"name": combination.domain.name, "options": combination.domain.options},
        "data_seed": combination.seed,
        "training": training.model_dump(mode="json"),
    }
    baselines: dict[str, list[TaskPredictions]] = {}
    for head in head_set.heads:
        alone = HeadSetSpec(
            name=f"{head.task} alone",
            heads=(head,),
            architecture=head_set.architecture,
            hidden_size=head_set.hidden_size,
        )
        runs = []
        for seed in baseline_seeds(combination):
            key = _variant_key(
                {
                    **common,
                    "kind": "single-task",
                    "seed": seed,
                    "head": asdict(head),
                    "hidden_size": head_set.hidden_size,
                }
            )

            def produce(seed: int = seed, alone: HeadSetSpec = alone) -> Fit:
                cache.baseline_trainings += 1
                return fit_variant(
                    combination,
                    host,
                    cache,
                    data=data,
                    head_set=alone,
                    training=training,
                    seed=seed,
                    device=device,
                )

            runs.append(_outcome(cache, key, produce, data.test.labels)[head.task])
        baselines[head.task] = runs
    return baselines


def transfer_gain(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    device: torch.device,
    stage: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    """Compare the transferred model with the same combination trained on the target alone.

    Same backbone, heads, seed and target budget; only the source stage differs. The
    target-alone run is the plain combination: when the suite has it too, it is trained once.
    """
    alone = replace(combination, domain=combination.domain.model_copy(update={"transfer": None}))

    def produce() -> Fit:
        return fit_variant(
            alone,
            host,
            cache,
            data=data,
            head_set=head_set,
            training=alone.training,
            seed=alone.seed,
            device=device,
        )

    outcome = _outcome(cache, plain_variant_key(alone, host), produce, data.test.labels)
    reference = score_tasks(outcome)
    gains: dict[str, float] = {}
    for task, predictions in outcome.items():
        name = predictions.primary_metric
        gains[task] = relative_gain(
            metrics[task][name], reference[task][name], METRICS[name].direction
        )
    return {
        **stage,
        "target_alone_key": alone.key,
        "target_alone": reference,
        "gain": gains,
        "mean_gain": float(np.mean(list(gains.values()))) if gains else None,
    }
