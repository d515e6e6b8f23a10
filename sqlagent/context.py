"""Schema context: what the model is shown about the database for one question.

The schema is rendered as compact DDL with keys, row counts, comments and sample values, which
is the form models read best. Values and comments come from the data, so they are quoted and
escaped: they can never close the surrounding block or read as instructions.

A schema that fits the token budget is sent whole. A larger one is pruned to the question:
tables are ranked by ``sqlagent.linking`` (names, comments, the knowledge file, value matches)
and taken best first with the foreign-key path that joins them, until the budget is spent.
Value matches, definitions and similar verified examples follow as labelled notes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .linking import SchemaIndex, SchemaMemo, question_terms, schema_index
from .textmatch import STOPWORDS, stem, within_one_edit, words
from .types import ColumnInfo, Context, SchemaInfo, TableInfo

if TYPE_CHECKING:
    from .knowledge import Knowledge
    from .profile import TableProfile
    from .valueindex import ValueIndex, ValueMatch

DEFAULT_BUDGET = 3000
"""Tokens of schema text; a schema rendered larger than this is pruned to the question."""
MAX_VALUE_NOTES = 8
MAX_EXAMPLES = 3
MIN_EXAMPLE_SCORE = 0.35
"""Least similarity (see ``Knowledge.similar_examples``) for an example to be shown."""
MAX_CANDIDATES = 200
"""Ranked tables considered for a pruned context (the rest score too low to matter)."""
WIDE_TABLE_COLUMNS = 40
"""A pruned context shows at most this many columns of a table in full: keys, the columns
the question points at, then the first ones; the rest are listed by name only."""

_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_MAX_VALUE_CHARS = 40


def estimate_tokens(text: str) -> int:
    """A download-free token estimate: ~4 characters per token, one per CJK character.

    >>> estimate_tokens("SELECT 1")
    2
    """
    cjk = len(_CJK.findall(text))
    return cjk + (len(text) - cjk + 3) // 4


def quote_value(value: str) -> str:
    """A data value as a short single-quoted SQL literal, safe to embed in a prompt."""
    text = " ".join(str(value).split())  # newlines could fake a new prompt section
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    text = text.replace("<", "‹").replace(">", "›")  # cannot close the <schema> block
    return "'" + text.replace("'", "''") + "'"


MAX_COMMENT = 240
"""Characters of a table or column description shown in the context."""


def _comment(text: str | None) -> str:
    if not text:
        return ""
    clean = " ".join(text.split()).replace("<", "‹").replace(">", "›")
    if len(clean) <= MAX_COMMENT:
        return clean
    # Cut at a word, and say so: a half word reads as a different word to the model.
    return clean[:MAX_COMMENT].rsplit(" ", 1)[0].rstrip(",;:") + " …"


_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


# Reserved in standard SQL and PostgreSQL; a dialect's own list (where sqlglot has one) is
# added to it. A column named ``order`` must be shown as ``"order"`` or the model copies it bare.
_RESERVED_WORDS = """
all analyse analyze and any array as asc asymmetric both by case cast check collate column
constraint create cross current_date current_time current_timestamp current_user default
deferrable desc distinct do else end except false fetch for foreign from full grant group
having in initially inner intersect into is join lateral leading left like limit localtime
localtimestamp natural not null offset on only or order outer placing primary references
returning right select session_user some symmetric table then to trailing true union unique
user using variadic when where window with
"""
_RESERVED = frozenset(_RESERVED_WORDS.split())


_DIALECT_RESERVED_WORDS = {
    # Keywords SQLite refuses as bare names although sqlglot reads them as columns.
    "sqlite": """abort analyze attach autoincrement delete detach drop escape exists explain
    glob index indexed insert isnull match notnull pragma raise regexp reindex release
    rollback savepoint set transaction update vacuum values virtual add commit nothing""",
    # Functions PostgreSQL calls without parentheses (a bare name is the function), and its
    # reserved type and function names.
    "postgres": """current_catalog current_role current_schema system_user authorization
    binary collation concurrently freeze ilike isnull notnull overlaps similar tablesample
    verbose""",
    "mysql": "current_role portion sql_cache stats_persistent",
}
_DIALECT_RESERVED = {d: frozenset(words.split()) for d, words in _DIALECT_RESERVED_WORDS.items()}


@functools.cache
def _reserved(dialect: str) -> frozenset[str]:
    from sqlglot.dialects.dialect import Dialect

    try:
        generator = Dialect.get_or_raise(dialect).generator_class
    except ValueError:
        return _RESERVED
    own = getattr(generator, "RESERVED_KEYWORDS", None) or ()
    extra = _DIALECT_RESERVED.get(dialect, frozenset())
    return _RESERVED | extra | {word.lower() for word in own}


@functools.cache
def _reads_as_column(name: str, dialect: str) -> bool:
    """True when ``name`` can stand bare for a column in ``dialect``: an ordinary word, or a
    keyword that ``SELECT name FROM t`` still reads as a plain column (``date``, ``name``).
    A keyword read otherwise (``between``, ``qualify``, ``current_date``) needs quotes."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(name)
        if [t.token_type for t in tokens] == [TokenType.VAR]:
            return True  # not a keyword at all: the common case, without a parse
        tree = sqlglot.parse_one(f"SELECT {name} FROM t", read=dialect)
    except (SqlglotError, ValueError):
        return False
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return False
    column = tree.expressions[0]
    return isinstance(column, exp.Column) and not column.table and column.name == name


