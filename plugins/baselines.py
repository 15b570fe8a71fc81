"""Non-language baselines, so every report shows what the language model adds.

* ``id-embedding``: matrix-factorisation style. Hashed user and item ids get learned
  embeddings; [user; item; user * item] goes through a small MLP into the task heads.
  It never sees text: it learns from who interacted with what.
* ``bias``: user and item effects only, no interaction. A user vector and an item vector
  (hashed ids) are concatenated, so through linear heads (``hidden_size: 0``, shared-bottom)
  every output is global offset + user effect + item effect: the BaselineOnly model of
  collaborative filtering, for every task and class. It shows how much of a score needs
  nothing but "this user rates high, this item is popular".
* ``trivial``: reads nothing. Each head outputs the best constant from the training labels
  (majority class, mean rating, base rate, label frequencies); nothing is trained.
"""

from __future__ import annotations

from mtrec import BackboneSpec, Family, LoadedBackbone, Pooling, hookimpl


def load_biases(buckets: int = 8192, dim: int = 32) -> LoadedBackbone:
    """Options: hash buckets and the width of each user/item effect vector (a linear head
    reads one effect per output from it, so ``dim`` at least the widest head suffices)."""
    if buckets < 1 or dim < 1:
        raise ValueError(f"buckets and dim must be >= 1, got {buckets}, {dim}")
    from mtrec.plugins.baseline_models import UserItemBiases

    return LoadedBackbone(
        model=UserItemBiases(buckets=buckets, dim=dim),
        tokenizer=None,
        hidden_size=2 * dim,
        pooling=Pooling.CLS,
        source="bias",
    )


def load_id_embeddings(buckets: int = 8192, dim: int = 32, hidden: int = 64) -> LoadedBackbone:
    """Options (suite ``backbones[].options``): hash buckets, embedding width, MLP width."""
    if buckets < 1 or dim < 1 or hidden < 1:
        raise ValueError(f"buckets, dim and hidden must be >= 1, got {buckets}, {dim}, {hidden}")
    from mtrec.plugins.baseline_models import IdEmbeddings

    return LoadedBackbone(
        model=IdEmbeddings(buckets=buckets, dim=dim, hidden=hidden),
        tokenizer=None,
        hidden_size=hidden,
        pooling=Pooling.CLS,
        source="id-embedding",
    )


def _no_loading() -> LoadedBackbone:
    raise RuntimeError("the trivial predictor has no model to load")


@hookimpl
def mtrec_register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name="id-embedding",
            family=Family.ID_EMBEDDING,
            pooling=Pooling.CLS,
            load=load_id_embeddings,
            description="hashed user/item ID embeddings + MLP (matrix factorisation), no text",
            pretrained=False,
        ),
        BackboneSpec(
            name="bias",
            family=Family.ID_EMBEDDING,
            pooling=Pooling.CLS,
            load=load_biases,
            description="user + item effects from hashed IDs, no interaction (BaselineOnly), "
            "no text",
            pretrained=False,
        ),
        BackboneSpec(
            name="trivial",
            family=Family.TRIVIAL,
            pooling=Pooling.CLS,
            load=_no_loading,
            description="best constant per task: majority class, mean, base rate; no training",
            pretrained=False,
        ),
    ]
