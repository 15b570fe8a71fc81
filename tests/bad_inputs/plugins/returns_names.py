"""Bad plugin: returns names instead of specs."""

from mtrec import hookimpl


@hookimpl
def mtrec_register_backbones() -> list[str]:
    return ["tiny-bert-copy"]