def quote_ident(name: str, dialect: str) -> str:
    """Quote an identifier only when it needs it (mixed case, spaces, symbols, reserved words).

    >>> quote_ident("order", "postgres"), quote_ident("amount", "postgres")
    ('"order"', 'amount')
    """
    if (
        _PLAIN_IDENT.match(name)
        and name not in _reserved(dialect)
        and _reads_as_column(name, dialect)
    ):
        return name
    if dialect in ("mysql", "bigquery", "databricks", "spark", "hive"):
        return "`" + name.replace("`", "``") + "`"
    if dialect == "tsql":
        return "[" + name.replace("]", "]]") + "]"
    return '"' + name.replace('"', '""') + '"'


def _column_line(col: ColumnInfo, table: TableInfo, dialect: str) -> str:
    parts = [f"  {quote_ident(col.name, dialect)} {col.type}"]
    if col.primary_key and len(table.primary_key) <= 1:
        parts.append("PRIMARY KEY")
    if not col.nullable and not col.primary_key:
        parts.append("NOT NULL")
    line = " ".join(parts)
    notes = []
    comment = _comment(col.comment)
    if comment:
        notes.append(comment)
    samples = unstated_samples(col.samples, comment)
    if samples:
        notes.append("e.g. " + ", ".join(quote_value(v) for v in samples))
    return line + (" -- " + _sentences(notes) if notes else "")


def unstated_samples(samples: Sequence[str], comment: str | None) -> list[str]:
    """The sample values a column's comment does not already name (as a whole word, in any
    case; a value of three characters or fewer only when quoted, as "in" or "a" may be
    words of the comment): a comment listing the values needs no examples after it.

    >>> unstated_samples(["visa", "amex", "jcb"], "Card network: 'visa', AMEX or other.")
    ['jcb']
    >>> unstated_samples(["Mesa", "in", "USD"], "Messages in 'USD'")
    ['Mesa', 'in']
    """
    if not comment:
        return list(samples)
    text = comment.lower()
    return [v for v in samples if not _states(text, v.strip().lower())]


def _states(comment: str, value: str) -> bool:
    if not value:
        return False
    word = re.escape(value)
    if len(value) <= 3:
        return re.search(f"'{word}'|\"{word}\"", comment) is not None
    return re.search(r"(?<!\w)" + word + r"(?!\w)", comment) is not None


def _sentences(parts: list[str]) -> str:
    """Join comment parts with "; ", without doubling a full stop that ends a part."""
    out = parts[0]
    for part in parts[1:]:
        out += (" " if out.endswith((".", "!", "?", "…")) else "; ") + part
    return out


