"""Saved models: a trained combination's model on disk, and the same model back from it.

A checkpoint is a folder of two files (``docs/checkpoints.md``)::

    model.safetensors   the MultiTaskModel's weights (safetensors: no pickle, nothing runs)
    checkpoint.json     what rebuilds the model around them, the versions that wrote it and
                        the weights' SHA-256

Saving writes both into a hidden staging folder renamed into place once complete. Loading
checks checkpoint.json (every field, the format, the mtrec major version) and the weights'
digest first, then rebuilds the model the way a run builds it (:mod:`mtrec.run.saved_models`)
and reads the weights into it. A frozen backbone is not stored: it never trains, so the
checkpoint keeps the tower and heads plus a digest of the backbone's weights, and a reloaded
frozen model serves through its uncached path.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mtrec.cache_files import file_digest
from mtrec.contracts import Combination
from mtrec.errors import CheckpointError
from mtrec.model.inputs import InputOptions
from mtrec.model.multitask import MultiTaskModel
from mtrec.plugin_host import PluginHost
from mtrec.run.fit import Fit
from mtrec.run.saved_models import SavedModel, frozen_backbone, rebuild_model, weights_digest
from mtrec.specs import (
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    Pooling,
    TaskType,
)
from mtrec.store.results import now
from mtrec.version import __version__

FORMAT = 1  # checkpoint.json's layout; a reader refuses any other
WEIGHTS = "model.safetensors"
METADATA = "checkpoint.json"
MODELS = "models"  # a run's saved models: RUN/models/KEY
# Strategies a checkpoint can be reloaded under; "none" is the trivial predictor.
STRATEGIES = ("full", "top_k", "lora", "frozen", "none")
# checkpoint.json's top-level fields; a file without one of them is refused by name.
FIELDS = (
    "format",
    "mtrec",
    "torch",
    "transformers",
    "key",
    "backbone",
    "strategy",
    "head_set",
    "heads",
    "architecture",
    "dropout",
    "encoder_width",
    "input",
    "weights",
)
OBJECTS = ("backbone", "strategy", "head_set", "architecture", "input", "weights")


@dataclass(frozen=True, kw_only=True)
class ModelDescription:
    """Everything but the weights that rebuilds a trained model (checkpoint.json)."""

    key: str  # the combination's key
    backbone: str  # registered backbone name
    backbone_options: Mapping[str, Any]  # its loader options
    family: Family
    pooling: Pooling | None  # text backbones: the pooling that ran; None otherwise
    strategy: str  # full | top_k | lora | frozen | none (the trivial predictor)
    top_k: int  # strategy top_k: trainable top layers
    lora_r: int  # strategy lora: adapter rank
    max_length: int  # tokens per text (pair, or each text when frozen)
    precision: str  # training.precision: what evaluation runs at
    head_set: str  # the head set's name
    heads: tuple[HeadSpec, ...]  # every head of the model, in order
    hidden_size: int  # width of each head's hidden layer (0: linear heads)
    label_fields: Mapping[str, LabelField]  # the fields multiclass/multilabel heads predict
    architecture: str  # multi-task tower
    architecture_options: Mapping[str, Any]
    dropout: float
    encoder_width: int  # the encoder's output width the tower reads
    input: InputOptions  # what of a row the backbone read (context, history)
    # where it was trained, for the reader (the rebuild needs none of it)
    domain: str = ""
    domain_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    # what the caller wants kept with the model (JSON values), e.g. a feedback loop's round
    extra: Mapping[str, Any] = field(default_factory=dict)
    # strategy frozen: SHA-256 of the backbone's weights, which the checkpoint does not hold
    frozen_backbone_sha256: str | None = None


def describe_fit(
    combination: Combination,
    fit: Fit,
    *,
    family: Family,
    head_set: HeadSetSpec,
    label_fields: Mapping[str, LabelField],
) -> ModelDescription:
    """The description of a combination's chosen model (what :func:`save_checkpoint` needs)."""
    return describe_model(
        combination,
        fit.model,
        heads=fit.heads,
        details=fit.details,
        serving_encoder=None if fit.serving is None else fit.serving.encoder,
        architecture=fit.architecture,
        family=family,
        head_set=head_set,
        label_fields=label_fields,
    )


