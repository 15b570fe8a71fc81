"""Every hook mtrec calls, in one place.

A plugin is any module (or object) with functions marked ``@mtrec.hookimpl`` whose names
match the specifications below. Plugins are found through the ``mtrec`` entry-point group,
built-ins included::

    [project.entry-points.mtrec]
    my-plugin = "my_package.mtrec_plugin"

Registration hooks (``mtrec_register_*``) are called once per plugin when the registries are
built; the core calls each implementation separately so that every registered item is
attributed to the plugin that returned it. Lifecycle hooks are called for every combination of
a sweep, in registration order (``tryfirst``/``trylast`` respected), and their return values
are ignored. Hook wrappers are not supported. ``docs/plugins.md`` is the guide: an example
per hook, which process runs each lifecycle hook under each executor, and how ordering works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from mtrec.specs import (
    ArchitectureSpec,
    BackboneSpec,
    DomainSpec,
    ExplainerSpec,
    FairnessMetricSpec,
    HeadSetSpec,
    UpdateStrategySpec,
    WeightingSpec,
)

if TYPE_CHECKING:
    from mtrec.contracts import ExecutorSpec, TrackerSpec

PROJECT_NAME = "mtrec"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------
# registration: the ten plugin kinds
# --------------------------------------------------------------------------------------


@hookspec
def mtrec_register_backbones() -> Iterable[BackboneSpec]:
    """Return the backbones this plugin provides.

    Called once per plugin while the registry is built. Each name must be unique across
    all plugins; a name returned by two plugins is an error naming both. Loading the
    weights must wait until :attr:`BackboneSpec.load` is called.
    """


@hookspec
def mtrec_register_head_sets() -> Iterable[HeadSetSpec]:
    """Return the head sets this plugin provides.

    Called once per plugin while the registry is built; names must be unique across
    all plugins.
    """


@hookspec
def mtrec_register_domains() -> Iterable[DomainSpec]:
    """Return the domains this plugin provides.

    Called once per plugin while the registry is built; names must be unique across
    all plugins. Data must not be generated or read until :attr:`DomainSpec.load` is called.
    """


@hookspec
def mtrec_register_fairness_metrics() -> Iterable[FairnessMetricSpec]:
    """Return the fairness metrics this plugin provides.

    Called once per plugin while the registry is built; names must be unique across
    all plugins. Every registered metric runs on every successful combination unless
    the suite lists the metrics to run.
    """


@hookspec
def mtrec_register_architectures() -> Iterable[ArchitectureSpec]:
    """Return the multi-task architectures this plugin provides (what sits between the
    shared encoder and the task heads: shared-bottom, MMoE, PLE, ...).

    Called once per plugin while the registry is built; names must be unique across
    all plugins. Suites pick one with ``training.architecture``.
    """


@hookspec
def mtrec_register_loss_weightings() -> Iterable[WeightingSpec]:
    """Return the loss-weighting methods this plugin provides (equal, uncertainty, ...).

    Called once per plugin while the registry is built; names must be unique across
    all plugins. Suites pick one with ``training.loss_weighting``.
    """


@hookspec
def mtrec_register_update_strategies() -> Iterable[UpdateStrategySpec]:
    """Return the update strategies this plugin provides (frozen, fine-tune, replay, ...).

    Called once per plugin while the registry is built; names must be unique across all
    plugins. Suites with ``protocol: {kind: rounds}`` pick them with ``protocol.updates``.
    """


@hookspec
def mtrec_register_executors() -> Iterable[ExecutorSpec]:
    """Return the executors this plugin provides (where a sweep's combinations run:
    local, process, ray, ...).

    Called once per plugin while the registry is built; names must be unique across all
    plugins. ``mtrec run --executor NAME`` picks one; :attr:`ExecutorSpec.available` says
    whether it can run here (a missing optional extra is reported before anything runs).
    An executor must report a record for every combination it is given, failed or not.
    """


@hookspec
def mtrec_register_trackers() -> Iterable[TrackerSpec]:
    """Return the tracker sinks this plugin provides (TensorBoard, MLflow, ...).

    Called once per plugin while the registry is built; names must be unique across all
    plugins. A suite enables trackers with ``trackers: [NAME, ...]`` (or ``mtrec run
    --tracker NAME``); :attr:`TrackerSpec.available` is asked before anything runs, so a
    missing optional extra is an input error. :attr:`TrackerSpec.log_record` is then called
    with every record as it finishes; an exception there is a warning, never a failure.
    """


@hookspec
def mtrec_register_explainers() -> Iterable[ExplainerSpec]:
    """Return the explainers this plugin provides (integrated gradients, attention rollout,
    a random reference, ...).

    Called once per plugin while the registry is built; names must be unique across all
    plugins. They run only when a suite asks (``explain: {explainers: [...]}``), on the
    trained model of each combination whose backbone family is in
    :attr:`ExplainerSpec.families`; :attr:`ExplainerSpec.available` is asked first, so an
    explainer whose optional extra is missing is skipped with its reason (or, when the
    suite names it, refused before anything runs).
    """


# --------------------------------------------------------------------------------------
# lifecycle: one combination of a sweep
# --------------------------------------------------------------------------------------


@hookspec
def mtrec_before_combination(key: str, config: Mapping[str, Any]) -> None:
    """Called before a combination is built and trained.

    :param key: the combination's stable content-hash key.
    :param config: the combination's resolved configuration (JSON-ready, read-only).

    Runs in the process that trains the combination: the driver under the ``local``
    executor, the worker under ``process`` and ``ray``. All implementations are called; return
    values are ignored. An exception raised here fails this combination (recorded with the
    plugin's name) and the sweep goes on.
    """


@hookspec
def mtrec_after_combination(key: str, record: Mapping[str, Any]) -> None:
    """Called after a combination finished, whatever its status.

    :param key: the combination's key.
    :param record: the record as it was written to ``results.json`` (read-only).

    Runs in the sweep's driver under every executor. All implementations are called; return
    values are ignored. Exceptions are reported as warnings and never change the record.
    """


@hookspec
def mtrec_on_combination_error(key: str, config: Mapping[str, Any], error: BaseException) -> None:
    """Called when a combination fails, before :func:`mtrec_after_combination`.

    :param key: the combination's key.
    :param config: the combination's resolved configuration.
    :param error: the exception that failed it.

    Runs where the combination failed (the worker under ``process`` and ``ray``), or in the
    driver, with a :class:`CombinationError`, when a ``process`` worker died without a record.
    All implementations are called; return values are ignored. Exceptions raised here
    are reported as warnings.
    """
