"""Loss weighting: how the per-task losses of one batch become one backward pass.

* ``equal``: the plain sum of the task losses (every weight 1).
* ``uncertainty``: Kendall et al. 2018; learned log-variances s_t, 0.5 (exp(-s_t) L_t + s_t).
* ``gradnorm``: Chen et al. 2018; learned weights equalising gradient norms at one shared tensor.
* ``dwa``: Liu et al. 2019; weights from how fast each task's epoch loss fell, set per epoch.
* ``pcgrad``: Yu et al. 2020; per-task shared gradients, conflicting parts projected away.
* ``max-min``: worst task first; weights T * softmax(L_t / temperature) of the batch's losses.

Wiring into the training loop (``losses``: task -> scalar loss, static head weights applied)::

    weighting = WEIGHTINGS[name].build(tasks=tuple(heads), **options).to(device)
    for group in weighting.param_groups():  # uncertainty, gradnorm: their own lr, no decay
        optimizer.add_param_group(group)
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    meter = TaskLossMeter(weighting.tasks)  # a new one per epoch
    ...
    optimizer.zero_grad(set_to_none=True)
    weighting.use_loss_scale(lambda t: scaler.scale(t / accumulation))  # fp16, accumulation
    loss = weighting.backward(losses, shared)  # replaces loss.backward()
    meter.add(losses)
    ...
    weighting.end_epoch(meter.means())  # one host sync per epoch

No ``backward`` reads a value back to the host; ``current_weights`` and ``TaskLossMeter.means``
do, and are meant for once per epoch. Extra backward passes per step: gradnorm T partial
ones (down to one shared tensor), pcgrad T - 1 full ones; the others none.

Every weighting sees the batch's true (unscaled) task losses: fp16's gradient scaling and
gradient accumulation's 1/k are applied by ``scaled`` to exactly what is differentiated, so a
weight computed from the losses (max-min, gradnorm's ratios, uncertainty's s_t) is the same
under fp16 as under fp32. A weighting that overrides ``backward`` calls
``self.scaled(x).backward()`` in place of ``x.backward()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from mtrec.errors import ConfigError

# The spec lives with the other specs (no torch); re-exported here.
from mtrec.specs import WeightingSpec as WeightingSpec

_EPS = 1e-12  # guards divisions by a loss or a squared norm that may be zero


class WeightingOptionError(ConfigError, ValueError):
    """A weighting option that does not validate; the message names the weighting and option."""


def _number(weighting: str, option: str, value: object, *, zero_ok: bool = False) -> float:
    """A finite positive (or non-negative) number, or an error naming the option."""
    number = math.nan if isinstance(value, bool) or not isinstance(value, (int, float)) else value
    if not (math.isfinite(number) and (number > 0 or (zero_ok and number == 0))):
        kind = "non-negative" if zero_ok else "positive"
        raise WeightingOptionError(
            f"weighting '{weighting}': option '{option}' must be a finite {kind} number, "
            f"got {value!r}"
        )
    return float(number)


class LossWeighting(nn.Module):
    """Combines per-task losses and runs backward; ``.to(device)`` it before the optimizer."""

    name: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()  # keyword options ``build`` accepts
    lr: float = 0.0  # learning rate for this module's own parameters, if it has any
    weights: torch.Tensor  # buffer [T]: static weights (dwa: per epoch, max-min: last batch's)

    def __init__(self, tasks: Sequence[str]) -> None:
        super().__init__()
        if not tasks or len(set(tasks)) != len(tasks):
            raise WeightingOptionError(
                f"weighting '{self.name}': option 'tasks' must name at least one task, each "
                f"once; got {list(tasks)}"
            )
        self.tasks = tuple(tasks)
        self.register_buffer("weights", torch.ones(len(self.tasks)))
        self._loss_scale: Callable[[torch.Tensor], torch.Tensor] | None = None

    def use_loss_scale(self, scale: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        """What ``scaled`` applies before each backward (the training loop's fp16 loss scale
        and 1/accumulation); None: nothing."""
        self._loss_scale = scale

    def scaled(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` as it must be differentiated: call ``self.scaled(x).backward()``."""
        return value if self._loss_scale is None else self._loss_scale(value)

    def stack(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The losses as one [T] tensor, in ``self.tasks`` order."""
        return torch.stack([losses[task].float() for task in self.tasks])

    def task_weights(self, stacked: torch.Tensor) -> torch.Tensor:
        """The (detached) [T] weights this step applies to ``stacked``."""
        return self.weights

    def objective(self, stacked: torch.Tensor) -> torch.Tensor:
        """The scalar that ``backward`` differentiates."""
        return (self.task_weights(stacked) * stacked).sum()

    def backward(self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter]) -> torch.Tensor:
        """Combine the losses, run backward, return the combined loss, detached, for logging.

        Accumulates into ``.grad`` of the parameters the losses reach and of this module's own,
        like ``Tensor.backward``. ``shared``: the shared encoder's trainable parameters, in order.
        """
        total = self.objective(self.stack(losses))
        self.scaled(total).backward()
        return total.detach()

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        """Called after each epoch with each task's mean (unweighted) training loss."""

    def current_weights(self) -> dict[str, float]:
        """The weight each task's loss gets now, for the record (reads the device)."""
        return dict(zip(self.tasks, self._weights_now().tolist(), strict=True))

    def _weights_now(self) -> torch.Tensor:
        return self.weights

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer groups for this module's own parameters ([] when it has none)."""
        own = list(self.parameters())
        return [{"params": own, "lr": self.lr, "weight_decay": 0.0}] if own else []


class EqualWeighting(LossWeighting):
    """The plain sum: what the training loop did before weightings existed."""

    name = "equal"


class UncertaintyWeighting(LossWeighting):
    """Kendall et al. 2018: sum_t 0.5 * (exp(-s_t) * L_t + s_t), s_t = log sigma_t^2.

    The paper's regression form, 1 / (2 sigma^2) L + log sigma, for every task alike (its
    classification form drops the first 0.5, moving the optimum s_t = log L_t by log 2). The
    weight on L_t is 0.5 * exp(-s_t); the combined loss can be negative. The optimizer steps s
    via ``param_groups()``: own ``lr`` (default 1e-2; a transformer's ~1e-5 would barely move
    it), no weight decay (it would pull every s_t to 0).
    """

    name = "uncertainty"
    options = ("lr",)

    def __init__(self, tasks: Sequence[str], *, lr: float = 1e-2) -> None:
        super().__init__(tasks)
        self.lr = _number(self.name, "lr", lr)
        self.log_variance = nn.Parameter(torch.zeros(len(self.tasks)))

    def objective(self, stacked: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.exp(-self.log_variance) * stacked + self.log_variance).sum()

    def _weights_now(self) -> torch.Tensor:
        return 0.5 * torch.exp(-self.log_variance.detach())


class GradNormWeighting(LossWeighting):
    """Chen et al. 2018: learned weights w_t > 0, renormalised to sum to T.

    G_t = ||grad_W w_t L_t||; target_t = mean(G) * r_t ** alpha, r_t = (L_t / L_t(0)) / mean_j
    (L_j / L_j(0)), L(0) the first step's losses. sum_t |G_t - target_t| (targets constant)
    gives w its gradient; the network gets that of sum_t w_t L_t, w fixed. G_t is linear in
    w_t: no double backward, just T partial passes down to W.
    W is ``shared[-1]``, or if no task reaches it (Hugging Face registers an unused pooler
    last) the last shared tensor one does, found at the first step; none: weights stay 1.
    The optimizer steps w via ``param_groups()`` (own ``lr``, default 1e-2, no weight decay);
    each ``backward`` renormalises it first.
    """

    name = "gradnorm"
    options = ("alpha", "lr")
    initial_losses: torch.Tensor

    def __init__(self, tasks: Sequence[str], *, alpha: float = 1.5, lr: float = 1e-2) -> None:
        super().__init__(tasks)
        self.alpha = _number(self.name, "alpha", alpha, zero_ok=True)
        self.lr = _number(self.name, "lr", lr)
        self.raw_weights = nn.Parameter(torch.ones(len(self.tasks)))
        self.register_buffer("initial_losses", torch.ones(len(self.tasks)))
        self._started = False  # a Python flag: checking a buffer would sync with the device
        self._anchor: int | None = None  # index of W in ``shared``; never the Parameter itself

    def backward(self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter]) -> torch.Tensor:
        stacked = self.stack(losses)
        with torch.no_grad():  # undo what the optimizer's last step did to the sum
            self.raw_weights.clamp_(min=1e-3)
            self.raw_weights.mul_(len(self.tasks) / self.raw_weights.sum())
        if not self._started:
            self.initial_losses.copy_(stacked.detach().clamp(min=_EPS))
            self._anchor = _last_reached(stacked.sum(), shared)
            self._started = True
        weights = self.raw_weights
        if self._anchor is not None:
            anchor = shared[self._anchor]
            # Norms of the scaled losses' gradients (no fp16 underflow): the objective below
            # is homogeneous in them, so it comes out scaled by the same factor, as backward
            # must be under a loss scale.
            norms = torch.stack(
                [_norm(self.scaled(losses[task]), anchor, stacked) for task in self.tasks]
            )
            gradient_norms = weights * norms  # G_t = w_t ||grad_W L_t||
            ratios = stacked.detach() / self.initial_losses
            targets = gradient_norms.mean().detach() * (ratios / ratios.mean()) ** self.alpha
            (gradient_norms - targets).abs().sum().backward()
        total = (weights.detach() * stacked).sum()
        self.scaled(total).backward()
        return total.detach()

    def _weights_now(self) -> torch.Tensor:
        raw = self.raw_weights.detach().clamp(min=1e-3)
        return raw * (len(self.tasks) / raw.sum())


