"""Built-in tracker sinks: TensorBoard and MLflow, each behind its optional extra.

``tensorboard`` writes one TensorBoard run per combination under ``RUN_DIR/tensorboard/KEY/``:
every record scalar at step 0 and the per-epoch training curves at their epoch.
``mlflow`` logs one MLflow run per combination (parameters: identity and training recipe;
metrics: the record scalars, training curves by epoch) into the experiment named after the
suite, at ``$MLFLOW_TRACKING_URI`` or else a file store in ``RUN_DIR/mlruns``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from mtrec import (
    TrackerContext,
    TrackerSpec,
    combination_name,
    epoch_scalars,
    hookimpl,
    record_params,
    record_scalars,
)

MLFLOW_BATCH = 1000  # MLflow accepts at most this many metrics per log_batch call


def _needs(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is not None:
        return None
    return f"needs the '{extra}' extra: pip install 'mtrec-harness[{extra}]'"


# --------------------------------------------------------------------------------------
# TensorBoard
# --------------------------------------------------------------------------------------


def log_to_tensorboard(context: TrackerContext, record: Mapping[str, Any]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(context.run_dir / "tensorboard" / str(record["key"])))
    try:
        writer.add_text("combination", f"{combination_name(record)}: {record.get('status')}")
        for tag, value in record_scalars(record).items():
            writer.add_scalar(tag, value, global_step=0)
        for epoch, scalars in epoch_scalars(record):
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, global_step=epoch)
    finally:
        writer.close()


# --------------------------------------------------------------------------------------
# MLflow
# --------------------------------------------------------------------------------------


def _mlflow_key(path: str) -> str:
    """MLflow allows letters, digits, '_', '-', '.', ' ' and '/' in names ('55+' is not)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", path)


def mlflow_uri(context: TrackerContext) -> str:
    """``$MLFLOW_TRACKING_URI``, else a file store in the run folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or (context.run_dir / "mlruns").resolve().as_uri()


def log_to_mlflow(context: TrackerContext, record: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = mlflow_uri(context)
    if uri.startswith("file:"):
        # MLflow 3 keeps its file store only on request; it is what needs no server.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(context.suite)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(context.suite)
    )
    run = client.create_run(
        experiment_id,
        run_name=combination_name(record),
        tags={"mtrec.key": str(record["key"]), "mtrec.run_dir": str(context.run_dir)},
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(_mlflow_key(tag), value, now, 0) for tag, value in record_scalars(record).items()
    ]
    metrics += [
        Metric(_mlflow_key(tag), value, now, epoch)
        for epoch, scalars in epoch_scalars(record)
        for tag, value in scalars.items()
    ]
    params = [Param(_mlflow_key(k), v[:6000]) for k, v in record_params(record).items()]
    client.log_batch(run_id, params=params, tags=[RunTag("mtrec.error", str(record.get("error")))])
    for start in range(0, len(metrics), MLFLOW_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + MLFLOW_BATCH])
    client.set_terminated(run_id, "FINISHED" if record.get("status") == "ok" else "FAILED")


@hookimpl
def mtrec_register_trackers() -> Iterable[TrackerSpec]:
    return [
        TrackerSpec(
            name="tensorboard",
            log_record=log_to_tensorboard,
            description="TensorBoard event files per combination under RUN_DIR/tensorboard/",
            available=lambda: _needs("tensorboard", "tensorboard"),
        ),
        TrackerSpec(
            name="mlflow",
            log_record=log_to_mlflow,
            description="one MLflow run per combination ($MLFLOW_TRACKING_URI or RUN_DIR/mlruns)",
            available=lambda: _needs("mlflow", "mlflow"),
        ),
    ]
