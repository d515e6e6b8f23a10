"""Text normalisation shared by schema linking, the value index and verified examples.

Questions and data are compared as folded words: accents removed, case folded, plurals reduced
to a common stem. Everything here is pure and cheap, because it runs on every question and on
every value of the value index.

>>> words("Cafés in São Paulo")
['cafes', 'in', 'sao', 'paulo']
>>> stem("companies"), stem("buses"), stem("status")
('company', 'bus', 'status')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set (for word lists in source)."""
    return frozenset(text.split())


STOPWORDS = wordset(
    """
    a an the of in on at to for from by with and or as is are was were be been being it its
    this that these those there their them they we our you your i me my us do does did have
    has had what which who whom whose how when where show list give tell find get return
    please all any can could would should will shall also just than then into about per each
    every much many
    """
)
"""Words that carry no meaning for matching names or values (``each``/``per`` included:
"per city" and "in each city" ask the same thing)."""


def fold(text: str) -> str:
    """``text`` without accents, case-folded: ``"Zürich"`` → ``"zurich"``."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """The folded words of ``text``: letters and digits, split on everything else."""
    return _WORD.findall(fold(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light plural stemmer: enough to make ``merchants`` meet ``merchant``.

    Words ending in ``ss``, ``us``, ``is`` (``address``, ``status``, ``analysis``) and short
    words are left alone; ``ies`` becomes ``y``; ``es`` after a sibilant is dropped.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes", "ses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Stemmed words of ``text`` without stopwords, in order (duplicates kept)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def ident_words(name: str) -> list[str]:
    """The words of an identifier: ``"CustomerID"``, ``"customer_id"`` → customer, id."""
    return words(_CAMEL.sub(" ", name))


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by at most one insertion, deletion, substitution or
    swap of two neighbouring letters.

    >>> within_one_edit("pheonix", "phoenix"), within_one_edit("tucson", "phoenix")
    (True, False)
    """
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # one substitution
        # one transposition of neighbours
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    return a[i:] == b[i + 1 :]  # one insertion into a


def char_ngrams(text: str, n: int = 3) -> set[str]:
    """Character n-grams of the folded text, spaces collapsed and padded at the ends."""
    t = " " + " ".join(words(text)) + " "
    if len(t) < n:
        return {t}
    return {t[i : i + n] for i in range(len(t) - n + 1)}


MIN_NEAR_LENGTH = 5
"""Words shorter than this are never matched through a typo: too many look alike (the
plural stemmer makes "James" 'jame', one letter from "name")."""


class NearWords:
    """Words one edit apart, found without comparing against every word.

    A pigeonhole index: a word within one edit of another shares its first half or its
    second half (at that word's length), so each word is filed under both halves, and a
    lookup only compares the few words filed under the halves of the probe.

    >>> near = NearWords(["phoenix", "tucson"])
    >>> near.near("pheonix"), near.near("tuscon"), near.near("paris")
    (['phoenix'], ['tucson'], [])
    """

    def __init__(
        self, vocabulary: Iterable[str] = (), *, min_length: int = MIN_NEAR_LENGTH
    ) -> None:
        self._keys: dict[str, list[str]] = {}
        self.min_length = min_length
        for word in vocabulary:
            self.add(word)

    def to_data(self) -> dict[str, Any]:
        """The filed words as JSON-able data (``from_data`` reads them back)."""
        return {"min_length": self.min_length, "keys": self._keys}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NearWords:
        """The index ``to_data`` described."""
        near = cls(min_length=int(data["min_length"]))
        keys = data["keys"]
        if not isinstance(keys, dict):
            raise ValueError("malformed near-word data")
        near._keys = keys
        return near

    def add(self, word: str) -> None:
        """File ``word`` (alphabetic words of ``min_length`` letters or more only)."""
        n = len(word)
        if n < self.min_length or not word.isalpha():
            return
        half = n // 2
        keys = self._keys
        for key in (f"{n}<{word[:half]}", f"{n}>{word[half:]}"):
            bucket = keys.get(key)
            if bucket is None:
                keys[key] = [word]
            elif bucket[-1] != word:
                bucket.append(word)

    def near(self, word: str, limit: int = 5) -> list[str]:
        """Up to ``limit`` filed words within one edit of ``word`` (``word`` itself excluded)."""
        n = len(word)
        if n < self.min_length or not word.isalpha():
            return []
        out: list[str] = []
        for m in (n - 1, n, n + 1):
            if m < self.min_length:
                continue
            half = m // 2
            keys = [f"{m}<{word[:half]}", f"{m}>{word[half - m :]}"]
            if 0 < half < n:
                # Two letters swapped across the middle break both halves: undo the swap.
                swapped = word[: half - 1] + word[half] + word[half - 1] + word[half + 1 :]
                keys.append(f"{m}<{swapped[:half]}")
            for key in keys:
                for other in self._keys.get(key, ()):
                    if other != word and other not in out and within_one_edit(word, other):
                        out.append(other)
                        if len(out) >= limit:
                            return out
        return out
