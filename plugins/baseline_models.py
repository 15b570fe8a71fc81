"""The torch modules of the non-language baselines (``plugins/baselines.py``), imported only
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
