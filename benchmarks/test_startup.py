"""Start-up of the ``mtrec`` command against a bare ``python -c pass``, measured in the same run.

* ``mtrec --help``: parsing flags imports no model library. Target: within 0.3 s of bare
  Python start-up (median wall time).
* ``mtrec plugins``: every plugin's specs registered and listed, no model loaded.

Rounds are interleaved so that load from other processes hits every command alike; the
medians of wall time and of CPU time (user + system, children's) are recorded.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

ROUNDS = 7


def _mtrec() -> list[str]:
    """The console script as installed beside this interpreter, else ``python -m mtrec.cli``."""
    script = shutil.which("mtrec", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "mtrec.cli"]


COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "mtrec --help": [*_mtrec(), "--help"],
    "mtrec plugins": [*_mtrec(), "plugins"],
}


def _time(command: Sequence[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _medians() -> dict[str, tuple[float, float]]:
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache
        _time(command)
    for _ in range(ROUNDS):
        for name, command in COMMANDS.items():
            samples[name].append(_time(command))
    return {
        name: (
            statistics.median(wall for wall, _ in runs),
            statistics.median(cpu for _, cpu in runs),
        )
        for name, runs in samples.items()
    }


def test_startup_vs_bare_python(benchmark, record_ratio) -> None:
    medians = _medians()
    bare_wall, bare_cpu = medians["python -c pass"]
    for name in ("mtrec --help", "mtrec plugins"):
        wall, cpu = medians[name]
        ratio = wall / bare_wall
        key = name.replace("mtrec ", "").strip("-")
        benchmark.extra_info[f"{key}_ratio_vs_bare_python"] = ratio
        record_ratio(
            f"startup_{key}_vs_bare_python",
            ratio,
            {
                "bare_python_s": round(bare_wall, 4),
                "command_s": round(wall, 4),
                "over_bare_s": round(wall - bare_wall, 4),
                "bare_python_cpu_s": round(bare_cpu, 4),
                "command_cpu_s": round(cpu, 4),
                "target": "within 0.3 s of bare python" if key == "help" else "no model loaded",
            },
        )
    benchmark.pedantic(_time, args=(COMMANDS["mtrec --help"],), rounds=1, iterations=1)
    help_wall, _ = medians["mtrec --help"]
    assert help_wall - bare_wall <= 0.3, medians