def describe_model(
    combination: Combination,
    model: MultiTaskModel,
    *,
    heads: Sequence[HeadSpec],
    details: Mapping[str, Any],
    serving_encoder: torch.nn.Module | None,
    architecture: str,
    family: Family,
    head_set: HeadSetSpec,
    label_fields: Mapping[str, LabelField],
    strategy: str | None = None,
) -> ModelDescription:
    """The description of a trained model: what rebuilds it (``strategy`` overrides the one
    it was built with, e.g. ``lora`` once adapters were added to a fully trained backbone)."""
    strategy = strategy or str(details.get("strategy", combination.training.strategy))
    pooling = details.get("pooling")
    frozen_digest = None
    if strategy == "frozen":
        assert serving_encoder is not None  # a frozen model always has its uncached path
        frozen_digest = weights_digest(frozen_backbone(serving_encoder))
    used = {head.label_field for head in heads}
    return ModelDescription(
        key=combination.key,
        backbone=combination.backbone.name,
        backbone_options=dict(combination.backbone.options),
        family=family,
        pooling=Pooling(pooling) if pooling is not None else None,
        strategy=strategy,
        top_k=combination.training.top_k,
        lora_r=combination.training.lora_r,
        max_length=combination.training.max_length,
        precision=combination.training.precision,
        head_set=head_set.name,
        heads=tuple(heads),
        hidden_size=head_set.hidden_size,
        label_fields={name: spec for name, spec in label_fields.items() if name in used},
        architecture=architecture,
        architecture_options=dict(combination.training.architecture_options),
        dropout=combination.training.dropout,
        encoder_width=model.encoder_features,
        input=InputOptions(context=combination.input.context, history=combination.input.history),
        domain=combination.domain.name,
        domain_options=dict(combination.domain.options),
        seed=combination.seed,
        frozen_backbone_sha256=frozen_digest,
    )


# --------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------


def save_checkpoint(
    model: MultiTaskModel,
    folder: Path,
    *,
    description: ModelDescription,
    relative_to: Path | None = None,
) -> dict[str, Any]:
    """Write ``model`` to ``folder`` (replacing what is there) and return the record's entry:
    ``{"path": ..., "sha256": ..., "bytes": ...}``, the path relative to ``relative_to``
    (default: the folder's parent).

    Both files are written into a hidden staging folder beside ``folder``, which is renamed
    into place only once complete: a run killed while saving leaves no folder that looks like
    a checkpoint.
    """
    state = _plain_state(model)
    tensors, aliases = _distinct_tensors(state)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        from safetensors.torch import save_file

        save_file(tensors, str(staging / WEIGHTS), metadata={"format": "pt"})
        digest, size = file_digest(staging / WEIGHTS), (staging / WEIGHTS).stat().st_size
        metadata = _metadata(description, weights={"file": WEIGHTS, "sha256": digest})
        metadata["weights"].update(bytes=size, tensors=len(tensors), aliases=aliases)
        (staging / METADATA).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _put_in_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    base = relative_to if relative_to is not None else folder.parent
    return {"path": folder.relative_to(base).as_posix(), "sha256": digest, "bytes": size}


def drop_saved_model(record: dict[str, Any], run_dir: Path) -> None:
    """A record that failed keeps no saved model: its ``model`` entry and folder (and any
    staging left beside it) are removed."""
    record.pop("model", None)
    folder = run_dir / MODELS / str(record["key"])
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(folder.parent / f".{folder.name}.partial", ignore_errors=True)


def _put_in_place(staging: Path, folder: Path) -> None:
    """Rename the finished staging folder to ``folder``; an earlier one is replaced whole."""
    old = folder.parent / f".{folder.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def _plain_state(model: MultiTaskModel) -> dict[str, torch.Tensor]:
    """The model's state dict under the names an uncompiled model has (``training.compile``
    wraps the encoder, which prefixes its names with ``_orig_mod.``)."""
    state = model.state_dict()
    return {name.replace("encoder._orig_mod.", "encoder.", 1): t for name, t in state.items()}


