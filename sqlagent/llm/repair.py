"""What a repair request tells the model besides the error itself.

A model repairs best when it is shown where the error is, the real names closest to the ones
it got wrong, and the part of the schema its query touches; for a query that ran but found
nothing, the values its literals were probably meant to be. Each helper here returns plain
text lines for the repair prompt, or nothing when it has nothing useful to add.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import SqlAgentError, SQLParseError, UnknownColumn, UnknownTable
from ..types import SchemaInfo, TableInfo

if TYPE_CHECKING:
    from ..context.valueindex import ValueIndex

__all__ = ["empty_result_hint", "repair_detail", "string_literals"]

_POSITION = re.compile(r"\(line (\d+), column (\d+)\)")
_MAX_TABLES = 4
_MAX_COLUMNS = 40


def repair_detail(error: SqlAgentError, sql: str | None, schema: SchemaInfo) -> str:
    """Lines that help the model fix ``sql`` after ``error``: where, which names, what schema.

    >>> from sqlagent.errors import SQLParseError
    >>> from sqlagent.types import ColumnInfo, TableInfo
    >>> s = SchemaInfo("duckdb", (TableInfo("t", (ColumnInfo("a", "INTEGER"),)),))
    >>> print(repair_detail(SQLParseError("bad (line 1, column 8)"), "SELECT a FORM t", s))
    Where: line 1 of your query, at column 8:
      SELECT a FORM t
             ^
    The tables your query uses:
      t(a INTEGER)
    """
    lines: list[str] = []
    if sql and isinstance(error, SQLParseError):
        lines += _parse_pointer(error.message, sql)
    suggestions: Sequence[str] = ()
    if isinstance(error, (UnknownTable, UnknownColumn)):
        suggestions = error.suggestions
    if suggestions and not all(name in error.message for name in suggestions[:5]):
        lines.append("Closest real names: " + ", ".join(suggestions[:5]))
    if sql:
        tables = _tables_used(sql, schema, suggestions)
        if tables:
            lines.append("The tables your query uses:")
            lines += ["  " + _table_line(t) for t in tables]
    return "\n".join(lines)


def _parse_pointer(message: str, sql: str) -> list[str]:
    """The line the parser stopped at, with a caret; or where an unclosed quote opens."""
    m = _POSITION.search(message)
    source = sql.splitlines() or [""]
    if m:
        line_no, col = int(m.group(1)), int(m.group(2))
        if 1 <= line_no <= len(source):
            text = source[line_no - 1]
            if len(text) > 160:  # keep the caret's neighbourhood only
                start = max(0, min(col - 80, len(text) - 160))
                text, col = text[start : start + 160], col - start
            caret = " " * max(0, min(col, len(text)) - 1) + "^"
            return [
                f"Where: line {line_no} of your query, at column {col}:",
                "  " + text,
                "  " + caret,
            ]
    quote = _unclosed_quote(sql)
    if quote is not None:
        line_no, col, ch = quote
        return [f"Where: the {ch} quote opened at line {line_no}, column {col} is never closed."]
    return []


def _unclosed_quote(sql: str) -> tuple[int, int, str] | None:
    """Line, column and character of a quote that is opened and never closed."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "'\"`":
            j = i + 1
            while True:
                j = sql.find(ch, j)
                if j < 0:
                    line_no = sql.count("\n", 0, i) + 1
                    col = i - (sql.rfind("\n", 0, i) + 1) + 1
                    return line_no, col, ch
                if sql.startswith(ch * 2, j):  # '' inside a string
                    j += 2
                    continue
                break
            i = j + 1
            continue
        i += 1
    return None


def _tables_used(sql: str, schema: SchemaInfo, extra: Sequence[str]) -> list[TableInfo]:
    """Tables of ``schema`` whose names occur in ``sql`` (or among suggested names)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][\w$]*", sql)}
    for name in extra:
        words.update(part.lower() for part in name.split("."))
    found = [t for t in schema.tables if t.name.lower() in words]
    return found[:_MAX_TABLES]


def _table_line(table: TableInfo) -> str:
    columns = [f"{c.name} {c.type}".strip() for c in table.columns[:_MAX_COLUMNS]]
    more = ", …" if len(table.columns) > _MAX_COLUMNS else ""
    return f"{table.qualified_name}({', '.join(columns)}{more})"


_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def string_literals(sql: str) -> list[str]:
    """The string literals of ``sql`` (quotes undone), in order, without repeats.

    >>> string_literals("SELECT 1 FROM t WHERE city = 'PHX' OR name = 'O''Hare'")
    ['PHX', "O'Hare"]
    """
    seen: dict[str, None] = {}
    for m in _LITERAL.finditer(sql):
        value = m.group(1).replace("''", "'")
        if value.strip() and not re.fullmatch(r"[\d\s:./-]+", value):  # dates are not values
            seen.setdefault(value, None)
    return list(seen)


def empty_result_hint(sql: str, values: ValueIndex | None) -> str:
    """For a query that matched no rows: its literals that are not values of the data, and
    the indexed values that are closest to them. Empty when nothing looks misspelled."""
    if values is None or not len(values):
        return ""
    from ..context.render import quote_value

    lines: list[str] = []
    for literal in string_literals(sql)[:6]:
        matches = values.search(literal, k=3, min_score=0.3)
        if not matches or any(m.value == literal for m in matches):
            continue  # unknown to the index, or spelled as the data spells it
        near = "; ".join(m.note() for m in matches)
        lines.append(f"{quote_value(literal)} is not a value in the data; the closest: {near}")
    if not lines:
        return ""
    return (
        "The query ran but matched no rows. Check the literal values against the data:\n"
        + "\n".join("- " + line for line in lines)
    )
