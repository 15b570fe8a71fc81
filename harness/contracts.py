"""The sweep's contracts: what executors, trackers and progress reporters see.

A leaf of the package, like :mod:`mtrec.specs`: it imports the suite's config types and nothing
of the run machinery, so the hook specifications, the plugin host and third-party executors and
trackers can all depend on it without depending on each other.

* :class:`Combination`: one cell of the matrix, fully resolved (its key hashes its config);
* :class:`SweepJob`, :class:`SweepEvents`, :class:`Executor`, :class:`ExecutorSpec`: where the
  combinations of a sweep run, and how each one's record comes back to the runner;
* :class:`TrackerSpec`, :class:`TrackerContext`: where finished records are also sent;
* :class:`SweepReporter`: the progress callbacks of a sweep (the CLI's progress bars).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mtrec.config import (
    BackboneEntry,
    DomainEntry,
    ExplainConfig,
    FairnessConfig,
    HeadSetEntry,
    InputConfig,
    MeasureConfig,
    OutputConfig,
    ProtocolConfig,
    RankingConfig,
    ResourcesConfig,
    TrainingConfig,
)

if TYPE_CHECKING:
    import pluggy
    import torch

KEY_LENGTH = 16


@dataclass(frozen=True, kw_only=True)
class Combination:
    """One cell of the matrix, fully resolved."""

    backbone: BackboneEntry  # which backbone, with its per-backbone settings
    head_set: HeadSetEntry  # which head set
    domain: DomainEntry  # which domain, with loader options
    seed: int  # seeds data split, init and shuffling
    training: TrainingConfig  # suite training merged with the backbone's overrides
    measure: MeasureConfig  # how efficiency is measured
    # single-task baselines and bootstrap intervals for fairness
    fairness: FairnessConfig = dataclasses.field(default_factory=FairnessConfig)
    # what the backbone reads of the domain's rows (suite input merged with the backbone's)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    # explanations of the trained model (None: none); in the key only when asked, so a suite
    # without ``explain:`` keeps its keys
    explain: ExplainConfig | None = None
    # how ranking heads are evaluated; in the key only when not the default
    ranking: RankingConfig = dataclasses.field(default_factory=RankingConfig)
    # what else is written (the saved model); never in the key: it changes no result
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)
    # the rounds protocol (None: one training on the static split) and, with it, this
    # combination's update strategy; in the key only when set
    protocol: ProtocolConfig | None = None
    update: str | None = None

    def config(self) -> dict[str, Any]:
        """JSON-ready configuration; the key is a hash of exactly this."""
        explain = {} if self.explain is None else {"explain": self.explain.model_dump(mode="json")}
        return {
            **explain,
            "backbone": self.backbone.model_dump(
                mode="json", exclude={"training", "input", "updates"}
            ),
            "head_set": self.head_set.model_dump(mode="json"),
            "domain": self.domain.model_dump(mode="json"),
            "seed": self.seed,
            "training": self.training.model_dump(mode="json"),
            "measure": self.measure.model_dump(mode="json"),
            "fairness": self.fairness.model_dump(mode="json"),
            # in the key only when not the default, so a suite without ``input:`` keeps its keys
            **(
                {} if self.input == InputConfig() else {"input": self.input.model_dump(mode="json")}
            ),
            **(
                {}
                if self.ranking == RankingConfig()
                else {"ranking": self.ranking.model_dump(mode="json")}
            ),
            **(
                {}
                if self.protocol is None
                else {
                    "protocol": {
                        **self.protocol.model_dump(mode="json", exclude={"updates"}),
                        "update": self.update,
                    }
                }
            ),
        }

    @property
    def key(self) -> str:
        canonical = json.dumps(self.config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:KEY_LENGTH]

    @property
    def label(self) -> str:
        reads = ""  # what the backbone reads, where not the default (an input ablation)
        if self.input != InputConfig():
            history = "all" if self.input.history is None else self.input.history
            reads = f" [context {'on' if self.input.context else 'off'}, history {history}]"
        backbone = variant_label(self.backbone.name, self.training.model_dump())
        update = "" if self.update is None else f" [update {self.update}]"
        return (
            f"{backbone} x {self.head_set.name} x {self.domain.name} (seed {self.seed})"
            + reads
            + update
        )


def variant_label(backbone: str, training: Mapping[str, Any]) -> str:
    """The backbone's name with its recipe where it is not the plain one: "m (lora, mmoe)".

    ``training`` is a training config as a mapping (a record's ``config.training``), so the
    progress line of a finished record names the variant as the started combination did.
    """
    strategy = training.get("strategy", "full")
    weighting = training.get("loss_weighting", "equal")
    recipe = [
        None if strategy == "full" else strategy,
        training.get("architecture"),
        None if weighting == "equal" else weighting,
    ]
    variant = ", ".join(str(part) for part in recipe if part)
    return f"{backbone} ({variant})" if variant else backbone


# --------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------


class SweepReporter(Protocol):
    """Progress callbacks (the CLI draws rich progress bars; tests pass a silent one)."""

    def sweep_started(self, total: int) -> None: ...
    def combination_started(self, combination: Combination) -> None: ...
    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None: ...
    def combination_finished(self, record: dict[str, Any]) -> None: ...


# --------------------------------------------------------------------------------------
# executors
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadedPlugin:
    """A plugin that was imported and registered."""

    name: str  # entry-point name
    distribution: str  # distribution that declared the entry point
    version: str  # its version
    module: str  # the imported module or object path


class PluginHostView(Protocol):
    """What an executor sees of the driver's plugin host (:class:`mtrec.plugin_host.PluginHost`):
    enough to rebuild it in a worker (:class:`mtrec.run.workers.HostRecipe`) and to report a
    combination whose worker died."""

    @property
    def pm(self) -> pluggy.PluginManager: ...
    @property
    def blocked(self) -> Sequence[str]: ...
    @property
    def loaded(self) -> Sequence[LoadedPlugin]: ...
    def on_combination_error(
        self, key: str, config: Mapping[str, Any], error: BaseException
    ) -> None: ...


class SweepEvents(Protocol):
    """What an executor tells the runner; ``finished`` exactly once per combination."""

    def started(self, combination: Combination) -> None: ...
    def epoch(self, epoch: int, train_loss: float, score: float) -> None: ...
    def finished(self, record: dict[str, Any]) -> None: ...


@dataclass(frozen=True, kw_only=True)
class SweepJob:
    """Everything an executor needs to run combinations."""

    combinations: Sequence[Combination]  # still to run, in matrix order
    host: PluginHostView  # this process's plugins (workers rebuild theirs from its recipe)
    device: torch.device  # resolved in the driver (auto -> cuda or cpu)
    requested_device: str  # as the user asked (remote workers resolve "auto" themselves)
    run_dir: Path  # the run folder; predictions go to run_dir/predictions/KEY
    fairness_metrics: list[str] | None  # the suite's selection (None: all)
    resources: ResourcesConfig  # per-combination CPU/GPU request (ray)
    oom_retry: bool  # retry once at half batch size on CUDA out-of-memory
    # shared work for in-process execution (the runner's SweepCache; opaque to executors)
    cache: object


class Executor(Protocol):
    """Runs a job's combinations; must report every one of them through ``events``."""

    def run(self, job: SweepJob, events: SweepEvents) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ExecutorSpec:
    """A registered executor."""

    name: str  # what --executor takes
    create: Callable[[], Executor]  # a fresh executor for one sweep
    description: str = ""  # one line for `mtrec plugins`
    # None when usable here, else why not (e.g. a missing optional extra)
    available: Callable[[], str | None] = lambda: None


# --------------------------------------------------------------------------------------
# trackers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrackerContext:
    """Where and what a tracker is logging for."""

    run_dir: Path  # the sweep's run folder (trackers keep their files under it by default)
    suite: str  # the suite's name


@dataclass(frozen=True, kw_only=True)
class TrackerSpec:
    """A registered tracker sink."""

    name: str  # unique name used in suites, e.g. "tensorboard"
    log_record: Callable[[TrackerContext, Mapping[str, Any]], None]  # called per finished record
    description: str = ""  # one line for `mtrec plugins`
    available: Callable[[], str | None] = lambda: None  # None if usable here, else the reason
