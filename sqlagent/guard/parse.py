"""Parsing, input limits and the single-statement rule: what the guard reads, and whether it
is one read-only query at all.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError

from ..errors import (
    SQLParseError,
    UnsafeSQL,
)
from ..settings import Policy
from . import rules as guard_rules
from .messages import _ANSI, _ONLY_READS, _tidy
from .rules import DialectRules

_PIECE = re.compile(
    r"(?P<text>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")"
    r"|(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<number>(?<![\w.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)",
    re.S,
)
_RAW_LENGTH_FACTOR = 10
"""Input with comments may be this many times ``max_sql_length`` in all: comments cost the
tokenizer little, but not nothing."""


def _check_size(sql: str, policy: Policy) -> None:
    """Refuse input too big to parse within the time limit, before parsing it.

    No timeout applies inside sqlglot's parser, which needs seconds for a 200,000-item IN
    list; a regular expression measures the statement (without its comments) and counts its
    literals in a fraction of that.
    """
    limit = policy.max_sql_length
    if len(sql) > limit * _RAW_LENGTH_FACTOR:
        raise UnsafeSQL(
            f"The query is too long: {len(sql):,} characters, over the limit of "
            f"{limit * _RAW_LENGTH_FACTOR:,} with comments",
            hint="Filter with a join or a subquery instead of listing values.",
        )
    literals = comments = 0
    for match in _PIECE.finditer(sql):
        if match.lastgroup == "comment":
            comments += match.end() - match.start()
        else:
            literals += 1
    if len(sql) - comments > limit:
        raise UnsafeSQL(
            f"The query is too long: {len(sql) - comments:,} characters without comments, "
            f"over the limit of {limit:,}",
            hint="Filter with a join or a subquery instead of listing values.",
        )
    if literals > policy.max_literals:
        raise UnsafeSQL(
            f"The query holds too many values: {literals:,} literals, over the limit of "
            f"{policy.max_literals:,}",
            hint="Filter with a join or a subquery instead of listing values.",
        )


_BLOCKS = (exp.Select, exp.SetOperation, exp.CTE, exp.Subquery, exp.Table, exp.Lateral)


MAX_NODES = 20_000
"""Syntax-tree nodes a statement may have (a 10,000-item IN list has about 10,000)."""
MAX_DEPTH = 200
"""How deeply a statement's expressions may nest (``a || b || c ...`` nests once per
operator; the Spider gold queries nest at most 11 deep). Checking time grows with both."""


def _check_blocks(tree: exp.Expr, policy: Policy) -> None:
    """Refuse statements whose analysis would take longer than any timeout allows."""
    blocks = sum(1 for _ in tree.find_all(*_BLOCKS))
    if blocks > policy.max_query_blocks:
        raise UnsafeSQL(
            f"The query is too complex to check: {blocks:,} SELECTs, CTEs, subqueries and "
            f"table references, over the limit of {policy.max_query_blocks:,}",
            hint="Split it into smaller questions.",
        )
    nodes = deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        if nodes > MAX_NODES or deepest > MAX_DEPTH:
            what = f"{MAX_NODES:,} parts" if nodes > MAX_NODES else f"{MAX_DEPTH} levels"
            raise UnsafeSQL(
                f"The query is too complex to check: more than {what} of expressions",
                hint="Split it into smaller questions.",
            )
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _parse(sql: str, dialect: str, rules: DialectRules) -> exp.Expr:
    if not sql or not sql.strip():
        raise SQLParseError("The query is empty: send a single SELECT statement")
    try:
        if rules.executable_comments:
            _check_executable_comments(sql, dialect)
        statements = [
            s for s in sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE) if s
        ]
    except (ParseError, TokenError) as exc:
        raise SQLParseError(_parse_message(exc, dialect, sql)) from None
    if not statements:
        raise SQLParseError("The query is empty (only comments or semicolons)")
    if len(statements) > 1:
        labels = ", ".join(_statement_label(s) for s in statements)
        raise UnsafeSQL(
            f"Only one statement can run, but the input holds {len(statements)} ({labels}): "
            f"{_ONLY_READS}"
        )
    tree = statements[0]
    for node in tree.walk():
        # A "/* sqlglot.meta case_sensitive */" comment would stop names being normalised;
        # the statement's author must not steer how the guard compares names.
        if node.meta_get("case_sensitive") is not None:
            node.meta.pop("case_sensitive", None)
    return tree


def _parse_message(exc: ParseError | TokenError, dialect: str, sql: str = "") -> str:
    from .syntax import locate_parse_error

    located = locate_parse_error(sql, dialect, exc) if sql else None
    if located is not None:
        return f"The query does not parse as {dialect} SQL: {located}"
    errors = getattr(exc, "errors", None) or []
    if errors:
        first = errors[0]
        where = f" (line {first.get('line')}, column {first.get('col')})"
        near = _ANSI.sub("", str(first.get("highlight") or "")).strip()
        near_text = f" near '{near}'" if near else ""
        desc = _tidy(str(first.get("description") or "syntax error"))
        return f"The query does not parse as {dialect} SQL: {desc}{where}{near_text}"
    text = _tidy(str(exc)).splitlines()[0] if str(exc) else "syntax error"
    return f"The query does not parse as {dialect} SQL: {text}"


def _check_executable_comments(sql: str, dialect: str) -> None:
    for token in sqlglot.tokenize(sql, read=dialect):
        for comment in token.comments:
            body = comment.lstrip()
            if body.startswith("!") or body[:2].upper() == "M!":
                raise UnsafeSQL(
                    "Executable comments (/*! ... */) are not allowed: the server runs their "
                    "text as SQL, which the guard cannot check"
                )


def _statement_label(node: exp.Expr) -> str:
    if isinstance(node, (exp.Select, exp.Values)):
        return "SELECT" if isinstance(node, exp.Select) else "VALUES"
    if isinstance(node, exp.SetOperation):
        return type(node).__name__.upper()
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    label = guard_rules.STATEMENT_LABELS.get(type(node).__name__)
    if label:
        return label
    words = node.sql().split()
    return words[0].upper() if words else type(node).__name__.upper()


def _first_keyword(sql: str, dialect: str) -> str | None:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError:  # pragma: no cover - the text has already parsed
        return None
    return tokens[0].text.upper() if tokens else None


def _check_statement(tree: exp.Expr, sql: str, dialect: str) -> None:
    if type(tree).__name__ in guard_rules.ALLOWED_TOP_LEVEL:
        return
    # The first word says best what the author meant (sqlglot parses some statements, e.g.
    # CHECKPOINT or DEALLOCATE, into odd shapes).
    label = _first_keyword(sql, dialect) or _statement_label(tree)
    if isinstance(tree, exp.Command):
        label = _statement_label(tree)
    raise UnsafeSQL(f"{label} is not allowed: {_ONLY_READS}")


def _strip_parens(tree: exp.Expr) -> exp.Expr:
    """``(SELECT ...)`` at the top is just parentheses; SQLite rejects them, so drop them."""
    while isinstance(tree, exp.Subquery) and not any(
        tree.args.get(k) for k in ("alias", "limit", "offset", "order", "with_")
    ):
        inner = tree.this
        inner.pop()
        tree = inner
    return tree
