"""Where a statement stops making sense: the first token that cannot start or continue it.

sqlglot reports a parse error where its parser gave up, which may be well after the mistake
(``SELEC 1`` reads as a column named ``SELEC`` and fails at ``1``) and at the token's last
character. Here the error is placed on the token itself: the first token when no statement
can start with it, else the token the parser could not continue with, shown with a caret
under it::

    'SELEC' cannot start a statement (line 1, column 1):
      SELEC 1
      ^^^^^
"""

from __future__ import annotations

from typing import Any

__all__ = ["locate_parse_error"]

_QUERY_STARTERS = ("SELECT", "WITH", "VALUES", "FROM", "L_PAREN", "TABLE", "SUMMARIZE")
"""Token types a query can start with, besides the dialect's statement keywords."""

_EXCERPT = 72
"""Characters of the offending line shown around the caret."""


def locate_parse_error(sql: str, dialect: str, error: Exception) -> str | None:
    """A message naming the first token that cannot start or continue ``sql``, with its line
    and column (where it starts) and the line with a caret under it; None when the place
    cannot be found (the caller keeps sqlglot's own message).

    >>> print(locate_parse_error("SELEC 1", "duckdb", ValueError()))
    'SELEC' cannot start a statement (line 1, column 1):
      SELEC 1
      ^^^^^
    """
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        d = Dialect.get_or_raise(dialect)
        tokens = d.tokenize(sql)
    except (SqlglotError, ValueError):
        return None
    if not tokens:
        return None
    first = tokens[0]
    if not _can_start(first, d):
        return _message(sql, first, f"{_quote(first.text)} cannot start a statement")
    reported = _reported_position(error)
    if reported is None:
        return None
    line, col = reported
    for token in tokens:
        if token.line == line and token.col == col:
            detail = _description(error)
            what = f"{_quote(token.text)} cannot continue the statement here"
            return _message(sql, token, what + (f" ({detail})" if detail else ""))
    return None


def _can_start(token: Any, dialect: Any) -> bool:
    from sqlglot.tokens import TokenType

    kind = token.token_type
    starters = {getattr(TokenType, name) for name in _QUERY_STARTERS if hasattr(TokenType, name)}
    return (
        kind in starters
        or kind in dialect.parser_class.STATEMENT_PARSERS
        or kind in dialect.tokenizer_class.COMMANDS
    )


def _reported_position(error: Exception) -> tuple[int, int] | None:
    errors = getattr(error, "errors", None) or []
    if not errors:
        return None
    line, col = errors[0].get("line"), errors[0].get("col")
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    return line, col


def _description(error: Exception) -> str:
    import re

    errors = getattr(error, "errors", None) or []
    text = str(errors[0].get("description") or "") if errors else ""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", text)
    text = re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"'\1'", text)
    return " ".join(text.split())


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return "'" + (flat if len(flat) <= 40 else flat[:39] + "…") + "'"


def _message(sql: str, token: Any, what: str) -> str:
    """``what`` at the token's start, with its line and a caret line under the token."""
    start = int(token.start)
    line_start = sql.rfind("\n", 0, start) + 1
    line_end = sql.find("\n", start)
    line_end = len(sql) if line_end < 0 else line_end
    line_no = sql.count("\n", 0, start) + 1
    column = start - line_start + 1
    text = sql[line_start:line_end].replace("\t", " ")
    width = max(1, min(int(token.end) + 1, line_end) - start)
    offset = column - 1
    # A long line is shown around the token only.
    if len(text) > _EXCERPT:
        left = max(0, offset - _EXCERPT // 3)
        shown = text[left : left + _EXCERPT]
        prefix = "…" if left else ""
        suffix = "…" if left + _EXCERPT < len(text) else ""
        text, offset = prefix + shown + suffix, offset - left + len(prefix)
        width = min(width, _EXCERPT - (offset - len(prefix)))
    return (
        f"{what} (line {line_no}, column {column}):\n  {text.rstrip()}\n  "
        + " " * offset
        + ("^" * max(1, width))
    )
