"""One combination in this process -> one record, whatever happens to it.

:func:`execute` is what every executor ends in, in the driver (``local``) or in a worker
(``process``, ``ray``): plugins raising, non-finite losses and CUDA out-of-memory become a failed
record with the reason (:mod:`mtrec.run.failures`); a full disk stops the sweep.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtrec.contracts import (
    Combination,
)
from mtrec.errors import StorageError
from mtrec.measure.efficiency import current_rss_mb
from mtrec.plugin_host import PluginHost
from mtrec.run import combination as combination_module
from mtrec.run.checkpoints import drop_saved_model
from mtrec.run.failures import failure_reason, first_line, out_of_memory
from mtrec.run.faults import (
    describe_storage_fault,
    plugin_exit_reason,
    stop_requested,
    storage_fault,
)
from mtrec.run.fingerprint import combination_fingerprint
from mtrec.run.phases import model_work_share, phase_clock, release_heap
from mtrec.run.sweep_cache import SweepCache
from mtrec.store.results import now

if TYPE_CHECKING:
    import torch


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
        "input": combination.input.model_dump(mode="json"),
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
    The record's wall time is split into phases (``efficiency.time_breakdown``,
    :mod:`mtrec.run.phases`), a failed record's up to its failure.
    """
    with phase_clock(rss=current_rss_mb) as clock:
        record = _executed(
            combination,
            host,
            cache,
            device=device,
            run_dir=run_dir,
            fairness_metrics=fairness_metrics,
            oom_retry=oom_retry,
            on_epoch=on_epoch,
            collect=collect,
        )
    breakdown = clock.breakdown()
    record["duration_s"] = clock.wall_seconds
    record["efficiency"]["time_breakdown"] = breakdown
    record["efficiency"]["model_work_share"] = model_work_share(breakdown, clock.wall_seconds)
    record["efficiency"]["rss_by_phase_mb"] = clock.rss_breakdown()
    return record


def _executed(
    combination: Combination,
    host: PluginHost,
    cache: SweepCache,
    *,
    device: torch.device,
    run_dir: Path,
    fairness_metrics: list[str] | None,
    oom_retry: bool,
    on_epoch: Callable[[int, float, float], None] | None,
    collect: bool,
) -> dict[str, Any]:
    """:func:`execute` inside the record's phase clock."""
    key = combination.key
    record = new_record(combination)
    config = record["config"]
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
        drop_saved_model(record, run_dir)  # only an ok record keeps its saved model
        host.on_combination_error(key, config, exc)
    except (KeyboardInterrupt, SystemExit) as exc:
        if stop_requested():
            raise  # the user's Ctrl-C: the sweep stops
        record["status"] = "failed"
        record["error"] = plugin_exit_reason(exc)
        drop_saved_model(record, run_dir)
        host.on_combination_error(key, config, exc)
    record["finished"] = now()
    if collect:
        gc.collect()  # the combination's model is garbage now; free it before the next one
        release_heap()  # and hand what it held back to the system
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
