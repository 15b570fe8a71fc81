"""Seed head sets for the synthetic video, social, travel and news domains.

Each head set trains one head per label field of its domain (task name = label field) on one
shared backbone forward (hard parameter sharing): ``video-seed``, ``social-seed``,
``travel-seed`` and ``news-seed``, plus ``next-item``, a ranking head (each test user's
candidates ranked, relevance from the suite's ``evaluation.ranking``). Losses follow the task
type: cross-entropy for multiclass, MSE for regression, BCE for binary, (per class) for
multilabel and (pointwise, against sampled negatives) for ranking.
"""

from __future__ import annotations

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl

_LOSSES = {
    TaskType.MULTICLASS: "cross_entropy",
    TaskType.MULTILABEL: "bce",
    TaskType.REGRESSION: "mse",
    TaskType.BINARY: "bce",
    TaskType.RANKING: "bce",
}
_SHORT = {"cross_entropy": "CE", "mse": "MSE", "bce": "BCE"}
# every head set also ranks: its label is the relevance column the harness derives
NEXT_ITEM = HeadSpec(
    task="next-item", task_type=TaskType.RANKING, label_field="relevance", loss="bce"
)

# head set name -> its heads as (label field, task type), in head order
HEAD_SETS: dict[str, tuple[tuple[str, TaskType], ...]] = {
    "video-seed": (
        ("genres", TaskType.MULTILABEL),
        ("rating", TaskType.REGRESSION),
        ("watch", TaskType.BINARY),
    ),
    "social-seed": (
        ("interest", TaskType.MULTICLASS),
        ("sentiment", TaskType.MULTICLASS),
        ("follow", TaskType.BINARY),
    ),
    "travel-seed": (
        ("destination_type", TaskType.MULTICLASS),
        ("rating", TaskType.REGRESSION),
        ("trip_length", TaskType.MULTICLASS),
    ),
    "news-seed": (
        ("topic", TaskType.MULTICLASS),
        ("click", TaskType.BINARY),
        ("sentiment", TaskType.MULTICLASS),
    ),
}


def _head_set(name: str, fields: tuple[tuple[str, TaskType], ...]) -> HeadSetSpec:
    heads = (
        *(
            HeadSpec(task=field, task_type=task_type, label_field=field, loss=_LOSSES[task_type])
            for field, task_type in fields
        ),
        NEXT_ITEM,
    )
    summary = " + ".join(
        f"{head.task} ({'ranking' if head.task_type is TaskType.RANKING else _SHORT[head.loss]})"
        for head in heads
    )
    return HeadSetSpec(
        name=name,
        heads=heads,
        architecture="shared-bottom",
        description=f"{summary}, hard parameter sharing",
    )


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [_head_set(name, fields) for name, fields in HEAD_SETS.items()]
