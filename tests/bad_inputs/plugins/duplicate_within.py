"""Bad plugin: registers the same head set name twice itself."""

from mtrec import HeadSetSpec, HeadSpec, TaskType, hookimpl

HEAD = HeadSpec(task="click", task_type=TaskType.BINARY, label_field="click", loss="bce")


@hookimpl
def mtrec_register_head_sets() -> list[HeadSetSpec]:
    return [HeadSetSpec(name="twice", heads=(HEAD,)), HeadSetSpec(name="twice", heads=(HEAD,))]
