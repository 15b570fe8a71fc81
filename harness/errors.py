"""One exception hierarchy for the core.

Every message names what is at fault (file, field, plugin, combination) and, where there is
one, what to do about it; the CLI prints it as one line and exits with the code below.
"""

from __future__ import annotations


class MtrecError(Exception):
    """Base of every error mtrec raises on purpose."""

    exit_code = 1


class UsageError(MtrecError):
    """Bad input from the user: a suite, a flag, a path. Exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A suite file that does not validate; the message names the file and the field."""


class PluginError(UsageError):
    """A plugin that cannot be loaded or registers something invalid; names the plugin."""


class UnknownNameError(UsageError):
    """A name no plugin registered; the message suggests close names and lists known ones."""


class CheckpointError(UsageError):
    """A saved model that cannot be loaded as it was saved: a missing or altered file, a
    field missing, another mtrec major version, or a backbone that no longer loads the
    weights it was trained on. The message names the file or the field."""


class CombinationError(MtrecError):
    """One combination failed; recorded in results, never fatal to the sweep."""


class StorageError(MtrecError):
    """The run folder or the results store cannot be written any more (disk full, read-only):
    the sweep stops, what finished stays recorded, ``--resume`` continues. Exit code 74
    (``EX_IOERR``)."""

    exit_code = 74


class SweepTerminated(BaseException):
    """SIGTERM reached the sweep: workers are stopped and mtrec exits 143 (128 + 15).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` in a plugin or
    in the core mistakes it for a failure of one combination."""
