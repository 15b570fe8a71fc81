"""Bad plugin: implements a hook that does not exist (singular 'backbone')."""

from mtrec import hookimpl


@hookimpl
def mtrec_register_backbone() -> list[object]:
    return []
