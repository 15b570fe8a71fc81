"""The built-in multi-task architectures and loss weightings, registered like any plugin."""

from __future__ import annotations

from mtrec import hookimpl
from mtrec.model.architectures import ARCHITECTURES, ArchitectureSpec
from mtrec.model.weighting import WEIGHTINGS, WeightingSpec


@hookimpl
def mtrec_register_architectures() -> list[ArchitectureSpec]:
    return list(ARCHITECTURES.values())


@hookimpl
def mtrec_register_loss_weightings() -> list[WeightingSpec]:
    return list(WEIGHTINGS.values())
