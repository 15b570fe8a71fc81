"""Head sets for the real datasets, over the labels each one actually supports.

The seed head sets (``video-seed``, ...) follow the synthetic domains; real data offers a
different set of labels (``like`` rather than ``watch`` on MovieLens, ``helpful`` rather than
``click`` on Amazon reviews), so each real dataset gets its own head set. Every one also
ranks: ``next-item``, a ranking head over the users and items of the dataset (relevance from
the suite's ``evaluation.ranking``).
"""

from __future__ import annotations

from mtrec import LOSSES, HeadSetSpec, HeadSpec, TaskType, hookimpl

HEADS = {
    "movielens-seed": (
        "MovieLens-100k: rating (MSE), like (BCE), genres (multi-label BCE)",
        (
            ("rating", TaskType.REGRESSION),
            ("like", TaskType.BINARY),
            ("genres", TaskType.MULTILABEL),
        ),
    ),
    "amazon-seed": (
        "Amazon reviews: category (CE), rating (MSE), helpful (BCE)",
        (
            ("category", TaskType.MULTICLASS),
            ("rating", TaskType.REGRESSION),
            ("helpful", TaskType.BINARY),
        ),
    ),
    "mind-seed": (
        "MIND news: topic (CE), click (BCE)",
        (("topic", TaskType.MULTICLASS), ("click", TaskType.BINARY)),
    ),
    "hotels-seed": (
        "hotel reviews: property type (CE), rating (MSE), like (BCE)",
        (
            ("property_type", TaskType.MULTICLASS),
            ("rating", TaskType.REGRESSION),
            ("like", TaskType.BINARY),
        ),
    ),
    "airline-seed": (
        "airline tweets: sentiment (CE), retweeted (BCE)",
        (("sentiment", TaskType.MULTICLASS), ("retweeted", TaskType.BINARY)),
    ),
}


NEXT_ITEM = HeadSpec(
    task="next-item", task_type=TaskType.RANKING, label_field="relevance", loss="bce"
)


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [
        HeadSetSpec(
            name=name,
            heads=(
                *(
                    HeadSpec(task=task, task_type=kind, label_field=task, loss=LOSSES[kind])
                    for task, kind in heads
                ),
                NEXT_ITEM,
            ),
            architecture="shared-bottom",
            description=f"{description}, next-item (ranking)",
        )
        for name, (description, heads) in HEADS.items()
    ]
