"""What a backbone becomes under a fine-tuning strategy: the encoder and the batches it reads.

* language backbones, ``full``: the whole model trains on the tokenized (user, item) pair;
* ``top_k``: embeddings and lower layers frozen, the top k transformer layers train;
* ``lora``: low-rank adapters (peft) on the attention projections train, the rest is frozen;
* ``frozen``: the backbone encodes each unique user text and item text ONCE per sweep (a
  feature cache shared by every head set, seed and epoch); the heads train on
  [user; item; user * item] features;
* ID-embedding backbones read user and item ids; the trivial backbone reads nothing.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from mtrec.errors import CombinationError
from mtrec.model.batching import (
    Batch,
    Batchable,
    EncodedSplit,
    IndexedSplit,
    WithIds,
)
from mtrec.model.multitask import (
    CachedFeatureEncoder,
    ConstantEncoder,
    HybridEncoder,
    MultiTaskModel,
    TextPairEncoder,
    pool,
)
from mtrec.model.training import autocast_for, effective_precision
from mtrec.run.phases import large_buffers_mapped, phase
from mtrec.specs import DomainSplit, Family, LoadedBackbone, Pooling

SPLITS = ("train", "validation", "test")
# Padded tokens per forward pass when a frozen backbone fills the feature cache. On a GPU,
# 128 rows of 64 tokens. On a CPU, 32 rows of 64: on MiniLM over 2 quiet cores 2k tokens ran
# 122-129 texts/s against 104-111 at 8k (what one batch touches stays in the caches; the
# earlier finding the other way was made on a busy machine); a larger budget also grows memory.
FEATURE_TOKENS = 8192
FEATURE_TOKENS_CPU = 2048


@dataclass
class FeatureCache:
    """Pooled features of single texts, per (backbone, pooling, max length, precision), for a
    sweep.

    The backbone part of the key is its name, its loader options and the checkpoint actually
    loaded: two entries of one backbone with different options are different encoders. Only
    features live here; labels always come from the split being prepared.
    """

    tables: dict[tuple[str, str, int, str], dict[str, np.ndarray]] = field(default_factory=dict)
    encodings: int = 0  # texts run through a backbone (tests check: once per unique text)
    seconds: float = 0.0  # time spent encoding


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A model ready to train and the splits it reads."""

    model: MultiTaskModel
    splits: Mapping[str, Batchable]  # "train", "validation", "test"
    trains: bool  # False: nothing to fit by gradient (the trivial predictor)
    details: Mapping[str, Any]  # strategy facts for the record
    # frozen: what serving runs when a request's texts are not in the feature cache
    serving: ServingPath | None = None


@dataclass(frozen=True, kw_only=True)
class ServingPath:
    """The uncached way through a cached-feature model, for end-to-end cost.

    Swapping ``encoder`` in for the model's cached-feature encoder gives the model a request
    runs when its texts are new: the backbone encodes the user text and the item text, then
    the same heads read the same [user; item; user * item] features.
    """

    encoder: nn.Module  # texts -> the features the cache would have held
    split: Batchable  # the test rows as tokenized texts, for latency and FLOPs


class FrozenTextEncoder(nn.Module):
    """The frozen backbone over a user text and an item text: [user; item; user * item]."""

    def __init__(self, backbone: nn.Module, pooling: Pooling) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        return pool(hidden.last_hidden_state, attention_mask, self.pooling).float()

    def forward(
        self,
        user_input_ids: torch.Tensor,
        user_attention_mask: torch.Tensor,
        item_input_ids: torch.Tensor,
        item_attention_mask: torch.Tensor,
    ) -> torch.Tensor:
        user = self._encode(user_input_ids, user_attention_mask)
        item = self._encode(item_input_ids, item_attention_mask)
        return torch.cat([user, item, user * item], dim=-1)


@dataclass(frozen=True, kw_only=True)
class TextRows:
    """Rows of a split as separate user and item texts, tokenized when a batch is made."""

    split: DomainSplit
    tokenizer: Any
    max_length: int

    @property
    def labels(self) -> Mapping[str, np.ndarray]:
        return self.split.labels

    def __len__(self) -> int:
        return len(self.split)

    def sort_keys(self) -> np.ndarray:
        return np.zeros(len(self), dtype=np.int64)

    def collate(self, rows: np.ndarray, label_fields: tuple[str, ...] = ()) -> Batch:
        inputs: dict[str, torch.Tensor] = {}
        for side, texts in (("user", self.split.user_text), ("item", self.split.item_text)):
            encoded = self.tokenizer(
                [texts[int(row)] for row in rows],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
                return_token_type_ids=False,
            )
            inputs[f"{side}_input_ids"] = encoded["input_ids"]
            inputs[f"{side}_attention_mask"] = encoded["attention_mask"]
        labels = {
            name: torch.from_numpy(np.ascontiguousarray(self.split.labels[name][rows]))
            for name in label_fields
        }
        return Batch(rows=rows, inputs=inputs, labels=labels)


