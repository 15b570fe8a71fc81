"""Bad plugin: a head whose task name holds '/' (it would name predictions/KEY/a/b.csv)."""

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    head = HeadSpec(task="genre/sub", task_type=TaskType.BINARY, label_field="click", loss="bce")
    return [HeadSetSpec(name="slashed", heads=(head,))]
