from __future__ import annotations

import pytest
import torch
from torch import nn

from mtrec.model.architectures import ARCHITECTURES, TaskTower, expert_gates

TASKS = ("a", "b")
NAMES = sorted(ARCHITECTURES)


def build(name: str, in_features: int = 16, **options: int) -> TaskTower:
    tower: TaskTower = ARCHITECTURES[name].build(in_features=in_features, tasks=TASKS, **options)
    return tower


@pytest.mark.parametrize("name", NAMES)
def test_every_task_gets_a_representation(name: str) -> None:
    torch.manual_seed(0)
    tower = build(name)
    out = tower(torch.randn(5, 16))
    assert set(out) == set(TASKS)
    for task in TASKS:
        assert out[task].shape == (5, tower.out_features)


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    tower = build(name)
    x = torch.randn(8, 16, requires_grad=True)
    out = tower(x)
    sum(rep.pow(2).sum() for rep in out.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for param_name, param in tower.named_parameters():
        assert param.grad is not None, param_name
        assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_given_seed(name: str) -> None:
    x = torch.randn(4, 16)
    torch.manual_seed(3)
    first = build(name)(x)
    torch.manual_seed(3)
    second = build(name)(x)
    for task in TASKS:
        assert torch.equal(first[task], second[task])


@pytest.mark.parametrize("name", NAMES)
def test_autocast_and_inference_mode(name: str) -> None:
    torch.manual_seed(0)
    tower = build(name)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = tower(torch.randn(3, 16))
    for task in TASKS:
        assert out[task].shape == (3, tower.out_features)
        assert torch.isfinite(out[task].float()).all()


def train_two_conflicting_tasks(
    tower: TaskTower, steps: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit two unrelated linear targets; -> (first, last) MSE of each task."""
    x = torch.randn(256, 16)
    targets = {"a": x @ torch.randn(16), "b": x @ torch.randn(16)}
    heads = nn.ModuleDict({task: nn.Linear(tower.out_features, 1) for task in TASKS})
    params = list(tower.parameters()) + list(heads.parameters())
    optimiser = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(steps + 1):
        out = tower(x)
        per_task = [nn.functional.mse_loss(heads[t](out[t]).squeeze(-1), targets[t]) for t in TASKS]
        loss = torch.stack(per_task)
        losses.append(loss.detach())
        optimiser.zero_grad()
        loss.sum().backward()
        optimiser.step()
    return losses[0], losses[-1]


@pytest.mark.parametrize("name", NAMES)
def test_learns_two_conflicting_regressions(name: str) -> None:
    torch.manual_seed(0)
    tower = build(name)
    first, last = train_two_conflicting_tasks(tower)
    assert (last < 0.5 * first).all(), (first, last)


def test_mmoe_gates_are_per_task_and_sum_to_one() -> None:
    torch.manual_seed(0)
    tower = build("mmoe", n_experts=3)
    assert expert_gates(tower) is None  # before any forward
    train_two_conflicting_tasks(tower, steps=50)
    gates = expert_gates(tower)
    assert gates is not None and set(gates) == set(TASKS)
    for weights in gates.values():
        assert weights.shape == (3,)
        assert torch.allclose(weights.sum(), torch.tensor(1.0))
    assert not torch.allclose(gates["a"], gates["b"])


def test_shared_bottom_has_no_parameters_or_gates() -> None:
    tower = build("shared-bottom")
    assert sum(p.numel() for p in tower.parameters()) == 0
    assert tower.out_features == 16
    x = torch.randn(2, 16)
    assert all(rep is x for rep in tower(x).values())
    assert expert_gates(tower) is None


def test_ple_two_levels_keeps_task_experts_private() -> None:
    torch.manual_seed(0)
    tower = build("ple", levels=2, shared_experts=2, task_experts=2, expert_size=8)
    names = [name for name, _ in tower.named_parameters()]
    for level in range(2):
        for task, other in (("a", "b"), ("b", "a")):
            own = {n for n in names if f"levels.{level}.task_experts.{task}." in n}
            assert own and not any(f"task_experts.{other}." in n for n in own)
    # Only the top layer has no shared gate.
    assert any("levels.0.shared_gate" in n for n in names)
    assert not any("levels.1.shared_gate" in n for n in names)

    out = tower(torch.randn(6, 16))
    assert out["a"].shape == (6, 8)
    gates = expert_gates(tower)
    assert gates is not None and gates["a"].shape == (4,)  # 2 own + 2 shared

    # Task a's loss never reaches task b's top-layer experts or gate.
    out["a"].sum().backward()
    levels = tower.levels
    assert isinstance(levels, nn.ModuleList)
    top = levels[1]
    for name, param in top.named_parameters():
        private_to_b = name.startswith(("task_experts.b.", "task_gates.b."))
        assert (param.grad is None) == private_to_b, name


@pytest.mark.parametrize(
    ("name", "options", "option"),
    [
        ("mmoe", {"n_experts": 0}, "n_experts"),
        ("mmoe", {"expert_size": 0}, "expert_size"),
        ("ple", {"levels": 0}, "levels"),
        ("ple", {"shared_experts": 0}, "shared_experts"),
        ("ple", {"task_experts": 0}, "task_experts"),
        ("ple", {"expert_size": -1}, "expert_size"),
        ("shared-bottom", {"in_features": 0}, "in_features"),
    ],
)
def test_bad_options_name_the_option(name: str, options: dict[str, int], option: str) -> None:
    kwargs = {"in_features": 16, **options}
    with pytest.raises(ValueError, match=rf"^{name}: {option} must be >= "):
        ARCHITECTURES[name].build(tasks=TASKS, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_bad_task_lists_are_rejected(name: str) -> None:
    for tasks in ((), ("a", "a"), ("a.b",)):
        with pytest.raises(ValueError, match=rf"^{name}: task"):
            ARCHITECTURES[name].build(in_features=16, tasks=tasks)


def test_expert_size_default() -> None:
    assert build("mmoe", in_features=64).out_features == 32
    assert build("ple", in_features=8).out_features == 16
    assert build("ple", expert_size=5).out_features == 5


def test_specs_are_named_by_their_key() -> None:
    assert set(ARCHITECTURES) == {"shared-bottom", "mmoe", "ple"}
    for key, spec in ARCHITECTURES.items():
        assert spec.name == key and spec.description
