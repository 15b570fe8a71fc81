"""``python -m mtrec.cli``: the ``mtrec`` command."""

from mtrec.cli import console_main

console_main()
