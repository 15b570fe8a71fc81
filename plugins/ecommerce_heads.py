"""``ecommerce-seed``: the seed recipe's three e-commerce heads on one shared backbone.

Item category classification (cross-entropy), rating regression (MSE) and click prediction
(BCE); the label fields match what e-commerce domains provide.
"""

from __future__ import annotations

from harness import HeadSetSpec, HeadSpec, TaskType, hookimpl


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [
        HeadSetSpec(
            name="ecommerce-seed",
            heads=(
                HeadSpec(
                    task="category",
                    task_type=TaskType.MULTICLASS,
                    label_field="category",
                    loss="cross_entropy",
                ),
                HeadSpec(
                    task="rating", task_type=TaskType.REGRESSION, label_field="rating", loss="mse"
                ),
                HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce"),
            ),
            architecture="shared-bottom",
            description="category (CE) + rating (MSE) + click (BCE), hard parameter sharing",
        )
    ]
