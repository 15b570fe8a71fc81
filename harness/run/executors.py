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

Workers in other processes rebuild the plugin host from a
:class:`~mtrec.run.workers.HostRecipe`; each combination ends in
:func:`mtrec.run.execute.execute`.
The contract an executor implements (:class:`~mtrec.contracts.SweepJob`, ``SweepEvents``,
``ExecutorSpec``) is in :mod:`mtrec.contracts`; a failed record's reason comes from
:mod:`mtrec.run.failures`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import TYPE_CHECKING, Any, cast

from mtrec.contracts import (
    Executor,
    PluginHostView,
    SweepEvents,
    SweepJob,
)
from mtrec.errors import CombinationError, StorageError, UsageError
from mtrec.plugin_host import PluginHost
from mtrec.run.execute import execute, new_record
from mtrec.run.failures import worker_death
from mtrec.run.sweep_cache import SweepCache
from mtrec.run.workers import HostRecipe, WorkerTask, run_task
from mtrec.store.results import now

if TYPE_CHECKING:
    pass


def executor_for(host: PluginHost, name: str) -> Executor:
    """The executor registered as ``name``; an unknown or unusable one is an input error."""
    spec = host.registries.executors.get(name)
    reason = spec.available()
    if reason:
        raise UsageError(f"--executor {name}: {reason}")
    return spec.create()


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
