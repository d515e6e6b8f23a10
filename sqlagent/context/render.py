"""Schema text: tables rendered as compact DDL with keys, row counts, comments and sample
values, every name quoted as the dialect needs and every value escaped so it can never
close the surrounding block or read as an instruction.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Sequence

from ..types import ColumnInfo, SchemaInfo, TableInfo
from .fence import data_line

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
    """A data value as a short single-quoted SQL literal, safe to embed in a prompt (one
    inert line: see ``fence.data_line``)."""
    text = data_line(value, _MAX_VALUE_CHARS)
    return "'" + text.replace("'", "''") + "'"


MAX_COMMENT = 240


"""Characters of a table or column description shown in the context."""


def _comment(text: str | None) -> str:
    if not text:
        return ""
    clean = data_line(text, 4 * MAX_COMMENT)
    if len(clean) <= MAX_COMMENT:
        return clean
    # Cut at a word, and say so: a half word reads as a different word to the model.
    return clean[:MAX_COMMENT].rsplit(" ", 1)[0].rstrip(",;:") + " …"


PROMPT_SAMPLES = 3
"""Sample values shown per column: enough to show a column's spelling and format (the value
index finds the values a question names); samples were half the schema text at five."""

_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_WORD_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Dialects that match unquoted names whatever their case (SQLite, DuckDB; MySQL for columns,
# and for tables quoting changes nothing): a mixed-case name needs no quotes there, and the
# two characters a name of quotes cost add up in a wide schema.
_CASE_BLIND = frozenset({"sqlite", "duckdb", "mysql"})


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

    A name is database text too: one that could close a block or pass for a message is
    shown fenced (``fence.data_line``), so the model can only misspell it, never obey it.
    """
    name = data_line(name, 128)
    plain = _WORD_IDENT if dialect in _CASE_BLIND else _PLAIN_IDENT
    if (
        plain.match(name)
        and name.lower() not in _reserved(dialect)
        and _reads_as_column(name, dialect)
    ):
        return name
    if dialect in ("mysql", "bigquery", "databricks", "spark", "hive"):
        return "`" + name.replace("`", "``") + "`"
    if dialect == "tsql":
        return "[" + name.replace("]", "]]") + "]"
    return '"' + name.replace('"', '""') + '"'


def _column_line(col: ColumnInfo, table: TableInfo, dialect: str) -> str:
    parts = [f"  {quote_ident(col.name, dialect)} {data_line(col.type, 128)}"]
    if col.primary_key and len(table.primary_key) <= 1:
        parts.append("PRIMARY KEY")
    if not col.nullable and not col.primary_key:
        parts.append("NOT NULL")
    line = " ".join(parts)
    notes = []
    comment = _comment(col.comment)
    if comment:
        notes.append(comment)
    samples = unstated_samples(col.samples, comment)[:PROMPT_SAMPLES]
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
