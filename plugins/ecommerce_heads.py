"""E-commerce head sets on one shared backbone.

``ecommerce-seed``: the seed recipe's three heads, item category classification
(cross-entropy), rating regression (MSE) and click prediction (BCE), plus ``next-item``, a
ranking head (each test user's candidates ranked; see ``mtrec.measure.ranking``).
``ecommerce-engagement``: rating and click only, the pair a planted task conflict pulls apart
(no ranking head: a third task through the conflict's narrow shared tower would change what
the pair measures). The label fields match what e-commerce domains provide; the ranking head
reads the relevance column the harness derives from the suite's ``evaluation.ranking``.
"""

from __future__ import annotations

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl

CATEGORY = HeadSpec(
    task="category", task_type=TaskType.MULTICLASS, label_field="category", loss="cross_entropy"
)
RATING = HeadSpec(task="rating", task_type=TaskType.REGRESSION, label_field="rating", loss="mse")
CLICK = HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce")
NEXT_ITEM = HeadSpec(
    task="next-item", task_type=TaskType.RANKING, label_field="relevance", loss="bce"
)


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [
        HeadSetSpec(
            name="ecommerce-seed",
            heads=(CATEGORY, RATING, CLICK, NEXT_ITEM),
            architecture="shared-bottom",
            description="category (CE) + rating (MSE) + click (BCE) + next-item (ranking), "
            "hard parameter sharing",
        ),
        HeadSetSpec(
            name="ecommerce-engagement",
            heads=(RATING, CLICK),
            architecture="shared-bottom",
            description="rating (MSE) + click (BCE), hard parameter sharing",
        ),
    ]
