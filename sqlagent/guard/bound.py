"""The row bound written into the statement, and the text that runs."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError

from ..errors import (
    SQLParseError,
)


def _bound(tree: exp.Expr, max_rows: int) -> tuple[exp.Expr, bool]:
    """The query with its top-level row count bounded to ``max_rows + 1``."""
    n = max_rows + 1
    if isinstance(tree, exp.Values):
        if len(tree.expressions) <= n:
            return tree, False  # a literal list of rows already has a known, small size
        return _wrapped(tree, n), True
    limit = tree.args.get("limit")
    if limit is None:
        bounded = tree.copy()
        bounded.set("limit", exp.Limit(expression=exp.Literal.number(n)))
        return bounded, True
    if isinstance(limit, exp.Fetch):
        options = limit.args.get("limit_options")
        plain = options is None or not (
            options.args.get("percent") or options.args.get("with_ties")
        )
        count = _int_literal(limit.args.get("count")) if plain else None
        arg = "count"
    else:
        count = _int_literal(limit.expression)
        arg = "expression"
    if count is None:
        return _wrapped(tree, n), True
    if count <= n:
        return tree, False
    bounded = tree.copy()
    bounded.args["limit"].set(arg, exp.Literal.number(n))
    return bounded, True


_TRAILING_LIMIT = frozenset({"duckdb", "postgres", "sqlite", "mysql", "mariadb"})


"""Dialects where ``LIMIT n`` written last bounds a query without LIMIT or OFFSET: the same
text sqlglot generates for the bounded tree, without generating it a second time."""


def _trailing_limit(tree: exp.Expr, dialect: str) -> bool:
    """True when ``LIMIT n`` appended to the generated text bounds ``tree``."""
    return (
        dialect in _TRAILING_LIMIT
        and isinstance(tree, (exp.Select, exp.SetOperation))
        and not any(tree.args.get(k) for k in ("limit", "offset", "fetch"))
    )


def _bounded_text(tree: exp.Expr, text: str, max_rows: int, dialect: str) -> tuple[str, bool]:
    """The statement to run, bounded to ``max_rows + 1`` rows, and whether a bound was added."""
    if _trailing_limit(tree, dialect):
        return f"{text} LIMIT {max_rows + 1}", True
    bounded, added = _bound(tree, max_rows)
    return (_generate(bounded, dialect) if added else text), added


def _wrapped(tree: exp.Expr, n: int) -> exp.Expr:
    inner = tree.copy()
    sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_bounded")))
    return exp.select("*").from_(sub).limit(n)


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = int(str(node.this))
        except ValueError:
            return None
        return value if value >= 0 else None
    return None


def _generate(tree: exp.Expr, dialect: str, *, copy: bool = True) -> str:
    try:
        return Dialect.get_or_raise(dialect).generate(
            tree, copy=copy, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise SQLParseError(
            f"The query cannot be reproduced faithfully in {dialect}: {exc}"
        ) from None
