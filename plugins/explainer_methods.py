"""The built-in explainers' methods (``plugins/explainers.py``), imported when one runs.

Each takes the explained model (``mtrec.ExplainableModel``), a task, the positions of a chunk of
sampled rows, a seed and the number of path steps, and returns one attribution per row.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from mtrec import Pooling


def _per_row(model: Any, rows: np.ndarray, values: torch.Tensor) -> list[np.ndarray]:
    array = values.detach().double().cpu().numpy()
    return [array[slot, : model.unit_count(int(p))] for slot, p in enumerate(rows)]


def integrated_gradients(
    *, model: Any, task: str, rows: np.ndarray, seed: int, steps: int
) -> list[np.ndarray]:
    """Integrated gradients of the head's explained score over the unit embeddings, summed
    over the embedding dimensions (captum; Gauss-Legendre steps)."""
    from captum.attr import IntegratedGradients

    actual = model.embeddings(rows)
    baseline = model.baseline_embeddings(rows)
    method = IntegratedGradients(lambda embeddings: model.score(rows, embeddings, task))
    with torch.enable_grad():
        attributions = method.attribute(
            actual,
            baselines=baseline,
            n_steps=steps,
            internal_batch_size=len(rows) * min(steps, 8),
        )
    return _per_row(model, rows, attributions.sum(dim=-1))


def id_integrated_gradients(
    *, model: Any, task: str, rows: np.ndarray, seed: int, steps: int
) -> list[np.ndarray]:
    """Integrated gradients over the user and item embeddings (midpoint rule, zero baseline)."""
    actual = model.embeddings(rows)
    baseline = model.baseline_embeddings(rows)
    alphas = (torch.arange(steps, dtype=actual.dtype, device=actual.device) + 0.5) / steps
    path = baseline.unsqueeze(0) + alphas.view(-1, 1, 1, 1) * (actual - baseline).unsqueeze(0)
    path = path.reshape(-1, *actual.shape[1:]).requires_grad_(True)
    with torch.enable_grad():
        score = model.score(rows, path, task).sum()
        (gradients,) = torch.autograd.grad(score, path)
    mean_gradient = gradients.reshape(steps, *actual.shape).mean(dim=0)
    return _per_row(model, rows, ((actual - baseline) * mean_gradient).sum(dim=-1))


def attention_rollout(
    *, model: Any, task: str, rows: np.ndarray, seed: int, steps: int
) -> list[np.ndarray]:
    """Attention rollout to the pooled position (CLS, or the mean over real tokens)."""
    attentions, mask = model.attentions(rows)  # [layers, B, heads, L, L], [B, L]
    layers = attentions.mean(dim=2)
    identity = torch.eye(layers.shape[-1], device=layers.device)
    layers = layers + identity
    layers = layers / layers.sum(dim=-1, keepdim=True)
    rollout = layers[0]
    for layer in layers[1:]:
        rollout = layer @ rollout
    if model.pooling is Pooling.CLS:
        pooled = rollout[:, 0, :]
    else:
        weights = mask.to(rollout.dtype)
        pooled = (rollout * weights.unsqueeze(-1)).sum(dim=1) / weights.sum(dim=1, keepdim=True)
    return _per_row(model, rows, pooled)


def random_attribution(
    *, model: Any, task: str, rows: np.ndarray, seed: int, steps: int
) -> list[np.ndarray]:
    """Uniform random values, the same for the same (seed, row, task) on any machine."""
    out = []
    for position in rows:
        row = model.rows[int(position)]
        generator = np.random.default_rng([seed, row.id % 2**32, zlib.crc32(task.encode())])
        out.append(generator.uniform(size=model.unit_count(int(position))))
    return out
