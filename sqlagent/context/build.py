"""Schema context: what the model is shown about the database for one question.

The schema is rendered as compact DDL with keys, row counts, comments and sample values, which
is the form models read best. Values and comments come from the data, so they are quoted and
escaped: they can never close the surrounding block or read as instructions.

A schema that fits the token budget is sent whole. A larger one is pruned to the question:
tables are ranked by ``sqlagent.context.linking`` (names, comments, the knowledge file, value
matches) and taken best first with the foreign-key path that joins them, until the budget is
spent.
Value matches, definitions and similar verified examples follow as labelled notes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..types import Context, SchemaInfo, TableInfo
from .fence import data_line
from .linking import SchemaIndex, SchemaMemo, question_terms, schema_index
from .textmatch import STOPWORDS, stem, within_one_edit, words

if TYPE_CHECKING:
    from .knowledge import Knowledge, NamedExpression
    from .profile import TableProfile
    from .valueindex import ValueIndex, ValueMatch
from .render import _sentences, estimate_tokens, render_table

DEFAULT_BUDGET = 3000


"""Tokens of schema text; a schema rendered larger than this is pruned to the question."""


MAX_VALUE_NOTES = 8


MAX_EXAMPLES = 3


MAX_EXPRESSIONS = 8


"""Named expressions (metrics, measures, filters) shown for one question at most."""


MIN_EXAMPLE_SCORE = 0.35


"""Least similarity (see ``Knowledge.similar_examples``) for an example to be shown."""


MAX_CANDIDATES = 200


"""Ranked tables considered for a pruned context (the rest score too low to matter)."""


WIDE_TABLE_COLUMNS = 40


"""A pruned context shows at most this many columns of a table in full: keys, the columns
the question points at, then the first ones; the rest are listed by name only."""


WHOLE_TEXT_KEPT = 50_000
"""Tokens up to which the whole schema's text is kept with the prepared schema."""


class _Prepared:
    """A schema made ready for building contexts: annotated tables (knowledge descriptions,
    profile ranges), their rendered sizes and the linking index. Built once per schema."""

    def __init__(
        self,
        schema: SchemaInfo,
        knowledge: Knowledge | None,
        profiles: Mapping[str, TableProfile] | None,
    ) -> None:
        self.schema = schema
        self.index: SchemaIndex = schema_index(schema, knowledge)
        self.tables = tuple(_annotate(t, knowledge, profiles) for t in schema.tables)
        self._costs: list[int] | None = None
        self._total: int | None = None
        self._text: str | None = None
        self.min_cost = 0

    def _measure(self) -> None:
        # Every table is rendered once: its cost in a pruned context (a wide table is shown
        # pruned, its cost estimated from the share of columns kept) and the schema total.
        dialect = self.schema.dialect
        costs = []
        blocks = []
        total = 0
        for table in self.tables:
            blocks.append(render_table(table, dialect))
            tokens = estimate_tokens(blocks[-1])
            total += tokens + 1  # the blank line between blocks
            n = len(table.columns)
            if n > WIDE_TABLE_COLUMNS:
                tokens = tokens * WIDE_TABLE_COLUMNS // n + 2 * n
            costs.append(tokens)
        self._costs, self._total = costs, max(total - 1, 0)
        self.min_cost = min(costs, default=0)
        # Kept for every question that the whole schema fits; one too large to fit any
        # budget is not kept.
        self._text = "\n\n".join(blocks) if self._total <= WHOLE_TEXT_KEPT else None

    def whole_text(self) -> str:
        """The whole schema as one text (every table rendered, blank lines between)."""
        if self._total is None:
            self._measure()
        if self._text is not None:
            return self._text
        dialect = self.schema.dialect
        return "\n\n".join(render_table(t, dialect) for t in self.tables)

    def cost(self, pos: int) -> int:
        """Tokens table ``pos`` takes in a pruned context."""
        if self._costs is None:
            self._measure()
        assert self._costs is not None
        return self._costs[pos]

    def total(self) -> int:
        """Tokens of the whole schema as one text."""
        if self._total is None:
            self._measure()
        assert self._total is not None
        return self._total


