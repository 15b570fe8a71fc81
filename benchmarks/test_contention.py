"""``mtrec run smoke`` beside two CPU-bound processes against the same run on a quiet machine.

A busy machine should slow a sweep in proportion to its share of the cores (two competitors
on two cores: about 2x), not by orders of magnitude as spinning OpenMP threads did. Both runs
happen in this benchmark, one after the other, so the ratio compares like with like.
Target: busy / quiet <= 3. Run it on an otherwise quiet machine (``make bench``).

``MTREC_CONTENTION_SUITE`` picks another suite (default ``smoke``); ``MTREC_CONTENTION_HOGS``
the number of competitors (default 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUITE = os.environ.get("MTREC_CONTENTION_SUITE", "smoke")
HOGS = int(os.environ.get("MTREC_CONTENTION_HOGS", "2"))
TARGET = 3.0
HOG = "import itertools\nfor _ in itertools.count():\n    pass\n"


def _mtrec() -> list[str]:
    script = shutil.which("mtrec", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "mtrec.cli"]


def _environment() -> dict[str, str]:
    """The user's environment without the thread settings the test suite pins: mtrec chooses."""
    drop = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def _run(out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [*_mtrec(), "run", SUITE, "--device", "cpu", "--quiet", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=_environment(),
    )
    return time.perf_counter() - started


@contextmanager
def _competitors(count: int) -> Iterator[None]:
    """``count`` processes each spinning one core, stopped (by their own ids) on exit."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]
    try:
        time.sleep(1.0)  # let them take their cores before the run chooses its threads
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def test_busy_machine_vs_quiet(benchmark, record_ratio, tmp_path: Path) -> None:
    _run(tmp_path / "warm")  # file cache and the run's own caches, as a user's second run
    quiet = _run(tmp_path / "quiet")
    with _competitors(HOGS):
        busy = _run(tmp_path / "busy")
    ratio = busy / quiet
    benchmark.extra_info["busy_vs_quiet_ratio"] = ratio
    record_ratio(
        f"contention_{Path(SUITE).stem}_busy_vs_quiet",
        ratio,
        {
            "quiet_s": round(quiet, 2),
            "busy_s": round(busy, 2),
            "competitors": HOGS,
            "cpus": os.cpu_count(),
            "target": f"<= {TARGET}",
        },
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert ratio <= TARGET, (quiet, busy)
