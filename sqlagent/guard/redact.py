"""Database error text without the data values it quotes.

An engine's error message often repeats the value that made it fail (``invalid input syntax
for type integer: "123-45-6789"``, ``Could not convert string 'abc' to INT32``, ``Truncated
incorrect DOUBLE value: 'x'``). While a policy hides columns, such text would carry hidden
values to the user, the model's repair prompt, the history and the trace, so every database
error passes through ``scrub_values`` first: quoted text and numbers are replaced by ``…``,
except names of the visible schema (what the error is about) and positions (line, column).
"""

from __future__ import annotations

import re
from collections.abc import Collection

__all__ = ["scrub_values"]

MASK = "…"

# A quote left open runs to the end: a long message is cut (``ExecutionError`` keeps its
# start), and the cut can fall inside the value it quotes.
_QUOTED = re.compile(r"'(?:[^']|'')*(?:'|$)|\"(?:[^\"]|\"\")*(?:\"|$)")
_NUMBER = re.compile(
    r"(?P<pos>\b(?:line|column|col|position|pos|character|char|row|offset)\s*:?\s*)?"
    r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?(?!\w)",
    re.IGNORECASE,
)


def _number(match: re.Match[str]) -> str:
    # A number after "line", "column"... is where the error is, not a value: kept.
    return match.group(0) if match.group("pos") else MASK


def scrub_values(message: str, *, names: Collection[str] = ()) -> str:
    """``message`` with quoted values and numbers masked; ``names`` (lower case) are kept.

    >>> scrub_values('invalid input syntax for type integer: "123-45-6789"', names={"ssn"})
    'invalid input syntax for type integer: "…"'
    >>> scrub_values("Could not convert string 'x9' to INT32 (line 1, column 8)")
    "Could not convert string '…' to INT32 (line 1, column 8)"
    >>> scrub_values("Could not convert string 'AAAA… (9,000 more characters)")
    "Could not convert string '…"
    >>> scrub_values('column "ssn" of relation "customers" is denied', names={"ssn", "customers"})
    'column "ssn" of relation "customers" is denied'
    """
    keep = {n.lower() for n in names}

    def quoted(match: re.Match[str]) -> str:
        text = match.group(0)
        closed = len(text) > 1 and text[-1] == text[0]
        inner = text[1:-1] if closed else text[1:]
        if inner.lower() in keep:
            return text
        return f"{text[0]}{MASK}{text[0] if closed else ''}"

    pieces: list[str] = []
    last = 0
    for match in _QUOTED.finditer(message):
        pieces.append(_NUMBER.sub(_number, message[last : match.start()]))
        pieces.append(quoted(match))
        last = match.end()
    pieces.append(_NUMBER.sub(_number, message[last:]))
    return "".join(pieces)
