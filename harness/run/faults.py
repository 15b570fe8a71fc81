"""Which faults stop a sweep and which fail one combination.

Stop the sweep (what finished stays recorded, ``--resume`` continues):

* the user's Ctrl-C (SIGINT, exit 130) and SIGTERM (exit 143). While a sweep runs,
  :func:`user_signals` remembers that the signal came, so a ``KeyboardInterrupt`` or
  ``SystemExit`` that plugin code raises itself is told apart from the user's and fails only
  that combination;
* storage faults: the disk under the run folder or the store is full or read-only
  (:func:`storage_fault`). Every later write would fail alike.

Everything else raised inside a combination fails that combination only.
"""

from __future__ import annotations

import errno
import signal
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from mtrec.errors import SweepTerminated

# errno values that say the filesystem takes no more writes
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
# what SQLite says for the same conditions
STORAGE_SQLITE = ("database or disk is full", "readonly database", "disk i/o error")

_received: list[int] = []  # signals the user sent while a sweep runs


def stop_requested() -> bool:
    """Whether the user sent SIGINT or SIGTERM during the current sweep."""
    return bool(_received)


@contextmanager
def user_signals() -> Iterator[None]:
    """While a sweep runs: SIGINT raises ``KeyboardInterrupt`` and SIGTERM raises
    :class:`SweepTerminated`, each remembered (see :func:`stop_requested`). Outside the
    main thread, or for a signal the caller ignores (``nohup``), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SweepTerminated(f"terminated by signal {signum} (SIGTERM)")

    previous: dict[int, object] = {}
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        _received.clear()


def plugin_exit_reason(exc: KeyboardInterrupt | SystemExit) -> str:
    """One line for a ``SystemExit``/``KeyboardInterrupt`` that plugin code raised itself."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    if isinstance(exc, SystemExit):
        return (
            f"plugin code called sys.exit({exc.code!r}){where}; a plugin must raise an "
            "exception to fail, not end the process"
        )
    return f"plugin code raised KeyboardInterrupt{where} (not a Ctrl-C from the user)"


def storage_fault(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain that says storage is full or read-only, if any."""
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in seen:
        seen.append(link)
        if isinstance(link, OSError) and link.errno in STORAGE_ERRNOS:
            return link
        if isinstance(link, sqlite3.OperationalError) and any(
            text in str(link).lower() for text in STORAGE_SQLITE
        ):
            return link
        link = link.__cause__ or link.__context__
    return None


def describe_storage_fault(fault: BaseException) -> str:
    """``"No space left on device: PATH"`` or SQLite's message."""
    if isinstance(fault, OSError):
        text = fault.strerror or str(fault)
        return f"{text}: {fault.filename}" if fault.filename else text
    return str(fault)
