"""Where mtrec keeps things between runs."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MTREC_CACHE"


def cache_dir() -> Path:
    """The cache root: ``$MTREC_CACHE``, else ``$XDG_CACHE_HOME/mtrec``, else ``~/.cache/mtrec``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mtrec"