def _last_reached(total: torch.Tensor, shared: list[nn.Parameter]) -> int | None:
    """Index of the last tensor in ``shared`` that ``total`` depends on, if any."""
    for index in range(len(shared) - 1, -1, -1):
        (grad,) = torch.autograd.grad(total, shared[index], retain_graph=True, allow_unused=True)
        if grad is not None:
            return index
    return None


def _norm(loss: torch.Tensor, anchor: nn.Parameter, like: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(loss, anchor, retain_graph=True, allow_unused=True)
    norm: torch.Tensor = like.new_zeros(()) if grad is None else grad.detach().float().norm()
    return norm


class DynamicWeightAverage(LossWeighting):
    """Liu et al. 2019: w_t = T * softmax_t(r_t / temperature), r_t = L_t(e-1) / L_t(e-2).

    L_t(e) is task t's mean training loss in epoch e, as passed to ``end_epoch``: a task whose
    loss fell slower (larger r_t) gets more weight. Epochs 1 and 2 use weight 1.
    """

    name = "dwa"
    options = ("temperature",)

    def __init__(self, tasks: Sequence[str], *, temperature: float = 2.0) -> None:
        super().__init__(tasks)
        self.temperature = _number(self.name, "temperature", temperature)
        self._history: list[list[float]] = []  # the last two epochs' mean losses

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        self._history = [*self._history[-1:], [float(epoch_losses[t]) for t in self.tasks]]
        if len(self._history) == 2:
            before, last = self._history
            rates = torch.tensor(
                [now / max(then, _EPS) for then, now in zip(before, last, strict=True)]
            )
            weights = len(self.tasks) * torch.softmax(rates / self.temperature, dim=0)
            self.weights.copy_(weights)


class PCGradWeighting(LossWeighting):
    """Yu et al. 2020: project conflicting task gradients on the shared parameters, then sum.

    One backward pass per task gives g_t on ``shared``. For each t, over the other tasks j in
    an order drawn from a generator seeded by ``seed`` (default 0): if g_t . g_j < 0, g_t -=
    (g_t . g_j) / ||g_j||^2 g_j (original g_j, as in the paper). The projected sum goes to the
    shared ``.grad``; the other parameters (heads) get the plain sum from the same passes.
    Holds a [T, #shared] float32 matrix per step.
    """

    name = "pcgrad"
    options = ("seed",)

    def __init__(self, tasks: Sequence[str], *, seed: int = 0) -> None:
        super().__init__(tasks)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise WeightingOptionError(
                f"weighting '{self.name}': option 'seed' must be a non-negative integer, "
                f"got {seed!r}"
            )
        self.generator = torch.Generator().manual_seed(seed)  # CPU: drawing never syncs

    def backward(self, losses: dict[str, torch.Tensor], shared: list[nn.Parameter]) -> torch.Tensor:
        total = self.stack(losses).sum()
        if not shared:
            self.scaled(total).backward()
            return total.detach()
        earlier = [parameter.grad for parameter in shared]
        per_task: list[list[torch.Tensor | None]] = []
        for index, task in enumerate(self.tasks):
            for parameter in shared:
                parameter.grad = None
            # projections are scale-free: the projected sum carries the loss scale once
            self.scaled(losses[task]).backward(retain_graph=index < len(self.tasks) - 1)
            per_task.append([parameter.grad for parameter in shared])
        rows = [
            [torch.zeros_like(p) if g is None else g for g, p in zip(grads, shared, strict=True)]
            for grads in per_task
        ]
        summed = self.project(torch.stack([torch.cat([g.flatten() for g in r]) for r in rows]))
        offset = 0
        for k, (parameter, before) in enumerate(zip(shared, earlier, strict=True)):
            size = parameter.numel()
            if all(grads[k] is None for grads in per_task):
                parameter.grad = before  # no task reaches it: as plain backward would leave it
            else:
                grad = summed[offset : offset + size].view_as(parameter).to(parameter.dtype)
                parameter.grad = grad if before is None else before + grad
            offset += size
        return total.detach()

    def project(self, flat: torch.Tensor) -> torch.Tensor:
        """[T, P] task gradients -> [P], the sum of their PCGrad projections."""
        flat = flat.float()
        projected = flat.clone()
        squared_norms = (flat * flat).sum(dim=1).clamp(min=_EPS)
        for t in range(len(flat)):
            for j in torch.randperm(len(flat), generator=self.generator).tolist():
                if j != t:
                    # clamp instead of an ``if``: a Python branch on the sign would sync
                    dot = (projected[t] @ flat[j]).clamp(max=0.0)
                    projected[t] -= dot / squared_norms[j] * flat[j]
        return projected.sum(dim=0)


class MaxMinWeighting(LossWeighting):
    """Worst task first: w_t = T * softmax_t(L_t / temperature) over the batch's losses.

    Detached losses: the weights get no gradient; temperature -> infinity recovers ``equal``.
    Losses far apart in units of ``temperature`` (default 1.0) make the weights one-hot, and
    only the worst task trains; the harness's losses (standardised MSE, CE, BCE) are close.
    """

    name = "max-min"
    options = ("temperature",)

    def __init__(self, tasks: Sequence[str], *, temperature: float = 1.0) -> None:
        super().__init__(tasks)
        self.temperature = _number(self.name, "temperature", temperature)

    def task_weights(self, stacked: torch.Tensor) -> torch.Tensor:
        weights = len(self.tasks) * torch.softmax(stacked.detach() / self.temperature, dim=0)
        self.weights.copy_(weights)
        return weights


class TaskLossMeter:
    """Per-task loss sums kept on the device, read once per epoch for ``end_epoch``."""

    def __init__(self, tasks: Sequence[str]) -> None:
        self.tasks = tuple(tasks)
        self._sums: torch.Tensor | None = None
        self._batches = 0

    def add(self, losses: Mapping[str, torch.Tensor]) -> None:
        batch = torch.stack([losses[task].detach().float() for task in self.tasks])
        self._sums = batch if self._sums is None else self._sums + batch
        self._batches += 1

    def means(self) -> dict[str, float]:
        """Mean loss per task so far (one host sync); {} before any batch."""
        if self._sums is None:
            return {}
        return dict(zip(self.tasks, (self._sums / self._batches).tolist(), strict=True))


def _spec(weighting: type[LossWeighting], description: str) -> WeightingSpec:
    def build(*, tasks: Sequence[str], **options: Any) -> LossWeighting:
        for option in options:
            if option not in weighting.options:
                known = ", ".join(weighting.options) or "none"
                raise WeightingOptionError(
                    f"weighting '{weighting.name}' has no option '{option}' (known: {known})"
                )
        return weighting(tasks, **options)

    return WeightingSpec(name=weighting.name, description=description, build=build)


WEIGHTINGS: dict[str, WeightingSpec] = {
    spec.name: spec
    for spec in (
        _spec(EqualWeighting, "plain sum of the task losses"),
        _spec(UncertaintyWeighting, "learned homoscedastic uncertainty (Kendall et al. 2018)"),
        _spec(GradNormWeighting, "learned weights balancing gradient norms (Chen et al. 2018)"),
        _spec(DynamicWeightAverage, "per-epoch weights from loss descent rates (Liu et al. 2019)"),
        _spec(PCGradWeighting, "conflicting gradients projected away (Yu et al. 2020)"),
        _spec(MaxMinWeighting, "softmax of the batch losses: worst task first"),
    )
}