def prepare(
    *,
    family: Family,
    backbone_name: str,
    loaded: LoadedBackbone | None,
    pooling: Pooling | None,
    splits: Mapping[str, DomainSplit],
    build_model: Callable[[nn.Module, int], MultiTaskModel],
    strategy: str,
    top_k: int,
    lora_r: int,
    max_length: int,
    encoded_splits: Callable[[str, DomainSplit], EncodedSplit],
    features: FeatureCache,
    device: torch.device,
    precision: str,
    backbone_options: Mapping[str, Any] | None = None,
) -> Prepared:
    """Build the encoder for ``family`` under ``strategy`` and wrap the splits to match.

    ``precision`` is the suite's ``training.precision``: a frozen backbone encodes its texts
    at it, like every other forward pass. ``backbone_options`` are the options the backbone
    was loaded with; both are part of the frozen-feature cache key.
    """
    if family is Family.TRIVIAL:
        model = build_model(ConstantEncoder(), 1)
        model.fit_constant_outputs(splits["train"].labels)
        return Prepared(
            model=model, splits=_id_splits(splits), trains=False, details={"strategy": "none"}
        )
    assert loaded is not None
    if family is Family.ID_EMBEDDING:
        model = build_model(loaded.model, loaded.hidden_size)
        return Prepared(
            model=model, splits=_id_splits(splits), trains=True, details={"strategy": "full"}
        )
    if loaded.with_ids is not None:
        return _hybrid(
            loaded.with_ids,
            splits,
            build_model,
            lambda build: prepare(
                family=family,
                backbone_name=backbone_name,
                loaded=replace(loaded, with_ids=None),
                pooling=pooling,
                splits=splits,
                build_model=build,
                strategy=strategy,
                top_k=top_k,
                lora_r=lora_r,
                max_length=max_length,
                encoded_splits=encoded_splits,
                features=features,
                device=device,
                precision=precision,
                backbone_options=backbone_options,
            ),
        )
    pooling = pooling or loaded.pooling
    if strategy == "frozen":
        text = loaded.encoder_key or {"name": backbone_name, "options": backbone_options or {}}
        identity = json.dumps(
            {"name": text["name"], "options": text["options"], "source": loaded.source},
            sort_keys=True,
            default=str,
        )
        return _frozen(
            identity,
            loaded,
            pooling,
            splits,
            build_model,
            max_length,
            features,
            device,
            precision,
        )
    details: dict[str, Any] = {"strategy": strategy, "pooling": pooling.value}
    backbone = loaded.model
    if strategy == "top_k":
        details["trainable_layers"] = freeze_below_top_layers(backbone, top_k)
    elif strategy == "lora":
        backbone, details["lora_targets"] = with_lora(backbone, lora_r)
        details["lora_r"] = lora_r
    encoder = TextPairEncoder(backbone, pooling)
    model = build_model(encoder, loaded.hidden_size)
    return Prepared(
        model=model,
        splits={name: encoded_splits(name, split) for name, split in splits.items()},
        trains=True,
        details=details,
    )


def _hybrid(
    with_ids: Callable[[int], nn.Module],
    splits: Mapping[str, DomainSplit],
    build_model: Callable[[nn.Module, int], MultiTaskModel],
    prepare_text: Callable[[Callable[[nn.Module, int], MultiTaskModel]], Prepared],
) -> Prepared:
    """A hybrid backbone: its text side prepared under the strategy like any language
    backbone, then wrapped so that the ID side combines the text vector with the user and
    item IDs; every split's batches carry the IDs too."""

    def build_hybrid(text_encoder: nn.Module, width: int) -> MultiTaskModel:
        encoder = HybridEncoder(text_encoder, with_ids(width))
        return build_model(encoder, encoder.out_features)

    text = prepare_text(build_hybrid)
    model = text.model
    assert isinstance(model.encoder, HybridEncoder)

    def ids(split: Batchable, name_or_rows: str | DomainSplit) -> WithIds:
        rows = splits[name_or_rows] if isinstance(name_or_rows, str) else name_or_rows
        return WithIds(split=split, user_ids=rows.user_ids, item_ids=rows.item_ids)

    serving = text.serving
    if serving is not None:  # frozen: the uncached path runs the same ID side
        serving = ServingPath(
            encoder=HybridEncoder(serving.encoder, model.encoder.id_side),
            split=ids(serving.split, "test"),
        )
    id_params = sum(p.numel() for p in model.encoder.id_side.parameters())
    return replace(
        text,
        splits={name: ids(split, name) for name, split in text.splits.items()},
        serving=serving,
        details={**text.details, "hybrid": True, "id_side_params": id_params},
    )


