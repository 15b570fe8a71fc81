"""The multi-task model: one backbone forward per batch, pooled, fed to every head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.specs import HeadSetSpec, HeadSpec, LabelField, Pooling, TaskType


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """[B, L, H] token states -> [B, H]; assumes right padding."""
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    if pooling is Pooling.MEAN:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    last = attention_mask.sum(dim=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class TaskHead(nn.Module):
    """Dropout + (optional hidden layer) + output layer for one task."""

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(
        self, spec: HeadSpec, in_features: int, out_features: int, *, hidden: int, dropout: float
    ) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout)]
            in_features = hidden
        layers.append(nn.Linear(in_features, out_features))
        self.net = nn.Sequential(*layers)
        # Regression targets are standardised with train statistics so every loss starts
        # on a comparable scale; predictions are mapped back before they leave the model.
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(pooled)
        return out if self.spec.task_type is TaskType.MULTICLASS else out.squeeze(-1)


class MultiTaskModel(nn.Module):
    """A shared backbone (hard parameter sharing) with one head per task."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        hidden_size: int,
        pooling: Pooling,
        head_set: HeadSetSpec,
        label_fields: Mapping[str, LabelField],
        dropout: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.heads = nn.ModuleDict()
        for spec in head_set.heads:
            width = (
                len(label_fields[spec.label_field].classes)
                if (spec.task_type is TaskType.MULTICLASS)
                else 1
            )
            self.heads[spec.task] = TaskHead(
                spec, hidden_size, width, hidden=head_set.hidden_size, dropout=dropout
            )

    def head_specs(self) -> list[HeadSpec]:
        return [head.spec for head in self.task_heads()]

    def task_heads(self) -> list[TaskHead]:
        return [head for head in self.heads.values() if isinstance(head, TaskHead)]

    def set_target_scaling(self, train_labels: Mapping[str, np.ndarray]) -> None:
        for head in self.task_heads():
            if head.spec.task_type is TaskType.REGRESSION:
                values = train_labels[head.spec.label_field].astype(np.float64)
                head.target_mean.fill_(float(values.mean()))
                head.target_std.fill_(float(values.std()) or 1.0)

    def forward(self, **inputs: Any) -> dict[str, torch.Tensor]:
        """Raw head outputs (logits, standardised values) per task, from ONE backbone pass."""
        attention_mask = inputs["attention_mask"]
        hidden = self.backbone(**inputs).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        return {head.spec.task: head(pooled) for head in self.task_heads()}


def task_loss(head: TaskHead, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The head's loss: cross-entropy, MSE on standardised targets, or BCE with logits."""
    loss = head.spec.loss
    if loss == "cross_entropy":
        return nn.functional.cross_entropy(output.float(), target.long())
    if loss == "mse":
        scaled = (target.float() - head.target_mean) / head.target_std
        return nn.functional.mse_loss(output.float(), scaled)
    if loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(output.float(), target.float())
    raise ValueError(f"head '{head.spec.task}' asks for unknown loss '{loss}'")


def decode_outputs(
    head: TaskHead, output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Head output -> (prediction, score): class, value, or (0/1 decision, probability)."""
    kind = head.spec.task_type
    if kind is TaskType.MULTICLASS:
        return output.argmax(dim=-1), None
    if kind is TaskType.REGRESSION:
        return output.float() * head.target_std + head.target_mean, None
    probability = torch.sigmoid(output.float())
    return (probability >= 0.5).long(), probability
