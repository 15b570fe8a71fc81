"""Where a record's time goes: its wall time split into disjoint, named phases.

:func:`phase_clock` starts a clock for one record; inside it, ``with phase("train"):`` charges
the wall time of its block to ``train``. Phases nest and a second always belongs to the
innermost phase open at that moment (validation inside training counts as validation, not
twice), so the phases are disjoint and, with ``other`` (the time outside every phase), add up to
the record's wall time. A ``whole`` phase (a single-task baseline, which is a fit of its own)
takes everything inside it: the phases its fit opens are not charged separately.

The clock lives in a context variable: code far down the call stack opens phases without being
handed anything, and with no clock running (a library call outside a sweep) a phase costs a
context-variable lookup. Wall time is ``time.perf_counter``; on CUDA the phases that launch
work end in a synchronisation already (training and prediction synchronise before they
return, latency around every call), so a phase is not charged for its predecessor's kernels.
No torch import here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Every phase a record is split into, in the order reports list them; "other" is what no
# phase covered (model building, prediction files, scoring, fingerprints, clean-up).
PHASES = (
    "load",  # backbone loading and domain loading
    "tokenise",  # the token cache (texts -> token ids)
    "encode",  # the frozen feature cache (texts -> pooled backbone features)
    "train",  # training steps (every learning rate tried; a transfer's source stage)
    "validation",  # per-epoch validation passes, ranking of validation candidates included
    "test",  # test inference, ranking of test candidates included
    "latency",  # latency measurement
    "flops",  # FLOPs counting
    "baselines",  # single-task baselines and transfer references: whole fits of their own
    "fairness",  # fairness metrics, bootstraps included
    "explain",  # explanations
    "other",
)
# Model work: the training and inference steps the sweep exists for.
MODEL_WORK = ("train", "validation", "test")


@dataclass
class PhaseClock:
    """Seconds charged to each phase of one record so far."""

    started: float  # time.perf_counter() when the record's clock started
    seconds: dict[str, float] = field(default_factory=dict)
    finished: float | None = None  # set by :func:`phase_clock` on the way out
    _open: list[str] = field(default_factory=list)  # the phases open, innermost last
    _since: float = 0.0  # when the innermost open phase last took over the clock
    _whole: int = 0  # depth inside a ``whole`` phase: nested phases are not charged
    rss_peaks: dict[str, float] = field(default_factory=dict)  # MiB, by phase (and "other")

    def current(self) -> str:
        """The phase charged now: the innermost open one, else ``other``."""
        try:
            return self._open[-1]
        except IndexError:  # none open (or closed by the clock's own thread meanwhile)
            return "other"

    def charge_rss(self, mib: float) -> None:
        """Charge a resident-set sample to the phase open now (peak per phase)."""
        name = self.current()
        if mib > self.rss_peaks.get(name, 0.0):
            self.rss_peaks[name] = mib

    def _charge(self, now: float) -> None:
        if self._open:
            name = self._open[-1]
            self.seconds[name] = self.seconds.get(name, 0.0) + (now - self._since)
        self._since = now

    def enter(self, name: str, whole: bool) -> bool:
        """Open ``name``; False when a ``whole`` phase outside takes the time instead."""
        if self._whole:
            return False
        self._charge(time.perf_counter())
        self._open.append(name)
        self._whole += whole
        return True

    def leave(self, whole: bool) -> None:
        self._charge(time.perf_counter())
        self._open.pop()
        self._whole -= whole

    @property
    def wall_seconds(self) -> float:
        """From the clock's start to its end (to now while it runs)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    def rss_breakdown(self) -> dict[str, float]:
        """Peak resident set size (MiB) sampled in each phase that was sampled, in
        :data:`PHASES` order (the peak of a ``whole`` phase covers everything inside it)."""
        return {name: round(self.rss_peaks[name], 1) for name in PHASES if name in self.rss_peaks}

    def breakdown(self) -> dict[str, float]:
        """Every phase's seconds (0.0 for one that did not run), ``other`` the rest of the
        wall time: the values add up to :attr:`wall_seconds`."""
        named = {name: self.seconds.get(name, 0.0) for name in PHASES if name != "other"}
        return {**named, "other": max(0.0, self.wall_seconds - sum(named.values()))}


_CLOCK: ContextVar[PhaseClock | None] = ContextVar("mtrec_phase_clock", default=None)


RSS_SAMPLE_SECONDS = 0.05


@contextlib.contextmanager
def phase_clock(*, rss: Callable[[], float] | None = None) -> Iterator[PhaseClock]:
    """Time one record: every :func:`phase` opened inside (in this context) is charged to the
    clock yielded, which is stopped on the way out.

    ``rss``: a function returning the process's resident set size (MiB); when given, a thread
    samples it every :data:`RSS_SAMPLE_SECONDS` and charges each sample to the phase open at
    that moment, so :meth:`PhaseClock.rss_breakdown` says which phase holds the peak.
    """
    clock = PhaseClock(started=time.perf_counter())
    token = _CLOCK.set(clock)
    stop = threading.Event()
    sampler = None
    if rss is not None:
        sample = rss

        def watch() -> None:
            clock.charge_rss(sample())
            while not stop.wait(RSS_SAMPLE_SECONDS):
                clock.charge_rss(sample())

        sampler = threading.Thread(target=watch, name="mtrec-phase-rss", daemon=True)
        sampler.start()
    try:
        yield clock
    finally:
        _CLOCK.reset(token)
        clock.finished = time.perf_counter()
        if sampler is not None and rss is not None:
            stop.set()
            sampler.join()
            clock.charge_rss(rss())