def accepts_segments(model: nn.Module) -> bool:
    """Whether the model takes token_type_ids (BERT does, DistilBERT and GPT-2 do not)."""
    import inspect

    return "token_type_ids" in inspect.signature(model.forward).parameters


# Attention projections LoRA adapts, by architecture naming (first match wins).
LORA_TARGETS = (("query", "value"), ("q_lin", "v_lin"), ("c_attn",), ("q_proj", "v_proj"))


def with_lora(model: nn.Module, r: int) -> tuple[nn.Module, list[str]]:
    """Wrap a backbone with LoRA adapters (peft) on its attention projections."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise CombinationError(
            "strategy lora needs peft: pip install 'mtrec-harness[lora]'"
        ) from exc
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = next((list(t) for t in LORA_TARGETS if set(t) <= names), None)
    if targets is None:
        raise CombinationError(
            f"strategy lora: no known attention projections in {type(model).__name__}"
        )
    config = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets)
    with warnings.catch_warnings():
        # peft asks transformers 5 a question it renamed; the answer is the same, and the
        # notice would fill a sweep's output once per LoRA combination
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        return get_peft_model(model, config), targets


def _id_splits(splits: Mapping[str, DomainSplit]) -> dict[str, Batchable]:
    return {
        name: IndexedSplit(
            columns={"user_ids": split.user_ids, "item_ids": split.item_ids},
            labels=dict(split.labels),
        )
        for name, split in splits.items()
    }


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of a Hugging Face model (BERT, GPT-2, DistilBERT...)."""
    config = getattr(model, "config", None)
    depth = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    candidates = [
        module
        for module in model.modules()
        if isinstance(module, nn.ModuleList) and len(module) == depth
    ]
    if not candidates:
        raise CombinationError(
            f"strategy top_k: cannot find the {depth} transformer layers of {type(model).__name__}"
        )
    return candidates[0]


def freeze_below_top_layers(model: nn.Module, k: int) -> int:
    """Freeze everything but the top ``k`` blocks (and a final norm after them)."""
    layers = transformer_layers(model)
    k = min(k, len(layers))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for layer in list(layers)[-k:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)
    # Decoders normalise after the last block (GPT-2's ln_f); it belongs to the top.
    for name, child in model.named_children():
        if isinstance(child, nn.LayerNorm) and name.startswith(("ln_f", "final", "norm")):
            for parameter in child.parameters():
                parameter.requires_grad_(True)
    return k


def _frozen(
    backbone_identity: str,
    loaded: LoadedBackbone,
    pooling: Pooling,
    splits: Mapping[str, DomainSplit],
    build_model: Callable[[nn.Module, int], MultiTaskModel],
    max_length: int,
    features: FeatureCache,
    device: torch.device,
    precision: str,
) -> Prepared:
    # Features computed in bf16 differ from fp32 ones: the precision that actually runs is
    # part of the key.
    table = features.tables.setdefault(
        (backbone_identity, pooling.value, max_length, effective_precision(device, precision)), {}
    )
    user_texts = _unique(text for split in splits.values() for text in split.user_text)
    item_texts = _unique(text for split in splits.values() for text in split.item_text)
    missing = [text for text in _unique([*user_texts, *item_texts]) if text not in table]
    if missing:
        started = time.perf_counter()
        loaded.model.to(device)
        with phase("encode"), large_buffers_mapped():
            vectors = encode_texts(loaded, pooling, missing, max_length, device, precision)
        table.update(zip(missing, vectors, strict=True))
        features.encodings += len(missing)
        features.seconds += time.perf_counter() - started
        loaded.model.to("cpu")
    user_rows = {text: row for row, text in enumerate(user_texts)}
    item_rows = {text: row for row, text in enumerate(item_texts)}
    encoder = CachedFeatureEncoder(
        torch.from_numpy(np.stack([table[text] for text in user_texts])),
        torch.from_numpy(np.stack([table[text] for text in item_texts])),
    )
    model = build_model(encoder, encoder.out_features)
    wrapped: dict[str, Batchable] = {
        name: IndexedSplit(
            columns={
                "user_rows": np.fromiter((user_rows[t] for t in split.user_text), np.int64),
                "item_rows": np.fromiter((item_rows[t] for t in split.item_text), np.int64),
            },
            labels=dict(split.labels),
        )
        for name, split in splits.items()
    }
    return Prepared(
        model=model,
        splits=wrapped,
        trains=True,
        serving=ServingPath(
            encoder=FrozenTextEncoder(loaded.model, pooling),
            split=TextRows(split=splits["test"], tokenizer=loaded.tokenizer, max_length=max_length),
        ),
        details={
            "strategy": "frozen",
            "pooling": pooling.value,
            "unique_texts": len(_unique([*user_texts, *item_texts])),
            # Serving needs the backbone to encode new texts: count its weights as cost.
            "frozen_backbone_params": sum(p.numel() for p in loaded.model.parameters()),
            "feature_encodings_total": features.encodings,
            "feature_seconds_total": features.seconds,
        },
    )


