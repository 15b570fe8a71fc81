"""Loading Hugging Face backbones the way users load them: ``from_pretrained``.

Backbone plugins call :func:`load_pretrained` with a local folder or a hub id. Weights come
from safetensors only (never pickle), and remote code stays off unless asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.specs import LoadedBackbone, Pooling


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


def hidden_size_of(config: Any) -> int:
    for attribute in ("hidden_size", "n_embd", "d_model", "dim"):
        value = getattr(config, attribute, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot tell the hidden size of a {type(config).__name__}")
