"""The value index: which column holds the values a question names.

"How many merchants are in phoenix?" needs ``merchants.city = 'Phoenix'``: the model can only
write that if it is told the value exists and how it is spelled. The index holds the distinct
values of text columns (bounded in number and length) and finds those whose words occur in a
question, forgiving case, accents, plurals and one-letter typos. It is pure Python: an
inverted index from stemmed words to values, and for typos a pigeonhole index over the
vocabulary (a word within one edit of another shares its first or its second half).

    index = ValueIndex.build(db, db.schema())
    index.search("merchants in Pheonix")[0].note()
    # "column merchants.city contains 'Phoenix'"
"""

from __future__ import annotations

import math
import re
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gcpause import gc_paused
from .textmatch import MIN_NEAR_LENGTH, STOPWORDS, NearWords, fold, stem

if TYPE_CHECKING:
    from ..db.base import Database
    from ..types import ColumnInfo, SchemaInfo, TableInfo

MAX_VALUE_LENGTH = 100
"""Longer values are free text (descriptions, comments), not values a question names."""
MAX_DF_FOR_CANDIDATES = 2000
"""A word found in more values than this proposes no candidates by itself: the value it
names is found as a phrase, and it still counts towards the score of values found."""
MAX_RESCORED = 300
"""Candidates scored exactly (the rest are ranked by a rough score first)."""
MAX_PHRASE_WORDS = 4
"""Values of up to this many words are also indexed as phrases."""
MAX_PHRASE_VARIANTS = 8
MAX_NEAR = 5
MIN_ROOT_LENGTH = 5
"""A question word may name a value word it starts with, if that has this many letters."""
"""Typo variants considered per question word."""
FUZZY_PENALTY = 0.8
"""Weight of a word matched through a typo, relative to an exact match."""