def _unique(texts: Any) -> list[str]:
    return list(dict.fromkeys(texts))


@torch.inference_mode()
def encode_texts(
    loaded: LoadedBackbone,
    pooling: Pooling,
    texts: Sequence[str],
    max_length: int,
    device: torch.device,
    precision: str,
    *,
    token_budget: int | None = None,
) -> np.ndarray:
    """Pooled float32 vectors of single texts, [len(texts), hidden], row i for text i; the
    backbone running at ``precision`` (autocast on CUDA).

    The texts are tokenized in one call and run longest first in batches of about
    ``token_budget`` tokens (padded rows x width; by default ``FEATURE_TOKENS`` on a GPU,
    ``FEATURE_TOKENS_CPU`` on a CPU), so every batch holds texts of nearly one length: little
    compute goes to padding, short texts share large batches and long texts small ones.
    Padding never changes a vector: it is masked in attention and in pooling.
    """
    loaded.model.eval()
    tokens = _FlatTokens.of(
        loaded.tokenizer(
            list(texts),
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"],
        pad_id=int(loaded.tokenizer.pad_token_id),
    )
    out: np.ndarray | None = None
    budget = token_budget or (FEATURE_TOKENS_CPU if device.type == "cpu" else FEATURE_TOKENS)
    for rows in feature_batches(tokens.lengths, budget):
        input_ids, attention_mask = (t.to(device) for t in tokens.padded(rows))
        with autocast_for(device, precision):
            hidden = loaded.model(input_ids=input_ids, attention_mask=attention_mask)
        pooled = pool(hidden.last_hidden_state, attention_mask, pooling).float().cpu().numpy()
        if out is None:
            out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
        out[rows] = pooled
    return np.empty((0, 0), dtype=np.float32) if out is None else out


def feature_batches(lengths: np.ndarray, token_budget: int) -> list[np.ndarray]:
    """Row indices per batch, longest rows first, each batch at most ``token_budget`` padded
    tokens (at least one row): the rows sorted by length, then cut so that rows x the
    batch's longest row stays within the budget."""
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = max(1, int(lengths[order[start]]))
        stop = start + max(1, token_budget // width)
        batches.append(order[start:stop])
        start = stop
    return batches


@dataclass(frozen=True)
class _FlatTokens:
    """Token ids of many texts in one flat array: padded batches come from one gather."""

    ids: np.ndarray  # int64, every text's ids back to back
    starts: np.ndarray  # int64 [n], where each text's ids begin in ``ids``
    lengths: np.ndarray  # int64 [n], tokens per text
    pad_id: int

    @classmethod
    def of(cls, input_ids: Sequence[Sequence[int]], *, pad_id: int) -> _FlatTokens:
        lengths = np.fromiter(map(len, input_ids), dtype=np.int64, count=len(input_ids))
        ids = np.fromiter(
            itertools.chain.from_iterable(input_ids), dtype=np.int64, count=int(lengths.sum())
        )
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(ids=ids, starts=starts, lengths=lengths, pad_id=pad_id)

    def padded(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids and attention_mask of ``rows``, right-padded to their longest row."""
        lengths = self.lengths[rows]
        positions = np.arange(int(lengths.max()), dtype=np.int64)
        mask = positions < lengths[:, None]
        gather = np.minimum(self.starts[rows][:, None] + positions, max(len(self.ids) - 1, 0))
        input_ids = np.where(mask, self.ids[gather], self.pad_id)
        return torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))
