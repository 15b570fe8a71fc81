"""The measured parts of a record: cost as served, and each fairness metric's result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.efficiency import (
    flops_per_sample,
    measure_latency,
    model_flops_utilisation,
    parameter_counts,
    uncached,
)
from mtrec.model.batching import Batchable
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.strategies import ServingPath
from mtrec.model.training import TrainResult
from mtrec.plugin_host import PluginHost
from mtrec.run.phases import phase
from mtrec.run.plugin_calls import call_plugin
from mtrec.run.plugin_values import NotJsonError, json_value
from mtrec.specs import (
    DomainData,
    FairnessContext,
    FairnessMetricSpec,
    TaskPredictions,
)


def measure_cost(
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
        with phase("latency"):
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
            with phase("flops"):
                flops = (
                    flops_per_sample(end_to_end, serving.split, device) if measure.flops else None
                )
    inference_rate = inference_samples / inference_seconds if inference_seconds else 0.0
    return {
        "latency_ms": latency,
        "latency_ms_cached": cached_latency,
        "seq_len_median": (
            # token counts where the model reads tokens (a hybrid's too); None otherwise
            None
            if (lengths := getattr(test_enc, "lengths", None)) is None
            else float(np.median(lengths))
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


def selected_fairness(host: PluginHost, selected: list[str] | None) -> list[FairnessMetricSpec]:
    registry = host.registries.fairness_metrics
    return [registry.get(name) for name in (selected if selected is not None else registry.names())]


def fairness_results(
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
        context=dict(data.test.context),
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
    return {spec.name: fairness_metric(host, spec, context) for spec in selected}


def fairness_metric(host: PluginHost, spec: FairnessMetricSpec, context: FairnessContext) -> Any:
    """One metric's JSON-ready result, or ``{"error": reason}``: a metric that raises or
    returns what JSON cannot hold fails alone; the combination and other metrics stand."""
    try:
        result = call_plugin(host, "fairness_metrics", spec.name, spec.compute, context=context)
        return json_value(result)
    except CombinationError as exc:
        return {"error": str(exc)}
    except NotJsonError as exc:
        provider = host.provider_of("fairness_metrics", spec.name)
        return {
            "error": f"fairness metric '{spec.name}' ({provider.describe()}) returned a value "
            f"that is not JSON {exc}"
        }
