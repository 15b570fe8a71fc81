"""mtrec's version, in one place (``mtrec.__version__``, the wheel's metadata and every record's
code fingerprint read it from here)."""

__version__ = "0.1.0"
