"""Suite files: YAML validated into typed, frozen config at the edge.

Past :func:`load_suite`, nothing re-checks types. Errors name the file and the field::

    suites/mine.yaml: training.lr: Input should be greater than 0 (got -1)
"""

from __future__ import annotations

import difflib
import math
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mtrec.errors import ConfigError, UnknownNameError
from mtrec.printable import echoed
from mtrec.specs import Pooling

SUITES_PACKAGE = "mtrec.suites"
# numpy and torch take seeds in [0, 2**32); a negative seed fails deep inside them.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
DEFAULT_SUITE = "quick"
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class _Strict(BaseModel):
    # Infinity and NaN are never meaningful settings; `lr: .inf` must not reach training.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads `true` as 1 for an int field (bool is an int in Python).
        field = cls.model_fields[info.field_name] if info.field_name else None
        if field is None or not _wants_number(field.annotation):
            return value
        values = value if isinstance(value, list) else [value]
        if any(isinstance(item, bool) for item in values):
            raise ValueError("expected a number, got true/false")
        return value


def _wants_number(annotation: Any) -> bool:
    """Whether a field holds numbers: int or float, maybe optional, annotated or in a list."""
    if annotation in (int, float):
        return True
    args = get_args(annotation)
    return bool not in args and any(_wants_number(arg) for arg in args)


# full: every weight trains; top_k: only the top k transformer layers (and the heads);
# lora: low-rank adapters on the attention projections (needs the `lora` extra);
# frozen: the backbone encodes each unique text once and only the heads train on the cache.
Strategy = Literal["full", "top_k", "lora", "frozen"]


def _learning_rates(value: Any) -> Any:
    """A positive number, or a list of 2 to 8 distinct ones; ``[3e-5]`` is ``3e-5`` (the same
    combination, the same key)."""
    if not isinstance(value, list):
        return _positive_rate(value)
    if not 1 <= len(value) <= MAX_LEARNING_RATES:
        raise ValueError(f"a list of learning rates holds 1 to {MAX_LEARNING_RATES} values")
    rates = [_positive_rate(item) for item in value]
    if len(set(rates)) < len(rates):
        raise ValueError("a learning rate is listed twice")
    return rates[0] if len(rates) == 1 else rates


def _positive_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a learning rate (a number > 0) or a list of them")
    try:
        rate = float(value)
    except ValueError:
        raise ValueError("expected a learning rate (a number > 0) or a list of them") from None
    if not math.isfinite(rate):
        raise ValueError("Input should be a finite number")
    if rate <= 0:
        raise ValueError("Input should be greater than 0")
    return rate


MAX_LEARNING_RATES = 8
# One learning rate, or several to choose from on validation (the first listed wins a tie).
LearningRates = Annotated[float | list[float], BeforeValidator(_learning_rates)]


def learning_rates(lr: float | list[float]) -> tuple[float, ...]:
    """The learning rates a ``training.lr`` setting asks to try, in the order listed."""
    return tuple(lr) if isinstance(lr, list) else (lr,)


class TrainingConfig(_Strict):
    """How one combination is trained (the seed recipe's defaults)."""

    epochs: Annotated[int, Field(ge=1)] = 5
    batch_size: Annotated[int, Field(ge=1)] = 16
    eval_batch_size: Annotated[int, Field(ge=1)] = 64
    # One learning rate, or a list: each value is trained (same seed, same data) and the best
    # on validation is kept (see LearningRates); head_lr, when set, stays fixed across it.
    lr: LearningRates = 2e-5
    head_lr: Annotated[float, Field(gt=0)] | None = None  # None: same as lr (each tried lr)
    weight_decay: Annotated[float, Field(ge=0)] = 0.01
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    patience: Annotated[int, Field(ge=0)] = 2  # epochs without improvement; 0 = never stop
    max_length: Annotated[int, Field(ge=8, le=4096)] = 64
    grad_clip: Annotated[float, Field(gt=0)] | None = 1.0
    max_train_samples: Annotated[int, Field(ge=1)] | None = None
    strategy: Strategy = "full"  # how much of a language backbone trains
    top_k: Annotated[int, Field(ge=1)] = 2  # trainable top layers under strategy top_k
    lora_r: Annotated[int, Field(ge=1)] = 8  # adapter rank under strategy lora
    architecture: str | None = None  # multi-task tower; None: the head set's own
    architecture_options: dict[str, Any] = {}  # e.g. {n_experts: 4} for mmoe
    grad_accumulation: Annotated[int, Field(ge=1)] = 1  # batches per optimiser step
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0  # linear warm-up, then decay
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # autocast on CUDA
    loss_weighting: str = "equal"  # how task losses combine
    loss_weighting_options: dict[str, Any] = {}  # e.g. {temperature: 2.0} for dwa
    compile: bool = False  # torch.compile the encoder (first steps pay the compilation)


