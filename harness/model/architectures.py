"""Multi-task architectures: what sits between the shared encoder output and the task heads.

A :class:`TaskTower` maps the pooled encoder vector ``[B, in_features]`` to one representation
``[B, out_features]`` per task, which that task's head reads. Built-ins:

* ``shared-bottom`` (hard parameter sharing): every task reads the encoder output as is. No
  parameters; tasks share everything below their heads.
* ``mmoe`` (Multi-gate Mixture-of-Experts, Ma et al. 2018): a pool of expert MLPs all tasks
  share, and one softmax gate per task that mixes the experts' outputs for that task, so
  conflicting tasks can lean on different experts.
* ``ple`` (Progressive Layered Extraction, Tang et al. 2020): stacked CGC layers. Each task
  has experts of its own; its gate mixes those with the shared experts. Below the top layer a
  shared gate mixes every expert into the next layer's shared input, and each task's output
  feeds its own experts in the next layer.

Gated towers record, in ``last_gate_weights``, each task's gate weights averaged over the
batch of the last forward pass (read them with :func:`expert_gates`), so reports can show
which experts each task used.
"""

from __future__ import annotations

import torch
from torch import nn

# The spec lives with the other specs (no torch); re-exported here.
from mtrec.specs import ArchitectureSpec as ArchitectureSpec


