"""Fitting one variant of a combination: load the backbone, build the model, train, predict.

The combination itself, its single-task baselines and its target-alone reference are all
variants (see :func:`fit_variant`); a transfer's source stage trains the same encoder first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from mtrec.config import TrainingConfig, TransferConfig, learning_rates
from mtrec.contracts import Combination
from mtrec.errors import CombinationError
from mtrec.measure.efficiency import (
    PhaseMemory,
    flops_per_sample,
    track_memory,
)
from mtrec.measure.evaluation import (
    PredictionRun,
    predict,
    score_tasks,
    validation_score,
)
from mtrec.measure.tasks import (
    SELECTION_RULE,
    trivial_predictions,
)
from mtrec.model.batching import Batchable, EncodedSplit
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.strategies import Prepared, ServingPath, accepts_segments, prepare
from mtrec.model.training import TrainResult, Validation, train
from mtrec.model.weighting import LossWeighting
from mtrec.plugin_host import PluginHost
from mtrec.run.phases import phase
from mtrec.run.plugin_calls import call_plugin, check_head_set, load_domain
from mtrec.run.ranking import (
    PAIR_SPLITS,
    RankedRun,
    RankingSetup,
    no_ranking_heads,
    pair_batch_size,
    pair_splits,
    popularity_scores,
    ranked,
    ranking_setup,
    ranking_tasks,
    training_rows,
)
from mtrec.run.sweep_cache import SweepCache
from mtrec.specs import (
    ArchitectureSpec,
    DomainData,
    DomainSplit,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    TaskPredictions,
    TaskType,
)

EpochCallback = Callable[[int, float, float], None]


@dataclass(frozen=True, kw_only=True)
class Fit:
    """A model trained for one variant of a combination, and its test predictions."""

    model: MultiTaskModel
    heads: list[HeadSpec]
    details: Mapping[str, Any]  # strategy facts (prepare)
    trained: TrainResult
    train_split: DomainSplit  # after max_train_samples
    val_enc: Batchable
    test_enc: Batchable
    test_run: PredictionRun
    flops: float | None
    architecture: str
    memory: tuple[PhaseMemory, PhaseMemory]  # training, inference
    serving: ServingPath | None  # frozen: the uncached path, for end-to-end cost
    transfer: Mapping[str, Any] | None  # what the source stage did, when there was one
    # each epoch's validation predictions (task -> predictions), in epoch order
    validation_runs: Sequence[Mapping[str, TaskPredictions]] = ()
    lr: float | None = None  # the learning rate the model was trained at (None: not trained)
    # training.lr as a list: every rate tried (lr, validation score, epochs) and the chosen one
    lr_search: Mapping[str, Any] | None = None
    # ranking heads: the candidates ranked, and what ranking the test users cost
    ranking: RankingSetup | None = None
    ranking_cost: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class _Trained:
    """A variant trained at one learning rate, before anything has looked at its test split."""

    model: MultiTaskModel
    heads: list[HeadSpec]
    details: Mapping[str, Any]
    trained: TrainResult
    train_split: DomainSplit
    val_enc: Batchable
    test_enc: Batchable
    flops: float | None
    architecture: str
    train_memory: PhaseMemory
    serving: ServingPath | None
    transfer: Mapping[str, Any] | None
    validation_runs: Sequence[Mapping[str, TaskPredictions]]
    lr: float
    ranking: RankingSetup | None = None
    pairs: Mapping[str, Batchable] | None = None  # rank:validation / rank:test; None: popularity


def fit_variant(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    training: TrainingConfig,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    count_flops: bool = False,
    transfer: TransferConfig | None = None,
) -> Fit:
    """Load the combination's backbone afresh, train ``head_set`` on ``data``, predict test.

    The combination itself, its single-task baselines and its target-alone reference are all
    variants: same backbone and domain, their own heads, seed and (for transfer) source stage.

    With ``training.lr`` a list, the variant is trained once per rate (same seed, same data,
    each from a fresh load) and the one with the best validation score (``SELECTION_RULE``,
    the score early stopping reads) is kept; ties go to the first listed. A rate whose loss
    goes non-finite is recorded as diverged and left out; if every rate diverges, the variant
    fails as a single rate would. Only the kept model ever predicts the test split.
    """
    rates = learning_rates(training.lr)
    family = host.registries.backbones.get(combination.backbone.name).family
    if len(rates) == 1 or family is Family.TRIVIAL:  # the trivial predictor trains nothing
        single = training.model_copy(update={"lr": rates[0]})
        return _tested(
            _train_variant(
                combination,
                host,
                cache,
                data=data,
                head_set=head_set,
                training=single,
                seed=seed,
                device=device,
                on_epoch=on_epoch,
                count_flops=count_flops,
                transfer=transfer,
            ),
            single,
            device,
        )
    tried: list[dict[str, Any]] = []
    best: _Trained | None = None
    diverged: FloatingPointError | None = None
    for index, rate in enumerate(rates):
        config = training.model_copy(update={"lr": rate})
        try:
            candidate = _train_variant(
                combination,
                host,
                cache,
                data=data,
                head_set=head_set,
                training=config,
                seed=seed,
                device=device,
                on_epoch=_offset(on_epoch, index * training.epochs),
                count_flops=count_flops,
                transfer=transfer,
            )
        except FloatingPointError as exc:
            diverged = exc
            tried.append({"lr": rate, "validation_score": None, "diverged": str(exc)})
            continue
        result = candidate.trained
        tried.append(
            {
                "lr": rate,
                "validation_score": result.best_validation_score,
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
            }
        )
        if best is None or result.best_validation_score > best.trained.best_validation_score:
            best = candidate
        del candidate
    if best is None:
        assert diverged is not None
        raise diverged
    search = {"tried": tried, "chosen": best.lr, "selection_rule": SELECTION_RULE}
    return replace(
        _tested(best, training.model_copy(update={"lr": best.lr}), device), lr_search=search
    )


def _offset(on_epoch: EpochCallback | None, done: int) -> EpochCallback | None:
    """Progress across a learning-rate search: epochs count on from the rates already tried."""
    if on_epoch is None or done == 0:
        return on_epoch
    callback = on_epoch
    return lambda epoch, loss, score: callback(done + epoch, loss, score)


def _tested(trained: _Trained, config: TrainingConfig, device: torch.device) -> Fit:
    """The chosen model's test predictions: the one place a variant's test split is read."""
    ranking_cost = None
    with track_memory(device) as inference_memory, phase("test"):
        test_run = predict(
            trained.model,
            trained.test_enc,
            batch_size=config.eval_batch_size,
            device=device,
            precision=config.precision,
        )
        if trained.ranking is not None:
            lists = _ranked(trained, "test", config, device)
            test_run = replace(test_run, tasks={**test_run.tasks, **lists.tasks})
            ranking_cost = lists.cost(trained.ranking.config.protocol)
    return Fit(
        model=trained.model,
        heads=trained.heads,
        details=trained.details,
        trained=trained.trained,
        train_split=trained.train_split,
        val_enc=trained.val_enc,
        test_enc=trained.test_enc,
        test_run=test_run,
        flops=trained.flops,
        architecture=trained.architecture,
        memory=(trained.train_memory, inference_memory),
        serving=trained.serving,
        transfer=trained.transfer,
        validation_runs=trained.validation_runs,
        lr=trained.lr if trained.trained.history else None,
        ranking=trained.ranking,
        ranking_cost=ranking_cost,
    )


def _ranked(
    trained: _Trained, split: str, config: TrainingConfig, device: torch.device
) -> RankedRun:
    assert trained.ranking is not None
    pairs = None if trained.pairs is None else trained.pairs[PAIR_SPLITS[split]]
    return ranked(
        None if pairs is None else trained.model,
        pairs,
        trained.ranking,
        split,
        ranking_tasks_of(trained.heads),
        batch_size=pair_batch_size(pairs, config.eval_batch_size)
        if pairs is not None
        else config.eval_batch_size,
        device=device,
        precision=config.precision,
    )


def _train_variant(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    data: DomainData,
    head_set: HeadSetSpec,
    training: TrainingConfig,
    seed: int,
    device: torch.device,
    on_epoch: EpochCallback | None,
    count_flops: bool,
    transfer: TransferConfig | None,
) -> _Trained:
    """Train one variant at the single learning rate ``training.lr``; no test predictions."""
    config = training
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    family = host.registries.backbones.get(combination.backbone.name).family
    train_split = data.train
    if config.max_train_samples is not None and config.max_train_samples < len(train_split):
        train_split = _head(train_split, config.max_train_samples)
    splits = {"train": train_split, "validation": data.validation, "test": data.test}
    setup = None
    scored = family is not Family.TRIVIAL  # the trivial predictor ranks by popularity
    if ranking_tasks(head_set):
        setup = ranking_setup(combination, cache, data)
        if scored:
            # the ranking heads' sampled negatives, and one row per (user, candidate)
            splits = {
                **splits,
                "train": training_rows(train_split, setup, seed),
                **pair_splits(data, setup),
            }
    built = build_variant(
        combination,
        host,
        cache,
        splits=splits,
        head_set=head_set,
        config=config,
        device=device,
        label_fields=data.label_fields,
    )
    prepared, architecture = built.prepared, built.architecture
    build_model, encoded_splits = built.build_model, built.encoded_splits
    model = prepared.model
    model.set_target_scaling(train_split.labels)
    model.to(device)
    train_enc = prepared.splits["train"]
    val_enc = prepared.splits["validation"]
    test_enc = prepared.splits["test"]
    pairs = (
        {name: prepared.splits[name] for name in PAIR_SPLITS.values()}
        if setup is not None and scored
        else None
    )
    # Counted before any compilation: the count depends on the architecture and the test
    # batch, not on the weights.
    with phase("flops"):
        flops = flops_per_sample(model, test_enc, device) if count_flops else None
    if config.compile:
        model.encoder = torch.compile(model.encoder)  # type: ignore[assignment]
    heads = model.head_specs()

    stage: dict[str, Any] | None = None
    if transfer is not None:
        if family not in (Family.ENCODER, Family.DECODER) or not prepared.trains:
            raise CombinationError(
                f"transfer needs a language backbone; '{combination.backbone.name}' is "
                f"{family.value}"
            )
        if prepared.details.get("strategy") == "frozen":
            raise CombinationError(
                "transfer needs a backbone that trains (strategy full, top_k or lora), "
                "not frozen: a frozen backbone carries nothing from source to target"
            )
        stage = _source_stage(
            combination,
            host,
            cache,
            transfer=transfer,
            model=model,
            build_model=build_model,
            encoded_splits=encoded_splits,
            config=config,
            seed=seed,
            device=device,
        )

    weighting = host.registries.loss_weightings.get(config.loss_weighting).build(
        tasks=tuple(head.task for head in heads), **config.loss_weighting_options
    )
    validation_runs: list[Mapping[str, TaskPredictions]] = []
    with track_memory(device) as train_memory:
        trained = (
            train_on(
                model,
                train_split,
                train_enc,
                val_enc,
                config,
                device=device,
                seed=seed,
                on_epoch=on_epoch,
                weighting=weighting,
                validation_runs=validation_runs,
                ranking=None if setup is None or pairs is None else (setup, pairs),
            )
            if prepared.trains
            else TrainResult()
        )
    assert isinstance(config.lr, float)
    return _Trained(
        model=model,
        heads=heads,
        details=prepared.details,
        trained=trained,
        train_split=train_split,
        val_enc=val_enc,
        test_enc=test_enc,
        flops=flops,
        architecture=architecture.name,
        train_memory=train_memory,
        serving=prepared.serving,
        transfer=stage,
        validation_runs=validation_runs,
        lr=config.lr,
        ranking=setup,
        pairs=pairs,
    )


@dataclass(frozen=True, kw_only=True)
class Built:
    """A variant's model, built (not trained), and the means to build more on its encoder."""

    prepared: Prepared
    architecture: ArchitectureSpec
    family: Family
    build_model: Callable[..., MultiTaskModel]
    encoded_splits: Callable[[str, DomainSplit], EncodedSplit]


