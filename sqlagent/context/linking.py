"""Schema linking: which tables and columns a question is about.

Every table gets a small "document" of weighted words: its name and schema, its columns'
names, comments, sample values, and what the knowledge file says (descriptions, synonyms).
A question's words are looked up in an inverted index over these documents; a word that
names few tables counts more than one that names many (``id``, ``name``). Values the value
index found in the question add weight to their column. Tables are then picked best first,
each with the foreign-key path that joins it to those already picked.

The index is built once per schema (and knowledge) and reused: ranking a question against a
thousand tables takes a few milliseconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from .gcpause import gc_paused
from .textmatch import STOPWORDS, NearWords, ident_words, stem, words

if TYPE_CHECKING:
    from ..types import SchemaInfo, TableInfo
    from .knowledge import Knowledge
    from .valueindex import ValueMatch

# How much a question word counts, by where it occurs in a table's document.
W_TABLE_NAME = 3.0
W_TABLE_SYNONYM = 2.5
W_COLUMN_NAME = 1.5
W_COLUMN_SYNONYM = 1.2
W_SAMPLE = 1.0
W_SCHEMA_NAME = 1.0
W_DESCRIPTION = 0.6
W_VALUE_MATCH = 3.0
"""Added to a table per value match in one of its columns (times the match score)."""

MAX_JOIN_HOPS = 4
"""Tables further apart than this many joins are not connected through bridge tables."""

W_NEAR = 0.7
"""Factor for a question word that names a schema word through a typo or a suffix."""

NAME_WORDS_BONUS = 1.0
"""Extra weight when every word of a column name occurs in the question ("first name")."""


@dataclass(frozen=True)
class Ranking:
    """Tables scored against one question, best first; columns scored within them."""

    tables: tuple[tuple[int, float], ...]
    """(table position in the schema, score) for tables scoring above zero, best first."""
    columns: Mapping[int, Mapping[str, float]]
    """Table position → column name (lower case) → score, for columns scoring above zero."""


class SchemaIndex:
    """The words of every table and column of a schema, ready to rank questions against."""

    def __init__(self, schema: SchemaInfo, knowledge: Knowledge | None = None) -> None:
        self.schema = schema
        self.tables = schema.tables
        # word → table position → best weight of the word in that table
        self._table_words: dict[str, dict[int, float]] = {}
        # word → [(table position, column name lower, weight)]
        self._column_words: dict[str, list[tuple[int, str, float]]] = {}
        self._column_name_words: dict[tuple[int, str], frozenset[str]] = {}
        self._by_name: dict[str, list[int]] = {}
        for i, table in enumerate(self.tables):
            self._add_table(i, table, knowledge)
            self._by_name.setdefault(table.name.lower(), []).append(i)
            self._by_name.setdefault(table.qualified_name.lower(), []).append(i)
        n = max(len(self.tables), 1)
        self._idf = {
            word: math.log(1.0 + n / len(found)) for word, found in self._table_words.items()
        }
        # Schema words are few and chosen by people: a typo of a four-letter one is worth
        # catching here, unlike among a million values.
        self._near = NearWords(self._idf, min_length=4)
        self.neighbours = _fk_graph(self.tables, self.position)

    # ------------------------------------------------------------------ building

    def _add_table(self, i: int, table: TableInfo, knowledge: Knowledge | None) -> None:
        def table_word(word: str, weight: float) -> None:
            found = self._table_words.setdefault(word, {})
            if found.get(i, 0.0) < weight:
                found[i] = weight

        def column_word(column: str, word: str, weight: float) -> None:
            table_word(word, weight)
            self._column_words.setdefault(word, []).append((i, column, weight))

        for word in _name_terms(table.name):
            table_word(word, W_TABLE_NAME)
        if table.schema:
            for word in _name_terms(table.schema):
                table_word(word, W_SCHEMA_NAME)
        note = knowledge.table(table.name, table.schema) if knowledge else None
        for text in (table.comment, note.description if note else None):
            for word in _text_terms(text):
                table_word(word, W_DESCRIPTION)
        for synonym in note.synonyms if note else ():
            for word in _text_terms(synonym):
                table_word(word, W_TABLE_SYNONYM)

        for col in table.columns:
            key = col.name.lower()
            name_terms = frozenset(_name_terms(col.name))
            self._column_name_words[(i, key)] = name_terms
            weights: dict[str, float] = {}

            def put(word: str, weight: float, weights: dict[str, float] = weights) -> None:
                if weights.get(word, 0.0) < weight:
                    weights[word] = weight

            for word in name_terms:
                put(word, W_COLUMN_NAME)
            cnote = note.column(col.name) if note else None
            for text in (col.comment, cnote.description if cnote else None):
                for word in _text_terms(text):
                    put(word, W_DESCRIPTION)
            for synonym in cnote.synonyms if cnote else ():
                for word in _text_terms(synonym):
                    put(word, W_COLUMN_SYNONYM)
            for sample in col.samples:
                for word in _text_terms(sample):
                    put(word, W_SAMPLE)
            for word, weight in weights.items():
                column_word(key, word, weight)

    def position(self, name: str, schema: str | None = None) -> int | None:
        """The position of a table by (qualified) name, or None."""
        if schema:
            found = self._by_name.get(f"{schema}.{name}".lower())
            if found:
                return found[0]
        found = self._by_name.get(name.lower())
        if not found:
            return None
        if schema is None and len(found) > 1 and self.schema.default_schema:
            default = self.schema.default_schema.lower()
            for pos in found:
                if (self.tables[pos].schema or default).lower() == default:
                    return pos
        return found[0]

    # ------------------------------------------------------------------ ranking

    def schema_terms(self, question: str) -> dict[str, float]:
        """The schema's words that ``question`` uses, with how surely: 1 for the word
        itself or an acronym of consecutive words ("miles per gallon" → mpg), less for a
        typo ("cutomers") or a derived form ("european" → europe)."""
        found: dict[str, float] = {}
        for term in question_terms(question):
            if term in self._idf:
                found[term] = 1.0
                continue
            for near in self._near.near(term, 3):
                found.setdefault(near, W_NEAR)
            for cut in range(1, 4):
                root = term[:-cut]
                if len(root) >= 5 and root in self._idf:
                    found.setdefault(root, W_NEAR)
                    break
        raw = words(question)
        for i in range(len(raw)):
            for n in (2, 3, 4):
                if i + n > len(raw):
                    break
                initials = "".join(w[0] for w in raw[i : i + n])
                if initials in self._idf:
                    found[initials] = 1.0
        return found

    def rank(self, question: str, values: Sequence[ValueMatch] = ()) -> Ranking:
        """Score every table and column against ``question`` (and its value matches)."""
        terms = self.schema_terms(question)
        table_scores: dict[int, float] = {}
        column_scores: dict[int, dict[str, float]] = {}
        for word, factor in terms.items():
            idf = self._idf[word] * factor
            for pos, weight in self._table_words[word].items():
                table_scores[pos] = table_scores.get(pos, 0.0) + idf * weight
            for pos, column, weight in self._column_words.get(word, ()):
                cols = column_scores.setdefault(pos, {})
                cols[column] = cols.get(column, 0.0) + idf * weight
        # A column whose whole (multi-word) name is in the question is very likely meant.
        term_set = set(terms)
        for pos, cols in column_scores.items():
            for column in list(cols):
                name = self._column_name_words.get((pos, column), frozenset())
                if len(name) > 1 and name <= term_set:
                    cols[column] += NAME_WORDS_BONUS
                    table_scores[pos] = table_scores.get(pos, 0.0) + NAME_WORDS_BONUS
        for match in values:
            found = self.position(*_split_qualified(match.table))
            if found is None:
                continue
            gain = W_VALUE_MATCH * match.score
            table_scores[found] = table_scores.get(found, 0.0) + gain
            cols = column_scores.setdefault(found, {})
            key = match.column.lower()
            cols[key] = cols.get(key, 0.0) + gain
        ranked = sorted(table_scores.items(), key=lambda item: (-item[1], item[0]))
        return Ranking(tuple(ranked), column_scores)

    def join_path(
        self, start: int, targets: Iterable[int], max_hops: int = MAX_JOIN_HOPS
    ) -> list[int]:
        """The tables strictly between ``start`` and the nearest of ``targets`` on the
        foreign-key graph (shortest path, edges in either direction); ``[]`` when adjacent,
        not connected, or more than ``max_hops`` joins away."""
        goal = set(targets)
        if not goal or start in goal or start not in self.neighbours:
            return []
        previous: dict[int, int] = {start: start}
        frontier = [start]
        for _ in range(max_hops):
            following = []
            for node in frontier:
                for nxt in self.neighbours.get(node, ()):
                    if nxt in previous:
                        continue
                    previous[nxt] = node
                    if nxt in goal:
                        path = []
                        step = node
                        while step != start:
                            path.append(step)
                            step = previous[step]
                        return path[::-1]
                    following.append(nxt)
            if not following:
                break
            frontier = following
        return []


def _fk_graph(
    tables: Sequence[TableInfo], position: Callable[[str, str | None], int | None]
) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = {}
    for i, table in enumerate(tables):
        for fk in table.foreign_keys:
            j = position(fk.ref_table, fk.ref_schema or table.schema)
            if j is None or j == i:
                continue
            graph.setdefault(i, set()).add(j)
            graph.setdefault(j, set()).add(i)
    return graph


def _split_qualified(name: str) -> tuple[str, str | None]:
    schema, dot, table = name.rpartition(".")
    return (table, schema) if dot else (name, None)


def _name_terms(name: str) -> list[str]:
    return [stem(w) for w in ident_words(name) if w not in STOPWORDS]


def _text_terms(text: str | None) -> list[str]:
    if not text:
        return []
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def question_terms(question: str) -> list[str]:
    """The stemmed words of a question that can name something (no stopwords), in order,
    each once; compound identifiers are split ("CustomerID" → customer, id)."""
    return list(dict.fromkeys(_name_terms(question)))


# --------------------------------------------------------------------------- cache

_T = TypeVar("_T")


class SchemaMemo(Generic[_T]):
    """Values derived from a schema (and companion objects), reused for the same inputs.

    The same schema object is found by identity at once. A schema rebuilt with the same
    content (a policy filter makes a new object for every question, reusing the column
    objects) is found by equality, which is cheap then: equal parts are the same objects.
    Companions (knowledge, profiles) are compared by identity. Entries hold their inputs,
    so the identities stay unique.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._entries: list[tuple[SchemaInfo, tuple[object, ...], _T]] = []
        self._lock = threading.Lock()

    def get(
        self, schema: SchemaInfo, companions: tuple[object, ...], build: Callable[[], _T]
    ) -> _T:
        """The value for these inputs, calling ``build`` only for inputs not seen before."""
        with self._lock:
            entries = list(self._entries)
        for known, others, value in reversed(entries):
            if known is schema and _same(others, companions):
                return value
        for known, others, value in reversed(entries):
            if (
                _same(others, companions)
                and len(known.tables) == len(schema.tables)
                and known == schema
            ):
                return value
        with gc_paused():
            value = build()
        with self._lock:
            self._entries.append((schema, companions, value))
            del self._entries[: -self._size]
        return value


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


_INDEXES: SchemaMemo[SchemaIndex] = SchemaMemo()


def schema_index(schema: SchemaInfo, knowledge: Knowledge | None = None) -> SchemaIndex:
    """The index of ``schema`` (with ``knowledge``), built once and reused."""
    return _INDEXES.get(schema, (knowledge,), lambda: SchemaIndex(schema, knowledge))
