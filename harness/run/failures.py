"""Why a combination failed, in one line: what a failed record's ``error`` says.

Plugins wrap exceptions, so the reason is looked for along the exception's chain: a CUDA
out-of-memory, a non-finite loss, an input error of mtrec's own; else the exception's type,
message and the frame it was raised in. A worker process that died without sending a record
is described by its exit code or signal.
"""

from __future__ import annotations

import signal
import traceback
from pathlib import Path

from mtrec.errors import CombinationError, UsageError

NON_FINITE_LOSS = "non-finite loss"  # start of the reason training gives for NaN/inf losses


def failure_reason(exc: BaseException) -> str:
    """One line saying why a combination failed."""
    oom = out_of_memory(exc)
    if oom is not None:
        return f"CUDA out of memory: {first_line(oom)}"
    for link in _chain(exc):
        if isinstance(link, FloatingPointError) and str(link).startswith(NON_FINITE_LOSS):
            return str(link)
    if isinstance(exc, CombinationError | UsageError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})"
    return f"{type(exc).__name__}: {exc}{where if frames else ''}"


def out_of_memory(exc: BaseException) -> BaseException | None:
    """The CUDA out-of-memory error in ``exc``'s chain (plugins wrap it), if any."""
    import torch

    for link in _chain(exc):
        if isinstance(link, torch.cuda.OutOfMemoryError):
            return link
        if isinstance(link, RuntimeError) and "CUDA out of memory" in str(link):
            return link
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in seen:
        seen.append(link)
        link = link.__cause__ or link.__context__
    return seen


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def worker_death(exitcode: int | None) -> str:
    """Why a worker that sent no record ended, e.g. "worker died with signal 9 (SIGKILL)"."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = "; killed, possibly by the out-of-memory killer" if -exitcode == 9 else ""
        return f"worker died with signal {-exitcode} ({name}{hint})"
    return f"worker exited with code {exitcode} before sending its record"
