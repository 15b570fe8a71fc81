"""Loss weightings: one contract for every registered weighting, then each method's behaviour.

A tiny shared model (Linear(8, 16) + ReLU, two Linear(16, 1) heads) fits two regression
tasks on different scales: task b's targets are task a's scale x 100.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from mtrec.model.weighting import (
    WEIGHTINGS,
    LossWeighting,
    PCGradWeighting,
    TaskLossMeter,
    WeightingOptionError,
)

TASKS = ("a", "b")


class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.heads = nn.ModuleDict({task: nn.Linear(16, 1) for task in TASKS})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(x)
        return {task: head(hidden).squeeze(-1) for task, head in self.heads.items()}

    def shared(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]


def make_problem(seed: int = 0) -> tuple[TinyModel, torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    model = TinyModel()
    x = torch.randn(64, 8)
    targets = {"a": x @ torch.randn(8), "b": 100 * (x @ torch.randn(8))}
    return model, x, targets


def task_losses(
    model: TinyModel, x: torch.Tensor, targets: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    outputs = model(x)
    return {task: nn.functional.mse_loss(outputs[task], targets[task]) for task in TASKS}


def train(
    weighting: LossWeighting, steps: int, *, seed: int = 0, epoch_every: int = 10
) -> tuple[dict[str, float], dict[str, float]]:
    """Adam on the model and the weighting's groups; returns (first, last) task losses."""
    model, x, targets = make_problem(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for group in weighting.param_groups():
        optimizer.add_param_group(group)
    with torch.no_grad():
        first = {t: float(v) for t, v in task_losses(model, x, targets).items()}
    meter = TaskLossMeter(TASKS)
    for step in range(1, steps + 1):
        losses = task_losses(model, x, targets)
        optimizer.zero_grad(set_to_none=True)
        weighting.backward(losses, model.shared())
        optimizer.step()
        meter.add(losses)
        if step % epoch_every == 0:
            weighting.end_epoch(meter.means())
            meter = TaskLossMeter(TASKS)
    with torch.no_grad():
        last = {t: float(v) for t, v in task_losses(model, x, targets).items()}
    return first, last


# max-min puts all weight on the worst task when losses are far apart in units of the
# temperature; at 1.0, task a (loss ~1 vs ~1e4) would get exactly zero gradient.
CONTRACT_OPTIONS: dict[str, dict[str, float]] = {"max-min": {"temperature": 1e4}}


def build(name: str, **options: float) -> LossWeighting:
    weighting: LossWeighting = WEIGHTINGS[name].build(tasks=TASKS, **options)
    return weighting


def test_registry_has_every_method() -> None:
    assert set(WEIGHTINGS) == {"equal", "uncertainty", "gradnorm", "dwa", "pcgrad", "max-min"}
    for name, spec in WEIGHTINGS.items():
        assert spec.name == name and spec.description


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_backward_populates_grads_and_training_reduces_both_losses(name: str) -> None:
    weighting = build(name, **CONTRACT_OPTIONS.get(name, {}))
    model, x, targets = make_problem()
    loss = weighting.backward(task_losses(model, x, targets), model.shared())
    assert not loss.requires_grad and math.isfinite(float(loss))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert all(p.grad is not None for p in weighting.parameters())
    assert set(weighting.current_weights()) == set(TASKS)

    first, last = train(build(name, **CONTRACT_OPTIONS.get(name, {})), steps=50)
    assert last["a"] < first["a"] and last["b"] < first["b"], (first, last)


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_backward_never_reads_the_device(name: str) -> None:
    # On the meta device every read to the host (.item(), bool, float, .tolist(), .cpu())
    # raises, so this proves no per-step host sync without a GPU.
    model, x, targets = make_problem()
    model.to("meta")
    weighting = build(name).to("meta")
    meta_targets = {task: value.to("meta") for task, value in targets.items()}
    for _ in range(2):  # gradnorm's first step differs
        loss = weighting.backward(task_losses(model, x.to("meta"), meta_targets), model.shared())
        assert loss.device.type == "meta"
    assert all(p.grad is not None for p in model.parameters())


def test_equal_is_the_plain_sum() -> None:
    model, x, targets = make_problem()
    twin = copy.deepcopy(model)
    loss = build("equal").backward(task_losses(model, x, targets), model.shared())
    plain = task_losses(twin, x, targets)
    (plain["a"] + plain["b"]).backward()
    assert torch.equal(loss, (plain["a"] + plain["b"]).detach())
    for mine, theirs in zip(model.parameters(), twin.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None
        assert torch.equal(mine.grad, theirs.grad)


def test_uncertainty_learns_a_lower_weight_for_the_large_scale_task() -> None:
    weighting = build("uncertainty", lr=5e-2)
    assert weighting.current_weights() == {"a": 0.5, "b": 0.5}
    train(weighting, steps=150)
    weights = weighting.current_weights()
    assert weights["b"] < weights["a"]


def test_dwa_equal_for_two_epochs_then_favours_the_slower_task() -> None:
    weighting = build("dwa")
    weighting.end_epoch({"a": 1.0, "b": 100.0})
    assert weighting.current_weights() == {"a": 1.0, "b": 1.0}
    weighting.end_epoch({"a": 0.5, "b": 90.0})  # a halved, b fell by 10 %: b is slower
    weights = weighting.current_weights()
    assert weights["b"] > 1.0 > weights["a"]
    assert weights["a"] + weights["b"] == pytest.approx(2.0)
    expected = torch.softmax(torch.tensor([0.5, 0.9]) / 2.0, dim=0) * 2
    assert [weights["a"], weights["b"]] == pytest.approx(expected.tolist())
    losses = {
        "a": torch.tensor(2.0, requires_grad=True),
        "b": torch.tensor(3.0, requires_grad=True),
    }
    combined = weighting.backward(losses, [])
    assert float(combined) == pytest.approx(2.0 * weights["a"] + 3.0 * weights["b"])


def test_gradnorm_weights_stay_normalised_and_the_large_task_loses_weight() -> None:
    weighting = build("gradnorm")
    train(weighting, steps=60)
    weights = weighting.current_weights()
    assert all(w > 0 for w in weights.values())
    assert sum(weights.values()) == pytest.approx(len(TASKS))
    assert weights["b"] < 1.0 < weights["a"]


def test_gradnorm_skips_trailing_shared_tensors_no_task_reaches() -> None:
    # Hugging Face models register a pooler last that the harness never runs.
    weighting = build("gradnorm")
    model, x, targets = make_problem()
    unused = nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for group in weighting.param_groups():
        optimizer.add_param_group(group)
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        weighting.backward(task_losses(model, x, targets), [*model.shared(), unused])
        optimizer.step()
    assert weighting.current_weights()["b"] < 1.0
    assert unused.grad is None


def two_task_losses(
    grad_a: list[float], grad_b: list[float]
) -> tuple[nn.Parameter, dict[str, torch.Tensor]]:
    """Linear losses on one shared vector, whose gradients are exactly grad_a and grad_b."""
    shared = nn.Parameter(torch.zeros(len(grad_a)))
    losses = {"a": shared @ torch.tensor(grad_a), "b": shared @ torch.tensor(grad_b)}
    return shared, losses


def test_pcgrad_projects_conflicting_gradients_as_the_paper_defines() -> None:
    shared, losses = two_task_losses([1.0, 0.0], [-1.0, 1.0])
    build("pcgrad").backward(losses, [shared])
    # g_a - (g_a.g_b)/|g_b|^2 g_b = (0.5, 0.5); g_b - (g_b.g_a)/|g_a|^2 g_a = (0, 1)
    assert shared.grad is not None
    assert shared.grad.tolist() == pytest.approx([0.5, 1.5])


def test_pcgrad_leaves_aligned_gradients_alone_and_accumulates() -> None:
    shared, losses = two_task_losses([1.0, 0.0], [2.0, 1.0])
    shared.grad = torch.tensor([10.0, 10.0])
    build("pcgrad").backward(losses, [shared])
    assert shared.grad is not None
    assert shared.grad.tolist() == pytest.approx([13.0, 11.0])


def test_pcgrad_cancels_exactly_opposed_gradients_but_heads_train_normally() -> None:
    model, x, targets = make_problem()
    twin = copy.deepcopy(model)

    def opposed(m: TinyModel) -> dict[str, torch.Tensor]:
        hidden = m.encoder(x)
        score = m.heads["a"](hidden).mean()
        fit_b = nn.functional.mse_loss(m.heads["b"](hidden.detach()).squeeze(-1), targets["b"])
        return {"a": score, "b": fit_b - score}  # g_b = -g_a on the shared encoder

    build("pcgrad").backward(opposed(model), model.shared())
    plain = opposed(twin)
    (plain["a"] + plain["b"]).backward()
    for p in model.shared():
        assert p.grad is not None
        assert p.grad.abs().max() < 1e-6
    for mine, theirs in zip(model.heads.parameters(), twin.heads.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None
        assert torch.allclose(mine.grad, theirs.grad)


def test_pcgrad_heads_get_plain_gradients_and_order_is_seeded() -> None:
    model, x, targets = make_problem()
    twin = copy.deepcopy(model)
    build("pcgrad").backward(task_losses(model, x, targets), model.shared())
    plain = task_losses(twin, x, targets)
    (plain["a"] + plain["b"]).backward()
    for mine, theirs in zip(model.heads.parameters(), twin.heads.parameters(), strict=True):
        assert mine.grad is not None and theirs.grad is not None
        assert torch.allclose(mine.grad, theirs.grad)

    # g_a conflicts with both others, so the projection order changes the result.
    gradients = torch.tensor([[1.0, 0.0], [-1.0, 2.0], [-1.0, -0.5]])

    def run(seed: int) -> torch.Tensor:
        weighting = WEIGHTINGS["pcgrad"].build(tasks=("a", "b", "c"), seed=seed)
        assert isinstance(weighting, PCGradWeighting)
        return torch.stack([weighting.project(gradients) for _ in range(4)])

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_max_min_gives_the_worse_task_more_weight() -> None:
    weighting = build("max-min")
    losses = {
        "a": torch.tensor(1.0, requires_grad=True),
        "b": torch.tensor(3.0, requires_grad=True),
    }
    combined = weighting.backward(losses, [])
    weights = weighting.current_weights()
    assert weights["b"] > weights["a"]
    assert sum(weights.values()) == pytest.approx(2.0)
    assert losses["b"].grad is not None and float(losses["b"].grad) == pytest.approx(weights["b"])
    assert float(combined) == pytest.approx(weights["a"] + 3.0 * weights["b"])


def test_task_loss_meter_averages_per_task() -> None:
    meter = TaskLossMeter(TASKS)
    assert meter.means() == {}
    meter.add({"a": torch.tensor(1.0), "b": torch.tensor(10.0)})
    meter.add({"a": torch.tensor(3.0), "b": torch.tensor(20.0)})
    assert meter.means() == {"a": 2.0, "b": 15.0}


@pytest.mark.parametrize(
    ("name", "options", "option"),
    [
        ("dwa", {"temperature": 0}, "temperature"),
        ("dwa", {"temperature": -1.0}, "temperature"),
        ("max-min", {"temperature": float("nan")}, "temperature"),
        ("gradnorm", {"alpha": -0.5}, "alpha"),
        ("gradnorm", {"lr": 0.0}, "lr"),
        ("uncertainty", {"lr": "fast"}, "lr"),
        ("pcgrad", {"seed": 1.5}, "seed"),
        ("pcgrad", {"seed": True}, "seed"),
        ("equal", {"temperature": 1.0}, "temperature"),
        ("dwa", {"temp": 2.0}, "temp"),
    ],
)
def test_bad_options_raise_value_error_naming_the_option(
    name: str, options: dict[str, object], option: str
) -> None:
    with pytest.raises(ValueError, match=f"'{name}'.*'{option}'"):
        WEIGHTINGS[name].build(tasks=TASKS, **options)


@pytest.mark.parametrize("tasks", [(), ("a", "a")])
def test_tasks_must_be_distinct_and_present(tasks: tuple[str, ...]) -> None:
    with pytest.raises(WeightingOptionError, match="'tasks'"):
        WEIGHTINGS["equal"].build(tasks=tasks)


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_weightings_see_unscaled_losses_under_a_loss_scale(name: str) -> None:
    """fp16's GradScaler multiplies what is differentiated by S (and accumulation by 1/k):
    every gradient must come out exactly S/k times the unscaled one, and every weight must be
    what the unscaled losses give (max-min on 65536 x the losses would be one-hot)."""
    factor = 4096.0 / 2  # a loss scale of 4096 and gradient accumulation over 2 batches

    def run(scale: float | None) -> tuple[list[torch.Tensor], dict[str, float]]:
        weighting = build(name, **CONTRACT_OPTIONS.get(name, {}))
        if scale is not None:
            weighting.use_loss_scale(lambda loss: loss * scale)
        model, x, targets = make_problem()
        for _ in range(2):  # gradnorm's first step differs
            for p in [*model.parameters(), *weighting.parameters()]:
                p.grad = None
            weighting.backward(task_losses(model, x, targets), model.shared())
        params = [*model.parameters(), *weighting.parameters()]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]
        return grads, weighting.current_weights()

    plain_grads, plain_weights = run(None)
    scaled_grads, scaled_weights = run(factor)
    assert scaled_weights == pytest.approx(plain_weights, rel=1e-5)
    for plain, scaled in zip(plain_grads, scaled_grads, strict=True):
        torch.testing.assert_close(scaled / factor, plain, rtol=1e-4, atol=1e-6)
