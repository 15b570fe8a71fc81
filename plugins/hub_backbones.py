"""Hugging Face backbones by hub id or local folder.

* ``hf:<model id or local path>``: any AutoModel checkpoint (safetensors only; remote code
  off unless the suite sets ``options: {trust_remote_code: true}`` for that backbone).
* Named built-ins: ``bert-base-uncased``, ``distilbert-base-uncased``, ``roberta-base``,
  ``gpt2``. Nothing is downloaded at run time: a model missing from the local Hugging Face
  cache makes its combinations fail with a reason, never the sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl, load_pretrained

NAMED = {
    "bert-base-uncased": (Family.ENCODER, Pooling.CLS, "BERT base, uncased (110M)"),
    "distilbert-base-uncased": (Family.ENCODER, Pooling.CLS, "DistilBERT base, uncased (66M)"),
    "roberta-base": (Family.ENCODER, Pooling.MEAN, "RoBERTa base (125M)"),
    "gpt2": (Family.DECODER, Pooling.LAST, "GPT-2 small (124M), last-token pooling"),
}


def cache_reason(source: str) -> str | None:
    """None when ``source`` loads offline (a local folder or a cached hub id), else why not."""
    if Path(source).expanduser().is_dir():
        folder = Path(source).expanduser()
        if not (folder / "config.json").is_file():
            return f"{source} has no config.json"
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, "config.json")
    if not isinstance(cached, str):
        return (
            f"'{source}' is not in the local cache; run with network access once "
            "(HF_HUB_OFFLINE=0) or set HF_HOME to a cache that has it"
        )
    return None


def _loader(source: str, pooling: Pooling) -> Callable[..., LoadedBackbone]:
    def load(trust_remote_code: bool = False) -> LoadedBackbone:
        return load_pretrained(source, pooling=pooling, trust_remote_code=trust_remote_code)

    return load


def generic(source: str) -> BackboneSpec:
    """The spec for ``hf:<source>``; encoder with mean pooling unless the config says decoder."""
    family, pooling = Family.ENCODER, Pooling.MEAN
    config = Path(source).expanduser() / "config.json"
    if config.is_file() and '"is_decoder": true' in config.read_text(encoding="utf-8"):
        family, pooling = Family.DECODER, Pooling.LAST
    return BackboneSpec(
        name=f"hf:{source}",
        family=family,
        pooling=pooling,
        load=_loader(source, pooling),
        description=f"Hugging Face checkpoint {source}",
        available=lambda: cache_reason(source),
    )


def _generic_template() -> LoadedBackbone:
    raise RuntimeError("name a checkpoint: hf:<model id or local path>")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    specs = [
        BackboneSpec(
            name=name,
            family=family,
            pooling=pooling,
            load=_loader(name, pooling),
            description=f"{description}; from the local Hugging Face cache",
            available=lambda name=name: cache_reason(name),  # type: ignore[misc]
        )
        for name, (family, pooling, description) in NAMED.items()
    ]
    specs.append(
        BackboneSpec(
            name="hf:",
            family=Family.ENCODER,
            pooling=Pooling.MEAN,
            load=_generic_template,
            description="any checkpoint: hf:<model id or local path> (mean pooling)",
            available=lambda: "a family, not a model: name one as hf:<model id or local path>",
            specialise=generic,
        )
    )
    return specs
