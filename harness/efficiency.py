"""Cost of a trained combination: latency, throughput, memory, parameters, FLOPs.

Latency follows the usual benchmarking discipline: warm-up calls first, then repeat until
both a minimum count and a minimum duration are reached, synchronising CUDA around each call;
raw samples are kept alongside the percentiles.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np
import torch

from harness.batching import EncodedSplit, collate
from harness.config import MeasureConfig
from harness.model import MultiTaskModel
from harness.training import autocast_for

PERCENTILES = (50, 90, 95, 99)


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def summarize_latency(samples_ms: list[float]) -> dict[str, Any]:
    array = np.asarray(samples_ms, dtype=np.float64)
    summary: dict[str, Any] = {f"p{q}": float(np.percentile(array, q)) for q in PERCENTILES}
    summary.update(
        mean=float(array.mean()),
        std=float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        n=len(array),
        samples=[float(value) for value in array],
    )
    return summary


@torch.inference_mode()
def measure_latency(
    model: MultiTaskModel,
    encoded: EncodedSplit,
    batch_size: int,
    measure: MeasureConfig,
    device: torch.device,
) -> dict[str, Any]:
    """Latency of one inference call on a batch of the first ``batch_size`` test rows."""
    model.eval()
    rows = np.arange(batch_size) % len(encoded)
    batch = collate(encoded, rows).to(device)
    inputs = batch.model_inputs()

    def call() -> None:
        with autocast_for(device):
            model(**inputs)

    for _ in range(measure.latency_warmup):
        call()
    samples: list[float] = []
    total = 0.0
    while len(samples) < measure.latency_min_repeats or total < measure.latency_min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000.0)
        total += elapsed
    summary = summarize_latency(samples)
    summary["seq_len"] = int(batch.input_ids.shape[1])
    return summary


@torch.inference_mode()
def flops_per_sample(model: MultiTaskModel, encoded: EncodedSplit, device: torch.device) -> float:
    """Forward FLOPs per sample on a batch of test rows, counted by torch (no timing)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    rows = np.arange(min(len(encoded), 16))
    batch = collate(encoded, rows).to(device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(**batch.model_inputs())
    return float(counter.get_total_flops()) / len(rows)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


def cuda_peak_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / (1024.0 * 1024.0)
