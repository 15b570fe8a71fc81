"""Transfer: what the source stage gained over the same combination trained on the target alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from mtrec.contracts import Combination
from mtrec.measure.evaluation import (
    score_tasks,
)
from mtrec.measure.tasks import (
    METRICS,
    relative_gain,
)
from mtrec.plugin_host import PluginHost
from mtrec.run.baselines import plain_variant_key, variant_outcome
from mtrec.run.fit import Fit, fit_variant
from mtrec.run.ranking import ranking_truth
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import (
    DomainData,
    HeadSetSpec,
)


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

    outcome = variant_outcome(
        cache,
        plain_variant_key(alone, host),
        produce,
        data.test.labels,
        ranking_truth(alone, cache, data, head_set),
    )
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
