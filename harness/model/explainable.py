"""A trained multi-task model as explainers see it: units, their embeddings, one score per head.

An explainer attributes a head's prediction on a row to the *units* the backbone read:

* language backbones: the row's tokens. Each token belongs to a segment: ``context`` (the scene
  phrase before ``" | "``), ``user`` (the user text and the earlier interactions after it),
  ``item`` (the second segment) or ``special`` ([CLS], [SEP], never attributed or removed);
* ID-embedding baselines: two units, the user's and the item's embedding vector.

Removing a unit means putting its *baseline* embedding in place of its own: the embedding of
the mask token (the pad token where there is none) for a token, a zero vector for an ID
embedding. The same substitution serves integrated gradients (the path starts at the
baseline) and the deletion / insertion curves (re-predicting with units removed), so the
metrics ask the model exactly what the attributions claim.

The explained score of a head is fixed by the full input's prediction: the probability of the
predicted class (binary, multiclass), of the top label (multilabel), or, for regression, the
standardised prediction signed so that it is positive (how far from the training mean it went,
in the direction it went). Removing the units that support the prediction lowers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mtrec.model.multitask import MultiTaskModel, TaskHead
from mtrec.specs import Family, Pooling, TaskType

SEGMENTS = ("context", "user", "item")  # what a segment share is reported over
SPECIAL = "special"


@dataclass(frozen=True, kw_only=True)
class ExplainedRow:
    """One sampled test row: what its units are and which segment each belongs to."""

    row: int  # index into the test split
    id: int  # the interaction id
    units: tuple[str, ...]  # token strings, or "user 12" / "item 7"
    segments: tuple[str, ...]  # per unit: context, user, item or special
    space_before: tuple[bool, ...] = ()  # per unit: a space precedes it (starts a new word)
    token_ids: tuple[int, ...] = ()  # language backbones: the token ids the model read
    token_types: tuple[int, ...] = ()  # segment ids, where the backbone takes them

    @property
    def eligible(self) -> np.ndarray:
        """Units an explanation ranks (every one but the special tokens)."""
        return np.array([segment != SPECIAL for segment in self.segments], dtype=bool)


class ExplainableModel:
    """The trained model, its sampled rows and the score each head's explanation is about.

    Built by the core (:func:`text_model`, :func:`id_model`) and handed to explainers
    (:attr:`mtrec.ExplainerSpec.attribute`); all methods take *positions* into
    :attr:`rows` (0 .. len(rows) - 1), never test-split indices.
    """

    def __init__(
        self,
        model: MultiTaskModel,
        rows: Sequence[ExplainedRow],
        *,
        family: Family,
        device: torch.device,
        layers: Sequence[nn.Module],
        inputs: Callable[[np.ndarray], dict[str, torch.Tensor]],
        embed: Callable[[np.ndarray], torch.Tensor],
        baseline: Callable[[np.ndarray], torch.Tensor],
        backbone: nn.Module | None = None,
        pooling: Pooling | None = None,
    ) -> None:
        self.model = model
        self.rows = list(rows)
        self.family = family
        self.device = device
        self._layers = list(layers)
        self._inputs = inputs
        self._embed = embed
        self._baseline = baseline
        self._backbone = backbone
        self.pooling = pooling
        self._heads = {head.spec.task: head for head in model.task_heads()}
        self.tasks = tuple(self._heads)
        # What each head predicted on the full input: the class (label, sign) explained.
        self._reference: dict[str, torch.Tensor] = {}
        everything = np.arange(len(self.rows))
        with torch.no_grad():
            outputs = self._forward(everything, None)
        for task, output in outputs.items():
            self._reference[task] = _reference_of(self._heads[task], output)

    # -- units ------------------------------------------------------------------------------

    def unit_count(self, position: int) -> int:
        """How many units row ``position`` has (its attribution's length)."""
        return len(self.rows[position].units)

    def embeddings(self, positions: np.ndarray) -> torch.Tensor:
        """The units' own embeddings, [B, U, H] padded to the longest row (no gradient)."""
        with torch.no_grad():
            return self._embed(positions).detach()

    def baseline_embeddings(self, positions: np.ndarray) -> torch.Tensor:
        """The embeddings with every unit removed (special tokens and padding kept)."""
        with torch.no_grad():
            return self._baseline(positions).detach()

    # -- scores -----------------------------------------------------------------------------

    def score(self, positions: np.ndarray, embeddings: torch.Tensor, task: str) -> torch.Tensor:
        """The head's explained score with these unit embeddings in place, differentiable.

        ``embeddings`` is [k * B, U, H] for B positions: k copies of the batch one after the
        other (what a path integral evaluates in one call, e.g. captum's expanded steps).
        """
        copies = embeddings.shape[0] // len(positions)
        outputs = self._forward(positions, embeddings, copies=copies)
        reference = self._reference[task][torch.as_tensor(positions)].to(self.device)
        return _explained(self._heads[task], outputs[task], reference.repeat(copies))

    def masked_scores(
        self, positions: np.ndarray, keep: Sequence[np.ndarray], task: str
    ) -> np.ndarray:
        """The score with only the kept units of each row (the others at their baseline)."""
        actual = self.embeddings(positions)
        empty = self.baseline_embeddings(positions)
        mask = torch.zeros(actual.shape[:2], dtype=torch.bool)
        for slot, kept in enumerate(keep):
            mask[slot, : len(kept)] = torch.from_numpy(np.asarray(kept, dtype=bool))
        mixed = torch.where(mask.to(actual.device).unsqueeze(-1), actual, empty)
        with torch.no_grad():
            return self.score(positions, mixed, task).double().cpu().numpy()

    def attentions(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Every layer's attention [layers, B, heads, L, L] and the attention mask [B, L]
        (encoder backbones; raises ValueError for others)."""
        if self._backbone is None:
            raise ValueError(f"a {self.family.value} backbone has no attention to read")
        inputs = self._inputs(positions)
        with torch.no_grad(), _eager_attention(self._backbone):
            output = self._backbone(**inputs, output_attentions=True)
        attentions = getattr(output, "attentions", None)
        if not attentions or any(layer is None for layer in attentions):
            raise ValueError("the backbone returned no attention weights")
        return torch.stack([layer.float() for layer in attentions]), inputs["attention_mask"]

    def _forward(
        self, positions: np.ndarray, embeddings: torch.Tensor | None, copies: int = 1
    ) -> dict[str, torch.Tensor]:
        inputs = {
            name: tensor.repeat(copies, *([1] * (tensor.dim() - 1)))
            for name, tensor in self._inputs(positions).items()
        }
        with _substituted(self._layers, embeddings):
            outputs: dict[str, torch.Tensor] = self.model(**inputs)
        return outputs


# -- building one -------------------------------------------------------------------------


def text_model(
    model: MultiTaskModel,
    rows: Sequence[ExplainedRow],
    *,
    family: Family,
    device: torch.device,
    baseline_id: int,
    pad_id: int,
) -> ExplainableModel:
    """A language backbone's model over the sampled rows' tokens."""
    encoder: Any = getattr(model.encoder, "_orig_mod", model.encoder)  # compiled or not
    backbone: nn.Module = encoder.backbone
    layer: nn.Module = backbone.get_input_embeddings()  # type: ignore[operator]
    with_types = all(row.token_types for row in rows)

    def inputs(positions: np.ndarray) -> dict[str, torch.Tensor]:
        # padded to the longest of these rows (right padding, as the model was evaluated)
        width = max(len(rows[int(position)].token_ids) for position in positions)
        ids = torch.full((len(positions), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(positions), width), dtype=torch.long)
        types = torch.zeros((len(positions), width), dtype=torch.long)
        for slot, position in enumerate(positions):
            row = rows[int(position)]
            n = len(row.token_ids)
            ids[slot, :n] = torch.tensor(row.token_ids)
            mask[slot, :n] = 1
            if with_types:
                types[slot, :n] = torch.tensor(row.token_types)
        batch = {"input_ids": ids, "attention_mask": mask}
        if with_types:
            batch["token_type_ids"] = types
        return {name: tensor.to(device) for name, tensor in batch.items()}

    def embed(positions: np.ndarray) -> torch.Tensor:
        out: torch.Tensor = layer(inputs(positions)["input_ids"]).float()
        return out

    def baseline(positions: np.ndarray) -> torch.Tensor:
        ids = inputs(positions)["input_ids"].clone()
        for slot, position in enumerate(positions):
            eligible = torch.from_numpy(rows[int(position)].eligible)
            ids[slot, : len(eligible)][eligible.to(ids.device)] = baseline_id
        out: torch.Tensor = layer(ids).float()
        return out

    return ExplainableModel(
        model,
        rows,
        family=family,
        device=device,
        layers=[layer],
        inputs=inputs,
        embed=embed,
        baseline=baseline,
        backbone=backbone if family is Family.ENCODER else None,
        pooling=getattr(encoder, "pooling", None),
    )


def id_model(
    model: MultiTaskModel,
    rows: Sequence[ExplainedRow],
    *,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    device: torch.device,
) -> ExplainableModel:
    """An ID-embedding baseline over the sampled rows (``user_ids[i]``, ``item_ids[i]`` of
    position i); its encoder must hold its lookups as ``users`` and ``items`` embeddings."""
    encoder = model.encoder
    users, items = getattr(encoder, "users", None), getattr(encoder, "items", None)
    if not isinstance(users, nn.Embedding) or not isinstance(items, nn.Embedding):
        raise ValueError(
            f"{type(encoder).__name__} has no user and item embeddings (users, items) to explain"
        )
    if users.embedding_dim != items.embedding_dim:
        raise ValueError("the user and item embeddings differ in width")
    user_tensor = torch.as_tensor(np.asarray(user_ids, dtype=np.int64))
    item_tensor = torch.as_tensor(np.asarray(item_ids, dtype=np.int64))

    def inputs(positions: np.ndarray) -> dict[str, torch.Tensor]:
        at = torch.as_tensor(positions)
        return {"user_ids": user_tensor[at].to(device), "item_ids": item_tensor[at].to(device)}

    def embed(positions: np.ndarray) -> torch.Tensor:
        batch = inputs(positions)
        user = users(batch["user_ids"] % users.num_embeddings)
        item = items(batch["item_ids"] % items.num_embeddings)
        return torch.stack([user, item], dim=1).float()

    def baseline(positions: np.ndarray) -> torch.Tensor:
        return torch.zeros_like(embed(positions))

    return ExplainableModel(
        model,
        rows,
        family=Family.ID_EMBEDDING,
        device=device,
        layers=[users, items],
        inputs=inputs,
        embed=embed,
        baseline=baseline,
    )


# -- helpers ------------------------------------------------------------------------------


@contextmanager
def _substituted(layers: Sequence[nn.Module], embeddings: torch.Tensor | None) -> Iterator[None]:
    """While inside, the unit layers output ``embeddings`` instead of their own (one layer:
    the whole tensor; several: unit i comes from layer i)."""
    if embeddings is None:
        yield
        return
    handles = []
    for index, layer in enumerate(layers):
        value = embeddings if len(layers) == 1 else embeddings[:, index]

        def replace(module: nn.Module, args: Any, output: Any, value: Any = value) -> Any:
            return value.to(output.dtype) if isinstance(output, torch.Tensor) else output

        handles.append(layer.register_forward_hook(replace))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _eager_attention(backbone: nn.Module) -> Iterator[None]:
    """Attention weights need the eager implementation (fused kernels do not return them)."""
    config = getattr(backbone, "config", None)
    before = getattr(config, "_attn_implementation", None)
    setter: Callable[[str], None] | None = getattr(backbone, "set_attn_implementation", None)
    switched = before not in (None, "eager") and setter is not None
    if switched and setter is not None:
        setter("eager")
    try:
        yield
    finally:
        if switched and setter is not None:
            setter(str(before))


def _reference_of(head: TaskHead, output: torch.Tensor) -> torch.Tensor:
    kind = head.spec.task_type
    if kind is TaskType.BINARY:
        return (output >= 0).long().cpu()
    if kind in (TaskType.MULTICLASS, TaskType.MULTILABEL):
        return output.argmax(dim=-1).cpu()
    return torch.where(output >= 0, 1, -1).cpu()


def _explained(head: TaskHead, output: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    kind = head.spec.task_type
    output = output.float()
    if kind is TaskType.BINARY:
        probability = torch.sigmoid(output)
        return torch.where(reference == 1, probability, 1 - probability)
    if kind is TaskType.MULTICLASS:
        return torch.softmax(output, dim=-1).gather(1, reference.view(-1, 1)).squeeze(1)
    if kind is TaskType.MULTILABEL:
        return torch.sigmoid(output).gather(1, reference.view(-1, 1)).squeeze(1)
    return output * reference.to(output.dtype)
