"""The fixture plugin's torch code, imported only when a model is built or trained."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

import mtrec


class FixtureTower(mtrec.TaskTower):
    """One linear layer per task over the shared vector (a minimal per-task tower)."""

    def __init__(self, *, in_features: int, tasks: tuple[str, ...], width: int = 8) -> None:
        super().__init__("fixture-tower", in_features, tasks)
        if width < 1:
            raise ValueError(f"fixture-tower: width must be >= 1, got {width}")
        self.out_features = width
        self.towers = nn.ModuleDict({task: nn.Linear(in_features, width) for task in self.tasks})

    def forward(self, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: torch.relu(self.towers[task](shared)) for task in self.tasks}


class HalfWeighting(mtrec.LossWeighting):
    """Every task's loss counts half."""

    name = "fixture-half"

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__(tasks)
        self.weights.fill_(0.5)
