"""Cost of a trained combination: latency, throughput, memory, parameters, FLOPs.

Latency follows the usual benchmarking discipline: warm-up calls first, then repeat until
both a minimum count and a minimum duration are reached, synchronising CUDA around each call;
raw samples are kept alongside the percentiles. Memory is sampled while a phase runs (process
RSS from a background thread; CUDA allocator peaks reset per phase). FLOPs are counted by
torch's FLOP counter with eager attention, since the counter cannot see inside fused
scaled-dot-product attention kernels.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mtrec.config import MeasureConfig
from mtrec.model.batching import Batchable
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.training import autocast_for

PERCENTILES = (50, 90, 95, 99)
RSS_SAMPLE_SECONDS = 0.01

# Dense bf16 tensor-core peaks (FLOP/s) for model-FLOPs utilisation, by device name.
PEAK_BF16_FLOPS = {
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10": 125e12,
}


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


def time_calls(
    call: Any, *, warmup: int, min_repeats: int, min_seconds: float, device: torch.device
) -> list[float]:
    """Milliseconds per call, after warm-up, until both the count and duration are reached."""
    for _ in range(warmup):
        call()
    samples: list[float] = []
    total = 0.0
    while len(samples) < min_repeats or total < min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000.0)
        total += elapsed
    return samples


@torch.inference_mode()
def measure_latency(
    model: MultiTaskModel,
    encoded: Batchable,
    batch_size: int,
    measure: MeasureConfig,
    device: torch.device,
    precision: str,
) -> dict[str, Any]:
    """Latency of one inference call on a batch of the first ``batch_size`` test rows, at the
    configured ``precision`` (as evaluation runs)."""
    model.eval()
    rows = np.arange(batch_size) % len(encoded)
    batch = encoded.collate(rows).to(device)
    inputs = batch.model_inputs()

    def call() -> None:
        with autocast_for(device, precision):
            model(**inputs)

    samples = time_calls(
        call,
        warmup=measure.latency_warmup,
        min_repeats=measure.latency_min_repeats,
        min_seconds=measure.latency_min_seconds,
        device=device,
    )
    summary = summarize_latency(samples)
    tokens = batch.inputs.get("input_ids")
    summary["seq_len"] = None if tokens is None else int(tokens.shape[1])
    return summary


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Switch every Hugging Face submodel to eager attention for the duration."""
    switched: list[tuple[Any, str]] = []
    for module in model.modules():
        config = getattr(module, "config", None)
        setter = getattr(module, "set_attn_implementation", None)
        current = getattr(config, "_attn_implementation", None)
        if setter is not None and current not in (None, "eager"):
            setter("eager")
            switched.append((module, current))
    try:
        yield
    finally:
        for module, previous in switched:
            module.set_attn_implementation(previous)


@contextlib.contextmanager
def uncached(
    model: MultiTaskModel, encoder: torch.nn.Module, device: torch.device
) -> Iterator[MultiTaskModel]:
    """``model`` with ``encoder`` in place of its cached-feature encoder, for the duration.

    A frozen-backbone model reads features computed once per text; serving a request whose
    texts are new runs the backbone first. Its end-to-end cost is measured on this model.
    """
    cached = model.encoder
    encoder.to(device)
    model.encoder = encoder
    try:
        yield model
    finally:
        model.encoder = cached
        encoder.to("cpu")


@torch.inference_mode()
def flops_per_sample(model: MultiTaskModel, encoded: Batchable, device: torch.device) -> float:
    """Forward FLOPs per sample on a batch of test rows, counted by torch (no timing)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    rows = np.arange(min(len(encoded), 16))
    batch = encoded.collate(rows).to(device)
    counter = FlopCounterMode(display=False)
    with eager_attention(model), counter:
        model(**batch.model_inputs())
    return float(counter.get_total_flops()) / len(rows)


def model_flops_utilisation(
    flops_per_sample: float | None, samples_per_second: float, device: torch.device
) -> float | None:
    """Achieved forward FLOP/s over the device's bf16 peak; None off GPU or if unknown."""
    if device.type != "cuda" or not flops_per_sample:
        return None
    name = torch.cuda.get_device_name(device)
    peak = next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)
    return None if peak is None else flops_per_sample * samples_per_second / peak


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024.0 if sys.platform != "darwin" else peak / (1024.0 * 1024.0)


@dataclass
class PhaseMemory:
    """Peaks seen during one phase (training or inference)."""

    peak_rss_mb: float = 0.0  # highest sampled process RSS
    cuda_peak_allocated_mb: float | None = None  # torch allocator peak, reset at phase start
    cuda_process_mb: float | None = None  # this process's device memory (NVML), if known


@contextlib.contextmanager
def track_memory(device: torch.device) -> Iterator[PhaseMemory]:
    """Sample process RSS every 10 ms in a thread; reset and read CUDA peaks around the phase."""
    result = PhaseMemory(peak_rss_mb=current_rss_mb())
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(RSS_SAMPLE_SECONDS):
            result.peak_rss_mb = max(result.peak_rss_mb, current_rss_mb())

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    sampler = threading.Thread(target=sample, name="mtrec-rss-sampler", daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
        result.peak_rss_mb = max(result.peak_rss_mb, current_rss_mb())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            result.cuda_peak_allocated_mb = torch.cuda.max_memory_allocated(device) / 2**20
            result.cuda_process_mb = cuda_process_memory_mb(device)


def cuda_process_memory_mb(device: torch.device) -> float | None:
    """Device memory held by this process as the driver sees it (needs nvidia-ml-py)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if process.pid == os.getpid() and process.usedGpuMemory is not None:
                return float(process.usedGpuMemory) / 2**20
    except Exception:  # NVML missing or not permitted in this container
        return None
    return None