_PREPARED: SchemaMemo[_Prepared] = SchemaMemo()


def _prepared(
    schema: SchemaInfo,
    knowledge: Knowledge | None,
    profiles: Mapping[str, TableProfile] | None,
) -> _Prepared:
    """The ``_Prepared`` schema, built once for the same inputs (``profiles`` is compared
    by identity: pass the same mapping again, and do not change it)."""

    def build() -> _Prepared:
        prepared = _Prepared(schema, knowledge, profiles)
        prepared.total()
        return prepared

    return _PREPARED.get(schema, (knowledge, profiles), build)


def _annotate(
    table: TableInfo,
    knowledge: Knowledge | None,
    profiles: Mapping[str, TableProfile] | None,
) -> TableInfo:
    """``table`` with the knowledge file's descriptions and the profile's ranges added to
    its comments (the catalog's own comments come first)."""
    note = knowledge.table(table.name, table.schema) if knowledge else None
    profile = profiles.get(table.qualified_name) if profiles else None
    if note is None and profile is None:
        return table
    comment = table.comment
    if note is not None:
        # Synonyms only steer table selection: shown, they would cost tokens on every table.
        comment = _join(comment, note.description)
    # Ranges of key columns (1 .. 5000) tell the model nothing.
    keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    columns = []
    for col in table.columns:
        cnote = note.column(col.name) if note else None
        col_comment = _join(col.comment, cnote.description if cnote else None)
        cprofile = profile.columns.get(col.name) if profile and col.name not in keys else None
        if cprofile is not None:
            col_comment = _join(col_comment, cprofile.summary())
            if not col.samples and cprofile.top_values:
                col = replace(col, samples=tuple(str(v) for v, _ in cprofile.top_values[:5]))
        columns.append(col if col_comment == col.comment else replace(col, comment=col_comment))
    return replace(table, comment=comment, columns=tuple(columns))


def _join(first: str | None, second: str | None) -> str | None:
    if not second or (first and second.strip().lower() in first.lower()):
        return first
    if not first:
        return second
    return _sentences([first.rstrip(" ;"), second])


def _select(
    prepared: _Prepared, question: str, matches: Sequence[ValueMatch], budget: int
) -> tuple[list[int], dict[int, dict[str, float]]]:
    """Table positions to show (best first, with join paths), within ``budget`` tokens."""
    index = prepared.index
    ranking = index.rank(question, matches)
    cost = prepared.cost
    chosen: list[int] = []
    taken: set[int] = set()
    used = 0
    for pos, _ in ranking.tables[:MAX_CANDIDATES]:
        if budget - used < prepared.min_cost:
            break  # full: no table fits any more
        if pos in taken or used + cost(pos) > budget:
            continue
        path = [p for p in index.join_path(pos, taken) if p not in taken] if taken else []
        extra = sum(cost(p) for p in path) + cost(pos)
        if used + extra > budget:
            path, extra = [], cost(pos)  # the table without its join path still helps
        for p in (*path, pos):
            chosen.append(p)
            taken.add(p)
        used += extra
    if not chosen:  # nothing in the question names anything: the largest tables first
        order = sorted(
            range(len(prepared.tables)),
            key=lambda p: (-(prepared.tables[p].row_count or 0), p),
        )
        for pos in order:
            if used + cost(pos) <= budget:
                chosen.append(pos)
                used += cost(pos)
    return chosen, {k: dict(v) for k, v in ranking.columns.items()}


