"""The built-in update strategies of the rounds protocol (docs/rounds.md).

Each one only plans: which rows the update trains on, from which weights, which parameters.
The harness trains every plan the same way, within the protocol's budget.
"""

from __future__ import annotations

import numpy as np

from mtrec import UpdateContext, UpdatePlan, UpdateStrategySpec, hookimpl


def _frozen(context: UpdateContext) -> UpdatePlan:
    return UpdatePlan(rows=None)


def _fine_tune(context: UpdateContext) -> UpdatePlan:
    return UpdatePlan(rows=context.new_rows)


def _replay(context: UpdateContext) -> UpdatePlan:
    wanted = round(context.replay * len(context.new_rows))
    old = context.seen_rows
    if wanted < len(old):
        old = np.sort(context.rng.choice(old, size=wanted, replace=False))
    return UpdatePlan(rows=np.concatenate([old, context.new_rows]))


def _retrain(context: UpdateContext) -> UpdatePlan:
    return UpdatePlan(rows=np.concatenate([context.seen_rows, context.new_rows]), start="fresh")


def _lora(context: UpdateContext) -> UpdatePlan:
    return UpdatePlan(rows=context.new_rows, adapters=True)


@hookimpl
def mtrec_register_update_strategies() -> list[UpdateStrategySpec]:
    return [
        UpdateStrategySpec(
            name="frozen", plan=_frozen, description="never update: the round-0 model throughout"
        ),
        UpdateStrategySpec(
            name="fine-tune",
            plan=_fine_tune,
            description="continue training the current model on the new window only",
        ),
        UpdateStrategySpec(
            name="replay",
            plan=_replay,
            description="the new window plus a sample of earlier rows (replay per new row)",
        ),
        UpdateStrategySpec(
            name="retrain",
            plan=_retrain,
            description="a freshly loaded backbone trained on every window so far",
        ),
        UpdateStrategySpec(
            name="lora",
            plan=_lora,
            description="low-rank adapters and heads train on the new window; backbone fixed",
        ),
    ]
