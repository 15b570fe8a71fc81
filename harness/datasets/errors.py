"""The dataset errors: one hierarchy under :class:`DatasetError`, each naming the file at fault.

Bad input (a manifest, a cached file, a data file) is a :class:`DatasetError`, a usage error the
user can fix; a download that fails for reasons outside the input is a :class:`FetchError`.
"""

from __future__ import annotations

from mtrec.errors import MtrecError, UsageError


class DatasetError(UsageError):
    """Bad dataset input (manifest, cached file, data file); the message names the file."""


class ManifestError(DatasetError):
    """A manifest that does not validate; names the file, the line and the field."""


class DatasetNotFetchedError(DatasetError):
    """A dataset whose files are not in the cache; says which command fetches them."""


class ChecksumError(DatasetError):
    """A file whose sha256 is not the one its manifest (or its fetch record) pins."""


class UnsafeArchiveError(DatasetError):
    """An archive member that would land outside the extraction folder; names the member."""


class DataFormatError(DatasetError):
    """A data file that does not match its manifest's table; names the file and the line."""


class FetchError(MtrecError):
    """A download that failed for reasons outside the input: network, pip, disk."""