def build_variant(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    splits: Mapping[str, DomainSplit],
    head_set: HeadSetSpec,
    config: TrainingConfig,
    device: torch.device,
    label_fields: Mapping[str, LabelField],
) -> Built:
    """Load the combination's backbone afresh and build its model over ``splits``.

    ``splits["train"]`` fits the trivial predictor's constants; every split is encoded the
    way the backbone and ``config.strategy`` read it (tokens, cached features, ids).
    """
    registries = host.registries
    backbone_spec = registries.backbones.get(combination.backbone.name)
    family = backbone_spec.family
    loaded: LoadedBackbone | None = None
    if family is not Family.TRIVIAL:
        with phase("load"):
            loaded = call_plugin(
                host,
                "backbones",
                backbone_spec.name,
                backbone_spec.load,
                **combination.backbone.options,
            )
        if not isinstance(loaded, LoadedBackbone):
            provider = host.provider_of("backbones", backbone_spec.name)
            raise CombinationError(
                f"backbone '{backbone_spec.name}' ({provider.describe()}) returned "
                f"{type(loaded).__name__} from its loader; expected LoadedBackbone"
            )
    architecture = registries.architectures.get(config.architecture or head_set.architecture)

    def build_model(
        encoder: torch.nn.Module, width: int, heads: HeadSetSpec = head_set, fields: Any = None
    ) -> MultiTaskModel:
        return MultiTaskModel(
            encoder,
            out_features=width,
            head_set=heads,
            label_fields=fields or label_fields,
            dropout=config.dropout,
            architecture=architecture,
            architecture_options=config.architecture_options,
        )

    encoded_splits = _no_text
    if loaded is not None and loaded.tokenizer is not None:
        tokenizer = loaded.tokenizer
        segments = family is Family.ENCODER and accepts_segments(loaded.model)

        def encoded_splits(split_name: str, split: DomainSplit) -> EncodedSplit:
            with phase("tokenise"):
                return cache.tokens.get(split, tokenizer, config.max_length, segments=segments)

    prepared = prepare(
        family=family,
        backbone_name=backbone_spec.name,
        loaded=loaded,
        pooling=combination.backbone.pooling,
        splits=splits,
        build_model=build_model,
        strategy=config.strategy,
        top_k=config.top_k,
        lora_r=config.lora_r,
        max_length=config.max_length,
        encoded_splits=encoded_splits,
        features=cache.features,
        device=device,
        precision=config.precision,
        backbone_options=combination.backbone.options,
    )
    return Built(
        prepared=prepared,
        architecture=architecture,
        family=family,
        build_model=build_model,
        encoded_splits=encoded_splits,
    )


