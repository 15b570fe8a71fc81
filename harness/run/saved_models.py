"""What a saved model is rebuilt into: the multi-task model around its weights, built as a run
builds it (the backbone through its plugin, the strategy's encoder, the tower, the heads), and
:class:`SavedModel`, the loaded model with what it needs to read rows.

A frozen model is rebuilt as its serving path: the re-loaded backbone, checked against the
digest of the weights it was trained with, encodes the user text and the item text of each
row (:class:`~mtrec.model.strategies.FrozenTextEncoder`), where the run read a feature table
of its own splits' texts. :mod:`mtrec.run.checkpoints` reads and writes the files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtrec.errors import CheckpointError, CombinationError, UsageError
from mtrec.model.batching import Batchable, IndexedSplit, WithIds, encode_split
from mtrec.model.inputs import InputOptions, render_split
from mtrec.model.multitask import ConstantEncoder, HybridEncoder, MultiTaskModel
from mtrec.model.strategies import (
    FeatureCache,
    FrozenTextEncoder,
    TextRows,
    accepts_segments,
    prepare,
)
from mtrec.plugin_host import PluginHost
from mtrec.run.plugin_calls import call_plugin
from mtrec.specs import (
    DomainSplit,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    Pooling,
    TaskPredictions,
    TaskType,
)


def weights_digest(module: nn.Module) -> str:
    """SHA-256 over a module's state: each tensor's name, dtype, shape and bytes, by name."""
    digest = hashlib.sha256()
    state = module.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def frozen_backbone(encoder: nn.Module) -> nn.Module:
    """The backbone inside a frozen model's uncached encoder (plain or hybrid)."""
    if isinstance(encoder, HybridEncoder):
        encoder = encoder.text
    assert isinstance(encoder, FrozenTextEncoder)
    return encoder.backbone


@dataclass(frozen=True, kw_only=True)
class SavedModel:
    """A model loaded from a checkpoint, in eval mode, with what it needs to read rows."""

    model: MultiTaskModel
    metadata: Mapping[str, Any]  # checkpoint.json as written
    tokenizer: Any  # the backbone's tokenizer; None for backbones that read no text
    folder: Path  # where it was loaded from
    segments: bool = False  # token pairs carry segment ids (BERT-like encoders)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def render(self, split: DomainSplit) -> DomainSplit:
        """A split as a domain's plugin returns it -> the texts this model read in its run
        (context and history rendered under the run's ``input`` options)."""
        options = self.metadata["input"]
        return render_split(
            split, InputOptions(context=options["context"], history=options["history"])
        )

    def inputs(self, split: DomainSplit) -> Batchable:
        """The rows of an already rendered split as this model reads them: the tokenized
        (user, item) pair, the two texts apart (frozen), or the user and item ids."""
        strategy = self.metadata["strategy"]
        family = Family(self.metadata["backbone"]["family"])
        if family in (Family.TRIVIAL, Family.ID_EMBEDDING):
            return IndexedSplit(
                columns={"user_ids": split.user_ids, "item_ids": split.item_ids},
                labels=dict(split.labels),
            )
        rows: Batchable
        if strategy["name"] == "frozen":
            rows = TextRows(
                split=split, tokenizer=self.tokenizer, max_length=strategy["max_length"]
            )
        else:
            rows = encode_split(
                split, self.tokenizer, strategy["max_length"], segments=self.segments
            )
        if isinstance(self.model.encoder, HybridEncoder):
            return WithIds(split=rows, user_ids=split.user_ids, item_ids=split.item_ids)
        return rows

    def predict(self, split: DomainSplit, *, batch_size: int = 64) -> dict[str, TaskPredictions]:
        """Predictions of every per-row head on an already rendered split (ranking heads
        score (user, item) pairs: read ``model(**batch.model_inputs())[task]``)."""
        from mtrec.measure.evaluation import predict

        run = predict(
            self.model,
            self.inputs(split),
            batch_size=batch_size,
            device=self.device,
            precision=self.metadata["strategy"]["precision"],
        )
        return dict(run.tasks)