def render_table(
    table: TableInfo,
    dialect: str,
    *,
    references: Collection[str] | None = None,
    more_columns: Sequence[str] = (),
) -> str:
    """One table as compact DDL: columns, keys, comments, sample values, row count.

    ``references`` (lower-case qualified names), when given, keeps only the foreign keys to
    those tables; ``more_columns`` are names of columns left out, listed in a comment.
    """
    name = ".".join(quote_ident(p, dialect) for p in table.qualified_name.split("."))
    header = []
    meta = []
    if table.kind == "view":
        meta.append("view")
    if table.row_count is not None:
        meta.append(f"{table.row_count:,} row" + ("" if table.row_count == 1 else "s"))
    if table.comment:
        meta.append(_comment(table.comment))
    if meta:
        header.append("-- " + "; ".join(meta))
    lines = [_column_line(c, table, dialect) for c in table.columns]
    if len(table.primary_key) > 1:
        cols = ", ".join(quote_ident(c, dialect) for c in table.primary_key)
        lines.append(f"  PRIMARY KEY ({cols})")
    for fk in table.foreign_keys:
        ref = f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table
        if references is not None and ref.lower() not in references:
            continue
        cols = ", ".join(quote_ident(c, dialect) for c in fk.columns)
        ref_cols = ", ".join(quote_ident(c, dialect) for c in fk.ref_columns)
        lines.append(f"  FOREIGN KEY ({cols}) REFERENCES {ref}({ref_cols})")
    # Commas go before a trailing comment, never inside it.
    body = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        code, sep, note = line.partition(" -- ")
        body.append(code + ("" if last else ",") + (f" -- {note}" if sep else ""))
    if more_columns:
        names = ", ".join(quote_ident(c, dialect) for c in more_columns)
        body.append(f"  -- {len(more_columns)} more columns: {names}")
    return "\n".join([*header, f"CREATE TABLE {name} (", *body, ");"])


def render_schema(schema: SchemaInfo, tables: Iterable[TableInfo] | None = None) -> str:
    """Render ``tables`` (default: all of them) of ``schema`` as DDL, one block per table."""
    chosen = schema.tables if tables is None else tuple(tables)
    return "\n\n".join(render_table(t, schema.dialect) for t in chosen)


# --------------------------------------------------------------------------- pruning


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
        self.min_cost = 0

    def _measure(self) -> None:
        # Every table is rendered once: its cost in a pruned context (a wide table is shown
        # pruned, its cost estimated from the share of columns kept) and the schema total.
        dialect = self.schema.dialect
        costs = []
        total = 0
        for table in self.tables:
            tokens = estimate_tokens(render_table(table, dialect))
            total += tokens + 1  # the blank line between blocks
            n = len(table.columns)
            if n > WIDE_TABLE_COLUMNS:
                tokens = tokens * WIDE_TABLE_COLUMNS // n + 2 * n
            costs.append(tokens)
        self._costs, self._total = costs, max(total - 1, 0)
        self.min_cost = min(costs, default=0)

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


# --------------------------------------------------------------------------- notes


def _safe(text: str) -> str:
    """One line of data for a prompt: no line breaks, no tag that could close a block."""
    line = " ".join(text.split())
    return re.sub(r"<(?=[A-Za-z/!?])", "< ", line)


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


def context_notes(
    question: str,
    *,
    knowledge: Knowledge | None = None,
    matches: Sequence[ValueMatch] = (),
    max_examples: int = MAX_EXAMPLES,
) -> list[str]:
    """The notes for ``question``: a ``<knowledge>`` block (value matches, definitions of
    terms it uses) and an ``<examples>`` block (similar verified questions with their SQL).
    Everything in them is data, labelled as such, one item per line."""
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


# --------------------------------------------------------------------------- context


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
        text = "\n\n".join(render_table(t, dialect) for t in prepared.tables)
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
        *context_notes(question, knowledge=knowledge, matches=matches, max_examples=max_examples),
        *extra,
    ]
    return Context(
        text=text,
        tokens=estimate_tokens(text) + sum(estimate_tokens(n) for n in notes),
        tables=tuple(prepared.tables[p].qualified_name for p in chosen),
        notes=tuple(notes),
    )


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
