"""The multi-task model: one shared encoder forward per batch, a multi-task tower
(shared-bottom, MMoE, PLE, ...) giving each task its representation, and one head per task.

The encoder is what a backbone becomes under a fine-tuning strategy:

* :class:`TextPairEncoder`: a Hugging Face model over the (user text, item text) pair, pooled
  (full fine-tune, or top-k layers trainable);
* :class:`CachedFeatureEncoder`: frozen text features of the user and of the item, looked up
  from a table encoded once (frozen backbone + feature cache);
* any module taking ``user_ids`` / ``item_ids`` (ID-embedding baselines);
* :class:`ConstantEncoder`: no input at all (the trivial predictor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from mtrec.model.architectures import ARCHITECTURES, ArchitectureSpec, TaskTower
from mtrec.specs import HeadSetSpec, HeadSpec, LabelField, Pooling, TaskType


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """[B, L, H] token states -> [B, H]; assumes right padding."""
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    if pooling is Pooling.MEAN:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    last = attention_mask.sum(dim=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class TextPairEncoder(nn.Module):
    """A Hugging Face backbone over the tokenized pair, pooled to one vector."""

    def __init__(self, backbone: nn.Module, pooling: Pooling) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(**inputs).last_hidden_state
        return pool(hidden, inputs["attention_mask"], self.pooling)


class CachedFeatureEncoder(nn.Module):
    """Frozen features: [user; item; user * item] from tables encoded once per text."""

    user_features: torch.Tensor
    item_features: torch.Tensor

    def __init__(self, user_features: torch.Tensor, item_features: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("user_features", user_features, persistent=False)
        self.register_buffer("item_features", item_features, persistent=False)

    @property
    def out_features(self) -> int:
        return 3 * int(self.user_features.shape[1])

    def forward(self, user_rows: torch.Tensor, item_rows: torch.Tensor) -> torch.Tensor:
        user = self.user_features[user_rows]
        item = self.item_features[item_rows]
        return torch.cat([user, item, user * item], dim=-1)


class HybridEncoder(nn.Module):
    """A hybrid backbone: a text encoder (any of the above) whose vector a plugin's ID side
    (``LoadedBackbone.with_ids``) combines with learned user and item ID embeddings.

    The ID side's parameters are new layers: they train at ``head_lr`` under every strategy,
    frozen included (see ``build_optimizer``).
    """

    def __init__(self, text: nn.Module, id_side: nn.Module) -> None:
        super().__init__()
        self.text = text
        self.id_side = id_side
        width = getattr(id_side, "out_features", None)
        if not isinstance(width, int) or width < 1:
            raise TypeError(f"the ID side {type(id_side).__name__} has no int out_features")
        self.out_features = width

    def forward(
        self, user_ids: torch.Tensor, item_ids: torch.Tensor, **text_inputs: torch.Tensor
    ) -> torch.Tensor:
        text = self.text(**text_inputs).float()
        out: torch.Tensor = self.id_side(text, user_ids, item_ids)
        return out


class ConstantEncoder(nn.Module):
    """No input: every row gets the same (zero) vector, so heads can only learn biases."""

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(user_ids.shape[0], 1, device=user_ids.device)


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
        self.output = nn.Linear(in_features, out_features)
        layers.append(self.output)
        self.net = nn.Sequential(*layers)
        # Regression targets are standardised with train statistics so every loss starts
        # on a comparable scale; predictions are mapped back before they leave the model.
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(pooled)
        if self.spec.task_type in (TaskType.MULTICLASS, TaskType.MULTILABEL):
            return out
        return out.squeeze(-1)


class MultiTaskModel(nn.Module):
    """A shared encoder (hard parameter sharing) with one head per task."""

    def __init__(
        self,
        encoder: nn.Module,
        *,
        out_features: int,
        head_set: HeadSetSpec,
        label_fields: Mapping[str, LabelField],
        dropout: float,
        architecture: ArchitectureSpec | None = None,
        architecture_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.encoder_features = out_features  # width of the encoder's pooled output
        tasks = tuple(spec.task for spec in head_set.heads)
        tower_spec = architecture or ARCHITECTURES["shared-bottom"]
        self.tower: TaskTower = tower_spec.build(
            in_features=out_features, tasks=tasks, **dict(architecture_options or {})
        )
        out_features = self.tower.out_features
        self.heads = nn.ModuleDict()
        for spec in head_set.heads:
            kind = spec.task_type
            width = (
                len(label_fields[spec.label_field].classes)
                if kind in (TaskType.MULTICLASS, TaskType.MULTILABEL)
                else 1
            )
            self.heads[spec.task] = TaskHead(
                spec, out_features, width, hidden=head_set.hidden_size, dropout=dropout
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

    def fit_constant_outputs(self, train_labels: Mapping[str, np.ndarray]) -> None:
        """Set each head to the best constant: majority class, mean, base rate, frequencies.

        Used for the trivial predictor, whose encoder outputs zeros: the output layer's bias
        is then the whole prediction.
        """
        with torch.no_grad():
            for head in self.task_heads():
                if head.spec.task_type is TaskType.RANKING:
                    continue  # the trivial ranking is the most-popular list, not a constant
                labels = train_labels[head.spec.label_field]
                head.output.weight.zero_()
                kind = head.spec.task_type
                if kind is TaskType.MULTICLASS:
                    counts = np.bincount(
                        labels.astype(np.int64), minlength=head.output.out_features
                    )
                    head.output.bias.copy_(torch.from_numpy(np.log(counts + 1e-9)))
                elif kind is TaskType.REGRESSION:
                    head.output.bias.zero_()  # standardised mean
                else:
                    rate = np.clip(labels.astype(np.float64).mean(axis=0), 1e-6, 1 - 1e-6)
                    head.output.bias.copy_(
                        torch.from_numpy(np.atleast_1d(np.log(rate / (1 - rate))))
                    )

    def forward(self, **inputs: Any) -> dict[str, torch.Tensor]:
        """Raw head outputs (logits, standardised values) per task, from ONE encoder pass."""
        per_task = self.tower(self.encoder(**inputs))
        return {head.spec.task: head(per_task[head.spec.task]) for head in self.task_heads()}


def task_loss(head: TaskHead, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The head's loss: cross-entropy, MSE on standardised targets, or BCE with logits.

    Rows whose label is missing (-1 for class and 0/1 labels, NaN for targets: the sampled
    negatives a ranking head trains on carry no other label) are left out; the loss is the
    mean over the rest, without a host sync. A batch with none gives 0.
    """
    loss = head.spec.loss
    if loss == "cross_entropy":
        valid = target >= 0
        per_row = nn.functional.cross_entropy(
            output.float(), target.long().clamp(min=0), reduction="none"
        )
    elif loss == "mse":
        valid = ~torch.isnan(target)
        scaled = (torch.nan_to_num(target.float()) - head.target_mean) / head.target_std
        per_row = nn.functional.mse_loss(output.float(), scaled, reduction="none")
    elif loss == "bce":
        valid = target >= 0
        per_row = nn.functional.binary_cross_entropy_with_logits(
            output.float(), target.float().clamp(min=0), reduction="none"
        )
    else:
        raise ValueError(f"head '{head.spec.task}' asks for unknown loss '{loss}'")
    weight = valid.to(per_row.dtype)
    return (per_row * weight).sum() / weight.sum().clamp(min=1.0)


def missing_labels(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows of "no label" shaped like ``values``: NaN targets, -1 classes and 0/1s."""
    if values.dtype.kind == "f":
        return np.full((n, *values.shape[1:]), np.nan, dtype=values.dtype)
    return np.full((n, *values.shape[1:]), -1, dtype=values.dtype)


def decode_outputs(
    head: TaskHead, output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Head output -> (prediction, score): class, value, or (0/1 decisions, probabilities)."""
    kind = head.spec.task_type
    if kind is TaskType.MULTICLASS:
        return output.argmax(dim=-1), None
    if kind is TaskType.REGRESSION:
        return output.float() * head.target_std + head.target_mean, None
    probability = torch.sigmoid(output.float())
    return (probability >= 0.5).long(), probability