def rebuild_model(
    where: Path, metadata: Mapping[str, Any], host: PluginHost
) -> tuple[MultiTaskModel, LoadedBackbone | None, bool]:
    """The model a checkpoint's weights go into, built as a run builds it, its backbone
    through the plugin; with the loaded backbone and whether its token pairs carry segment
    ids. ``where`` (checkpoint.json) names the file in errors."""
    backbone = metadata["backbone"]
    strategy = metadata["strategy"]
    registries = host.registries
    try:
        spec = registries.backbones.get(backbone["name"])
        architecture = registries.architectures.get(metadata["architecture"]["name"])
        family = Family(backbone["family"])
        pooling = Pooling(backbone["pooling"]) if backbone.get("pooling") else None
        options = dict(backbone["options"])
        head_set = HeadSetSpec(
            name=metadata["head_set"]["name"],
            heads=tuple(
                HeadSpec(
                    task=head["task"],
                    task_type=TaskType(head["type"]),
                    label_field=head["label_field"],
                    loss=head["loss"],
                    loss_weight=float(head.get("loss_weight", 1.0)),
                )
                for head in metadata["heads"]
            ),
            architecture=architecture.name,
            hidden_size=int(metadata["head_set"]["hidden_size"]),
        )
        label_fields = {
            head["label_field"]: LabelField(
                name=head["label_field"],
                task_type=TaskType(head["type"]),
                classes=tuple(head["classes"]),
            )
            for head in metadata["heads"]
            if head["classes"]
        }
        settings = {name: int(strategy[name]) for name in ("top_k", "lora_r", "max_length")}
    except UsageError as exc:  # a backbone or architecture no longer registered
        raise CheckpointError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"{where}: the backbone, strategy, head set or a head is malformed "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if family is not spec.family and family is not Family.TRIVIAL:
        raise CheckpointError(
            f"{where}: backbone '{spec.name}' is now {spec.family.value}, saved as {family.value}"
        )

    def build_model(encoder: nn.Module, width: int, *_: Any) -> MultiTaskModel:
        return MultiTaskModel(
            encoder,
            out_features=width,
            head_set=head_set,
            label_fields=label_fields,
            dropout=float(metadata["dropout"]),
            architecture=architecture,
            architecture_options=metadata["architecture"]["options"],
        )

    if family is Family.TRIVIAL:
        return build_model(ConstantEncoder(), 1), None, False
    try:
        loaded = call_plugin(host, "backbones", spec.name, spec.load, **options)
    except CombinationError as exc:
        raise CheckpointError(f"{where}: cannot load its backbone: {exc}") from None
    segments = family is Family.ENCODER and accepts_segments(loaded.model)
    if strategy["name"] == "frozen":
        model = _frozen_model(where, loaded, pooling or loaded.pooling, build_model, backbone)
    else:
        model = prepare(
            family=family,
            backbone_name=spec.name,
            loaded=loaded,
            pooling=pooling,
            splits={},
            build_model=build_model,
            strategy=strategy["name"],
            top_k=settings["top_k"],
            lora_r=settings["lora_r"],
            max_length=settings["max_length"],
            encoded_splits=_no_splits,
            features=FeatureCache(),
            device=torch.device("cpu"),
            precision=strategy["precision"],
            backbone_options=options,
        ).model
    if model.encoder_features != metadata["encoder_width"]:
        raise CheckpointError(
            f"{where}: backbone '{spec.name}' now gives {model.encoder_features} features, "
            f"the checkpoint was trained on {metadata['encoder_width']}"
        )
    return model, loaded, segments


def _frozen_model(
    where: Path,
    loaded: LoadedBackbone,
    pooling: Pooling,
    build_model: Any,
    backbone: Mapping[str, Any],
) -> MultiTaskModel:
    """A frozen model's serving path: the re-loaded backbone encodes each text, the saved
    tower and heads read [user; item; user * item] (plus the ID side of a hybrid)."""
    if weights_digest(loaded.model) != backbone.get("frozen_sha256"):
        raise CheckpointError(
            f"{where}: backbone '{backbone['name']}' now loads other weights than the frozen "
            "backbone this model was trained on (backbone.frozen_sha256 differs)"
        )
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)
    encoder: nn.Module = FrozenTextEncoder(loaded.model, pooling)
    width = 3 * loaded.hidden_size
    if loaded.with_ids is not None:
        hybrid = HybridEncoder(encoder, loaded.with_ids(width))
        encoder, width = hybrid, hybrid.out_features
    model: MultiTaskModel = build_model(encoder, width)
    return model


def _no_splits(split_name: str, split: DomainSplit) -> Any:
    raise AssertionError("a checkpoint is rebuilt without splits")