def trivial_scores(
    heads: Sequence[HeadSpec],
    train_labels: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
) -> dict[str, dict[str, float]]:
    """Every metric of the trivial predictor (fitted on the train labels) on ``labels``.

    Ranking heads are not here: their trivial reference is the most-popular ranking
    (:func:`mtrec.run.ranking.popularity_scores`).
    """
    return score_tasks(
        {
            head.task: trivial_predictions(
                head.task, head.task_type, train_labels[head.label_field], labels[head.label_field]
            )
            for head in heads
            if head.task_type is not TaskType.RANKING
        }
    )


def train_on(
    model: MultiTaskModel,
    train_split: DomainSplit,
    train_enc: Batchable,
    val_enc: Batchable,
    config: TrainingConfig,
    *,
    device: torch.device,
    seed: int,
    on_epoch: EpochCallback | None,
    weighting: LossWeighting,
    validation_runs: list[Mapping[str, TaskPredictions]] | None = None,
    ranking: tuple[RankingSetup, Mapping[str, Batchable]] | None = None,
) -> TrainResult:
    """Train with early stopping on the validation score (``tasks.SELECTION_RULE``).

    With ``ranking`` (the candidates and the pair splits), the ranking heads' validation
    lists count like any task, against the most-popular ranking of the same candidates.
    """
    heads = model.head_specs()
    val_reference = trivial_scores(heads, train_split.labels, val_enc.labels)
    ranked_tasks = ranking_tasks_of(heads)
    if ranking is not None:
        val_reference.update(popularity_scores(ranking[0], "validation", ranked_tasks))

    def validate() -> Validation:
        with phase("validation"):
            run = predict(
                model,
                val_enc,
                batch_size=config.eval_batch_size,
                device=device,
                precision=config.precision,
            )
            tasks = dict(run.tasks)
            if ranking is not None:
                setup, pairs = ranking
                val_pairs = pairs[PAIR_SPLITS["validation"]]
                tasks.update(
                    ranked(
                        model,
                        val_pairs,
                        setup,
                        "validation",
                        ranked_tasks,
                        batch_size=pair_batch_size(val_pairs, config.eval_batch_size),
                        device=device,
                        precision=config.precision,
                    ).tasks
                )
            if validation_runs is not None:  # kept for the prediction files
                validation_runs.append(tasks)
            return validation_score(score_tasks(tasks), val_reference, tasks)

    with phase("train"):
        return train(
            model,
            train_enc,
            validate,
            config,
            device=device,
            seed=seed,
            on_epoch=on_epoch,
            weighting=weighting,
        )