_TEXT_TYPE = re.compile(r"CHAR|TEXT|STRING|CLOB|ENUM|NAME|CITEXT|UUID", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")

Postings = int | array  # one value id, or several in an array('I'): most words occur once


@dataclass(frozen=True)
class ValueMatch:
    """A value of ``table.column`` whose words occur in the question; ``score`` in (0, 1]."""

    table: str
    column: str
    value: str
    score: float

    def note(self) -> str:
        """The line shown to the model: ``column merchants.city contains 'Phoenix'``."""
        from .render import quote_value

        return f"column {self.table}.{self.column} contains {quote_value(self.value)}"


def _value_terms(value: str) -> list[str]:
    """Distinct stemmed words of a value; stopwords only when the value has nothing else."""
    text = value.lower() if value.isascii() else fold(value)
    found = _WORD.findall(text)
    kept = [stem(w) for w in found if w not in STOPWORDS]
    if not kept:
        kept = [stem(w) for w in found]
    return list(dict.fromkeys(kept))


class ValueIndex:
    """Distinct values of text columns, searchable by the words of a question."""

    def __init__(
        self,
        columns: list[tuple[str, str]],
        values: list[str],
        column_of: array,
        postings: dict[str, Postings],
        phrases: dict[str, Postings],
        near: NearWords,
        total_idf: array,
    ) -> None:
        """Use ``from_values`` or ``build``."""
        self._columns = columns
        self._values = values
        self._column_of = column_of
        self._postings = postings
        self._phrases = phrases
        self._near = near
        self._total_idf = total_idf

    def __len__(self) -> int:
        return len(self._values)

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """The ``(table, column)`` pairs that contributed values."""
        return tuple(self._columns)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_values(
        cls, items: Iterable[tuple[str, str, object]], *, max_length: int = MAX_VALUE_LENGTH
    ) -> ValueIndex:
        """An index of ``(table, column, value)`` triples; duplicates, empty values and
        values longer than ``max_length`` characters are skipped.

        >>> index = ValueIndex.from_values([("merchants", "city", "Phoenix")])
        >>> [m.value for m in index.search("stores in phoenix")]
        ['Phoenix']
        """
        builder = _Builder(max_length)
        with gc_paused():
            builder.add(items)
            return builder.finish()

    @classmethod
    def build(
        cls,
        db: Database,
        schema: SchemaInfo,
        *,
        max_values_per_column: int = 50_000,
        max_total: int = 1_000_000,
        max_length: int = MAX_VALUE_LENGTH,
        scan_rows: int = 1_000_000,
        timeout: float = 10.0,
        time_budget: float = 60.0,
    ) -> ValueIndex:
        """Read the distinct values of every text column of the tables in ``schema``.

        One bounded query per column (at most ``scan_rows`` rows scanned, at most
        ``max_values_per_column`` values kept, ``timeout`` seconds), through ``db.execute``,
        so the read-only connection and its limits apply. Views are skipped (they can be
        arbitrarily expensive). A column whose query fails or times out is left out; columns
        are no longer read once ``max_total`` values are held or ``time_budget`` seconds
        have passed.
        """
        builder = _Builder(max_length)
        started = time.perf_counter()
        for table in schema.tables:
            if table.kind != "table":
                continue
            for column in table.columns:
                if not is_text_column(column):
                    continue
                room = max_total - len(builder.values)
                if room <= 0 or time.perf_counter() - started > time_budget:
                    with gc_paused():
                        return builder.finish()
                limit = min(max_values_per_column, room)
                sql = distinct_values_sql(table, column, schema.dialect, limit, scan_rows)
                try:
                    result = db.execute(sql, max_rows=limit, timeout=timeout)
                except Exception:  # values are a help, never a requirement
                    continue
                name = table.qualified_name
                with gc_paused():
                    builder.add((name, column.name, row[0]) for row in result.rows)
        with gc_paused():
            return builder.finish()

    def to_data(self) -> dict[str, Any]:
        """The whole index as JSON-able data, so that ``from_data`` need not index again."""

        def ids(found: Postings) -> int | list[int]:
            return found if isinstance(found, int) else list(found)

        return {
            "columns": [list(c) for c in self._columns],
            "values": self._values,
            "column_of": list(self._column_of),
            "postings": {t: ids(p) for t, p in self._postings.items()},
            "phrases": {t: ids(p) for t, p in self._phrases.items()},
            "near": self._near.to_data(),
            "total_idf": list(self._total_idf),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ValueIndex:
        """The index ``to_data`` described."""

        def postings(raw: dict[str, Any]) -> dict[str, Postings]:
            return {t: p if isinstance(p, int) else array("I", p) for t, p in raw.items()}

        columns = [(str(t), str(c)) for t, c in data["columns"]]
        values = data["values"]
        column_of = array("I", data["column_of"])
        total_idf = array("f", data["total_idf"])
        if not isinstance(values, list) or not len(values) == len(column_of) == len(total_idf):
            raise ValueError("malformed value index data")
        if any(cid >= len(columns) for cid in set(column_of)):
            raise ValueError("malformed value index data")
        return cls(
            columns,
            values,
            column_of,
            postings(data["postings"]),
            postings(data["phrases"]),
            NearWords.from_data(data["near"]),
            total_idf,
        )

    # ------------------------------------------------------------------ searching

    def _df(self, term: str) -> int:
        found = self._postings.get(term)
        if found is None:
            return 0
        return 1 if isinstance(found, int) else len(found)

    def _idf(self, term: str) -> float:
        return math.log(1.0 + len(self._values) / max(self._df(term), 1))

    def _exact_score(self, vid: int, weights: dict[str, float]) -> tuple[float, float]:
        """(share of the value's rarity-weighted words matched, the matched weight)."""
        total = matched = 0.0
        for term in _value_terms(self._values[vid]):
            idf = self._idf(term)
            total += idf
            matched += idf * weights.get(term, 0.0)
        return (matched / total if total else 0.0), matched

    def search(self, question: str, k: int = 10, *, min_score: float = 0.5) -> list[ValueMatch]:
        """Values whose words occur in ``question``, best first, at most ``k``.

        A value's score is the share of its words (weighted by rarity) that the question
        contains, lowered for words matched through a typo; values scoring below
        ``min_score`` are left out.
        """
        if not self._values:
            return []
        # Each question word: the value words it stands for, with how well it matches them.
        positions: list[list[tuple[str, float]]] = []
        weights: dict[str, float] = {}
        kept = [w for w in _WORD.findall(fold(question)) if w not in STOPWORDS]
        for i, word in enumerate(kept):
            # Two words written as one in the data ("North Carolina" → 'NorthCarolina').
            if i + 1 < len(kept):
                joined = stem(word + kept[i + 1])
                if joined in self._postings:
                    weights[joined] = 1.0
            term = stem(word)
            if term in self._postings:
                alternatives = [(term, 1.0)]
            elif len(term) >= MIN_NEAR_LENGTH and term.isalpha():
                alternatives = [(near, FUZZY_PENALTY) for near in self._near.near(term, MAX_NEAR)]
                # A derived word of a value: "european" → 'Europe', "engineering" → 'engineer'.
                for cut in range(1, 4):
                    root = term[:-cut]
                    if len(root) >= MIN_ROOT_LENGTH and root in self._postings:
                        alternatives.append((root, FUZZY_PENALTY))
                        break
            else:
                alternatives = []
            positions.append(alternatives)
            for near, weight in alternatives:
                weights[near] = max(weight, weights.get(near, 0.0))
        if not weights:
            return []

        # Candidates: values spelled out in full by consecutive question words (however
        # common their words), and values sharing a selective word with the question.
        candidates: set[int] = set()
        for start in range(len(positions)):
            for combo in _phrases(positions, start):
                candidates.update(_as_ids(self._phrases.get(" ".join(combo))))
        rough: dict[int, float] = {}
        for term, weight in weights.items():
            found = self._postings[term]
            ids = (found,) if isinstance(found, int) else found
            if len(ids) > MAX_DF_FOR_CANDIDATES:
                continue
            gain = self._idf(term) * weight
            for vid in ids:
                rough[vid] = rough.get(vid, 0.0) + gain
        if len(rough) > MAX_RESCORED:
            total = self._total_idf
            best = sorted(rough, key=lambda v: -rough[v] / total[v])[:MAX_RESCORED]
            candidates.update(best)
        else:
            candidates.update(rough)

        scored: list[tuple[float, float, int]] = []
        for vid in candidates:
            score, matched = self._exact_score(vid, weights)
            if score >= min_score:
                scored.append((score, matched, vid))
        # Best share; then the value matching more (and rarer) words; then the shorter one.
        scored.sort(key=lambda s: (-s[0], -s[1], len(self._values[s[2]]), s[2]))
        out = []
        for score, _, vid in scored[:k]:
            table, column = self._columns[self._column_of[vid]]
            out.append(ValueMatch(table, column, self._values[vid], round(score, 4)))
        return out


def _as_ids(found: Postings | None) -> Sequence[int]:
    if found is None:
        return ()
    return (found,) if isinstance(found, int) else found


def _phrases(positions: list[list[tuple[str, float]]], start: int) -> Iterable[tuple[str, ...]]:
    """Word sequences of up to ``MAX_PHRASE_WORDS`` question words from ``start``."""
    partial: list[tuple[str, ...]] = [()]
    for pos in positions[start : start + MAX_PHRASE_WORDS]:
        if not pos:
            return
        partial = [(*p, term) for p in partial for term, _ in pos][:MAX_PHRASE_VARIANTS]
        yield from partial


class _Builder:
    """Collects values and their words, then freezes them into a ``ValueIndex``."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.columns: list[tuple[str, str]] = []
        self.column_ids: dict[tuple[str, str], int] = {}
        self.seen: list[set[str]] = []
        self.values: list[str] = []
        self.column_of = array("I")
        self.postings: dict[str, list[int]] = {}
        self.phrases: dict[str, list[int]] = {}
        self.term_of: dict[str, str] = {}

    def add(self, items: Iterable[tuple[str, str, object]]) -> None:
        # The hot loop of a million-value build: locals, and one cached word → term map
        # instead of calling _value_terms (same result, a third of the time).
        values, column_of = self.values, self.column_of
        postings, phrases, term_of = self.postings, self.phrases, self.term_of
        findall, max_length = _WORD.findall, self.max_length
        last: tuple[str, str] | None = None
        cid = 0
        known: set[str] = set()
        for table, column, raw in items:
            if raw is None:
                continue
            value = raw if isinstance(raw, str) else str(raw)
            if value[:1].isspace() or value[-1:].isspace():
                value = value.strip()
            if not value or len(value) > max_length:
                continue
            if last is None or table != last[0] or column != last[1]:
                last = (table, column)
                found_cid = self.column_ids.get(last)
                if found_cid is None:
                    found_cid = self.column_ids[last] = len(self.columns)
                    self.columns.append(last)
                    self.seen.append(set())
                cid = found_cid
                known = self.seen[cid]
            if value in known:
                continue
            known.add(value)
            vid = len(values)
            values.append(value)
            column_of.append(cid)
            terms: list[str] = []
            words = findall(value.lower() if value.isascii() else fold(value))
            for word in words:
                term = term_of.get(word)
                if term is None:
                    term = term_of[word] = "" if word in STOPWORDS else stem(word)
                if term and term not in terms:
                    terms.append(term)
            if not terms:  # a value of stopwords only ("The Who"): keep its words
                terms = list(dict.fromkeys(stem(w) for w in words))
            for term in terms:
                bucket = postings.get(term)
                if bucket is None:
                    postings[term] = [vid]
                else:
                    bucket.append(vid)
            if len(terms) <= MAX_PHRASE_WORDS:
                phrase = terms[0] if len(terms) == 1 else " ".join(terms)
                ids = phrases.get(phrase)
                if ids is None:
                    phrases[phrase] = [vid]
                else:
                    ids.append(vid)

    def finish(self) -> ValueIndex:
        n = len(self.values)
        postings: dict[str, Postings] = {}
        near = NearWords()
        total_idf = array("f", bytes(4 * n))
        for term, ids in self.postings.items():
            postings[term] = ids[0] if len(ids) == 1 else array("I", ids)
            idf = math.log(1.0 + n / len(ids))
            for vid in ids:
                total_idf[vid] += idf
            near.add(term)
        phrases: dict[str, Postings] = {
            p: ids[0] if len(ids) == 1 else array("I", ids) for p, ids in self.phrases.items()
        }
        self.postings, self.phrases, self.seen, self.term_of = {}, {}, [], {}
        return ValueIndex(
            self.columns, self.values, self.column_of, postings, phrases, near, total_idf
        )


def is_text_column(column: ColumnInfo) -> bool:
    """True for character columns, whatever the dialect calls them."""
    return bool(_TEXT_TYPE.search(column.type or ""))


def distinct_values_sql(
    table: TableInfo, column: ColumnInfo, dialect: str, limit: int, scan_rows: int
) -> str:
    """``SELECT DISTINCT col FROM (SELECT col FROM t LIMIT scan_rows) WHERE col IS NOT NULL
    LIMIT limit`` in ``dialect``: the scan is bounded however large the table is."""
    from sqlglot import exp

    col = exp.column(column.name, quoted=True)
    source = table.source(dialect)
    inner = exp.select(col).from_(source).where(col.is_(exp.null()).not_()).limit(scan_rows)
    outer = (
        exp.select(exp.column(column.name, quoted=True))
        .distinct()
        .from_(inner.subquery("v"))
        .limit(limit)
    )
    return outer.sql(dialect=dialect)
