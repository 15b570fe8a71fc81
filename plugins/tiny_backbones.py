"""Tiny random-init backbones for CI: ``tiny-bert``, ``tiny-distilbert`` (encoders) and
``tiny-gpt2`` (decoder).

Each is built from a config, written with ``save_pretrained`` into the mtrec cache, and
loaded back through the same ``from_pretrained`` path that real checkpoints take, so tests
exercise the real loading code. Both reuse the uncased WordPiece vocabulary that ships with
the offline MiniLM package, so their inputs tokenize like real text.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtrec import (
    BackboneSpec,
    Family,
    LoadedBackbone,
    Pooling,
    cache_dir,
    folder_is_sound,
    hookimpl,
    load_pretrained,
    quiet_transformers,
    seal_folder,
)
from mtrec.plugins.minilm import minilm_folder

WIDTH = {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128, "positions": 512}
INIT_SEED = 1234


def _bert_config(vocab_size: int) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=WIDTH["hidden"],
        num_hidden_layers=WIDTH["layers"],
        num_attention_heads=WIDTH["heads"],
        intermediate_size=WIDTH["intermediate"],
        max_position_embeddings=WIDTH["positions"],
    )


def _gpt2_config(vocab_size: int) -> Any:
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_embd=WIDTH["hidden"],
        n_layer=WIDTH["layers"],
        n_head=WIDTH["heads"],
        n_inner=WIDTH["intermediate"],
        n_positions=WIDTH["positions"],
    )


def _distilbert_config(vocab_size: int) -> Any:
    from transformers import DistilBertConfig

    return DistilBertConfig(
        vocab_size=vocab_size,
        dim=WIDTH["hidden"],
        n_layers=WIDTH["layers"],
        n_heads=WIDTH["heads"],
        hidden_dim=WIDTH["intermediate"],
        max_position_embeddings=WIDTH["positions"],
    )


def build_tiny(name: str, make_config: Callable[[int], Any], root: Path | None = None) -> Path:
    """Build (once) and return the folder of a tiny random-init checkpoint.

    The folder name holds a hash of the config, so a changed config builds a new folder;
    the build goes to a temporary folder first and is moved into place whole, with a
    manifest of its files' checksums: a folder that no longer matches it is rebuilt.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_folder()))
    config = make_config(tokenizer.vocab_size)
    digest = hashlib.sha256(
        json.dumps(config.to_dict(), sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    root = root or cache_dir() / "backbones"
    target = root / f"{name}-{digest}"
    # A truncated or altered file (or a folder of another config) is rebuilt, not trusted.
    if folder_is_sound(target, target.name):
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(INIT_SEED)
            model = AutoModel.from_config(config)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        seal_folder(staging, target.name)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same build first
            if not folder_is_sound(target, target.name):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _unavailable() -> str | None:
    try:
        minilm_folder()
    except ModuleNotFoundError as exc:
        return str(exc)
    return None


def _loader(
    name: str, make_config: Callable[[int], Any], pooling: Pooling
) -> Callable[[], LoadedBackbone]:
    def load() -> LoadedBackbone:
        return load_pretrained(build_tiny(name, make_config), pooling=pooling)

    return load


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name="tiny-bert",
            family=Family.ENCODER,
            pooling=Pooling.CLS,
            load=_loader("tiny-bert", _bert_config, Pooling.CLS),
            description="random-init BERT, 2 layers x 64 wide, for tests and CI",
            pretrained=False,
            available=_unavailable,
        ),
        BackboneSpec(
            name="tiny-distilbert",
            family=Family.ENCODER,
            pooling=Pooling.CLS,
            load=_loader("tiny-distilbert", _distilbert_config, Pooling.CLS),
            description="random-init DistilBERT, 2 layers x 64 wide, no segment ids, for CI",
            pretrained=False,
            available=_unavailable,
        ),
        BackboneSpec(
            name="tiny-gpt2",
            family=Family.DECODER,
            pooling=Pooling.LAST,
            load=_loader("tiny-gpt2", _gpt2_config, Pooling.LAST),
            description="random-init GPT-2, 2 layers x 64 wide, last-token pooling, for CI",
            pretrained=False,
            available=_unavailable,
        ),
    ]
