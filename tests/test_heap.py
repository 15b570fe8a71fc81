"""The C heap between phases: large buffers mapped where they fragment it, free pages returned.

Run in child processes: the allocator's thresholds are process-wide, and glibc's dynamic
threshold must start from a known state. Linux with glibc only (elsewhere both calls are
no-ops, which the last test checks).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mtrec.run.phases import large_buffers_mapped, release_heap

# A 9 MiB buffer after a 20 MiB one was freed: glibc has raised its dynamic mmap threshold to
# 20 MiB, so the 9 MiB buffer comes from the heap... unless the scope maps it on its own.
PROBE = textwrap.dedent(
    """
    import contextlib, sys
    import numpy as np
    from mtrec.run.phases import large_buffers_mapped

    def anonymous_mappings_of_9_mib_or_more():
        count = 0
        for line in open("/proc/self/maps"):
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            count += high - low >= 9 * 2**20 and len(fields) < 6  # no path: anonymous
        return count

    warm = np.ones(20 * 2**20, dtype=np.uint8)
    del warm
    scope = large_buffers_mapped() if sys.argv[1] == "mapped" else contextlib.nullcontext()
    with scope:
        before = anonymous_mappings_of_9_mib_or_more()
        buffer = np.ones(9 * 2**20, dtype=np.uint8)
        print(anonymous_mappings_of_9_mib_or_more() - before)
    """
)


def _glibc() -> bool:
    import platform

    return sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def _new_mappings(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not _glibc(), reason="glibc's allocator only")
def test_inside_the_scope_a_large_buffer_gets_its_own_mapping() -> None:
    assert _new_mappings("plain") == 0  # from the heap, where it would stay resident
    assert _new_mappings("mapped") == 1  # its own mapping, unmapped when freed


@pytest.mark.skipif(not _glibc(), reason="glibc's allocator only")
def test_release_heap_calls_the_c_library() -> None:
    assert release_heap() is True


def test_both_are_safe_to_call_anywhere() -> None:
    with large_buffers_mapped(), large_buffers_mapped(threshold=2**20):
        release_heap()
    assert isinstance(release_heap(), bool)


def test_baselines_train_without_the_combinations_serving_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen combination's uncached serving path (its backbone) is dropped before the
    single-task baselines train, each loading a backbone of its own. (Kept when the model is
    saved: test_checkpoints reloads frozen models through it.)"""
    from mtrec.config import parse_suite
    from mtrec.model.strategies import FrozenTextEncoder
    from mtrec.plugin_host import PluginHost
    from mtrec.run.baselines import single_task_baselines
    from mtrec.run.runner import run_sweep

    alive: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        gc.collect()
        alive.append(sum(type(o) is FrozenTextEncoder for o in gc.get_objects()))
        return single_task_baselines(*args, **kwargs)

    monkeypatch.setattr("mtrec.run.combination.single_task_baselines", counting)
    suite = parse_suite(
        "name: h\nbackbones: [{name: tiny-bert, training: {strategy: frozen}}]\n"
        "head_sets: [ecommerce-seed]\n"
        "domains: [{name: synthetic-ecommerce, options: {n_interactions: 120}}]\n"
        "training: {epochs: 1, max_length: 32}\n"
        "measure: {latency_batch_sizes: [1], latency_min_repeats: 1, latency_min_seconds: 0,"
        " flops: false}\n"
        "evaluation: {ranking: {negatives: 4, validation_negatives: 4}}\n"
        "fairness_metrics: [subtask-gain]\n",
        origin="h.yaml",
        source="file",
    )
    [record] = run_sweep(suite, PluginHost(), tmp_path / "run", device="cpu").document["records"]
    assert record["status"] == "ok", record.get("error")
    assert record["fairness"]["subtask-gain"]  # the baselines trained
    assert alive == [0]
