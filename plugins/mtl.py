"""The built-in multi-task architectures and loss weightings, registered like any plugin.

Registering them imports no torch: each spec's ``build`` imports the model code when a model
is built (the classes and their options live in ``mtrec.ARCHITECTURES`` and
``mtrec.WEIGHTINGS``, which a test keeps equal to what is registered here).
"""

from __future__ import annotations

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


def _architecture(name: str) -> Callable[..., Any]:
    def build(**options: Any) -> Any:
        import mtrec

        return mtrec.ARCHITECTURES[name].build(**options)

    return build


def _weighting(name: str) -> Callable[..., Any]:
    def build(**options: Any) -> Any:
        import mtrec

        return mtrec.WEIGHTINGS[name].build(**options)

    return build


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
