"""Bad plugin: its registration hook raises."""

from mtrec import hookimpl


@hookimpl
def mtrec_register_backbones() -> list[object]:
    raise RuntimeError("registration exploded on purpose")
