"""Executors: where the combinations of a sweep run, and how a failure becomes a record.

An executor gets the combinations still to run and reports each one's record back to the
runner exactly once, whatever happened to it; the runner alone writes the store and the run
folder. Built-ins (``plugins/executors.py``) register through ``mtrec_register_executors``
like any third-party executor:

* ``local``: in this process, one after the other (the default);
* ``process``: a fresh child process per combination (forkserver where there is one, so
  torch is imported once), which isolates crashes and gives clean per-combination peak memory;
  a child that dies (``os._exit``, a segfault, the OOM killer) is recorded as failed with the
  exit code or signal;
* ``ray``: each combination a Ray task with the suite's ``resources`` (``plugins/ray_executor.py``).

Workers in other processes rebuild the plugin host from a :class:`HostRecipe`.
The contract an executor implements (:class:`~mtrec.contracts.SweepJob`, ``SweepEvents``,
``ExecutorSpec``) is in :mod:`mtrec.contracts`; a failed record's reason comes from
:mod:`mtrec.run.failures`.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from mtrec.contracts import (
    Combination,
    Executor,
    PluginHostView,
    SweepEvents,
    SweepJob,
)
from mtrec.errors import CombinationError, StorageError, UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run import combination as combination_module
from mtrec.run.devices import resolve_device
from mtrec.run.failures import failure_reason, first_line, out_of_memory, worker_death
from mtrec.run.faults import (
    describe_storage_fault,
    plugin_exit_reason,
    stop_requested,
    storage_fault,
)
from mtrec.run.fingerprint import combination_fingerprint
from mtrec.run.sweep_cache import SweepCache
from mtrec.store.results import now

if TYPE_CHECKING:
    import torch


def executor_for(host: PluginHost, name: str) -> Executor:
    """The executor registered as ``name``; an unknown or unusable one is an input error."""
    spec = host.registries.executors.get(name)
    reason = spec.available()
    if reason:
        raise UsageError(f"--executor {name}: {reason}")
    return spec.create()


# --------------------------------------------------------------------------------------
# one combination -> one record
# --------------------------------------------------------------------------------------


def new_record(combination: Combination) -> dict[str, Any]:
    """The record of a combination before it runs (what a failure leaves filled in)."""
    import uuid

    return {
        "key": combination.key,
        "record_id": uuid.uuid4().hex,
        "backbone": combination.backbone.name,
        "head_set": combination.head_set.name,
        "domain": combination.domain.name,
        "seed": combination.seed,
        "status": "ok",
        "error": None,
        "started": now(),
        "finished": None,
        "duration_s": None,
        "metrics": {},
        "efficiency": {},
        "fairness": {},
        "config": combination.config(),
    }


def execute(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    device: torch.device,
    run_dir: Path,
    fairness_metrics: list[str] | None,
    oom_retry: bool = False,
    on_epoch: Callable[[int, float, float], None] | None = None,
    collect: bool = True,
) -> dict[str, Any]:
    """Run one combination in this process; never raises for a failure of the combination.

    Plugins raising (or calling ``sys.exit``), non-finite losses and CUDA out-of-memory all
    end as a failed record with the reason; a full or read-only disk raises
    :class:`StorageError` (the sweep stops) and the user's Ctrl-C goes through. With
    ``oom_retry`` an out-of-memory is retried once at half the batch
    sizes (the record's ``oom_retry`` says so). ``collect`` frees the combination's model
    before returning (a full garbage collection: worth it only if the process goes on).
    """
    key = combination.key
    record = new_record(combination)
    config = record["config"]
    started = time.perf_counter()
    attempt = combination
    try:
        host.before_combination(key, config)
        while True:
            try:
                record.update(
                    combination_module.run_combination(
                        attempt,
                        host,
                        cache,
                        device=device,
                        predictions_dir=run_dir / "predictions" / key,
                        fairness_metrics=fairness_metrics,
                        on_epoch=on_epoch,
                    )
                )
                break
            except Exception as exc:
                oom = out_of_memory(exc)
                if oom is None or not oom_retry or attempt is not combination:
                    raise
                attempt = _halved(combination)
                record["oom_retry"] = {
                    "reason": first_line(oom),
                    "batch_size": attempt.training.batch_size,
                    "eval_batch_size": attempt.training.eval_batch_size,
                }
                _free_device_memory()
        # What else the result depends on; the domain is in the cache by now.
        record["fingerprint"] = combination_fingerprint(combination, host, cache, fairness_metrics)
    except Exception as exc:
        fault = storage_fault(exc)
        if fault is not None:  # the disk, not the combination: every later write fails too
            where = f"while running {combination.label}, key {key}"
            raise StorageError(f"{describe_storage_fault(fault)} ({where})") from exc
        record["status"] = "failed"
        record["error"] = failure_reason(exc)
        host.on_combination_error(key, config, exc)
    except (KeyboardInterrupt, SystemExit) as exc:
        if stop_requested():
            raise  # the user's Ctrl-C: the sweep stops
        record["status"] = "failed"
        record["error"] = plugin_exit_reason(exc)
        host.on_combination_error(key, config, exc)
    record["finished"] = now()
    record["duration_s"] = time.perf_counter() - started
    if collect:
        gc.collect()  # the combination's model is garbage now; free it before the next one
    return record


def _halved(combination: Combination) -> Combination:
    training = combination.training
    return replace(
        combination,
        training=training.model_copy(
            update={
                "batch_size": max(1, training.batch_size // 2),
                "eval_batch_size": max(1, training.eval_batch_size // 2),
            }
        ),
    )


def _free_device_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------
# local: in this process
# --------------------------------------------------------------------------------------


class LocalExecutor:
    """One combination after the other in this process, sharing the sweep cache."""

    def run(self, job: SweepJob, events: SweepEvents) -> None:
        # In-process: the job's host and cache are the runner's own (see :class:`SweepJob`).
        host = cast(PluginHost, job.host)
        cache = cast(SweepCache, job.cache)
        for combination in job.combinations:
            events.started(combination)
            events.finished(
                execute(
                    combination,
                    host,
                    cache,
                    device=job.device,
                    run_dir=job.run_dir,
                    fairness_metrics=job.fairness_metrics,
                    oom_retry=job.oom_retry,
                    on_epoch=events.epoch,
                )
            )


# --------------------------------------------------------------------------------------
# rebuilding the plugin host in a worker
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# process: a child per combination
# --------------------------------------------------------------------------------------


class ProcessExecutor:
    """A fresh child process per combination; a child that dies becomes a failed record."""

    def run(self, job: SweepJob, events: SweepEvents) -> None:
        import torch

        context = _process_context(job.host)
        recipe = HostRecipe.of(job.host)
        for combination in job.combinations:
            events.started(combination)
            task = WorkerTask(
                recipe=recipe,
                combination=combination,
                device=str(job.device),
                run_dir=str(job.run_dir),
                fairness_metrics=job.fairness_metrics,
                oom_retry=job.oom_retry,
                torch_threads=torch.get_num_threads(),
                environ=dict(os.environ),
            )
            events.finished(self._run_child(context, task, job.host, events))

    def _run_child(
        self,
        context: multiprocessing.context.BaseContext,
        task: WorkerTask,
        host: PluginHostView,
        events: SweepEvents,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(  # type: ignore[attr-defined]
            target=_child_main, args=(sender, task), name=f"mtrec-{task.combination.key}"
        )
        child.start()
        sender.close()  # the child holds the only writing end: EOF means it is gone
        record: dict[str, Any] | None = None
        storage: str | None = None
        try:
            while True:
                try:
                    message = receiver.recv()
                except EOFError:
                    break
                if message[0] == "epoch":
                    events.epoch(*message[1:])
                elif message[0] == "record":
                    record = message[1]
                elif message[0] == "storage":
                    storage = message[1]
            child.join()
        except BaseException:
            # Ctrl-C, SIGTERM or a failing event handler: the worker must not train on.
            _stop(child)
            raise
        finally:
            receiver.close()
        if storage is not None:
            raise StorageError(storage)
        if record is not None:
            return record
        reason = worker_death(child.exitcode)
        record = new_record(task.combination)
        record.update(status="failed", error=reason, finished=now())
        record["duration_s"] = time.perf_counter() - started
        host.on_combination_error(task.combination.key, record["config"], CombinationError(reason))
        return record


def _stop(child: Any, grace_s: float = 5.0) -> None:
    """End a worker: SIGTERM, then SIGKILL if it is still there after ``grace_s``."""
    if child.is_alive():
        child.terminate()
        child.join(grace_s)
    if child.is_alive():
        child.kill()
        child.join()


def _child_main(sender: Any, task: WorkerTask) -> None:
    # Ctrl-C reaches the whole process group; the driver decides and stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_epoch(epoch: int, train_loss: float, score: float) -> None:
        sender.send(("epoch", epoch, train_loss, score))

    try:
        try:
            message: tuple[str, Any] = ("record", run_task(task, on_epoch, collect=False))
        except StorageError as exc:
            message = ("storage", str(exc))
        sender.send(message)
        sender.close()
    except OSError:  # BrokenPipeError: the driver is gone; nobody is left to tell
        os._exit(1)


def _process_context(host: PluginHostView) -> multiprocessing.context.BaseContext:
    """forkserver where available, else spawn. The server imports torch, the core and the
    installed plugins once; each child forks from it ready to run."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        plugins = [p.module.partition(":")[0] for p in host.loaded if p.distribution]
        context.set_forkserver_preload(["mtrec.run.combination", *plugins])
        return context
    return multiprocessing.get_context("spawn")