class TaskTower(nn.Module):
    """Shared encoder output ``[B, in_features]`` -> ``{task: [B, out_features]}``."""

    out_features: int  # width of each task's representation
    tasks: tuple[str, ...]  # the tasks it produces a representation for, in output order
    # task -> mean gate weight per expert over the last forward's batch; empty without gates
    last_gate_weights: dict[str, torch.Tensor]

    def __init__(self, architecture: str, in_features: int, tasks: tuple[str, ...]) -> None:
        super().__init__()
        _require(architecture, "in_features", in_features, 1)
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"{architecture}: tasks must be non-empty and unique, got {tasks!r}")
        bad = [task for task in tasks if not task or "." in task]
        if bad:
            raise ValueError(f"{architecture}: task names must be non-empty without '.', got {bad}")
        self.tasks = tuple(tasks)
        self.last_gate_weights = {}

    def forward(self, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def expert_gates(tower: TaskTower) -> dict[str, torch.Tensor] | None:
    """Each task's batch-mean gate weights from the last forward; None if it has no gates.

    MMoE: ``[n_experts]`` per task. PLE: the top layer's gate, ``[task_experts +
    shared_experts]`` per task, the task's own experts first. Each vector sums to 1.
    """
    return dict(tower.last_gate_weights) if tower.last_gate_weights else None


def _require(architecture: str, option: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{architecture}: {option} must be >= {minimum}, got {value}")


def _expert(in_features: int, expert_size: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_features, expert_size), nn.GELU())


def _mix(
    gate_logits: torch.Tensor, outputs: list[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax-weighted sum of expert outputs: (``[B, expert_size]``, weights ``[B, E]``)."""
    weights = torch.softmax(gate_logits.float(), dim=-1)
    stacked = torch.stack(outputs, dim=1)  # [B, E, expert_size]
    mixed = (weights.to(stacked.dtype).unsqueeze(-1) * stacked).sum(dim=1)
    return mixed, weights


def _default_expert_size(in_features: int, expert_size: int | None) -> int:
    return max(16, in_features // 2) if expert_size is None else expert_size


class SharedBottom(TaskTower):
    """Hard parameter sharing: every task reads the encoder output unchanged."""

    def __init__(self, *, in_features: int, tasks: tuple[str, ...]) -> None:
        super().__init__("shared-bottom", in_features, tasks)
        self.out_features = in_features

    def forward(self, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        return {task: shared for task in self.tasks}


class MMoE(TaskTower):
    """Shared experts, one softmax gate per task mixing all of them."""

    def __init__(
        self,
        *,
        in_features: int,
        tasks: tuple[str, ...],
        n_experts: int = 4,
        expert_size: int | None = None,
    ) -> None:
        super().__init__("mmoe", in_features, tasks)
        size = _default_expert_size(in_features, expert_size)
        _require("mmoe", "n_experts", n_experts, 1)
        _require("mmoe", "expert_size", size, 1)
        self.out_features = size
        self.experts = nn.ModuleList(_expert(in_features, size) for _ in range(n_experts))
        self.gates = nn.ModuleDict({task: nn.Linear(in_features, n_experts) for task in tasks})

    def forward(self, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = [expert(shared) for expert in self.experts]
        result: dict[str, torch.Tensor] = {}
        for task in self.tasks:
            result[task], weights = _mix(self.gates[task](shared), outputs)
            self.last_gate_weights[task] = weights.detach().mean(dim=0)
        return result


class _CGCLayer(nn.Module):
    """One Customized Gate Control layer of PLE; ``top`` layers have no shared gate."""

    def __init__(
        self,
        in_features: int,
        tasks: tuple[str, ...],
        *,
        shared_experts: int,
        task_experts: int,
        expert_size: int,
        top: bool,
    ) -> None:
        super().__init__()
        self.tasks = tasks
        self.shared_experts = nn.ModuleList(
            _expert(in_features, expert_size) for _ in range(shared_experts)
        )
        self.task_experts = nn.ModuleDict(
            {
                task: nn.ModuleList(_expert(in_features, expert_size) for _ in range(task_experts))
                for task in tasks
            }
        )
        mixed = task_experts + shared_experts
        self.task_gates = nn.ModuleDict({task: nn.Linear(in_features, mixed) for task in tasks})
        every = shared_experts + len(tasks) * task_experts
        self.shared_gate = None if top else nn.Linear(in_features, every)

    def forward(
        self, shared: torch.Tensor, task_inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """-> (next shared input or None at the top, task outputs, task gate weights)."""
        shared_out = [expert(shared) for expert in self.shared_experts]
        own_out = {
            task: [expert(task_inputs[task]) for expert in self.task_experts[task].children()]
            for task in self.tasks
        }
        outputs: dict[str, torch.Tensor] = {}
        weights: dict[str, torch.Tensor] = {}
        for task in self.tasks:
            gate = self.task_gates[task](task_inputs[task])
            outputs[task], weights[task] = _mix(gate, own_out[task] + shared_out)
        next_shared = None
        if self.shared_gate is not None:
            every = shared_out + [out for task in self.tasks for out in own_out[task]]
            next_shared, _ = _mix(self.shared_gate(shared), every)
        return next_shared, outputs, weights


class PLE(TaskTower):
    """Progressive Layered Extraction: ``levels`` stacked CGC layers."""

    def __init__(
        self,
        *,
        in_features: int,
        tasks: tuple[str, ...],
        levels: int = 1,
        shared_experts: int = 2,
        task_experts: int = 1,
        expert_size: int | None = None,
    ) -> None:
        super().__init__("ple", in_features, tasks)
        size = _default_expert_size(in_features, expert_size)
        _require("ple", "levels", levels, 1)
        _require("ple", "shared_experts", shared_experts, 1)
        _require("ple", "task_experts", task_experts, 1)
        _require("ple", "expert_size", size, 1)
        self.out_features = size
        self.levels = nn.ModuleList(
            _CGCLayer(
                in_features if level == 0 else size,
                self.tasks,
                shared_experts=shared_experts,
                task_experts=task_experts,
                expert_size=size,
                top=level == levels - 1,
            )
            for level in range(levels)
        )

    def forward(self, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        task_inputs = {task: shared for task in self.tasks}
        next_shared: torch.Tensor | None = shared
        weights: dict[str, torch.Tensor] = {}
        for layer in self.levels:
            assert next_shared is not None  # only the top layer returns None
            next_shared, task_inputs, weights = layer(next_shared, task_inputs)
        self.last_gate_weights = {task: w.detach().mean(dim=0) for task, w in weights.items()}
        return task_inputs


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    spec.name: spec
    for spec in (
        ArchitectureSpec(
            name="shared-bottom",
            description="hard parameter sharing: every head reads the encoder output",
            build=SharedBottom,
        ),
        ArchitectureSpec(
            name="mmoe",
            description="multi-gate mixture of experts: shared experts, one gate per task",
            build=MMoE,
        ),
        ArchitectureSpec(
            name="ple",
            description="progressive layered extraction: task + shared experts, CGC layers",
            build=PLE,
        ),
    )
}
