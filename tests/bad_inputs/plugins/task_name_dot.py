"""Bad plugin: a head whose task name is '..' (a file name that climbs out of its folder)."""

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    head = HeadSpec(task="..", task_type=TaskType.BINARY, label_field="click", loss="bce")
    return [HeadSetSpec(name="dotted", heads=(head,))]
