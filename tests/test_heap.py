"""The C heap between phases: large buffers mapped where they fragment it, free pages returned.

Run in child processes: the allocator's thresholds are process-wide, and glibc's dynamic
threshold must start from a known state. Linux with glibc only (elsewhere both calls are
no-ops, which the last test checks).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
