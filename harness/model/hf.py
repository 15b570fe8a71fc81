"""Loading Hugging Face backbones the way users load them: ``from_pretrained``.

Backbone plugins call :func:`load_pretrained` with a local folder or a hub id. Weights come
from safetensors only (never pickle), and remote code stays off unless asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mtrec.errors import CombinationError
from mtrec.specs import LoadedBackbone, Pooling


def quiet_transformers() -> None:
    """Keep transformers' advisory logging out of the terminal table."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_pretrained(
    source: str | Path, *, pooling: Pooling, trust_remote_code: bool = False
) -> LoadedBackbone:
    """Load model and tokenizer from a folder or hub id, ready for :class:`MultiTaskModel`."""
    from transformers import AutoModel, AutoTokenizer

    if not isinstance(trust_remote_code, bool):
        # `trust_remote_code: "false"` must not read as true.
        raise CombinationError(
            f"{source}: option trust_remote_code must be true or false, got {trust_remote_code!r}"
        )
    refuse_pickled_weights(source)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
    model = AutoModel.from_pretrained(
        str(source), use_safetensors=True, trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None:
        # Decoders (GPT-2) ship without a pad token; padding is masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return LoadedBackbone(
        model=model,
        tokenizer=tokenizer,
        hidden_size=hidden_size_of(model.config),
        pooling=pooling,
        source=str(source),
    )


PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def refuse_pickled_weights(source: str | Path) -> None:
    """Refuse a local checkpoint folder that holds no safetensors weights.

    Pickled weights (``pytorch_model.bin``) can run code when loaded; mtrec loads
    safetensors only. (A hub id is refused by ``from_pretrained(use_safetensors=True)``.)
    """
    folder = Path(source).expanduser()
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickled = sorted(path.name for pattern in PICKLED_WEIGHTS for path in folder.glob(pattern))
    found = f"it holds only {', '.join(pickled)}" if pickled else "it holds no weights"
    raise CombinationError(
        f"{source}: no safetensors weights ({found}); mtrec loads safetensors only, because "
        "pickled weights can run code when loaded: convert the checkpoint with "
        "save_pretrained(..., safe_serialization=True)"
    )


def hidden_size_of(config: Any) -> int:
    for attribute in ("hidden_size", "n_embd", "d_model", "dim"):
        value = getattr(config, attribute, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot tell the hidden size of a {type(config).__name__}")
