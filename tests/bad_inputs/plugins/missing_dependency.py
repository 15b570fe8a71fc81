"""Bad plugin: imports a package that is not installed."""

import mtrec_package_that_does_not_exist  # noqa: F401