class TrainingOverrides(_Strict):
    """Per-backbone changes to the suite's training settings (unset keys inherit)."""

    epochs: Annotated[int, Field(ge=1)] | None = None
    batch_size: Annotated[int, Field(ge=1)] | None = None
    eval_batch_size: Annotated[int, Field(ge=1)] | None = None
    lr: LearningRates | None = None
    head_lr: Annotated[float, Field(gt=0)] | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    dropout: Annotated[float, Field(ge=0, lt=1)] | None = None
    patience: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=8, le=4096)] | None = None
    grad_clip: Annotated[float, Field(gt=0)] | None = None
    max_train_samples: Annotated[int, Field(ge=1)] | None = None
    strategy: Strategy | None = None
    top_k: Annotated[int, Field(ge=1)] | None = None
    lora_r: Annotated[int, Field(ge=1)] | None = None
    architecture: str | None = None
    architecture_options: dict[str, Any] | None = None
    grad_accumulation: Annotated[int, Field(ge=1)] | None = None
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] | None = None
    loss_weighting: str | None = None
    loss_weighting_options: dict[str, Any] | None = None
    compile: bool | None = None


class MeasureConfig(_Strict):
    """How efficiency is measured after training."""

    latency_batch_sizes: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)] = [
        1,
        32,
    ]
    latency_warmup: Annotated[int, Field(ge=0)] = 3
    latency_min_repeats: Annotated[int, Field(ge=1)] = 10
    latency_min_seconds: Annotated[float, Field(ge=0)] = 0.5
    flops: bool = True  # count FLOPs per sample with torch's FLOP counter


class FairnessConfig(_Strict):
    """How subtask fairness is measured: single-task baselines and bootstrap intervals."""

    baseline_seeds: Annotated[int, Field(ge=0, le=20)] = 1  # single-task runs per task; 0: none
    bootstrap_resamples: Annotated[int, Field(ge=0, le=100_000)] = 1000  # 0: no intervals
    top_k: Annotated[int, Field(ge=1, le=1000)] = 10  # recommendations per user (item side)
    # Groups with fewer users are reported but left out of group gaps and their intervals.
    min_group_users: Annotated[int, Field(ge=1, le=100_000)] = 20


RELEVANCE_RULE = re.compile(r"\s*([A-Za-z0-9_-]+)\s*(>=|>|==|<=|<)\s*(-?[0-9.]+)\s*")


class RankingConfig(_Strict):
    """How ranking tasks are evaluated (``evaluation.ranking``; see ``mtrec.measure.ranking``).

    The candidates depend on the domain's data, the split and the seed only, never on the
    model: every backbone of a sweep ranks identical lists.
    """

    # full: every catalogue item but those the user met in training (and, for the test
    # split, validation); sampled: the relevant items plus ``negatives`` items the user never met
    protocol: Literal["full", "sampled"] = "sampled"
    negatives: Annotated[int, Field(ge=1, le=100_000)] = 99  # sampled: per user
    sampling: Literal["uniform", "popularity"] = "uniform"  # sampled: how negatives are drawn
    k: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(min_length=1)] = [5, 10, 20]
    # "observed": every held-out interaction is relevant; or "FIELD OP NUMBER" on a label
    # field, e.g. "rating >= 4", "click == 1"
    relevance: str = "observed"
    # training: sampled negatives per positive for the pointwise BCE of a ranking head
    train_negatives: Annotated[int, Field(ge=1, le=100)] = 4
    # checkpoint selection ranks each validation user's items among this many sampled
    # negatives, whatever the test protocol (a full ranking per epoch would cost more than
    # the epoch)
    validation_negatives: Annotated[int, Field(ge=1, le=100_000)] = 49

    @field_validator("k")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        return sorted(set(value))

    @field_validator("relevance")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value.strip() == "observed" or RELEVANCE_RULE.fullmatch(value):
            return value.strip()
        raise ValueError(
            f"relevance {value!r}: use 'observed' or 'FIELD OP NUMBER' with OP one of "
            ">=, >, ==, <=, < (e.g. 'rating >= 4')"
        )


