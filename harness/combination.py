"""Running one combination: build, train, evaluate, measure, fairness -> a record.

Everything a combination needs from earlier work (domain data, tokenized splits) comes from a
:class:`SweepCache`, so a domain is generated once and a split is tokenized once per
(tokenizer, domain, max length), whatever the number of head sets and seeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.architectures import expert_gates
from harness.batching import Batchable, EncodedSplit
from harness.efficiency import (
    flops_per_sample,
    measure_latency,
    model_flops_utilisation,
    parameter_counts,
    track_memory,
)
from harness.errors import CombinationError
from harness.evaluation import predict, save_predictions, score_tasks, validation_score
from harness.matrix import Combination
from harness.model import MultiTaskModel
from harness.paths import cache_dir
from harness.plugin_host import PluginHost
from harness.specs import (
    DomainData,
    DomainSplit,
    FairnessContext,
    Family,
    HeadSetSpec,
    LoadedBackbone,
    TaskType,
)
from harness.strategies import FeatureCache, accepts_segments, prepare
from harness.tasks import LOSSES, METRICS, TASK_METRICS, primary_metric, trivial_predictions
from harness.token_cache import TokenCache
from harness.training import TrainResult, effective_precision, train

EpochCallback = Callable[[int, float, float], None]


@dataclass
class SweepCache:
    """Work shared between the combinations of one sweep (in this process)."""

    domains: dict[str, DomainData] = field(default_factory=dict)
    tokens: TokenCache = field(default_factory=lambda: TokenCache(cache_dir() / "tokens"))
    features: FeatureCache = field(default_factory=FeatureCache)  # frozen-backbone features


def domain_cache_key(combination: Combination) -> str:
    return json.dumps(
        {
            "name": combination.domain.name,
            "options": combination.domain.options,
            "seed": combination.seed,
        },
        sort_keys=True,
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
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    head_set = registries.head_sets.get(combination.head_set.name)
    reason = backbone_spec.available()
    if reason:
        raise CombinationError(f"backbone '{backbone_spec.name}' is not available: {reason}")
    data = _load_domain(combination, host, cache)
    _check_head_set(head_set, data, combination.domain.name)

    config = combination.training
    torch.manual_seed(combination.seed)
    np.random.seed(combination.seed % 2**32)
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
    train_split = data.train
    if config.max_train_samples is not None and config.max_train_samples < len(train_split):
        train_split = _head(train_split, config.max_train_samples)
    splits = {"train": train_split, "validation": data.validation, "test": data.test}

    architecture = registries.architectures.get(config.architecture or head_set.architecture)

    def build_model(encoder: torch.nn.Module, width: int) -> MultiTaskModel:
        return MultiTaskModel(
            encoder,
            out_features=width,
            head_set=head_set,
            label_fields=data.label_fields,
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
    )
    model = prepared.model
    model.set_target_scaling(train_split.labels)
    model.to(device)
    train_enc = prepared.splits["train"]
    val_enc = prepared.splits["validation"]
    test_enc = prepared.splits["test"]
    # Counted before any compilation: the count depends on the architecture and the test
    # batch, not on the weights.
    flops = flops_per_sample(model, test_enc, device) if combination.measure.flops else None
    if config.compile:
        model.encoder = torch.compile(model.encoder)  # type: ignore[assignment]

    heads = model.head_specs()
    val_reference = score_tasks(
        {
            head.task: trivial_predictions(
                head.task,
                head.task_type,
                train_split.labels[head.label_field],
                val_enc.labels[head.label_field],
            )
            for head in heads
        }
    )

    def validate() -> float:
        run = predict(model, val_enc, batch_size=config.eval_batch_size, device=device)
        return validation_score(score_tasks(run.tasks), val_reference, run.tasks)

    with track_memory(device) as train_memory:
        trained = (
            train(
                model,
                train_enc,
                validate,
                config,
                device=device,
                seed=combination.seed,
                on_epoch=on_epoch,
                weighting=registries.loss_weightings.get(config.loss_weighting).build(
                    tasks=tuple(head.task for head in heads), **config.loss_weighting_options
                ),
            )
            if prepared.trains
            else TrainResult()
        )

    with track_memory(device) as inference_memory:
        test_run = predict(model, test_enc, batch_size=config.eval_batch_size, device=device)
    metrics = score_tasks(test_run.tasks)
    files = save_predictions(predictions_dir, data.test, test_run.tasks)
    trivial = score_tasks(
        {
            head.task: trivial_predictions(
                head.task,
                head.task_type,
                train_split.labels[head.label_field],
                test_enc.labels[head.label_field],
            )
            for head in heads
        }
    )

    efficiency = _measure(
        model, test_enc, combination, device, trained, test_run.samples, test_run.seconds, flops
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
    efficiency["params"] += int(prepared.details.get("frozen_backbone_params", 0))
    fairness = _fairness(host, fairness_metrics, combination, test_run.tasks, data, metrics)
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
            "stopped_early": trained.stopped_early,
            "steps": trained.steps,
            "train_seconds": trained.train_seconds,
            "n_train": len(train_enc),
            "n_validation": len(val_enc),
            "history": trained.history,
            "architecture": architecture.name,
            "loss_weighting": config.loss_weighting,
            "precision": effective_precision(device, config.precision),
            "gate_weights": {
                task: [float(w) for w in weights]
                for task, weights in (expert_gates(model.tower) or {}).items()
            },
            **prepared.details,
        },
        "efficiency": efficiency,
        "fairness": fairness,
        "predictions": {
            head.task: f"{predictions_dir.name}/{name}"
            for head, name in zip(heads, files, strict=True)
        },
    }
    return record


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


def _load_domain(combination: Combination, host: PluginHost, cache: SweepCache) -> DomainData:
    key = domain_cache_key(combination)
    if key not in cache.domains:
        spec = host.registries.domains.get(combination.domain.name)
        cache.domains[key] = _call_plugin(
            host,
            "domains",
            spec.name,
            spec.load,
            seed=combination.seed,
            **combination.domain.options,
        )
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
) -> dict[str, Any]:
    total, trainable = parameter_counts(model)
    measure = combination.measure
    latency = {
        str(size): measure_latency(model, test_enc, size, measure, device)
        for size in measure.latency_batch_sizes
    }
    inference_rate = inference_samples / inference_seconds if inference_seconds else 0.0
    return {
        "latency_ms": latency,
        "seq_len_median": (
            float(np.median(test_enc.lengths)) if isinstance(test_enc, EncodedSplit) else None
        ),
        "train_samples_per_s": trained.train_samples_per_second,
        "inference_samples_per_s": inference_rate,
        "params": total,
        "trainable_params": trainable,
        "flops_per_sample": flops,
        "mfu": model_flops_utilisation(flops, inference_rate, device),
        "device": str(device),
    }


def _fairness(
    host: PluginHost,
    selected: list[str] | None,
    combination: Combination,
    tasks: Mapping[str, Any],
    data: DomainData,
    metrics: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    registry = host.registries.fairness_metrics
    names = selected if selected is not None else registry.names()
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
        seed=combination.seed,
    )
    results: dict[str, Any] = {}
    for name in names:
        spec = registry.get(name)
        results[name] = _call_plugin(host, "fairness_metrics", name, spec.compute, context=context)
    return results
