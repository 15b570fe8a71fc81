"""Built-in explainers: what each task head's prediction on a test row rests on.

* ``integrated-gradients``: integrated gradients over the input token embeddings, from the
  mask-token baseline to the row (captum, the ``explain`` extra); per task head.
* ``attention-rollout``: attention of the pooled position to every token, multiplied through
  the layers with the residual connection (Abnar & Zuidema, 2020); encoders only, no extra
  dependency. It reads no head, so every task of a row gets the same attribution.
* ``id-integrated-gradients``: for the ID-embedding baselines, integrated gradients over the
  user's and the item's embedding (zero baseline): which of the two the head relied on.
* ``random``: uniform random attribution, seeded per row and task. The reference every other
  explainer's faithfulness is reported against (the trivial predictor of explanations).

The methods live in ``explainer_methods`` and are imported on first use, so registering them
imports no torch.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from mtrec import ExplainerSpec, Family, hookimpl

TEXT = (Family.ENCODER, Family.DECODER)


def _captum_missing() -> str | None:
    if importlib.util.find_spec("captum") is None:
        return "needs captum: pip install 'mtrec-harness[explain]'"
    return None


def _method(name: str) -> Any:
    def attribute(**arguments: Any) -> Any:
        from mtrec.plugins import explainer_methods

        return getattr(explainer_methods, name)(**arguments)

    attribute.__name__ = name
    return attribute


@hookimpl
def mtrec_register_explainers() -> list[ExplainerSpec]:
    return [
        ExplainerSpec(
            name="integrated-gradients",
            attribute=_method("integrated_gradients"),
            families=TEXT,
            description="integrated gradients over the token embeddings, per head (captum)",
            available=_captum_missing,
        ),
        ExplainerSpec(
            name="attention-rollout",
            attribute=_method("attention_rollout"),
            families=(Family.ENCODER,),
            description="attention of the pooled token, rolled out through the layers "
            "(encoders; the same for every head)",
        ),
        ExplainerSpec(
            name="id-integrated-gradients",
            attribute=_method("id_integrated_gradients"),
            families=(Family.ID_EMBEDDING,),
            description="integrated gradients over the user and the item embedding",
        ),
        ExplainerSpec(
            name="random",
            attribute=_method("random_attribution"),
            families=(*TEXT, Family.ID_EMBEDDING),
            description="uniform random attribution: the reference for faithfulness",
            reference=True,
        ),
    ]
