"""Explaining a combination's trained model, when the suite asks (``explain:``).

Runs after the combination is evaluated and before its model is released: a seeded sample of
test rows, each selected explainer per task head, the deletion and insertion curves of each
attribution (re-predictions), all saved to ``predictions/KEY/explanations/TASK.json``; the
figures (:func:`mtrec.measure.explain.task_figures`) are computed from exactly what is saved.

The model is put in eval mode and the global random state is restored afterwards, so the
combination's metrics, efficiency and fairness are the same with and without explanations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtrec.config import ExplainConfig
from mtrec.contracts import Combination
from mtrec.errors import CombinationError, UsageError
from mtrec.measure.explain import FRACTIONS, deletion_keep, insertion_keep, task_figures
from mtrec.model.explainable import (
    SPECIAL,
    ExplainableModel,
    ExplainedRow,
    id_model,
    text_model,
)
from mtrec.model.inputs import CONTEXT_SEPARATOR, context_phrase
from mtrec.model.multitask import MultiTaskModel, TextPairEncoder
from mtrec.plugin_host import PluginHost, Registries
from mtrec.specs import DomainSplit, ExplainerSpec, Family

FOLDER = "explanations"
CHUNK_ROWS = 16  # rows per explainer call
CURVE_BATCH = 256  # re-predictions per forward pass


def check_explain(
    config: ExplainConfig | None, registries: Registries, combinations: Sequence[Combination]
) -> None:
    """A suite's ``explain`` block before anything runs: every named explainer known (a
    did-you-mean otherwise) and usable here, every named task a task of some head set of the
    sweep; UsageError otherwise."""
    if config is None:
        return
    for name in dict.fromkeys(config.explainers or []):
        spec = registries.explainers.get(name)
        reason = spec.available()
        if reason is not None:
            provider = registries.explainers.entry(name).provider.describe()
            raise UsageError(f"explain.explainers: '{name}' ({provider}) cannot run here: {reason}")
    tasks = {
        head.task
        for combination in combinations
        for head in registries.head_sets.get(combination.head_set.name).heads
    }
    for task in config.tasks or []:
        if task not in tasks:
            known = ", ".join(sorted(tasks)) or "none"
            raise UsageError(
                f"explain.tasks: '{task}' is not a task of any head set of the suite "
                f"(tasks: {known})"
            )


def select_explainers(
    host: PluginHost, config: ExplainConfig, family: Family
) -> tuple[list[ExplainerSpec], dict[str, str]]:
    """The explainers to run on a backbone of ``family`` (references always included) and
    why each other selected one is skipped."""
    registry = host.registries.explainers
    names = list(config.explainers) if config.explainers is not None else registry.names()
    names += [spec.name for spec in (registry.get(n) for n in registry.names()) if spec.reference]
    chosen: list[ExplainerSpec] = []
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(names):
        spec = registry.get(name)
        if family not in spec.families:
            skipped[name] = f"explains {', '.join(f.value for f in spec.families)} backbones"
        elif (reason := spec.available()) is not None:
            skipped[name] = reason
        else:
            chosen.append(spec)
    return chosen, skipped


def explain_combination(
    combination: Combination,
    host: PluginHost,
    *,
    model: MultiTaskModel,
    test_split: DomainSplit,
    test_tokens: Any,
    device: torch.device,
    predictions_dir: Path,
) -> dict[str, Any]:
    """Explain the trained ``model`` on a sample of ``test_split``; the record's
    ``explanations`` entry. ``test_tokens`` is what the model was evaluated on (the token ids
    the sampled rows are checked against)."""
    config = combination.explain
    if config is None:
        raise ValueError("the combination's suite asks for no explanations")
    backbone = host.registries.backbones.get(combination.backbone.name)
    family = backbone.family
    chosen, skipped = select_explainers(host, config, family)
    tasks = [
        head.spec.task
        for head in model.task_heads()
        if config.tasks is None or head.spec.task in config.tasks
    ]
    result: dict[str, Any] = {
        "rows": 0,
        "seed": config.seed,
        "explainers": [spec.name for spec in chosen],
        "skipped": skipped,
        "tasks": {},
        "files": {},
    }
    encoder = getattr(model.encoder, "_orig_mod", model.encoder)
    if family is not Family.ID_EMBEDDING and not isinstance(encoder, TextPairEncoder):
        reason = _NO_UNITS.format(encoder=type(encoder).__name__)
        result["skipped"] = {spec.name: reason for spec in chosen} | skipped
        result["explainers"] = []
        return result
    if not chosen or not tasks:
        return result
    rng = np.random.default_rng(config.seed)
    sample = np.sort(
        rng.choice(len(test_split), size=min(config.rows, len(test_split)), replace=False)
    )
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            tokenizer = _tokenizer(combination, host) if family in TEXT_FAMILIES else None
            explainable = explainable_model(
                model,
                family,
                tokenizer=tokenizer,
                split=test_split,
                sample=sample,
                max_length=combination.training.max_length,
                device=device,
                tokens=test_tokens,
                # the scene is rendered unless the suite's input block turns it off
                context=getattr(getattr(combination, "input", None), "context", True),
            )
            folder = predictions_dir / FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            for task in tasks:
                saved = _explain_task(host, explainable, chosen, task, config)
                path = folder / f"{task}.json"
                path.write_text(json.dumps(saved), encoding="utf-8")
                result["files"][task] = f"{predictions_dir.name}/{FOLDER}/{path.name}"
                result["tasks"][task] = task_figures(
                    saved, resamples=config.bootstrap_resamples, seed=config.seed
                )
    finally:
        model.train(was_training)
    result["rows"] = len(sample)
    return result


TEXT_FAMILIES = (Family.ENCODER, Family.DECODER)


def _tokenizer(combination: Combination, host: PluginHost) -> Any:
    """The backbone's tokenizer, from its loader called once more (the trained model holds
    none); inside the caller's forked random state, so a random-init load changes nothing."""
    spec = host.registries.backbones.get(combination.backbone.name)
    try:
        loaded = spec.load(**combination.backbone.options)
    except Exception as exc:
        provider = host.provider_of("backbones", spec.name)
        raise CombinationError(
            f"backbone '{spec.name}' ({provider.describe()}) raised {type(exc).__name__} "
            f"reloading its tokenizer for explanations: {exc}"
        ) from exc
    return getattr(loaded, "tokenizer", None)