class EvaluationConfig(_Strict):
    """How test predictions are scored beyond the per-row metrics."""

    ranking: RankingConfig = RankingConfig()


class InputConfig(_Strict):
    """What of a domain's rows the backbone reads (``input:``; see ``mtrec.model.inputs``).

    At suite level every key has its default; in a backbone entry the keys written there
    override the suite's (the entry is completed from the suite's block when the suite is
    read), so one suite can list a backbone with and without context or history (an
    ablation).
    """

    context: StrictBool = True  # render the scene of each interaction before the user text
    # newest earlier interactions rendered after the user text; None: all the domain supplies
    history: Annotated[int, Field(ge=0, le=10_000)] | None = None


class ExplainConfig(_Strict):
    """Which explanations a run computes (``explain:``): attributions and their faithfulness
    on a seeded sample of each combination's test rows (mtrec.measure.explain)."""

    rows: Annotated[int, Field(ge=1, le=100_000)] = 200  # test rows explained per combination
    explainers: list[str] | None = None  # None: every registered one usable here
    tasks: list[str] | None = None  # None: every task head of the combination
    steps: Annotated[int, Field(ge=2, le=1000)] = 32  # path steps of gradient integrals
    bootstrap_resamples: Annotated[int, Field(ge=0, le=100_000)] = 1000  # 0: no intervals
    seed: Seed = 0  # draws the rows and seeds the random reference


class OutputConfig(_Strict):
    """What a run writes beyond results and predictions (``output:``). Never part of a
    combination's key: it changes no result, only what is kept of it."""

    # each ok combination's chosen model, under RUN/models/KEY (docs/checkpoints.md)
    save_model: StrictBool = False


class UpdateBudget(_Strict):
    """What one update of the rounds protocol may spend: at most ``epochs`` epochs over at
    most ``samples`` rows (a strategy's rows beyond it are sampled down, seeded)."""

    epochs: Annotated[int, Field(ge=1, le=100)] = 2
    samples: Annotated[int, Field(ge=1)] | None = None  # None: every row the strategy picks


class ProtocolConfig(_Strict):
    """How a combination meets its data (``protocol:``; docs/rounds.md).

    ``rounds``: the feedback loop. The domain's interactions, ordered by time, are cut into
    ``rounds`` windows; round 0 trains on the first, and each later round first evaluates the
    model on its window (prequential: before the model has seen it), then updates the model
    on it with an update strategy. Each strategy of ``updates`` is a combination of its own.
    """

    kind: Literal["rounds"] = "rounds"
    rounds: Annotated[int, Field(ge=2, le=100)] = 5
    # time: windows of equal time spans; count: windows of equal numbers of rows
    window: Literal["time", "count"] = "time"
    updates: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = [
        "frozen",
        "fine-tune",
        "replay",
        "retrain",
    ]
    budget: UpdateBudget = UpdateBudget()
    replay: Annotated[float, Field(gt=0, le=100)] = 1.0  # replay: old rows per new row
    holdout: Annotated[float, Field(gt=0, lt=1)] = 0.2  # share of window 0 kept as a probe
    validation: Annotated[float, Field(gt=0, lt=1)] = 0.1  # share of a window that validates

    @field_validator("updates")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) < len(value):
            raise ValueError("an update strategy is listed twice")
        return value


class BackboneEntry(_Strict):
    """A backbone in a suite, with optional per-backbone settings."""

    name: Annotated[str, Field(min_length=1)]
    pooling: Pooling | None = None  # None: the backbone's default
    options: dict[str, Any] = {}  # passed to the backbone's loader
    training: TrainingOverrides = TrainingOverrides()
    input: InputConfig | None = None  # None: the suite's; else completed from the suite's
    # protocol rounds: this backbone's update strategies (None: the protocol's ``updates``)
    updates: list[Annotated[str, Field(min_length=1)]] | None = None


class HeadSetEntry(_Strict):
    """A head set in a suite."""

    name: Annotated[str, Field(min_length=1)]


class SourceEntry(_Strict):
    """A source domain of a transfer: trained multi-task with its own head set first."""

    name: Annotated[str, Field(min_length=1)]
    options: dict[str, Any] = {}
    head_set: Annotated[str, Field(min_length=1)]  # heads fitting the source's label fields


