"""Which torch device a run uses: ``auto``, ``cpu`` or ``cuda[:N]``, checked before it runs."""

from __future__ import annotations

import torch

from mtrec.errors import UsageError


def resolve_device(requested: str) -> torch.device:
    """``auto`` takes CUDA when present; asking for CUDA without it is an input error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {requested}: CUDA is not available here (torch {torch.__version__}); "
                "use --device cpu or auto"
            )
        return torch.device(requested)
    raise UsageError(f"--device {requested}: expected auto, cpu or cuda[:N]")
