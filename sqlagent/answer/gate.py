"""A narration released while it streams, a checked piece at a time.

The finished narration is checked whole (``grounding``, ``markup``) before an ``Answer``
holds it; text shown while it streams must be as safe. ``NarrationGate`` holds streamed text
until a sentence ends, never cuts inside a link, image or tag, and runs the same checks on
each piece before it is released.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .markup import strip_ungrounded

__all__ = ["NarrationGate"]

# A piece ends after a sentence's punctuation once whitespace follows, or before a new line.
_BOUNDARY = re.compile(r"(?<=[.!?])(?=\s)|(?=\n)")
_LONG = 240
"""Characters after which a piece with no sentence end may end at any space (not after a
digit: "1.2 thousand" stays whole)."""
_SPACE = re.compile(r"(?<=[^\s\d])(?=\s)")
_OPEN_TAG = re.compile(r"<[A-Za-z/!?][^>]*$")
_OPEN_TARGET = re.compile(r"\]\([^)]*$")


def _unclosed(piece: str) -> bool:
    """True when ``piece`` ends inside a construct (a link, an image, a tag, a comment)."""
    if piece.count("[") > piece.count("]"):
        return True
    if _OPEN_TARGET.search(piece) or _OPEN_TAG.search(piece):
        return True
    comment = piece.rfind("<!--")
    return comment >= 0 and "-->" not in piece[comment:]


class NarrationGate:
    """Releases a streamed narration a checked piece at a time.

    Text is held until a sentence ends (or a line), and never cut inside a link, an image or a
    tag. Each piece is then checked as the whole narration is: ``strip_ungrounded`` against
    ``grounded`` (and ``forged``), and ``invented`` (the numbers it states that the result
    does not show). A piece with an invented number stops the release (the narration will be
    asked for again); markup is released stripped, and only if everything shown so far stays
    free of ungrounded markup as a whole.
    """

    def __init__(
        self,
        grounded: Sequence[str],
        invented: Callable[[str], Sequence[str]],
        *,
        forged: Sequence[str] = (),
    ) -> None:
        self._grounded = tuple(grounded)
        self._forged = tuple(forged)
        self._invented = invented
        self._raw: list[str] = []
        self._pending = ""
        self.shown = ""
        """Everything released so far."""
        self.blocked = False
        """A piece failed its check: nothing more is released."""

    def feed(self, token: str) -> str:
        """Take the next streamed ``token``; return the text that may be shown now (or "")."""
        if self.blocked or not token:
            return ""
        self._pending += token
        released: list[str] = []
        while not self.blocked:
            cut = self._cut(self._pending)
            if cut is None:
                break
            piece, self._pending = self._pending[:cut], self._pending[cut:]
            released.append(self._judge(piece))
        return "".join(released)

    def _cut(self, text: str) -> int | None:
        """Where the first releasable piece of ``text`` ends, if it holds one."""
        for m in _BOUNDARY.finditer(text):
            if m.start() and not _unclosed(text[: m.start()]):
                return m.start()
        if len(text) > _LONG:
            for m in _SPACE.finditer(text, _LONG // 2):
                if not _unclosed(text[: m.start()]):
                    return m.start()
        return None

    def _strip(self, text: str) -> str:
        return strip_ungrounded(text, self._grounded, forged=self._forged).text

    def _judge(self, piece: str) -> str:
        text = piece if self.shown else piece.lstrip()
        if not text.strip():
            return ""
        if self._invented(text):
            self.blocked = True
            return ""
        kept = self._strip(text)
        if not self.shown:
            kept = kept.lstrip()
        candidate = self.shown + kept
        if self._strip(candidate) != candidate:
            # Pieces that are harmless apart could form a construct together: hold all.
            self.blocked = True
            return ""
        self.shown = candidate
        return kept
