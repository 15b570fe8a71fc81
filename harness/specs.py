"""The objects plugins hand to the core, and the core hands back to plugins.

Every object here is a frozen, keyword-only dataclass: plugins build them, the core
reads them, nobody mutates them. Arrays are numpy arrays (host side); tensors never
cross a plugin boundary.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class TaskType(str, enum.Enum):
    """What kind of prediction a head makes; decides loss, metrics and output width."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"  # labels are [n, n_classes] 0/1 int64 arrays
    REGRESSION = "regression"
    # Top-K recommendation: rows are users, not interactions. y_true holds each user's
    # relevant item ids, y_pred the items ranked first (see RankingInfo and mtrec.measure.ranking).
    RANKING = "ranking"


class Family(str, enum.Enum):
    """Backbone family: what the backbone reads and how it is pooled."""

    ENCODER = "encoder"  # a language model over the text pair, pooled (CLS or mean)
    DECODER = "decoder"  # a causal language model, pooled at the last real token
    ID_EMBEDDING = "id-embedding"  # reads user_ids/item_ids, no text (a non-language baseline)
    TRIVIAL = "trivial"  # reads nothing: the best constant per task


class Pooling(str, enum.Enum):
    """How the token states of one sequence become one vector."""

    CLS = "cls"  # first token (encoders)
    MEAN = "mean"  # mean over non-padding tokens
    LAST = "last"  # last non-padding token (decoders)


# A name that becomes a file or folder name (a task's predictions/KEY/TASK.csv): letters,
# digits, '-' and '_', starting with a letter or digit. No '.', which separates TASK.METRIC.
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_task_name(name: object, what: str = "task") -> None:
    """ValueError unless ``name`` can name a task (and so a file); says what is allowed."""
    if not isinstance(name, str) or TASK_NAME.fullmatch(name) is None:
        raise ValueError(
            f"{what} name {name!r} cannot name a file: use 1 to 64 letters, digits, '-' and "
            "'_', starting with a letter or digit"
        )


# --------------------------------------------------------------------------------------
# backbones
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadedBackbone:
    """A backbone ready to train: the HF model, its tokenizer and how to pool it."""

    model: Any  # a transformers model returning last_hidden_state; for ID_EMBEDDING a
    # torch module with forward(user_ids, item_ids) -> [B, hidden_size]
    tokenizer: Any  # a transformers tokenizer with a pad token set; None without text
    hidden_size: int  # width of the pooled vector
    pooling: Pooling  # how token states are pooled
    source: str  # the from_pretrained path or id actually loaded
    # A hybrid backbone (text + collaborative signal): with_ids(text_width) -> a torch module
    # forward(text [B, text_width], user_ids [B], item_ids [B]) -> [B, out_features] with an
    # ``out_features`` attribute, which combines the pooled text vector with learned user and
    # item ID embeddings. None: the backbone reads text only.
    with_ids: Callable[[int], Any] | None = None
    # What names the text encoder for the frozen-feature cache when it is not the backbone
    # entry itself: {"name": ..., "options": ...} of the text backbone a hybrid wraps, so a
    # hybrid and its plain text backbone share one encoding of each text. None: the entry.
    encoder_key: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """A registered backbone."""

    name: str  # unique name used in suites, e.g. "tiny-bert"
    family: Family  # encoder or decoder
    pooling: Pooling  # default pooling for this backbone
    load: Callable[..., LoadedBackbone]  # load(**options) -> model + tokenizer (may be slow)
    description: str = ""  # one line for `mtrec plugins`
    pretrained: bool = True  # False for random-init test models
    available: Callable[[], str | None] = lambda: None  # None if loadable, else the reason
    # A name ending in ":" is a family: "hf:" + anything resolves through specialise(anything).
    # A specialise(rest, resolve) with a second parameter also gets resolve(name) ->
    # BackboneSpec, the registry's lookup: a family built on other backbones ("hybrid:").
    specialise: Callable[..., BackboneSpec] | None = None


# --------------------------------------------------------------------------------------
# domains
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LabelField:
    """A label column a domain provides, which heads can train on."""

    name: str  # column name, e.g. "category"
    task_type: TaskType  # the prediction type this label supports
    classes: tuple[str, ...] = ()  # class names for multiclass/multilabel (index = column)