def _source_stage(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    transfer: TransferConfig,
    model: MultiTaskModel,
    build_model: Callable[..., MultiTaskModel],
    encoded_splits: Callable[[str, DomainSplit], EncodedSplit],
    config: TrainingConfig,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Train the target model's encoder multi-task on each source domain, in order.

    Each source gets its own heads (its head set) on the very encoder the target model
    holds, so whatever the sources teach the backbone is there when the target training
    starts; the source heads are dropped afterwards.
    """
    registries = host.registries
    width = _encoder_width(model)
    source_config = config.model_copy(
        update={
            "epochs": transfer.epochs or config.epochs,
            "max_train_samples": transfer.max_train_samples,
        }
    )
    done: list[dict[str, Any]] = []
    for index, source in enumerate(transfer.sources):
        with phase("load"):
            data = load_domain(source.name, source.options, combination, host, cache)
        head_set = registries.head_sets.get(source.head_set)
        check_head_set(head_set, data, source.name)
        dropped = ranking_tasks(head_set)
        source_heads = no_ranking_heads(head_set)
        if source_heads is None:
            raise CombinationError(
                f"transfer source '{source.name}': head set '{head_set.name}' has only ranking "
                "heads; a source stage trains the shared encoder on per-row tasks"
            )
        head_set = source_heads
        train_split = data.train
        if source_config.max_train_samples is not None:
            train_split = _head(train_split, source_config.max_train_samples)
        source_model = build_model(model.encoder, width, head_set, data.label_fields)
        source_model.set_target_scaling(train_split.labels)
        source_model.to(device)
        heads = source_model.head_specs()
        trained = train_on(
            source_model,
            train_split,
            encoded_splits("train", train_split),
            encoded_splits("validation", data.validation),
            source_config,
            device=device,
            seed=seed + index,
            on_epoch=None,
            weighting=registries.loss_weightings.get(config.loss_weighting).build(
                tasks=tuple(head.task for head in heads), **config.loss_weighting_options
            ),
        )
        done.append(
            {
                "domain": source.name,
                "options": dict(source.options),
                "head_set": head_set.name,
                "n_train": len(train_split),
                "epochs_run": len(trained.history),
                "steps": trained.steps,
                "train_seconds": trained.train_seconds,
                "best_validation_score": trained.best_validation_score,
                # ranking heads train on the target only: a source stage has no candidates
                **({"ranking_heads_left_out": list(dropped)} if dropped else {}),
            }
        )
    return {"sources": done}


def ranking_tasks_of(heads: Sequence[HeadSpec]) -> tuple[str, ...]:
    return tuple(head.task for head in heads if head.task_type is TaskType.RANKING)


def _encoder_width(model: MultiTaskModel) -> int:
    return model.encoder_features


def _head(split: DomainSplit, n: int) -> DomainSplit:
    """The first ``n`` rows of a split (``training.max_train_samples``)."""
    return replace(
        split,
        ids=split.ids[:n],
        user_ids=split.user_ids[:n],
        item_ids=split.item_ids[:n],
        user_text=list(split.user_text)[:n],
        item_text=list(split.item_text)[:n],
        labels={k: v[:n] for k, v in split.labels.items()},
        sensitive={k: v[:n] for k, v in split.sensitive.items()},
        context={k: v[:n] for k, v in split.context.items()},
        history=list(split.history)[:n],
        timestamps=None if split.timestamps is None else split.timestamps[:n],
    )


def _no_text(split_name: str, split: DomainSplit) -> EncodedSplit:
    raise CombinationError("this backbone has no tokenizer: it cannot read text")