@contextlib.contextmanager
def phase(name: str, *, whole: bool = False) -> Iterator[None]:
    """Charge the block's wall time to phase ``name`` of the running record's clock.

    ``whole``: the block is one phase through and through (a baseline's fit): the phases opened
    inside it are not charged on their own. Without a clock running, nothing is timed.
    Raises ``ValueError`` for a name not in :data:`PHASES` (a typo would be a phase of its own).
    """
    if name not in PHASES or name == "other":
        raise ValueError(f"unknown phase '{name}'; expected one of {', '.join(PHASES[:-1])}")
    clock = _CLOCK.get()
    if clock is None or not clock.enter(name, whole):
        yield
        return
    try:
        yield
    finally:
        clock.leave(whole)


def release_heap() -> bool:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``).

    Memory torch and numpy free on the CPU goes back to the C allocator, which keeps much of
    it mapped for reuse: after a phase with large short-lived buffers (encoding, ranking a
    whole catalogue) the process holds that peak for the rest of the sweep. Called between
    phases and combinations; False (nothing done) where the C library has no such call.
    """
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


# glibc's mallopt parameters, and the ceilings its dynamic thresholds rise to on 64-bit systems
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
DYNAMIC_MMAP_CEILING, DYNAMIC_TRIM_CEILING = 32 * 2**20, 64 * 2**20


@contextlib.contextmanager
def large_buffers_mapped(threshold: int = 4 * 2**20) -> Iterator[None]:
    """Inside the block, the C allocator serves every buffer of ``threshold`` bytes or more
    with its own memory mapping, returned to the system when freed (glibc's
    ``M_MMAP_THRESHOLD``); on the way out the thresholds go to the ceilings glibc's dynamic
    adjustment would reach, and the heap's free pages are handed back.

    For phases whose large short-lived buffers change size batch after batch (the frozen
    encoding's activations follow each batch's text length): served from the heap, they
    fragment it, and the process keeps hundreds of megabytes it no longer uses. Elsewhere
    (training, ranking) repeated buffers of one size reuse the heap well and mapping each one
    would cost page faults, hence the scope. A no-op where the C library is not glibc.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        yield
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        mallopt(M_MMAP_THRESHOLD, DYNAMIC_MMAP_CEILING)
        mallopt(M_TRIM_THRESHOLD, DYNAMIC_TRIM_CEILING)
        release_heap()


def _libc_function(name: str) -> Any:
    """The C library's function ``name``; None where there is none (not glibc)."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def model_work_share(breakdown: Mapping[str, float], wall_seconds: float) -> float | None:
    """Share of ``wall_seconds`` spent in training and inference steps (:data:`MODEL_WORK`),
    in [0, 1]; None when no time passed."""
    if wall_seconds <= 0:
        return None
    work = sum(breakdown.get(name, 0.0) for name in MODEL_WORK)
    return min(1.0, max(0.0, work / wall_seconds))


def process_age_seconds() -> float | None:
    """Seconds since this process started (interpreter start, imports, plugin discovery: a
    sweep's start-up when read as it begins), from Linux's ``/proc``; None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            # Field 22 (starttime, clock ticks after boot); the command name (field 2) may
            # hold spaces and parentheses, so count from the last ")".
            started_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def sweep_timing(
    records: list[Mapping[str, Any]], *, sweep_seconds: float, startup_seconds: float | None
) -> dict[str, Any]:
    """results.json's ``timing`` block: where the time of one ``run_sweep`` call went.

    ``records``: the records this call computed (not those taken from earlier work); their
    phases are summed. ``outside_records_s`` is the sweep's own time between combinations
    (checks, results.json and store writes, tradeoffs, ablations); with combinations running
    at once the records' seconds overlap, it is then 0 and ``total_s`` exceeds ``wall_s``.
    ``reports_s`` is filled in by :func:`with_reports_time` once the reports are written.
    """
    phases = {name: 0.0 for name in PHASES}
    rss: dict[str, float] = {}
    for record in records:
        efficiency = record.get("efficiency") or {}
        for name, seconds in (efficiency.get("time_breakdown") or {}).items():
            if name in phases and isinstance(seconds, (int, float)):
                phases[name] += float(seconds)
        for name, mib in (efficiency.get("rss_by_phase_mb") or {}).items():
            if name in phases and isinstance(mib, (int, float)):
                rss[name] = max(rss.get(name, 0.0), float(mib))
    records_seconds = sum(float(record.get("duration_s") or 0.0) for record in records)
    return _totalled(
        {
            "startup_s": startup_seconds,
            "sweep_s": sweep_seconds,
            "records": len(records),
            "records_s": records_seconds,
            "outside_records_s": max(0.0, sweep_seconds - records_seconds),
            "reports_s": None,
            "phases": phases,
            "rss_by_phase_mb": {name: rss[name] for name in PHASES if name in rss},
        }
    )


def with_reports_time(timing: Mapping[str, Any], reports_seconds: float) -> dict[str, Any]:
    """``timing`` once the reports took ``reports_seconds`` to write."""
    return _totalled({**timing, "reports_s": reports_seconds})


def _totalled(timing: dict[str, Any]) -> dict[str, Any]:
    """``timing`` with its wall time, the total every share is taken of, and the model-work
    share of that total."""
    startup = timing["startup_s"] or 0.0
    reports = timing["reports_s"] or 0.0
    total = startup + timing["records_s"] + timing["outside_records_s"] + reports
    return {
        **timing,
        "wall_s": startup + timing["sweep_s"] + reports,
        "total_s": total,
        "model_work_share": model_work_share(timing["phases"], total),
    }
