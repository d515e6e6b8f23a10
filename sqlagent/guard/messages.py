"""Wording shared by the guard's messages."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ONLY_READS = "only a single read-only query (SELECT, WITH ... SELECT, UNION, VALUES) can run"


_MAX_LISTED = 30


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _tidy(message: str) -> str:
    """sqlglot's parser messages without terminal colours and internal class names."""
    message = _ANSI.sub("", message)
    message = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", message)
    return re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"'\1'", message)


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown or "(none)"
