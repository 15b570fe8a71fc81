"""The ``ray`` executor: each combination a Ray task, records back to the driver.

Needs the optional extra (``pip install 'mtrec-harness[ray]'``). It joins the cluster named
by ``RAY_ADDRESS`` when set, an already initialised Ray otherwise, or starts a local one.
Each task asks for the suite's ``resources`` (``cpus``, ``gpus``); a worker rebuilds the
plugin host, resolves the device itself (``auto`` takes the GPU Ray gave it) and returns the
record together with its prediction files, so workers need no shared filesystem: the driver
writes the run folder and the store, as with every executor.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from mtrec import HostRecipe, SweepEvents, SweepJob, WorkerTask, new_record, now, run_task


def run_remote(task: WorkerTask) -> tuple[dict[str, Any], dict[str, bytes]]:
    """What a Ray worker runs: the record plus its prediction files (name -> bytes)."""
    with tempfile.TemporaryDirectory(prefix="mtrec-ray-") as scratch:
        local = WorkerTask(**{**task.__dict__, "run_dir": scratch})
        record = run_task(local, None)
        folder = Path(scratch) / "predictions" / task.combination.key
        # Relative paths: baselines/ and validation/ subfolders come back too.
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    return record, files


class RayExecutor:
    """Submits every combination at once; Ray schedules them by their resource request."""

    def run(self, job: SweepJob, events: SweepEvents) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(
                address=os.environ.get("RAY_ADDRESS") or None,
                include_dashboard=False,
                log_to_driver=False,
            )
        recipe = HostRecipe.of(job.host)
        resources = job.resources
        remote = ray.remote(run_remote).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=0
        )
        pending: dict[Any, Any] = {}
        for combination in job.combinations:
            task = WorkerTask(
                recipe=recipe,
                combination=combination,
                device=job.requested_device,
                run_dir=str(job.run_dir),
                fairness_metrics=job.fairness_metrics,
                oom_retry=job.oom_retry,
                torch_threads=max(1, math.floor(resources.cpus)),
                environ={k: v for k, v in os.environ.items() if k.startswith(("MTREC_", "HF_"))},
            )
            pending[remote.remote(task)] = combination
            events.started(combination)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for reference in done:
                    combination = pending.pop(reference)
                    try:
                        record, files = ray.get(reference)
                    except Exception as exc:  # the task or its worker died
                        record = new_record(combination)
                        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        record.update(
                            status="failed",
                            error=f"ray task failed: {type(exc).__name__}: {reason}",
                            finished=now(),
                            duration_s=0.0,
                        )
                        files = {}
                    folder = job.run_dir / "predictions" / combination.key
                    if files:
                        folder.mkdir(parents=True, exist_ok=True)
                        for name, content in files.items():
                            (folder / name).parent.mkdir(parents=True, exist_ok=True)
                            (folder / name).write_bytes(content)
                    events.finished(record)
        except BaseException:
            # Ctrl-C, SIGTERM or a storage fault on the driver: the tasks must not run on.
            for reference in pending:
                ray.cancel(reference, force=True)
            raise
