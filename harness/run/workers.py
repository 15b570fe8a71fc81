"""What a worker process runs: the plugin host rebuilt from a recipe, then one combination.

A :class:`WorkerTask` is picklable: the ``process`` executor sends it to a child, the ``ray``
executor to a Ray task; :func:`run_task` runs it there through :func:`mtrec.run.execute.execute`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mtrec.contracts import (
    Combination,
    PluginHostView,
)
from mtrec.plugin_host import PluginHost
from mtrec.run.devices import resolve_device
from mtrec.run.execute import execute, new_record
from mtrec.run.failures import failure_reason
from mtrec.run.sweep_cache import SweepCache
from mtrec.store.results import now

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, kw_only=True)
class PluginRef:
    """A plugin added by hand (not an entry point), as a worker can find it again."""

    name: str  # the plugin's registered name
    module: str | None = None  # import path of a module plugin
    file: str | None = None  # its file, for modules not importable by name (test modules)
    plugin: object | None = None  # a picklable non-module plugin object


@dataclass(frozen=True, kw_only=True)
class HostRecipe:
    """How to build, in another process, the plugin host this process has."""

    blocked: tuple[str, ...] = ()  # blocked plugin names
    entry_points: bool = True  # load installed plugins
    extra: tuple[PluginRef, ...] = ()  # plugins added by hand, in registration order

    @classmethod
    def of(cls, host: PluginHostView) -> HostRecipe:
        extra: list[PluginRef] = []
        for loaded in host.loaded:
            if loaded.distribution:
                continue
            plugin = host.pm.get_plugin(loaded.name)
            if isinstance(plugin, ModuleType):
                extra.append(
                    PluginRef(
                        name=loaded.name,
                        module=plugin.__name__,
                        file=getattr(plugin, "__file__", None),
                    )
                )
            else:
                extra.append(PluginRef(name=loaded.name, plugin=plugin))
        return cls(
            blocked=tuple(host.blocked),
            entry_points=any(loaded.distribution for loaded in host.loaded),
            extra=tuple(extra),
        )

    def build(self) -> PluginHost:
        return PluginHost(
            blocked=self.blocked,
            extra_plugins=[(ref.name, _resolve(ref)) for ref in self.extra],
            load_entry_points=self.entry_points,
        )


def _resolve(ref: PluginRef) -> object:
    if ref.module is None:
        return ref.plugin
    if ref.module in sys.modules:
        return sys.modules[ref.module]
    try:
        return importlib.import_module(ref.module)
    except ImportError:
        if ref.file is None:
            raise
    spec = importlib.util.spec_from_file_location(ref.module, ref.file)
    if spec is None or spec.loader is None:
        raise ImportError(f"plugin '{ref.name}': cannot load {ref.file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[ref.module] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True, kw_only=True)
class WorkerTask:
    """One combination for a worker process (picklable)."""

    recipe: HostRecipe  # rebuilds the plugins
    combination: Combination  # what to run
    device: str  # "cpu", "cuda", "cuda:1" or "auto" (resolved by the worker)
    run_dir: str  # predictions go to run_dir/predictions/KEY
    fairness_metrics: list[str] | None  # the suite's selection
    oom_retry: bool  # see :func:`execute`
    torch_threads: int  # intra-op threads (the driver's, or the task's CPUs)
    environ: dict[str, str] = field(default_factory=dict)  # set in the worker's environment


def run_task(
    task: WorkerTask,
    on_epoch: Callable[[int, float, float], None] | None,
    *,
    collect: bool = True,
) -> dict[str, Any]:
    """Run one :class:`WorkerTask` in this (worker) process and return its record
    (``collect``: see :func:`execute`; a worker that exits next skips it)."""
    import torch

    os.environ.update(task.environ)
    torch.set_num_threads(max(1, task.torch_threads))
    try:
        host = task.recipe.build()
        device = resolve_device(task.device)
    except Exception as exc:
        record = new_record(task.combination)
        record.update(status="failed", error=f"worker setup failed: {failure_reason(exc)}")
        record.update(finished=now(), duration_s=0.0)
        return record
    return execute(
        task.combination,
        host,
        SweepCache(),
        device=device,
        run_dir=Path(task.run_dir),
        fairness_metrics=task.fairness_metrics,
        oom_retry=task.oom_retry,
        on_epoch=on_epoch,
        collect=collect,
    )
