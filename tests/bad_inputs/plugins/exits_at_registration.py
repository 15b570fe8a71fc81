"""Bad plugin: calls sys.exit while registering."""

import sys

from mtrec import hookimpl


@hookimpl
def mtrec_register_fairness_metrics() -> list[object]:
    sys.exit(3)
