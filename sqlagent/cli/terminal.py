"""What the command line writes, made harmless for the terminal that shows it.

Values from the database (and the model's narrative, and database error text) can carry
terminal escape sequences: ESC ``\\x1b[...`` (colours, cursor moves, clearing the screen),
OSC ``\\x1b]8;;url\\x07`` hyperlinks and ``\\x1b]52;...`` clipboard writes, the one-byte C1
``\\x9b`` CSI, backspaces and carriage returns that overwrite what was printed, and bidi
overrides (U+202A-U+202E, U+2066-U+2069) that reorder it. ``visible`` shows each such
character as its ``\\uXXXX`` escape instead, so nothing reaches the terminal that it would obey,
and the value stays recognisable::

    >>> visible("\\x1b[31mred\\x1b[0m \\u202eevil")
    '\\\\u001b[31mred\\\\u001b[0m \\\\u202eevil'

Line feeds and tabs stay (the layout needs them), and so does ordinary text in any script.
The escapes are JSON's: a JSON document passed through ``visible`` is still the same JSON
(such characters can only stand inside its strings), so ``--json`` output and history
exports need nothing else. Every stream the command line writes to is wrapped in
``TerminalStream`` (``sqlagent.cli.main``), the one place this happens.
"""

from __future__ import annotations

import io
import re
from typing import TextIO, cast

__all__ = ["TerminalStream", "terminal_stream", "visible"]

_UNSAFE = re.compile(
    "\r(?!\n)"  # a carriage return that does not end a line: it overwrites the line
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # C0 (but tab, line feed) and DEL, C1
    "|[\u2028\u2029]"  # line and paragraph separators
    "|[\u202a-\u202e\u2066-\u2069]"  # bidi embeddings, overrides and isolates
    "|[\ud800-\udfff]"  # lone surrogates: the stream could not even encode them
)


def visible(text: str) -> str:
    """``text`` with every character a terminal would obey shown as its ``\\uXXXX`` escape.

    >>> visible("Zürich 中文 🙂\\ttab\\r\\nline"), visible("100%\\rOK"), visible("\\x9b2J")
    ('Zürich 中文 🙂\\ttab\\r\\nline', '100%\\\\u000dOK', '\\\\u009b2J')
    """
    if text.isprintable():  # the common case: nothing to look for
        return text
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TerminalStream(io.TextIOBase):
    """A text stream that writes ``visible(text)`` to the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` made visible; returns the length of ``text`` as given."""
        self.stream.write(visible(text))
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream (unless it is closed: this one may outlive it)."""
        if not getattr(self.stream, "closed", False):
            self.stream.flush()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return self.stream.isatty()

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"


def terminal_stream(stream: TextIO) -> TextIO:
    """``stream`` wrapped in a ``TerminalStream`` (once: a wrapped stream is returned as is)."""
    if isinstance(stream, TerminalStream):
        return cast(TextIO, stream)
    return cast(TextIO, TerminalStream(stream))
