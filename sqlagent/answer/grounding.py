"""Is every number a narrative states one the result summary shows?

The narration model sees a bounded summary of the result (values, the row count, each
column's min, max and sum). A number in its answer is grounded when it is one of those,
written any way a person would write it: ``1,234.5``, ``1234.50``, ``$1,234.50``,
``1.2 thousand``, ``1.2k``, ``12%`` for a ratio of 0.12, a rounding of it to the precision
written, or a rounding to fewer significant figures when hedged ("about 1,200"). Numbers of
the question and of the SQL count too (the narrative may restate "top 5" or "since 2024").
Anything else was made up, and is reported.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NumberMention", "numbers_in", "ungrounded_numbers"]

_SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mio": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "千": 1e3,
    "万": 1e4,
    "萬": 1e4,
    "百万": 1e6,
    "亿": 1e8,
    "億": 1e8,
}
_HEDGES = (
    "about",
    "around",
    "approximately",
    "approx",
    "roughly",
    "nearly",
    "almost",
    "over",
    "under",
    "more than",
    "less than",
    "just over",
    "just under",
    "some",
    "close to",
    "~",
    "≈",
    "约",
    "大约",
    "近",
    "超过",
    "将近",
)
_SCALE_WORDS = "|".join(sorted((re.escape(k) for k in _SCALES), key=len, reverse=True))
_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    rf"(?:\s?(?P<pct>%|percent\b|per cent\b)|\s?(?P<scale>{_SCALE_WORDS})(?![A-Za-z]))?"
    r"(?P<ord>st|nd|rd|th)?",
    re.I,
)


@dataclass(frozen=True)
class NumberMention:
    """A number as written in a text, and what it means."""

    text: str
    value: float
    tolerance: float
    """How far from ``value`` the true number may be and still be written this way."""
    percent: bool = False
    ordinal: bool = False


def _decimals(num: str) -> int:
    return len(num.split(".", 1)[1]) if "." in num else 0


def numbers_in(text: str) -> list[NumberMention]:
    """Every number written in ``text``, with the precision it was written to.

    >>> [(n.text, n.value) for n in numbers_in("about 1.2 thousand, or 12%")]
    [('1.2 thousand', 1200.0), ('12%', 12.0)]
    """
    found: list[NumberMention] = []
    for m in _NUMBER.finditer(text):
        num = m.group("num")
        value = float(num.replace(",", ""))
        scale = _SCALES.get((m.group("scale") or "").lower(), 1.0) if m.group("scale") else 1.0
        if m.group("scale") in ("m", "b", "M", "B") and m.group(0)[len(num)] == " ":
            scale = 1.0  # "5 m" may be metres: a scale letter counts only right after digits
        step = 10.0 ** -_decimals(num)
        tolerance = step / 2 * scale
        before = text[max(0, m.start() - 14) : m.start()].lower()
        hedged = any(before.rstrip(" $€£¥").endswith(h) for h in _HEDGES)
        if hedged and "." not in num:
            # "about 1,200": the trailing zeros are not significant, the number is rounded
            # to the hundreds. Unhedged, "1,200" claims to be exact.
            digits = num.replace(",", "").lstrip("0")
            zeros = len(digits) - len(digits.rstrip("0"))
            tolerance = max(tolerance, 10.0**zeros / 2 * scale)
        found.append(
            NumberMention(
                m.group(0),
                value * scale,
                tolerance,
                percent=bool(m.group("pct")),
                ordinal=bool(m.group("ord")) and scale == 1.0 and "." not in num,
            )
        )
    return found


_SOURCE_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _source_values(texts: Iterable[str]) -> list[float]:
    """The distinct numbers written in ``texts``, in ascending order."""
    # Unsigned digits: float() of them is the correctly rounded value, as through a Decimal,
    # and never negative. One findall over all the texts, each distinct spelling converted
    # once: the loops are in C. ("\n" keeps the digits of two texts apart.)
    found = _SOURCE_NUMBER.findall("\n".join(texts).replace(",", ""))
    return sorted(set(map(float, set(found))))


def _near(sources: list[float], value: float, slack: float) -> bool:
    """True when a number of the sorted ``sources`` lies within ``slack`` of ``value``."""
    i = bisect_left(sources, value - slack)
    return i < len(sources) and sources[i] <= value + slack


def _grounded(mention: NumberMention, sources: list[float], row_count: int) -> bool:
    value = abs(mention.value)
    slack = mention.tolerance + 1e-9 * max(1.0, value)
    if _near(sources, value, slack):
        return True
    if mention.percent and _near(sources, value / 100, slack / 100 + 1e-12):
        return True  # 12% of a ratio 0.12
    # Rankings: "the 3rd largest" is a position among the rows shown.
    return mention.ordinal and 1 <= value <= max(row_count, 1)


def ungrounded_numbers(
    narrative: str, summary: str, *, also: Iterable[str] = (), row_count: int = 0
) -> list[str]:
    """The numbers of ``narrative`` that neither ``summary`` nor the ``also`` texts show.

    >>> ungrounded_numbers("Revenue was 1,234.50 from 3 stores.", "sum 1234.5\\nRow count: 3")
    []
    >>> ungrounded_numbers("Revenue was 2,000.", "sum 1234.5")
    ['2,000']
    """
    mentions = numbers_in(narrative)
    if not mentions:
        return []
    sources = _source_values([summary, *also])
    missing: list[str] = []
    for mention in mentions:
        if not _grounded(mention, sources, row_count) and mention.text not in missing:
            missing.append(mention.text.strip())
    return missing
