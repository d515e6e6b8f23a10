"""The command line run in this process: ``main`` with captured output and error streams."""

from __future__ import annotations

import io

from sqlagent.cli import main


def run_main(*argv: str) -> tuple[int, str, str]:
    """``sqlagent ARGV...``: the exit code, what went to standard output, and to standard error."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