# A frozen backbone's cached features, a hybrid's text-and-ID encoder: not (yet) explained.
_NO_UNITS = (
    "the model's encoder ({encoder}) is neither a token encoder nor ID embeddings: "
    "nothing to attribute"
)


def _explain_task(
    host: PluginHost,
    model: ExplainableModel,
    chosen: Sequence[ExplainerSpec],
    task: str,
    config: ExplainConfig,
) -> dict[str, Any]:
    """Attributions and curves of every chosen explainer on one task (the saved file)."""
    positions = np.arange(len(model.rows))
    chunks = [
        positions[start : start + CHUNK_ROWS] for start in range(0, len(positions), CHUNK_ROWS)
    ]
    everything = [np.ones(model.unit_count(int(p)), dtype=bool) for p in positions]
    full = np.concatenate(
        [model.masked_scores(chunk, [everything[p] for p in chunk], task) for chunk in chunks]
    )
    attributions: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for spec in chosen:
        started = time.perf_counter()
        found: list[np.ndarray] = []
        for chunk in chunks:
            found += _attribute(host, spec, model, task, chunk, config)
        seconds[spec.name] = time.perf_counter() - started
        attributions[spec.name] = found
    curves = {name: _curves(model, task, found) for name, found in attributions.items()}
    reference = next((spec.name for spec in chosen if spec.reference), None)
    return {
        "task": task,
        "fractions": list(FRACTIONS),
        "reference": reference,
        "explainers": [spec.name for spec in chosen],
        "seconds": seconds,
        "rows": [
            {
                "row": row.row,
                "id": row.id,
                "units": list(row.units),
                "space_before": list(row.space_before),
                "segments": list(row.segments),
                "score": float(full[position]),
                "explainers": {
                    name: {
                        "attribution": [float(v) for v in attributions[name][position]],
                        "deletion": [float(v) for v in curves[name]["deletion"][position]],
                        "insertion": [float(v) for v in curves[name]["insertion"][position]],
                    }
                    for name in attributions
                },
            }
            for position, row in enumerate(model.rows)
        ],
    }


