"""The built-in multi-task architectures and loss weightings, registered like any plugin.

Registering them imports no torch: each spec's ``build`` imports the model code when a model
is built (the classes and their options live in ``mtrec.ARCHITECTURES`` and
``mtrec.WEIGHTINGS``, which a test keeps equal to what is registered here).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mtrec import ArchitectureSpec, WeightingSpec, hookimpl

ARCHITECTURES = {
    "shared-bottom": "hard parameter sharing: every head reads the encoder output",
    "mmoe": "multi-gate mixture of experts: shared experts, one gate per task",
    "ple": "progressive layered extraction: task + shared experts, CGC layers",
}
WEIGHTINGS = {
    "equal": "plain sum of the task losses",
    "uncertainty": "learned homoscedastic uncertainty (Kendall et al. 2018)",
    "gradnorm": "learned weights balancing gradient norms (Chen et al. 2018)",
    "dwa": "per-epoch weights from loss descent rates (Liu et al. 2019)",
    "pcgrad": "conflicting gradients projected away (Yu et al. 2020)",
    "max-min": "softmax of the batch losses: worst task first",
}


class _Build:
    """A built-in's ``build``, imported on first call. Its signature is the real builder's (read
    when asked, at suite validation), so unknown options stay bad input, not a failed run."""

    def __init__(self, table: str, name: str) -> None:
        self.table, self.name = table, name

    def _target(self) -> Callable[..., Any]:
        import mtrec

        build: Callable[..., Any] = getattr(mtrec, self.table)[self.name].build
        return build

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._target())

    def __call__(self, **options: Any) -> Any:
        return self._target()(**options)


def _architecture(name: str) -> Callable[..., Any]:
    return _Build("ARCHITECTURES", name)


def _weighting(name: str) -> Callable[..., Any]:
    return _Build("WEIGHTINGS", name)


@hookimpl
def mtrec_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(name=name, description=description, build=_architecture(name))
        for name, description in ARCHITECTURES.items()
    ]


@hookimpl
def mtrec_register_loss_weightings() -> list[WeightingSpec]:
    return [
        WeightingSpec(name=name, description=description, build=_weighting(name))
        for name, description in WEIGHTINGS.items()
    ]
