"""How many intra-op threads a run uses, and how idle threads wait.

On a busy machine torch's default (one thread per core, OpenMP threads spinning while they wait
for work) turns other processes' time slices into spinning: a sweep that takes seconds when
the machine is quiet takes many minutes beside two CPU-bound jobs. mtrec therefore

* sizes the intra-op threads to the cores nobody else is using now (sampled from
  ``/proc/stat`` over a tenth of a second; the 1-minute load average where that is missing),
  divided by the combinations that run at once, never fewer than one;
* makes idle OpenMP threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``, and
  ``KMP_BLOCKTIME=0`` for Intel's OpenMP), which must be in the environment before torch is
  imported: the ``mtrec`` command sets it first thing.

``--threads N`` (``mtrec run``) or ``OMP_NUM_THREADS`` fix the count; an ``OMP_WAIT_POLICY``
already in the environment is kept. The choice is recorded in results.json's environment
block (``threads``). No torch import here: :func:`choose_threads` is plain logic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import asdict, dataclass
from typing import Any

SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class ThreadChoice:
    """What a run uses, and why."""

    threads: int  # torch intra-op threads
    wait_policy: str  # OMP_WAIT_POLICY in effect
    source: str  # "--threads", "OMP_NUM_THREADS" or "free cores"
    cpus: int  # cores this process may run on
    busy_cores: float | None  # cores other work kept busy when chosen (None: not measured)
    parallel: int  # combinations running at once that share the cores

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


_current: ThreadChoice | None = None


def choose_threads(
    requested: int | None,
    *,
    cpus: int,
    busy_cores: float | None,
    parallel: int = 1,
    environ: Mapping[str, str],
) -> ThreadChoice:
    """The thread count and wait policy for a run (pure: everything it reads is passed in)."""
    parallel = max(1, parallel)
    policy = environ.get("OMP_WAIT_POLICY", "").strip() or "PASSIVE"
    from_env = _positive_int(environ.get("OMP_NUM_THREADS"))
    if requested is not None:
        threads, source = requested, "--threads"
    elif from_env is not None:
        threads, source = from_env, "OMP_NUM_THREADS"
    else:
        free = cpus if busy_cores is None else cpus - busy_cores
        threads, source = int(free + 0.5) // parallel, "free cores"
    return ThreadChoice(
        threads=max(1, threads),
        wait_policy=policy.upper(),
        source=source,
        cpus=cpus,
        busy_cores=None if busy_cores is None else round(busy_cores, 2),
        parallel=parallel,
    )


def set_wait_policy(environ: MutableMapping[str, str] | None = None) -> None:
    """Idle OpenMP threads sleep (unless the environment already says otherwise). Call before
    torch is imported: OpenMP reads these when it loads."""
    environ = os.environ if environ is None else environ
    for name, value in (("OMP_WAIT_POLICY", "PASSIVE"), ("KMP_BLOCKTIME", "0")):
        if not environ.get(name, "").strip():  # unset or empty: OpenMP would use its default
            environ[name] = value


def apply_threads(requested: int | None, *, parallel: int = 1) -> ThreadChoice:
    """Choose for this machine now, set torch's intra-op threads, remember the choice."""
    global _current
    set_wait_policy()
    choice = choose_threads(
        requested,
        cpus=usable_cpus(),
        busy_cores=None if requested is not None else busy_cores_now(),
        parallel=parallel,
        environ=os.environ,
    )
    import torch

    torch.set_num_threads(choice.threads)
    _current = choice
    return choice


def current_choice() -> dict[str, Any] | None:
    """The choice this process made (None when nothing chose: mtrec used as a library)."""
    return None if _current is None else _current.as_record()


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores_now(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores busy over the next ``seconds`` (all processes; this one is idle meanwhile), from
    ``/proc/stat``; the 1-minute load average where that is unreadable; None if neither."""
    first = _cpu_times()
    if first is not None:
        time.sleep(seconds)
        second = _cpu_times()
        if second is not None:
            total = second[0] - first[0]
            idle = second[1] - first[1]
            if total > 0:
                return (os.cpu_count() or 1) * (total - idle) / total
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(all jiffies, idle + iowait jiffies) over every core, or None."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(value) for value in fields[1:9]]
    return sum(values), values[3] + values[4]


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None