def _distinct_tensors(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors safetensors can write (on the CPU, contiguous, no two sharing memory), and the
    aliases: name -> the stored name holding the very same tensor (tied weights).

    A tensor that shares memory with another without being the same view is stored as a
    copy of its own; loading copies values into the rebuilt model, whose own ties hold.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    views: dict[tuple[Any, ...], str] = {}
    storages: set[int] = set()
    for name, tensor in state.items():
        tensor = tensor.detach()
        if tensor.numel() == 0:
            tensors[name] = tensor.cpu().contiguous().clone()
            continue
        storage = tensor.untyped_storage().data_ptr()
        view = (
            storage,
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
            tensor.dtype,
        )
        if view in views:
            aliases[name] = views[view]
            continue
        views[view] = name
        shared = storage in storages
        storages.add(storage)
        whole = tensor.is_contiguous() and tensor.untyped_storage().nbytes() == (
            tensor.numel() * tensor.element_size()
        )
        tensors[name] = (
            tensor.to("cpu", copy=True).contiguous() if shared or not whole else tensor.cpu()
        )
    return tensors, aliases


def _metadata(description: ModelDescription, *, weights: dict[str, Any]) -> dict[str, Any]:
    import transformers

    return {
        "format": FORMAT,
        "mtrec": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "key": description.key,
        "saved": now(),
        "domain": {"name": description.domain, "options": dict(description.domain_options)},
        "seed": description.seed,
        "backbone": {
            "name": description.backbone,
            "options": dict(description.backbone_options),
            "family": description.family.value,
            "pooling": description.pooling.value if description.pooling is not None else None,
            "frozen_sha256": description.frozen_backbone_sha256,
        },
        "strategy": {
            "name": description.strategy,
            "top_k": description.top_k,
            "lora_r": description.lora_r,
            "max_length": description.max_length,
            "precision": description.precision,
        },
        "head_set": {"name": description.head_set, "hidden_size": description.hidden_size},
        "heads": [_head_json(head, description.label_fields) for head in description.heads],
        "architecture": {
            "name": description.architecture,
            "options": dict(description.architecture_options),
        },
        "dropout": description.dropout,
        "encoder_width": description.encoder_width,
        "input": {"context": description.input.context, "history": description.input.history},
        "weights": weights,
        "extra": dict(description.extra),
    }


def _head_json(head: HeadSpec, label_fields: Mapping[str, LabelField]) -> dict[str, Any]:
    classes = (
        list(label_fields[head.label_field].classes)
        if head.task_type in (TaskType.MULTICLASS, TaskType.MULTILABEL)
        else []
    )
    return {
        "task": head.task,
        "type": head.task_type.value,
        "label_field": head.label_field,
        "loss": head.loss,
        "loss_weight": head.loss_weight,
        "n_outputs": len(classes) or 1,
        "classes": classes,
    }


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------


def load_model(
    path: str | os.PathLike[str],
    *,
    host: PluginHost | None = None,
    device: str | torch.device = "cpu",
) -> SavedModel:
    """Load a saved model (a run's ``models/KEY`` folder) in eval mode, with its metadata.

    Raises :class:`~mtrec.errors.CheckpointError` when the weights do not match their
    recorded SHA-256, a field is missing, the checkpoint comes from another mtrec major
    version, or its backbone no longer loads the weights it was trained on.
    """
    return load_checkpoint(Path(path), host, device=device)


def load_checkpoint(
    folder: Path,
    host: PluginHost | None = None,
    *,
    device: str | torch.device = "cpu",
) -> SavedModel:
    """Rebuild the model saved in ``folder`` (see :func:`load_model`); in eval mode."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    weights = folder / metadata["weights"]["file"]
    if not weights.is_file():
        raise CheckpointError(f"{weights}: the checkpoint's weights file is missing")
    if file_digest(weights) != metadata["weights"]["sha256"]:
        raise CheckpointError(
            f"{weights}: SHA-256 does not match the one in {METADATA} (the file was altered "
            "or damaged); save the model again"
        )
    host = host or PluginHost()
    model, loaded, segments = rebuild_model(folder / METADATA, metadata, host)
    from safetensors.torch import load_file

    tensors = load_file(str(weights))
    aliases = metadata["weights"].get("aliases", {})
    if not isinstance(aliases, dict) or not set(aliases.values()) <= set(tensors):
        raise CheckpointError(f"{folder / METADATA}: weights.aliases names tensors not stored")
    tensors.update({alias: tensors[stored] for alias, stored in aliases.items()})
    frozen_prefixes = ("encoder.backbone.", "encoder.text.backbone.")
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:  # a shape that differs from the rebuilt model's
        problem = " ".join(str(exc).split())[:300]  # torch's message spans lines
        raise CheckpointError(f"{weights}: does not fit the rebuilt model: {problem}") from None
    if metadata["strategy"]["name"] == "frozen":
        missing = [name for name in missing if not name.startswith(frozen_prefixes)]
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: does not fit the rebuilt model (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )
    target = torch.device(device)
    model.to(target)
    model.eval()
    return SavedModel(
        model=model,
        metadata=metadata,
        tokenizer=None if loaded is None else loaded.tokenizer,
        folder=folder,
        segments=segments,
        device=target,
    )


def read_metadata(folder: Path) -> dict[str, Any]:
    """checkpoint.json of ``folder``, checked: readable, every field there, same format and
    mtrec major version."""
    path = folder / METADATA
    if not path.is_file():
        raise CheckpointError(
            f"{path}: not found; {folder} is not a saved mtrec model (or its save did not finish)"
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    absent = [name for name in FIELDS if name not in metadata]
    if absent:
        raise CheckpointError(f"{path}: field '{absent[0]}' is missing")
    if metadata["format"] != FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {metadata['format']!r}; this mtrec reads format {FORMAT}"
        )
    if _major(str(metadata["mtrec"])) != _major(__version__):
        raise CheckpointError(
            f"{path}: saved by mtrec {metadata['mtrec']}; this is mtrec {__version__} (another "
            "major version): load it with the mtrec that saved it"
        )
    for name in OBJECTS:
        if not isinstance(metadata[name], dict):
            raise CheckpointError(f"{path}: field '{name}' must be an object")
    if not isinstance(metadata["heads"], list) or not metadata["heads"]:
        raise CheckpointError(f"{path}: field 'heads' must list the model's heads")
    weights = metadata["weights"]
    for name in ("file", "sha256"):
        if not isinstance(weights.get(name), str):
            raise CheckpointError(f"{path}: field 'weights.{name}' is missing")
    if Path(weights["file"]).name != weights["file"]:
        raise CheckpointError(f"{path}: weights.file must name a file in the checkpoint folder")
    strategy = metadata["strategy"].get("name")
    if strategy not in STRATEGIES:
        raise CheckpointError(
            f"{path}: strategy {strategy!r} cannot be reloaded; supported: {', '.join(STRATEGIES)}"
        )
    return metadata


def _major(version: str) -> str:
    return version.split(".", 1)[0]