@dataclass(frozen=True, kw_only=True)
class DomainSplit:
    """One split (train, validation or test) of a domain, column-oriented.

    All arrays have the same length n; row i is one user-item interaction.
    """

    ids: np.ndarray  # int64 interaction ids, unique within the domain
    user_ids: np.ndarray  # int64
    item_ids: np.ndarray  # int64
    user_text: Sequence[str]  # first text segment fed to the backbone
    item_text: Sequence[str]  # second text segment (pair input)
    # label field -> values: int64 class index (multiclass), int64 0/1 (binary), float64
    # (regression), or an int64 [n, n_classes] 0/1 matrix (multilabel)
    labels: Mapping[str, np.ndarray]
    sensitive: Mapping[str, np.ndarray]  # sensitive attribute -> group names (str objects)
    # The scene of each interaction: context field (e.g. "device") -> value of each row (str
    # objects). Rendered into the model input (mtrec.model.inputs) unless a suite turns it off,
    # and available to fairness and slicing like a sensitive attribute. Empty: no context.
    context: Mapping[str, np.ndarray] = field(default_factory=dict)
    # The user's earlier interactions, from before this row in time, newest first, each one
    # phrase (e.g. "Heat (1995) 4/5"). Rendered after the user text, the suite's
    # input.history newest ones of them. Empty: the domain has no history.
    history: Sequence[Sequence[str]] = ()
    # When each interaction happened (int64 seconds since the epoch); None: no time order.
    timestamps: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, kw_only=True)
class DomainData:
    """A loaded domain: three splits plus what its labels are."""

    train: DomainSplit
    validation: DomainSplit
    test: DomainSplit
    label_fields: Mapping[str, LabelField]  # every label column present in the splits
    sensitive_attributes: tuple[str, ...]  # keys of DomainSplit.sensitive
    context_fields: tuple[str, ...] = ()  # keys of DomainSplit.context


@dataclass(frozen=True, kw_only=True)
class DomainSpec:
    """A registered domain."""

    name: str  # unique name, e.g. "synthetic-ecommerce"
    load: Callable[..., DomainData]  # load(seed=int, **options) -> DomainData
    label_fields: tuple[str, ...]  # label fields the domain provides
    sensitive_attributes: tuple[str, ...]  # sensitive user attributes it provides
    description: str = ""  # one line for `mtrec plugins`
    domain_kind: str = ""  # e-commerce, video, social, travel, news, ...
    context_fields: tuple[str, ...] = ()  # the scene it records (time of day, device, ...)
    head_set: str | None = None  # its own head set: what `head_sets: auto` pairs it with


# --------------------------------------------------------------------------------------
# head sets
# --------------------------------------------------------------------------------------


# The loss each task type trains with by default (HeadSpec.loss).
LOSSES: Mapping[TaskType, str] = {
    TaskType.MULTICLASS: "cross_entropy",
    TaskType.REGRESSION: "mse",
    TaskType.BINARY: "bce",
    TaskType.MULTILABEL: "bce",
    TaskType.RANKING: "bce",  # pointwise, the observed positives against sampled negatives
}


@dataclass(frozen=True, kw_only=True)
class HeadSpec:
    """One task head: which label it predicts and how it is trained."""

    task: str  # task name in results, e.g. "rating"
    task_type: TaskType  # binary, multiclass or regression
    label_field: str  # domain label column it trains on; ranking: "" (the suite's rule)
    loss: str  # "cross_entropy", "mse" or "bce" (ranking: "bce" over sampled negatives)
    loss_weight: float = 1.0  # static weight in the summed loss

    def __post_init__(self) -> None:
        # The task name becomes predictions/KEY/TASK.csv: refuse it at registration, not
        # after a sweep has trained.
        check_task_name(self.task)


@dataclass(frozen=True, kw_only=True)
class HeadSetSpec:
    """A registered head set: several heads on one shared backbone forward."""

    name: str  # unique name, e.g. "ecommerce-seed"
    heads: tuple[HeadSpec, ...]  # at least one head; task names unique
    architecture: str = "shared-bottom"  # how heads share the backbone
    hidden_size: int = 0  # width of each head's hidden layer; 0 = linear head
    description: str = ""  # one line for `mtrec plugins`

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError(f"head set {self.name!r} has no heads")
        tasks = [head.task for head in self.heads]
        twice = sorted({task for task in tasks if tasks.count(task) > 1})
        if twice:
            raise ValueError(f"head set {self.name!r} has task {twice[0]!r} twice")