def _curves(
    model: ExplainableModel, task: str, found: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves of one explainer's attributions: the re-predicted score
    at every fraction of :data:`FRACTIONS`, one row's whole curve pair per batch slot group."""
    steps = len(FRACTIONS)
    curves = {"deletion": np.zeros((len(found), steps)), "insertion": np.zeros((len(found), steps))}
    per_call = max(1, CURVE_BATCH // (2 * steps))  # rows whose two curves share one forward
    for start in range(0, len(found), per_call):
        chunk = np.arange(start, min(start + per_call, len(found)))
        keeps = [
            keep(found[position], model.rows[position].eligible, fraction)
            for position in chunk.tolist()
            for keep in (deletion_keep, insertion_keep)
            for fraction in FRACTIONS
        ]
        scores = model.masked_scores(np.repeat(chunk, 2 * steps), keeps, task)
        scores = scores.reshape(len(chunk), 2, steps)
        curves["deletion"][chunk] = scores[:, 0]
        curves["insertion"][chunk] = scores[:, 1]
    return curves


def _attribute(
    host: PluginHost,
    spec: ExplainerSpec,
    model: ExplainableModel,
    task: str,
    chunk: np.ndarray,
    config: ExplainConfig,
) -> list[np.ndarray]:
    """One explainer's attributions of a chunk of rows, checked; errors name the plugin."""
    provider = host.provider_of("explainers", spec.name)
    try:
        returned = spec.attribute(
            model=model, task=task, rows=chunk, seed=config.seed, steps=config.steps
        )
        found = [np.asarray(values, dtype=np.float64).reshape(-1) for values in returned]
    except CombinationError:
        raise
    except Exception as exc:
        raise CombinationError(
            f"explainer '{spec.name}' ({provider.describe()}) raised {type(exc).__name__}: {exc}"
        ) from exc
    problem = None
    if len(found) != len(chunk):
        problem = f"{len(found)} attributions for {len(chunk)} rows"
    else:
        for position, values in zip(chunk, found, strict=True):
            expected = model.unit_count(int(position))
            if len(values) != expected or not np.all(np.isfinite(values)):
                problem = f"row {model.rows[int(position)].row}: {len(values)} values for " + (
                    f"{expected} units" if len(values) != expected else "its units, not all finite"
                )
                break
    if problem:
        raise CombinationError(
            f"explainer '{spec.name}' ({provider.describe()}) returned {problem}"
        )
    return found


# -- the sampled rows ---------------------------------------------------------------------


def explainable_model(
    model: MultiTaskModel,
    family: Family,
    *,
    tokenizer: Any,
    split: DomainSplit,
    sample: np.ndarray,
    max_length: int,
    device: torch.device,
    tokens: Any,
    context: bool = True,
) -> ExplainableModel:
    """The trained ``model`` over the ``sample`` rows of ``split`` as explainers see it.

    Language backbones re-tokenize each row with character offsets (to tell the context, user
    and item segments apart; ``context``: whether the scene was rendered); the ids must be
    exactly the ``tokens`` the model was evaluated on (an EncodedSplit of ``split``)."""
    if family is Family.ID_EMBEDDING:
        rows = [
            ExplainedRow(
                row=int(row),
                id=int(split.ids[row]),
                units=(f"user {split.user_ids[row]}", f"item {split.item_ids[row]}"),
                segments=("user", "item"),
                space_before=(False, True),
            )
            for row in sample
        ]
        return id_model(
            model,
            rows,
            user_ids=split.user_ids[sample],
            item_ids=split.item_ids[sample],
            device=device,
        )
    if tokenizer is None:
        raise CombinationError("the backbone has no tokenizer: its tokens cannot be explained")
    segments = getattr(tokens, "token_type_ids", None) is not None
    rows = [
        _token_row(tokenizer, split, int(row), tokens, max_length, segments, context)
        for row in sample
    ]
    mask_id = getattr(tokenizer, "mask_token_id", None)
    pad_id = int(tokenizer.pad_token_id)
    return text_model(
        model,
        rows,
        family=family,
        device=device,
        baseline_id=int(mask_id) if mask_id is not None else pad_id,
        pad_id=pad_id,
    )


def _token_row(
    tokenizer: Any,
    split: DomainSplit,
    row: int,
    tokens: Any,
    max_length: int,
    segments: bool,
    context: bool,
) -> ExplainedRow:
    """One row's tokens with their segments, re-tokenized with character offsets; refused
    unless the ids are exactly those the model was evaluated on."""
    first, second = split.user_text[row], split.item_text[row]
    encoded = tokenizer(
        first,
        second,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_token_type_ids=segments,
    )
    ids = [int(i) for i in encoded["input_ids"]]
    if tokens is not None and list(np.asarray(tokens.input_ids[row]).tolist()) != ids:
        raise CombinationError(
            f"test row {row}: re-tokenizing its text does not give the tokens the model read"
        )
    sequence = encoded.sequence_ids()
    offsets = encoded["offset_mapping"]
    phrase = context_phrase(split, row) if context else ""
    opener = phrase + CONTEXT_SEPARATOR if phrase else ""
    context_end = len(opener) if opener and first.startswith(opener) else 0
    labels: list[str] = []
    units: list[str] = []
    spaced: list[bool] = []
    previous_end: dict[int, int] = {}
    texts = {0: first, 1: second}
    pieces = tokenizer.convert_ids_to_tokens(ids)
    for index, (part, (start, end)) in enumerate(zip(sequence, offsets, strict=True)):
        if part is None:
            labels.append(SPECIAL)
            units.append(pieces[index])
            spaced.append(True)
            continue
        labels.append("item" if part == 1 else ("context" if start < context_end else "user"))
        units.append(texts[part][start:end] or pieces[index])
        spaced.append(start > previous_end.get(part, start) or part not in previous_end)
        previous_end[part] = end
    types = encoded.get("token_type_ids") if segments else None
    return ExplainedRow(
        row=row,
        id=int(split.ids[row]),
        units=tuple(units),
        segments=tuple(labels),
        token_ids=tuple(ids),
        token_types=tuple(int(t) for t in types) if types is not None else (),
        space_before=tuple(spaced),
    )
