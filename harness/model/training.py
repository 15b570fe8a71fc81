"""Training one combination: AdamW, early stopping on validation, best checkpoint restored.

The hot loop keeps the device busy: batches are pre-tokenized, padded per batch and moved
with non-blocking copies; the running loss is summed on the device and read once per epoch.
Test data never reaches this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mtrec.config import TrainingConfig
from mtrec.model.batching import Batchable, iterate_batches
from mtrec.model.multitask import MultiTaskModel, task_loss
from mtrec.model.weighting import WEIGHTINGS, LossWeighting, TaskLossMeter

EpochCallback = Callable[[int, float, float], None]  # (epoch, train loss, validation score)


@dataclass(frozen=True, kw_only=True)
class Validation:
    """One epoch's validation: the selection score and what it was computed from."""

    score: float  # higher is better; early stopping and checkpoint selection read only this
    metrics: Mapping[str, float]  # task -> primary validation metric, kept in the history
    reference: Mapping[str, float]  # task -> the trivial predictor's on the same rows


Validate = Callable[[], Validation | float]  # a bare float: a score with nothing to record

# A NaN/inf loss is tracked on the device every step and read back this often (and at the end
# of each epoch), so a diverged run stops early without a host sync per step.
NONFINITE_CHECK_EVERY = 50


@dataclass(kw_only=True)
class TrainResult:
    """What training did, for the record."""

    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch
    best_epoch: int = 0  # 1-based epoch whose weights were restored
    best_validation_score: float = float("-inf")  # higher is better
    # task -> the trivial predictor's primary validation metric (what the score compares with)
    validation_reference: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False  # patience ran out before the last epoch
    train_seconds: float = 0.0  # wall time in optimisation steps
    train_samples: int = 0  # samples seen (all epochs)
    steps: int = 0  # optimiser steps taken

    @property
    def train_samples_per_second(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0


def build_optimizer(model: MultiTaskModel, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norms; heads (and a hybrid backbone's ID side)
    may take their own learning rate."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # heads, and a hybrid backbone's ID side (new layers, however the text side trains)
        is_head = name.startswith("heads.") or ".id_side." in f".{name}"
        decays = parameter.ndim > 1
        groups.setdefault((is_head, decays), []).append(parameter)
    if not isinstance(config.lr, float):
        raise ValueError("train one learning rate at a time (mtrec.run.fit tries a list)")
    lr = config.lr
    head_lr = config.head_lr or lr
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else lr,
                "weight_decay": config.weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in sorted(groups.items())
        ],
        # one fused kernel per tensor instead of a handful of passes over each: the update of
        # a large embedding table otherwise costs as much as the backward pass on a CPU
        fused=_fusable(model),
    )


def _fusable(model: torch.nn.Module) -> bool:
    """torch's fused AdamW takes floating-point parameters on the CPU or CUDA."""
    return all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters()
    )


