"""Training one combination: AdamW, early stopping on validation, best checkpoint restored.

The hot loop keeps the device busy: batches are pre-tokenized, padded per batch and moved
with non-blocking copies; the running loss is summed on the device and read once per epoch.
Test data never reaches this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch

from harness.batching import Batchable, iterate_batches
from harness.config import TrainingConfig
from harness.model import MultiTaskModel, task_loss

EpochCallback = Callable[[int, float, float], None]  # (epoch, train loss, validation score)


@dataclass(kw_only=True)
class TrainResult:
    """What training did, for the record."""

    history: list[dict[str, float]] = field(default_factory=list)  # per epoch
    best_epoch: int = 0  # 1-based epoch whose weights were restored
    best_validation_score: float = float("-inf")  # higher is better
    stopped_early: bool = False  # patience ran out before the last epoch
    train_seconds: float = 0.0  # wall time in optimisation steps
    train_samples: int = 0  # samples seen (all epochs)
    steps: int = 0  # optimiser steps taken

    @property
    def train_samples_per_second(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0


def build_optimizer(model: MultiTaskModel, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norms; heads may take their own learning rate."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        is_head = name.startswith("heads.")
        decays = parameter.ndim > 1
        groups.setdefault((is_head, decays), []).append(parameter)
    head_lr = config.head_lr or config.lr
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else config.lr,
                "weight_decay": config.weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in sorted(groups.items())
        ]
    )


def autocast_for(device: torch.device) -> AbstractContextManager[object]:
    """bf16 autocast on CUDA where supported; full precision elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def train(
    model: MultiTaskModel,
    train_split: Batchable,
    validate: Callable[[], float],
    config: TrainingConfig,
    *,
    device: torch.device,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train in place; ``validate`` returns a higher-is-better score over all tasks."""
    heads = {head.spec.task: head for head in model.task_heads()}
    label_fields = tuple(sorted({head.spec.label_field for head in heads.values()}))
    weights = {task: head.spec.loss_weight for task, head in heads.items()}
    optimizer = build_optimizer(model, config)
    rng = np.random.default_rng(seed)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_gain = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)
        batches = 0
        started = time.perf_counter()
        for batch in iterate_batches(
            train_split, config.batch_size, label_fields=label_fields, shuffle=True, rng=rng
        ):
            batch = batch.to(device)
            with autocast_for(device):
                outputs = model(**batch.model_inputs())
            loss = sum(
                weights[task] * task_loss(head, outputs[task], batch.labels[head.spec.label_field])
                for task, head in heads.items()
            )
            assert isinstance(loss, torch.Tensor)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            loss_sum += loss.detach()
            batches += 1
            result.train_samples += len(batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_seconds += time.perf_counter() - started
        result.steps += batches
        train_loss = float(loss_sum) / max(batches, 1)  # one host sync per epoch
        score = validate()
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}")
        result.history.append({"epoch": epoch, "train_loss": train_loss, "validation_score": score})
        if on_epoch is not None:
            on_epoch(epoch, train_loss, score)
        if score > result.best_validation_score:
            result.best_validation_score = score
            result.best_epoch = epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
            if config.patience and epochs_without_gain >= config.patience:
                result.stopped_early = epoch < config.epochs
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
