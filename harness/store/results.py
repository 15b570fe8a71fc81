"""``results.json``: the document a run writes, its environment block and its schema."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import secrets
import subprocess
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from mtrec import version
from mtrec.run.threads import current_choice

SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "results.schema.json"
DISTRIBUTION = "mtrec-harness"  # the name in mtrec's own pyproject.toml
_PROJECT_NAME = re.compile(r"""name\s*=\s*["']([^"']+)["']""")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment(device: str) -> dict[str, Any]:
    """Versions and hardware a run depended on (what compare warns about when they differ)."""
    import torch
    import transformers

    device_name = platform.processor() or platform.machine()
    if device.startswith("cuda"):
        device_name = torch.cuda.get_device_name(torch.device(device))
    return {
        "mtrec": version.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "threads": current_choice(),  # how the count and the wait policy were chosen
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    """The commit of mtrec's own source checkout, when mtrec runs from one.

    Only when the folder above the package is the top of a git work tree whose
    ``pyproject.toml`` names this distribution: an installed mtrec sitting inside some other
    repository (a project with its virtual environment inside it) has no commit of its own,
    and the ``mtrec`` version in the environment block says which release it is.
    """
    root = Path(__file__).resolve().parent.parent
    if not _is_mtrec_source(root / "pyproject.toml"):
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split("\n")
    if out.returncode != 0 or len(lines) < 2 or not lines[1].strip():
        return None
    top, commit = Path(lines[0].strip()), lines[1].strip()
    try:
        same = top.resolve() == root
    except OSError:
        return None
    return commit if same else None


def _is_mtrec_source(pyproject: Path) -> bool:
    """Whether ``pyproject`` is mtrec's own (its ``[project]`` name is this distribution)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    table = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped
        elif table == "[project]" and (match := _PROJECT_NAME.fullmatch(stripped)):
            return match.group(1) == DISTRIBUTION
    return False


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
    """Write to a temporary file beside ``path`` and rename it in place: never half-written.

    The file gets the permissions a plain ``open`` gives (0666 less the umask), like the
    reports beside it; a temporary file from :mod:`tempfile` would be private (0600).
    """
    text = json.dumps(json_ready(document), indent=2, allow_nan=False)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json`` shipped in the package."""
    text = resources.files("mtrec.schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if a document does not follow the schema."""
    import jsonschema

    jsonschema.validate(document, results_schema())