def autocast_for(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """Mixed precision on CUDA: bf16 where supported (``auto``), or as asked; fp32 elsewhere.

    ``precision`` has no default on purpose: every forward pass (training, validation, test,
    latency) must run at the precision the suite configured and the record reports.
    """
    if device.type != "cuda" or precision == "fp32":
        return nullcontext()
    if precision == "fp16" or not torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def effective_precision(device: torch.device, precision: str) -> str:
    """What ``autocast_for`` will actually run, for the record."""
    if device.type != "cuda" or precision == "fp32":
        return "fp32"
    if precision == "fp16" or not torch.cuda.is_bf16_supported():
        return "fp16"
    return "bf16"


def fp32_master_weights(model: torch.nn.Module, precision: str) -> None:
    """Train in float32 whatever the checkpoint stores: a half-precision checkpoint (an
    ``hf:`` model saved in float16 or bfloat16) gets float32 trainable parameters, the master
    weights the optimizer updates (an fp16 step would round small updates away); autocast runs
    the matmuls in half precision anyway. Without autocast (``fp32``) the whole model is
    upcast, since frozen half-precision layers would meet float32 activations."""
    half = (torch.float16, torch.bfloat16)
    if precision == "fp32":
        if any(p.dtype in half for p in model.parameters()):
            model.float()
        return
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype in half:
            parameter.data = parameter.data.float()


def warmup_then_linear_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first ``warmup_ratio`` of the steps, then linear decay to 0.
    With ``warmup_ratio`` 0 the learning rate stays constant (the seed recipe)."""
    warmup = round(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if warmup == 0:
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(
    model: MultiTaskModel,
    train_split: Batchable,
    validate: Validate,
    config: TrainingConfig,
    *,
    device: torch.device,
    seed: int,
    on_epoch: EpochCallback | None = None,
    weighting: LossWeighting | None = None,
) -> TrainResult:
    """Train in place; ``validate`` returns a higher-is-better score over all tasks (with the
    per-task validation metrics it came from, which the history keeps)."""
    heads = {head.spec.task: head for head in model.task_heads()}
    label_fields = tuple(sorted({head.spec.label_field for head in heads.values()}))
    static = {task: head.spec.loss_weight for task, head in heads.items()}
    weighting = (weighting or WEIGHTINGS["equal"].build(tasks=tuple(heads))).to(device)
    precision = effective_precision(device, config.precision)
    fp32_master_weights(model, precision)
    optimizer = build_optimizer(model, config)
    for group in weighting.param_groups():
        optimizer.add_param_group(group)
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    accumulation = config.grad_accumulation
    batches_per_epoch = -(-len(train_split) // config.batch_size)
    total_steps = config.epochs * -(-batches_per_epoch // accumulation)
    scheduler = warmup_then_linear_decay(optimizer, total_steps, config.warmup_ratio)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    # The weighting sees unscaled losses; only what it differentiates gets the fp16 loss
    # scale and the 1/accumulation.
    weighting.use_loss_scale(lambda loss: scaler.scale(loss / accumulation))
    rng = np.random.default_rng(seed)
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    epochs_without_gain = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        meter = TaskLossMeter(weighting.tasks)
        started = time.perf_counter()
        batches = iterate_batches(
            train_split, config.batch_size, label_fields=label_fields, shuffle=True, rng=rng
        )
        optimizer.zero_grad(set_to_none=True)
        first_nonfinite = torch.zeros((), dtype=torch.long, device=device)  # 0: none yet
        for index, batch in enumerate(batches, start=1):
            batch = batch.to(device)
            with autocast_for(device, config.precision):
                outputs = model(**batch.model_inputs())
            losses = {
                task: static[task]
                * task_loss(head, outputs[task], batch.labels[head.spec.label_field])
                for task, head in heads.items()
            }
            meter.add(losses)
            step_loss = torch.stack([loss.detach().float() for loss in losses.values()]).sum()
            first_nonfinite = torch.where(
                torch.isfinite(step_loss) | (first_nonfinite > 0), first_nonfinite, index
            )
            if index % NONFINITE_CHECK_EVERY == 0:
                _stop_if_nonfinite(first_nonfinite, epoch)
            weighting.backward(losses, shared)  # true losses; ``scaled`` applies the scale
            result.train_samples += len(batch)
            if index % accumulation == 0 or index == batches_per_epoch:
                _step(model, optimizer, scaler, config.grad_clip)
                scheduler.step()
                result.steps += 1
        _stop_if_nonfinite(first_nonfinite, epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        result.train_seconds += time.perf_counter() - started
        task_losses = meter.means()  # one host sync per epoch
        weighting.end_epoch(task_losses)
        train_loss = float(sum(task_losses.values()))
        validation = validate()
        score = validation.score if isinstance(validation, Validation) else float(validation)
        if isinstance(validation, Validation):
            result.validation_reference = dict(validation.reference)
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss is {train_loss} at epoch {epoch}")
        result.history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "validation_score": score,
                **(
                    {"validation_metrics": dict(validation.metrics)}
                    if isinstance(validation, Validation)
                    else {}
                ),
                "task_losses": task_losses,
                "task_weights": weighting.current_weights(),
            }
        )
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


def _stop_if_nonfinite(first_nonfinite: torch.Tensor, epoch: int) -> None:
    step = int(first_nonfinite)
    if step:
        raise FloatingPointError(f"non-finite loss at epoch {epoch} step {step}")


def _step(
    model: MultiTaskModel,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    grad_clip: float | None,
) -> None:
    if grad_clip is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
