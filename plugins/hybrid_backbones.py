"""Hybrid backbones: ``hybrid:<backbone>`` reads the text AND the user and item IDs.

Any registered language backbone (``hybrid:minilm-l6``, ``hybrid:tiny-bert``,
``hybrid:hf:<checkpoint>``) becomes a hybrid: its pooled text vector (under the suite's
strategy: full, top_k, lora, or frozen through the feature cache) is combined with learned,
hashed user and item ID embeddings, [text; user; item; user * item] projected to ``id_hidden``
features, and with per-user and per-item effect vectors (``bias_dim`` wide) that a linear head
turns into a user bias and an item bias. It shows what text adds on top of the collaborative
signal (``id-embedding``), and what IDs add on top of the text (the plain backbone).

Options: ``id_buckets`` (hash buckets), ``id_dim`` (embedding width), ``id_hidden``
(projection width), ``bias_dim``; any other option goes to the text backbone's loader. The ID
side trains at ``training.head_lr`` (new layers), the text backbone at ``training.lr``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mtrec import (
    BackboneSpec,
    ConfigError,
    Family,
    LoadedBackbone,
    Pooling,
    UnknownNameError,
    hookimpl,
)

PREFIX = "hybrid:"
ID_OPTIONS = {"id_buckets": 8192, "id_dim": 32, "id_hidden": 128, "bias_dim": 8}


def hybrid(rest: str, resolve: Callable[[str], BackboneSpec]) -> BackboneSpec:
    """The spec of ``hybrid:<rest>``: the language backbone ``rest`` plus an ID side."""
    name = PREFIX + rest
    if rest.startswith(PREFIX):
        raise ConfigError(f"backbone '{name}': a hybrid of a hybrid; name a language backbone")
    try:
        text = resolve(rest)
    except UnknownNameError as exc:
        raise UnknownNameError(f"backbone '{name}': its text backbone: {exc}") from None
    if text.family not in (Family.ENCODER, Family.DECODER):
        raise ConfigError(
            f"backbone '{name}': '{rest}' reads no text (family {text.family.value}); a "
            "hybrid needs a language backbone (an encoder or a decoder)"
        )
    return BackboneSpec(
        name=name,
        family=text.family,
        pooling=text.pooling,
        load=_loader(text),
        description=f"{rest} text vector + learned user/item ID embeddings and biases",
        pretrained=text.pretrained,
        available=text.available,
    )


def _loader(text: BackboneSpec) -> Callable[..., LoadedBackbone]:
    def load(**options: Any) -> LoadedBackbone:
        own = {key: options.pop(key, default) for key, default in ID_OPTIONS.items()}
        for key, value in own.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
        loaded = text.load(**options)
        if loaded.with_ids is not None:
            raise ValueError(f"'{text.name}' already reads IDs; a hybrid needs a text backbone")

        def with_ids(text_width: int) -> Any:
            from mtrec.plugins.baseline_models import HybridIds

            return HybridIds(
                text_width=text_width,
                buckets=own["id_buckets"],
                dim=own["id_dim"],
                hidden=own["id_hidden"],
                bias_dim=own["bias_dim"],
            )

        # The text side is exactly `text` loaded with these options: frozen features of the
        # plain backbone and of its hybrid are one cache entry.
        return replace(
            loaded, with_ids=with_ids, encoder_key={"name": text.name, "options": dict(options)}
        )

    # Suites are checked against the loader's signature before anything runs: the ID
    # options plus the text backbone's own.
    try:
        inner = list(inspect.signature(text.load).parameters.values())
    except (TypeError, ValueError):
        inner = [inspect.Parameter("options", inspect.Parameter.VAR_KEYWORD)]
    parameters = [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default)
        for key, default in ID_OPTIONS.items()
    ]
    variadic: list[inspect.Parameter] = []
    for parameter in inner:
        if parameter.name in ID_OPTIONS or parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            variadic.append(parameter)
        else:
            parameters.append(parameter.replace(kind=parameter.KEYWORD_ONLY))
    load.__signature__ = inspect.Signature([*parameters, *variadic])  # type: ignore[attr-defined]
    return load


def _family_template() -> LoadedBackbone:
    raise RuntimeError("name a language backbone: hybrid:<backbone>, e.g. hybrid:minilm-l6")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name=PREFIX,
            family=Family.ENCODER,
            pooling=Pooling.MEAN,
            load=_family_template,
            description="any language backbone + learned user/item ID embeddings and biases: "
            "hybrid:<backbone>",
            available=lambda: "a family, not a model: name one as hybrid:<backbone>",
            specialise=hybrid,
        )
    ]