class TransferConfig(_Strict):
    """Multi-task training on source domains, then fine-tuning on the target domain."""

    sources: Annotated[list[SourceEntry], Field(min_length=1)]
    epochs: Annotated[int, Field(ge=1)] | None = None  # per source; None: training.epochs
    max_train_samples: Annotated[int, Field(ge=1)] | None = None  # per source


class DomainEntry(_Strict):
    """A domain in a suite, with the options passed to its loader."""

    name: Annotated[str, Field(min_length=1)]
    options: dict[str, Any] = {}
    transfer: TransferConfig | None = None  # None: train on this domain alone


class MatrixPattern(_Strict):
    """Matches combinations by name; an unset field matches anything."""

    backbone: str | None = None
    head_set: str | None = None
    domain: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> MatrixPattern:
        if self.backbone is None and self.head_set is None and self.domain is None:
            raise ValueError("a pattern needs at least one of backbone, head_set, domain")
        return self

    def matches(self, backbone: str, head_set: str, domain: str) -> bool:
        return (
            self.backbone in (None, backbone)
            and self.head_set in (None, head_set)
            and self.domain in (None, domain)
        )


class ResourcesConfig(_Strict):
    """What one combination asks of a worker (the ray executor's task request)."""

    cpus: Annotated[float, Field(gt=0)] = 1.0
    gpus: Annotated[float, Field(ge=0)] = 0.0


def _named(value: Any) -> Any:
    """Let suites write a bare name where an entry with options is also allowed."""
    return {"name": value} if isinstance(value, str) else value


def _all_named(value: Any) -> Any:
    return [_named(item) for item in value] if isinstance(value, list) else value


class IncludeEntry(_Strict):
    """An extra combination added on top of the product."""

    backbone: BackboneEntry
    head_set: HeadSetEntry
    domain: DomainEntry

    _names = field_validator("backbone", "head_set", "domain", mode="before")(
        classmethod(lambda cls, value: _named(value))
    )


