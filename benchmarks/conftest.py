"""Shared set-up for the benchmarks: ratios are measured within one run, never absolute times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RATIOS_FILE = Path(".benchmarks") / "ratios.json"


@pytest.fixture
def record_ratio(request: pytest.FixtureRequest):
    """Print a ratio and merge it into .benchmarks/ratios.json."""

    def record(name: str, value: float, detail: dict[str, Any]) -> None:
        RATIOS_FILE.parent.mkdir(exist_ok=True)
        existing = json.loads(RATIOS_FILE.read_text()) if RATIOS_FILE.exists() else {}
        existing[name] = {"ratio": value, **detail}
        RATIOS_FILE.write_text(json.dumps(existing, indent=2) + "\n")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\n{name}: {value:.3f} {detail}")

    return record
