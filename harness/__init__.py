"""mtrec: a plugin-based benchmarking harness for transformer-backbone multi-task recommenders.

This module is the plugin API: every spec kind, context, protocol, base class, error and helper
a plugin needs is exported here (``__all__``); plugins, the built-ins included, import nothing
else of mtrec. The guide is ``docs/plugins.md``::

    import mtrec

    @mtrec.hookimpl
    def mtrec_register_domains():
        return [mtrec.DomainSpec(name="my-domain", ...)]

``import mtrec`` stays light (pluggy and the spec dataclasses; not even numpy): names whose
modules need torch, scikit-learn, numpy or the run machinery are imported on first use (module
``__getattr__``), so registering plugins, ``mtrec --help`` and ``mtrec plugins`` load no model
code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mtrec.errors import (
    CheckpointError,
    CombinationError,
    ConfigError,
    MtrecError,
    PluginError,
    StorageError,
    UnknownNameError,
    UsageError,
)
from mtrec.hookspecs import hookimpl, hookspec
from mtrec.specs import (
    LOSSES,
    ArchitectureSpec,
    BackboneSpec,
    DomainData,
    DomainSpec,
    DomainSplit,
    ExplainerSpec,
    FairnessContext,
    FairnessMetricSpec,
    Family,
    HeadSetSpec,
    HeadSpec,
    LabelField,
    LoadedBackbone,
    Pooling,
    RankingInfo,
    TaskPredictions,
    TaskType,
    UpdateContext,
    UpdatePlan,
    UpdateStrategySpec,
    WeightingSpec,
    check_task_name,
)
from mtrec.version import __version__

if TYPE_CHECKING:
    from mtrec.cache_files import folder_is_sound, seal_folder
    from mtrec.contracts import (
        Combination,
        Executor,
        ExecutorSpec,
        SweepEvents,
        SweepJob,
        TrackerContext,
        TrackerSpec,
    )
    from mtrec.datasets import (
        DatasetError,
        Interactions,
        Manifest,
        Table,
        activity_groups,
        assemble_domain,
        check_loader_options,
        dense_ids,
        earlier_rows,
        get_manifest,
        label_fields_from,
        locate,
        read_tables,
        split_assignment,
        subsample,
    )
    from mtrec.measure.bootstrap import (
        Clusters,
        Interval,
        bootstrap,
        debiased,
        percentile_interval,
    )
    from mtrec.measure.resampled import (
        GroupedMetric,
        RowsMetric,
        exact_metric,
        grouped_loop,
        grouped_mean,
        grouped_metric,
        weighted_metric,
    )
    from mtrec.measure.tasks import HIGHER, LOWER, METRICS
    from mtrec.model.architectures import ARCHITECTURES, TaskTower
    from mtrec.model.explainable import ExplainableModel, ExplainedRow
    from mtrec.model.hf import load_pretrained, quiet_transformers
    from mtrec.model.weighting import (
        WEIGHTINGS,
        LossWeighting,
        WeightingOptionError,
    )
    from mtrec.paths import cache_dir
    from mtrec.plugin_host import PluginHost
    from mtrec.run.checkpoints import load_model
    from mtrec.run.execute import new_record
    from mtrec.run.executors import LocalExecutor, ProcessExecutor
    from mtrec.run.trackers import combination_name, epoch_scalars, record_params, record_scalars
    from mtrec.run.workers import HostRecipe, WorkerTask, run_task
    from mtrec.store.results import now


# Exported names imported on first use: name -> the module that defines it.
_LAZY: dict[str, str] = {
    # multi-task architectures and loss weightings (torch)
    **dict.fromkeys(("TaskTower", "ARCHITECTURES"), "mtrec.model.architectures"),
    **dict.fromkeys(
        ("LossWeighting", "WeightingOptionError", "WEIGHTINGS"),
        "mtrec.model.weighting",
    ),
    # the sweep's contracts: executors and trackers
    **dict.fromkeys(
        (
            "Combination",
            "ExecutorSpec",
            "Executor",
            "SweepEvents",
            "SweepJob",
            "TrackerSpec",
            "TrackerContext",
        ),
        "mtrec.contracts",
    ),
    # executors: the built-ins and what a remote worker runs
    **dict.fromkeys(("LocalExecutor", "ProcessExecutor"), "mtrec.run.executors"),
    **dict.fromkeys(("HostRecipe", "WorkerTask", "run_task"), "mtrec.run.workers"),
    "new_record": "mtrec.run.execute",
    # saved models (output.save_model): loaded back for use or for a next round
    "load_model": "mtrec.run.checkpoints",
    # trackers and how the built-ins flatten a record
    **dict.fromkeys(
        (
            "combination_name",
            "epoch_scalars",
            "record_params",
            "record_scalars",
        ),
        "mtrec.run.trackers",
    ),
    "PluginHost": "mtrec.plugin_host",
    "now": "mtrec.store.results",
    # metrics and resampling, for fairness metrics (scikit-learn)
    **dict.fromkeys(("METRICS", "HIGHER", "LOWER"), "mtrec.measure.tasks"),
    **dict.fromkeys(
        ("Clusters", "Interval", "bootstrap", "debiased", "percentile_interval"),
        "mtrec.measure.bootstrap",
    ),
    **dict.fromkeys(
        (
            "GroupedMetric",
            "RowsMetric",
            "exact_metric",
            "grouped_loop",
            "grouped_mean",
            "grouped_metric",
            "weighted_metric",
        ),
        "mtrec.measure.resampled",
    ),
    # explainers: the trained model as they see it (torch)
    **dict.fromkeys(("ExplainableModel", "ExplainedRow"), "mtrec.model.explainable"),
    # loading backbones and caching what they build
    **dict.fromkeys(("load_pretrained", "quiet_transformers"), "mtrec.model.hf"),
    **dict.fromkeys(("folder_is_sound", "seal_folder"), "mtrec.cache_files"),
    "cache_dir": "mtrec.paths",
    # domains read from dataset files
    **dict.fromkeys(
        (
            "DatasetError",
            "Interactions",
            "Manifest",
            "Table",
            "activity_groups",
            "assemble_domain",
            "check_loader_options",
            "dense_ids",
            "earlier_rows",
            "get_manifest",
            "label_fields_from",
            "locate",
            "read_tables",
            "split_assignment",
            "subsample",
        ),
        "mtrec.datasets",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mtrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ARCHITECTURES",
    "HIGHER",
    "LOSSES",
    "LOWER",
    "METRICS",
    "WEIGHTINGS",
    "ArchitectureSpec",
    "BackboneSpec",
    "CheckpointError",
    "Clusters",
    "Combination",
    "CombinationError",
    "ConfigError",
    "DatasetError",
    "DomainData",
    "DomainSpec",
    "DomainSplit",
    "Executor",
    "ExecutorSpec",
    "ExplainableModel",
    "ExplainedRow",
    "ExplainerSpec",
    "FairnessContext",
    "FairnessMetricSpec",
    "Family",
    "GroupedMetric",
    "HeadSetSpec",
    "HeadSpec",
    "HostRecipe",
    "Interactions",
    "Interval",
    "LabelField",
    "LoadedBackbone",
    "LocalExecutor",
    "LossWeighting",
    "Manifest",
    "MtrecError",
    "PluginError",
    "PluginHost",
    "Pooling",
    "ProcessExecutor",
    "RankingInfo",
    "RowsMetric",
    "StorageError",
    "SweepEvents",
    "SweepJob",
    "Table",
    "TaskPredictions",
    "TaskTower",
    "TaskType",
    "TrackerContext",
    "TrackerSpec",
    "UnknownNameError",
    "UpdateContext",
    "UpdatePlan",
    "UpdateStrategySpec",
    "UsageError",
    "WeightingOptionError",
    "WeightingSpec",
    "WorkerTask",
    "__version__",
    "activity_groups",
    "assemble_domain",
    "bootstrap",
    "cache_dir",
    "check_loader_options",
    "check_task_name",
    "combination_name",
    "debiased",
    "dense_ids",
    "earlier_rows",
    "epoch_scalars",
    "exact_metric",
    "folder_is_sound",
    "get_manifest",
    "grouped_loop",
    "grouped_mean",
    "grouped_metric",
    "hookimpl",
    "hookspec",
    "label_fields_from",
    "load_model",
    "load_pretrained",
    "locate",
    "new_record",
    "now",
    "percentile_interval",
    "quiet_transformers",
    "read_tables",
    "record_params",
    "record_scalars",
    "run_task",
    "seal_folder",
    "split_assignment",
    "subsample",
    "weighted_metric",
]
