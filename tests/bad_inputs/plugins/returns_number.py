"""Bad plugin: returns a number instead of a list."""

from mtrec import hookimpl


@hookimpl
def mtrec_register_domains() -> int:
    return 5