class Suite(_Strict):
    """A validated suite: the matrix plus how to train and measure each combination."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    seeds: Annotated[list[Seed], Field(min_length=1)] = [0]
    backbones: list[BackboneEntry] = []
    # auto (also when omitted): each domain with its own head set (the domain's declared
    # DomainSpec.head_set); a list: every head set with every domain (the cross product)
    head_sets: list[HeadSetEntry] | Literal["auto"] = "auto"
    domains: list[DomainEntry] = []
    include: list[IncludeEntry] = []
    exclude: list[MatrixPattern] = []
    fairness_metrics: list[str] | None = None  # None: every registered metric
    trackers: list[str] = []  # tracker sinks fed every finished record (tensorboard, ...)
    fairness: FairnessConfig = FairnessConfig()
    training: TrainingConfig = TrainingConfig()
    input: InputConfig = InputConfig()  # what the backbone reads: context, history
    measure: MeasureConfig = MeasureConfig()
    evaluation: EvaluationConfig = EvaluationConfig()  # ranking protocol of ranking heads
    explain: ExplainConfig | None = None  # None: no explanations (they cost extra passes)
    resources: ResourcesConfig = ResourcesConfig()  # per combination, for the ray executor
    oom_retry: bool = False  # on CUDA out-of-memory, retry once at half the batch sizes
    output: OutputConfig = OutputConfig()  # what else a run writes: saved models
    protocol: ProtocolConfig | None = None  # None: train once on the static split
    source: Literal["builtin", "file"] = "file"
    path: str = ""  # where it was read from, for messages

    _names = field_validator("backbones", "head_sets", "domains", mode="before")(
        classmethod(lambda cls, value: _all_named(value))
    )

    @model_validator(mode="before")
    @classmethod
    def _complete_backbone_inputs(cls, raw: Any) -> Any:
        # A backbone's `input:` overrides only the keys it writes; the rest come from the
        # suite's block, so the validated entry says everything (and reads back the same).
        if not isinstance(raw, dict):
            return raw
        suite_input = raw.get("input")
        base = suite_input if isinstance(suite_input, dict) else {}

        def complete(entry: Any) -> Any:
            if isinstance(entry, dict) and isinstance(entry.get("input"), dict):
                return {**entry, "input": {**base, **entry["input"]}}
            return entry

        out = dict(raw)
        if isinstance(raw.get("backbones"), list):
            out["backbones"] = [complete(entry) for entry in raw["backbones"]]
        if isinstance(raw.get("include"), list):
            out["include"] = [
                {**item, "backbone": complete(item.get("backbone"))}
                if isinstance(item, dict) and "backbone" in item
                else item
                for item in raw["include"]
            ]
        return out

    @field_validator("head_sets", mode="before")
    @classmethod
    def _auto_or_list(cls, value: Any) -> Any:
        if value != "auto" and not isinstance(value, list):
            raise ValueError(
                "write auto (each domain with its own head set) or a list of head sets"
            )
        return value

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        # The name becomes the run folder runs/NAME-TIMESTAMP: no '/', no '..', no control
        # characters, nothing a shell or a file system reads specially.
        if SUITE_NAME.fullmatch(name) is None:
            raise ValueError(
                "a suite name becomes a folder name: use 1 to 100 letters, digits, '-', '_' "
                "and '.', starting with a letter or digit"
            )
        return name


def builtin_suites() -> list[str]:
    """Names of the suites shipped in the package."""
    folder = resources.files(SUITES_PACKAGE)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_suite(name_or_path: str | None) -> Suite:
    """Load a built-in suite by name, or a suite file by path; raise ConfigError on bad input."""
    name_or_path = name_or_path or DEFAULT_SUITE
    path = Path(name_or_path)
    looks_like_path = path.suffix in {".yaml", ".yml"} or "/" in name_or_path
    if looks_like_path or path.is_file():
        if path.is_dir():
            raise ConfigError(f"{name_or_path}: is a folder; pass a suite .yaml file")
        if not path.is_file():
            raise ConfigError(f"{name_or_path}: suite file not found")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{name_or_path}: cannot read suite file: {exc.strerror}") from exc
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigError(
                f"{name_or_path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                "save the suite as UTF-8"
            ) from None
        return parse_suite(text, origin=str(path), source="file")
    known = builtin_suites()
    if name_or_path not in known:
        close = difflib.get_close_matches(name_or_path, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownNameError(
            f"unknown suite '{name_or_path}'{hint} built-in suites: {', '.join(known)}; "
            "or pass the path of a .yaml file"
        )
    text = resources.files(SUITES_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text("utf-8")
    return parse_suite(text, origin=f"builtin:{name_or_path}", source="builtin")


def parse_suite(text: str, *, origin: str, source: Literal["builtin", "file"]) -> Suite:
    """Validate suite YAML text; ``origin`` names it in error messages."""
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no Python tags
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}{where}: invalid YAML: {problem}") from None
    if raw is None:
        raise ConfigError(f"{origin}: suite file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a suite must be a mapping, got {type(raw).__name__}")
    for reserved in ("source", "path"):
        if reserved in raw:
            raise ConfigError(f"{origin}: {reserved}: unknown key")
    try:
        return Suite.model_validate({**raw, "source": source, "path": origin})
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe_validation_error(exc)}") from None


# Nodes a suite or manifest may expand to, aliases counted at every use. Real suites have a
# few hundred; an alias bomb ("billion laughs") of a few hundred bytes expands to billions.
MAX_YAML_NODES = 20_000


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error, and a
    document that expands (through aliases) to more than :data:`MAX_YAML_NODES` nodes, or
    refers to itself, is refused before anything is built from it.

    Plain PyYAML keeps the last value silently, so a second ``training:`` block would quietly
    replace the first; and it builds an alias bomb as shared references that the first walk
    over it (validation, an error message) expands in full.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


def _check_expansion(root: yaml.Node) -> None:
    """ConstructorError when ``root`` expands to more than MAX_YAML_NODES nodes or holds an
    alias inside its own anchor; linear in the distinct nodes (each is sized once)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_nodes:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        open_nodes.add(id(node))
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the document expands to more than {MAX_YAML_NODES:,} values through "
                    "aliases (an alias bomb?); write the values out or use fewer aliases",
                    node.start_mark,
                )
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key; construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def describe_validation_error(exc: ValidationError) -> str:
    """The first validation problem as 'field.path: message', plus a count of the rest."""
    # An unknown key usually explains the other problems (a typo'd required key).
    errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
    first = errors[0]
    loc = _format_location(first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and first["type"] not in {"missing"}:
            message += f" (got {echoed(first['input'])})"
    more = f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{loc or '(top level)'}: {message}{more}"


def _format_location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)