def _render_pruned(
    table: TableInfo, dialect: str, scores: Mapping[str, float], references: Collection[str]
) -> str:
    """``table`` as DDL; a wide one keeps keys, scored columns and then its first columns."""
    if len(table.columns) <= WIDE_TABLE_COLUMNS:
        return render_table(table, dialect, references=references)
    keys = {c.lower() for c in table.primary_key}
    for fk in table.foreign_keys:
        keys.update(c.lower() for c in fk.columns)
    ranked = sorted(
        range(len(table.columns)),
        key=lambda i: (
            table.columns[i].name.lower() not in keys,
            -scores.get(table.columns[i].name.lower(), 0.0),
            i,
        ),
    )
    keep = set(ranked[:WIDE_TABLE_COLUMNS])
    shown = tuple(c for i, c in enumerate(table.columns) if i in keep)
    hidden = [c.name for i, c in enumerate(table.columns) if i not in keep]
    return render_table(
        replace(table, columns=shown), dialect, references=references, more_columns=hidden
    )


def _safe(text: str) -> str:
    """One line of data for a prompt: no line breaks, no tag that could close a block, no
    special token, bounded (see ``fence.data_line``)."""
    return data_line(text, 600)


def _mentions(term: str, question_words: set[str]) -> bool:
    """True when every word of ``term`` occurs in the question (plurals, -ed and one-letter
    typos of longer words forgiven)."""
    wanted = [stem(w) for w in words(term) if w not in STOPWORDS]
    if not wanted:
        return False
    for word in wanted:
        if word in question_words:
            continue
        if len(word) >= 5 and any(
            len(q) >= 5 and (within_one_edit(word, q) or q.startswith(word) or word.startswith(q))
            for q in question_words
        ):
            continue
        return False
    return True


_KIND_ORDER = {"metric": 0, "measure": 1, "dimension": 2, "filter": 3}


def _named_expressions(
    expressions: Sequence[NamedExpression], asked: set[str], tables: Collection[str] | None
) -> list[NamedExpression]:
    """The named expressions the question mentions, over tables of the schema: the one
    named by the longest phrase first ("average approved transaction amount" before
    "approved transactions"), metrics before measures, dimensions and filters."""
    scored = []
    for pos, expr in enumerate(expressions):
        if tables is not None and not all(
            t.lower() in tables for t in expr.tables or (expr.table,)
        ):
            continue
        lengths = [len(words(term)) for term in expr.terms if _mentions(term, asked)]
        if lengths:
            scored.append((-max(lengths), _KIND_ORDER.get(expr.kind, 9), pos, expr))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored]


def context_notes(
    question: str,
    *,
    knowledge: Knowledge | None = None,
    matches: Sequence[ValueMatch] = (),
    max_examples: int = MAX_EXAMPLES,
    tables: Collection[str] | None = None,
) -> list[str]:
    """The notes for ``question``: a ``<knowledge>`` block (value matches, definitions of
    terms it uses, the defined metrics, measures and filters it names) and an ``<examples>``
    block (similar verified questions with their SQL). Everything in them is data, labelled
    as such, one item per line. ``tables`` (lower-case names), when given, keeps only the
    named expressions over those tables."""
    notes: list[str] = []
    knowledge_lines: list[str] = []
    if matches:
        knowledge_lines.append("-- Values in the data that match words of the question:")
        knowledge_lines += [f"-- {_safe(m.note())}" for m in matches]
    if knowledge is not None and knowledge.definitions:
        asked = set(question_terms(question))
        used = [d for d in knowledge.definitions if _mentions(d.term, asked)]
        if used:
            knowledge_lines.append("-- Definitions of terms (from the knowledge file):")
            knowledge_lines += [f"-- {_safe(d.term)}: {_safe(d.definition)}" for d in used]
    if knowledge is not None and knowledge.expressions:
        asked = set(question_terms(question))
        named = _named_expressions(knowledge.expressions, asked, tables)
        if named:
            from .semantic_model import render_expression

            knowledge_lines.append(
                "-- Defined metrics, measures and filters (from the semantic model): when the "
                "question asks for one, use its SQL as written"
            )
            knowledge_lines += [render_expression(e, _safe) for e in named[:MAX_EXPRESSIONS]]
    if knowledge_lines:
        notes.append("<knowledge>\n" + "\n".join(knowledge_lines) + "\n</knowledge>")
    if knowledge is not None and knowledge.verified and max_examples > 0:
        similar = knowledge.similar_examples(question, k=max_examples, min_score=MIN_EXAMPLE_SCORE)
        if similar:
            lines = [f"-- Example: {_safe(ex.question)} → {_safe(ex.sql)}" for ex, _ in similar]
            notes.append(
                "<examples>\n-- Verified questions with their SQL (similar to this one):\n"
                + "\n".join(lines)
                + "\n</examples>"
            )
    return notes