# --------------------------------------------------------------------------------------
# fairness metrics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RankingInfo:
    """What a ranking task's lists were drawn from; the same for every row (user) of it.

    Every figure of a ranking task is computed from the lists (``TaskPredictions.y_pred``),
    the relevant items (``y_true``) and this: the cut-offs, and the catalogue with its
    training popularity for the item-side figures (coverage, Gini, popularity lift, tail).
    """

    ks: tuple[int, ...]  # cut-offs reported, ascending; each list holds max(ks) items
    protocol: str  # "full" (catalogue minus the user's seen items) or "sampled"
    negatives: int  # sampled: negatives drawn per user; 0 under "full"
    sampling: str  # sampled: "uniform" or "popularity"; "" under "full"
    relevance: str  # the rule that made items relevant, e.g. "observed" or "rating >= 4"
    seed: int  # seeds the candidates (domain, split and seed; never the model)
    catalogue: np.ndarray  # int64 item ids of the catalogue, ascending
    train_counts: np.ndarray  # int64 training interactions of each catalogue item

    @property
    def k(self) -> int:
        """The cut-off of the primary metric and of the item-side figures: 10 when listed,
        else the largest."""
        return 10 if 10 in self.ks else max(self.ks)


@dataclass(frozen=True, kw_only=True)
class TaskPredictions:
    """Test-split predictions of one task, exactly as saved to disk.

    For a ranking task (``TaskType.RANKING``) each row is a user: ``y_true`` is an int64
    [users, R] array of the user's relevant item ids, ``y_pred`` an int64 [users, max(ks)]
    array of the items ranked first, best first, ``score`` their float64 scores; -1 (and NaN
    for scores) pad short rows. ``user_ids`` and ``ranking`` are set for ranking tasks only.
    """

    task: str  # task name
    task_type: TaskType  # decides which metrics apply
    y_true: np.ndarray  # labels (int64 classes/0-1, float64 targets)
    y_pred: np.ndarray  # predicted class / 0-1 decision / float64 value
    score: np.ndarray | None  # binary: probability of the positive class; else None
    primary_metric: str  # the metric that ranks this task, e.g. "accuracy"
    user_ids: np.ndarray | None = None  # ranking: the user of each row (int64)
    ranking: RankingInfo | None = None  # ranking: cut-offs, protocol, catalogue

    def take(self, rows: np.ndarray) -> TaskPredictions:
        """The same predictions on a subset (or bootstrap resample) of the rows."""
        return replace(
            self,
            y_true=self.y_true[rows],
            y_pred=self.y_pred[rows],
            score=None if self.score is None else self.score[rows],
            user_ids=None if self.user_ids is None else self.user_ids[rows],
        )


@dataclass(frozen=True, kw_only=True)
class FairnessContext:
    """What a fairness metric gets for one finished combination."""

    combination_key: str  # the combination's content hash
    tasks: Mapping[str, TaskPredictions]  # task name -> predictions on the test split
    sensitive: Mapping[str, np.ndarray]  # sensitive attribute -> group of each test row
    metrics: Mapping[str, Mapping[str, float]]  # task -> metric -> value, as reported
    # The scene of each test row: context field -> value (DomainSplit.context), for slicing.
    context: Mapping[str, np.ndarray] = field(default_factory=dict)
    # Rows of the test split (item-side metrics): who saw what.
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    # Item ids of the training interactions (popularity) and the catalogue size (coverage).
    train_item_ids: np.ndarray | None = None
    n_items: int | None = None
    # Single-task baselines on the same test rows (subtask metrics): task -> one run per seed.
    baselines: Mapping[str, Sequence[TaskPredictions]] = field(default_factory=dict)
    bootstrap_resamples: int = 1000  # resamples for confidence intervals (0: none)
    top_k: int = 10  # recommendations per user, for item-side metrics
    seed: int = 0  # seeds the bootstrap, so a report is reproducible
    min_group_users: int = 20  # groups with fewer users stay out of group gaps and intervals


