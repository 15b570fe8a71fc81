"""The torch modules of the non-language baselines (``plugins/baselines.py``) and of the ID side
of hybrid backbones (``plugins/hybrid_backbones.py``), imported only
when one of them loads, so that registering the baselines imports no torch."""

from __future__ import annotations

import torch
from torch import nn


class IdEmbeddings(nn.Module):
    """Hashed user/item embeddings with an interaction MLP."""

    def __init__(self, *, buckets: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.users = nn.Embedding(buckets, dim)
        self.items = nn.Embedding(buckets, dim)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)
        self.mlp = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU())

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        user = self.users(user_ids % self.buckets)
        item = self.items(item_ids % self.buckets)
        out: torch.Tensor = self.mlp(torch.cat([user, item, user * item], dim=-1))
        return out


class UserItemBiases(nn.Module):
    """Hashed per-user and per-item vectors, concatenated: additive effects, no interaction."""

    def __init__(self, *, buckets: int, dim: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.users = nn.Embedding(buckets, dim)
        self.items = nn.Embedding(buckets, dim)
        nn.init.normal_(self.users.weight, std=0.01)
        nn.init.normal_(self.items.weight, std=0.01)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        user = self.users(user_ids % self.buckets)
        item = self.items(item_ids % self.buckets)
        return torch.cat([user, item], dim=-1)


class HybridIds(nn.Module):
    """The ID side of a hybrid backbone: text vector + ID embeddings, projected, plus biases.

    [norm(text); user; item; user * item] goes through one projection (the text and the
    collaborative signal meet there); hashed per-user and per-item effect vectors are
    concatenated after it, untouched, so that a linear head adds a user bias and an item bias
    to every output (for a regression head: rating = offset + user + item + interaction).
    """

    def __init__(
        self, *, text_width: int, buckets: int, dim: int, hidden: int, bias_dim: int
    ) -> None:
        super().__init__()
        self.buckets = buckets
        self.text_norm = nn.LayerNorm(text_width)  # text vectors and embeddings on one scale
        self.users = nn.Embedding(buckets, dim)
        self.items = nn.Embedding(buckets, dim)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.items.weight, std=0.1)
        self.project = nn.Sequential(nn.Linear(text_width + 3 * dim, hidden), nn.ReLU())
        self.user_bias = nn.Embedding(buckets, bias_dim)
        self.item_bias = nn.Embedding(buckets, bias_dim)
        nn.init.normal_(self.user_bias.weight, std=0.01)
        nn.init.normal_(self.item_bias.weight, std=0.01)
        self.out_features = hidden + 2 * bias_dim

    def forward(
        self, text: torch.Tensor, user_ids: torch.Tensor, item_ids: torch.Tensor
    ) -> torch.Tensor:
        users, items = user_ids % self.buckets, item_ids % self.buckets
        user, item = self.users(users), self.items(items)
        joint = self.project(torch.cat([self.text_norm(text), user, item, user * item], dim=-1))
        return torch.cat([joint, self.user_bias(users), self.item_bias(items)], dim=-1)