def build_context(
    schema: SchemaInfo,
    question: str,
    *,
    budget: int = DEFAULT_BUDGET,
    extra: Sequence[str] = (),
    knowledge: Knowledge | None = None,
    values: ValueIndex | None = None,
    profiles: Mapping[str, TableProfile] | None = None,
    max_examples: int = MAX_EXAMPLES,
    max_values: int = MAX_VALUE_NOTES,
) -> Context:
    """The context for ``question``: schema DDL within ``budget`` tokens, and notes.

    The whole schema is sent when it fits ``budget``; otherwise the tables the question is
    about, with the foreign-key paths joining them (see the module docstring). ``knowledge``
    adds descriptions, definitions and similar verified examples; ``values`` finds the
    values the question names; ``profiles`` adds value ranges. ``extra`` lines are appended
    to the notes as given. ``Context.tokens`` counts the schema text and the notes.

    >>> ctx = build_context(schema, "How many merchants are in Phoenix?", budget=1500)
    ... # doctest: +SKIP
    """
    prepared = _prepared(schema, knowledge, profiles)
    matches: list[ValueMatch] = []
    if values is not None and question.strip():
        matches = values.search(question, k=max_values)
    dialect = schema.dialect
    if prepared.total() <= budget:
        chosen = list(range(len(prepared.tables)))
        scores: dict[int, dict[str, float]] = {}
        text = prepared.whole_text()
    else:
        # Room for the line naming what was left out.
        chosen, scores = _select(prepared, question, matches, max(budget - 25, 0))
        chosen.sort()  # schema order reads like a catalog dump
        names = set()
        for pos in chosen:
            table = prepared.tables[pos]
            names.add(table.qualified_name.lower())
            if table.schema is None or table.schema == schema.default_schema:
                names.add(table.name.lower())
        blocks = [
            _render_pruned(prepared.tables[p], dialect, scores.get(p, {}), names) for p in chosen
        ]
        text = "\n\n".join(blocks)
        text += _omitted_line(prepared, chosen, budget - estimate_tokens(text))
    shown = {prepared.tables[p].qualified_name.lower() for p in chosen}
    matches = [m for m in matches if m.table.lower() in shown]
    notes = [
        *context_notes(
            question,
            knowledge=knowledge,
            matches=matches,
            max_examples=max_examples,
            tables=_known_tables(schema)
            if knowledge is not None and knowledge.expressions
            else None,
        ),
        *extra,
    ]
    return Context(
        text=text,
        tokens=estimate_tokens(text) + sum(estimate_tokens(n) for n in notes),
        tables=tuple(prepared.tables[p].qualified_name for p in chosen),
        notes=tuple(notes),
    )


def _known_tables(schema: SchemaInfo) -> set[str]:
    """Every table of ``schema`` by bare and qualified lower-case name."""
    out = set()
    for table in schema.tables:
        out.add(table.name.lower())
        out.add(table.qualified_name.lower())
    return out


def _omitted_line(prepared: _Prepared, chosen: Sequence[int], room: int) -> str:
    """A closing comment naming (or, when they don't fit, counting) the tables left out."""
    taken = set(chosen)
    left = [t.qualified_name for i, t in enumerate(prepared.tables) if i not in taken]
    if not left:
        return ""
    what = f"{len(left)} more table{'s' if len(left) > 1 else ''} not shown"
    line = f"\n\n-- {what}: " + ", ".join(left)
    if estimate_tokens(line) <= room:
        return line
    return f"\n\n-- {what}"