@dataclass(frozen=True, kw_only=True)
class FairnessMetricSpec:
    """A registered fairness metric."""

    name: str  # unique name, the key under "fairness" in results
    scope: str  # "group", "subtask" or "item"
    compute: Callable[[FairnessContext], Mapping[str, Any]]  # JSON-ready result
    description: str = ""  # one line for `mtrec plugins`
    options: Mapping[str, Any] = field(default_factory=dict)  # static settings, shown in listings
    # What the harness must produce for it beyond the test predictions: "baselines" trains
    # single-task baselines (FairnessContext.baselines).
    needs: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------
# multi-task architectures and loss weightings
# --------------------------------------------------------------------------------------
# Their builders return torch modules (mtrec.TaskTower, mtrec.LossWeighting); the specs are
# typed loosely here so that registering and listing them imports no torch.


@dataclass(frozen=True, kw_only=True)
class ArchitectureSpec:
    """A multi-task architecture the model can put between the encoder and the heads."""

    name: str  # unique name used by head sets, e.g. "mmoe"
    description: str  # one line for listings
    # build(in_features=int, tasks=tuple[str, ...], **options) -> a TaskTower
    build: Callable[..., Any]


@dataclass(frozen=True, kw_only=True)
class WeightingSpec:
    """A loss weighting a suite can name."""

    name: str  # registry key: "equal", "uncertainty", ...
    description: str  # one line, for listings
    # build(tasks=(...), **options) -> a LossWeighting; a bad option raises ValueError
    build: Callable[..., Any]


# --------------------------------------------------------------------------------------
# explainers
# --------------------------------------------------------------------------------------
# An explainer attributes one task head's prediction on a test row to the units the backbone
# read: the row's tokens (language backbones) or its user and item embeddings (ID baselines).
# It works on torch modules (mtrec.ExplainableModel), so the spec is typed loosely here and
# registering or listing explainers imports no torch.


@dataclass(frozen=True, kw_only=True)
class ExplainerSpec:
    """A registered explainer."""

    name: str  # unique name used in suites' explain.explainers, e.g. "integrated-gradients"
    # attribute(model=ExplainableModel, task=str, rows=int64 positions, seed=int, steps=int)
    # -> one float array per row, of length model.unit_count(row): how much each unit raised
    # the head's explained score (ExplainableModel.score); larger = more important
    attribute: Callable[..., Any]
    families: tuple[Family, ...]  # backbone families it can explain
    description: str = ""  # one line for `mtrec plugins`
    # True for a reference of explanations (random attribution): every other explainer's
    # faithfulness is reported against it
    reference: bool = False
    available: Callable[[], str | None] = lambda: None  # None if usable here, else the reason


# --------------------------------------------------------------------------------------
# update strategies (the rounds protocol, docs/rounds.md)
# --------------------------------------------------------------------------------------
# Between rounds of the feedback loop, a strategy says what the model learns from next: which
# rows, starting from which weights, training which parameters. It returns a plan; the
# harness trains it within the protocol's budget, so every strategy is measured the same way.


@dataclass(frozen=True, kw_only=True)
class UpdateContext:
    """What a strategy may read when it plans the update of one round."""

    round: int  # 1..rounds-1: the window just evaluated, now learned from
    new_rows: np.ndarray  # int64 rows of the new window the update may train on
    seen_rows: np.ndarray  # int64 training rows of every earlier window (round 0 included)
    rng: np.random.Generator  # seeded per (combination, round): draw samples from it
    replay: float  # the protocol's ``replay``: old rows per new row


@dataclass(frozen=True, kw_only=True)
class UpdatePlan:
    """One update: train on ``rows`` from ``start``, the parameters ``adapters`` says."""

    rows: np.ndarray | None  # int64 rows to train on; None: no update (the model stays)
    start: str = "current"  # "current": the model as it is; "fresh": a newly loaded backbone
    # True: train low-rank adapters on the backbone's attention (added at the first such
    # update) and the heads, every other weight fixed
    adapters: bool = False


@dataclass(frozen=True, kw_only=True)
class UpdateStrategySpec:
    """A registered update strategy (``protocol.updates``)."""

    name: str  # unique name, e.g. "replay"
    plan: Callable[[UpdateContext], UpdatePlan]
    description: str = ""  # one line for `mtrec plugins`
