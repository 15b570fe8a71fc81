"""Claiming a run folder: one mtrec run at a time, and never over files mtrec did not write.

A run folder holds a marker file, ``.mtrec-run``, from the moment a run claims it. The claim
is an exclusive lock on that file (``flock``) held while the run writes: a second run on the
same folder finds it locked and is refused, whatever it was started with. The lock goes with
the process, so a run killed even by ``kill -9`` leaves a folder that ``--resume`` can claim
again. A folder that exists, is not empty and holds neither the marker nor a ``results.json``
holds someone else's files (a report of their own, a suite file): refused unless the user
says ``--force``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import TracebackType

from mtrec.errors import UsageError

MARKER = ".mtrec-run"

try:  # POSIX; elsewhere the marker alone marks the folder, without the concurrency guard
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunFolder:
    """A claimed run folder; :meth:`release` (or leaving the ``with`` block) frees it."""

    def __init__(self, path: Path, handle: int) -> None:
        self.path = path
        self._handle: int | None = handle

    def release(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing the file drops the lock
            self._handle = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def foreign_files(out: Path) -> list[str]:
    """Names in ``out`` that no mtrec run wrote (empty for a new, empty or mtrec folder)."""
    if not out.is_dir():
        return []
    names = sorted(entry.name for entry in out.iterdir())
    if MARKER in names or "results.json" in names:
        return []
    return names


def claim_run_folder(out: Path, *, force: bool = False) -> RunFolder:
    """Create (if needed) and claim ``out`` for this run; an input error when another run
    holds it, or when it holds files mtrec did not write and ``force`` is not given."""
    foreign = foreign_files(out)
    if foreign and not force:
        more = len(foreign) - 3
        shown = ", ".join(foreign[:3]) + (f" and {more} more" if more > 0 else "")
        raise UsageError(
            f"--out {out}: holds files mtrec did not write ({shown}); choose a new or empty "
            "folder, or add --force to write the run into it anyway"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = os.open(out / MARKER, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot be written ({exc.strerror})") from None
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(handle)
            os.close(handle)
            raise UsageError(
                f"--out {out}: another mtrec run{holder} is writing to this folder; "
                "wait for it to finish or choose another --out"
            ) from None
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    os.ftruncate(handle, 0)
    os.pwrite(handle, (json.dumps(owner) + "\n").encode("utf-8"), 0)
    return RunFolder(out, handle)


def _holder(handle: int) -> str:
    """ " (pid N on HOST)" from a held marker, or "" when it says nothing readable."""
    try:
        owner = json.loads(os.pread(handle, 4096, 0).decode("utf-8"))
        return f" (pid {int(owner['pid'])} on {owner['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
