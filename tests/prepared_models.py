"""One way for tests to build what a combination trains: a backbone under a strategy with a
head set, through :func:`mtrec.model.strategies.prepare`, as the runner does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from mtrec.model.batching import encode_split
from mtrec.model.multitask import MultiTaskModel
from mtrec.model.strategies import FeatureCache, Prepared, accepts_segments, prepare
from mtrec.specs import BackboneSpec, DomainData, Family, HeadSetSpec, LoadedBackbone


def prepare_for_test(
    spec: BackboneSpec,
    head_set: HeadSetSpec,
    domain: DomainData,
    *,
    strategy: str,
    loaded: LoadedBackbone | None = None,
    lora_r: int = 4,
    features: FeatureCache | None = None,
    precision: str = "fp32",
    backbone_options: Mapping[str, Any] | None = None,
) -> Prepared:
    """``spec`` prepared on ``domain`` (loaded afresh unless ``loaded`` is given), max length 32."""
    if loaded is None and spec.family is not Family.TRIVIAL:
        loaded = spec.load()
    segments = loaded is not None and (
        spec.family is Family.ENCODER and accepts_segments(loaded.model)
    )
    return prepare(
        family=spec.family,
        backbone_name=spec.name,
        loaded=loaded,
        pooling=None,
        splits={"train": domain.train, "validation": domain.validation, "test": domain.test},
        build_model=lambda encoder, width: MultiTaskModel(
            encoder,
            out_features=width,
            head_set=head_set,
            label_fields=domain.label_fields,
            dropout=0.0,
        ),
        strategy=strategy,
        top_k=1,
        lora_r=lora_r,
        max_length=32,
        encoded_splits=lambda name, split: encode_split(
            split, None if loaded is None else loaded.tokenizer, 32, segments=segments
        ),
        features=FeatureCache() if features is None else features,
        device=torch.device("cpu"),
        precision=precision,
        backbone_options=backbone_options,
    )
