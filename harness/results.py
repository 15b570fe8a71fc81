"""``results.json``: the document a run writes, its environment block and its schema."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "results.schema.json"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment(device: str) -> dict[str, Any]:
    """Versions and hardware a run depended on (what compare warns about when they differ)."""
    import torch
    import transformers

    from harness import __version__

    device_name = platform.processor() or platform.machine()
    if device.startswith("cuda"):
        device_name = torch.cuda.get_device_name(torch.device(device))
    return {
        "mtrec": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    """The commit of the mtrec checkout, when it is one (an installed wheel has none)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def json_ready(value: Any) -> Any:
    """NaN and infinities become null (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def write_json_atomic(path: Path, document: Any) -> None:
    """Write to a temporary file beside ``path`` and rename it in place: never half-written."""
    text = json.dumps(json_ready(document), indent=2, allow_nan=False)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` shipped in the package."""
    text = resources.files("harness.schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if a document does not follow the schema."""
    import jsonschema

    jsonschema.validate(document, results_schema())
