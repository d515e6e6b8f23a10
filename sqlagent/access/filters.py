"""Row filters' syntax: a condition over one table's columns, with the user's attributes.

A filter is written in plain SQL (``region = :user.region``, ``team_id IN (:user.teams)``,
``lower(owner) = lower(:user.email)``) and parsed once with sqlglot's dialect-neutral reader,
so the same policy serves DuckDB, PostgreSQL, MySQL, SQLite and Spark: the guard writes the
bound condition in the database's own dialect. What a filter may contain is kept small on
purpose: columns of its table (unqualified), literals, operators and scalar functions. No
subquery, no other table, no aggregate or window, and no parameter but ``:user.<name>``; a
filter that breaks these rules is refused when the policy is loaded, so it can never widen
what a person reads or name a column of another scope.

Nothing here imports the rest of sqlagent: ``sqlagent.settings`` uses it while loading.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

USER = "user"
"""The placeholder's name: ``:user.<attribute>``."""


class FilterSyntaxError(ValueError):
    """A row filter that cannot be used; the message says what is wrong with it."""


class MissingAttribute(KeyError):
    """The user has no value for an attribute a filter names."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_REFUSED: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Query, "a subquery"),
    (exp.Subquery, "a subquery"),
    (exp.Star, "a star"),
    (exp.AggFunc, "an aggregate"),
    (exp.Window, "a window function"),
    (exp.Table, "a table"),
    (exp.Parameter, "a parameter other than :user.<name>"),
    (exp.SessionParameter, "a session variable"),
)


@functools.lru_cache(maxsize=1024)
def parse_condition(text: str) -> exp.Expr:
    """The condition's syntax tree (shared: copy it before changing it).

    Raises ``FilterSyntaxError`` when it does not parse or uses what filters may not.

    >>> parse_condition("region = :user.region").sql()
    'region = :user.region'
    >>> parse_condition("x IN (SELECT 1)")
    Traceback (most recent call last):
    ...
    sqlagent.access.filters.FilterSyntaxError: a row filter may not contain a subquery
    """
    if not isinstance(text, str) or not text.strip():
        raise FilterSyntaxError("a row filter must be a non-empty SQL condition")
    try:
        statements = sqlglot.parse(text, error_level=sqlglot.ErrorLevel.RAISE)
    except ParseError as exc:
        raise FilterSyntaxError(f"the row filter {text!r} does not parse: {_first(exc)}") from None
    if len(statements) != 1 or statements[0] is None:
        raise FilterSyntaxError(f"a row filter must be one condition, not {text!r}")
    tree = statements[0]
    if isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML)) or not isinstance(
        tree, exp.Condition
    ):
        raise FilterSyntaxError(f"a row filter must be a condition, not {text!r}")
    for node in tree.walk():
        for kind, what in _REFUSED:
            if isinstance(node, kind):
                raise FilterSyntaxError(f"a row filter may not contain {what}")
        if isinstance(node, exp.Placeholder) and not _is_parameter(node.parent, node):
            raise FilterSyntaxError(
                f"a row filter names the user's attributes as :user.<name>, not "
                f"{node.parent.sql() if isinstance(node.parent, exp.Dot) else node.sql()}"
            )
        if isinstance(node, exp.Column) and (node.table or node.args.get("db")):
            raise FilterSyntaxError(
                f"a row filter names its table's columns without a qualifier, not {node.sql()}"
            )
    return tree


def _first(exc: ParseError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return str(errors[0].get("description") or exc).strip()
    return str(exc).splitlines()[0]


def _is_parameter(parent: exp.Expr | None, node: exp.Placeholder) -> bool:
    return (
        isinstance(parent, exp.Dot)
        and parent.this is node
        and node.name == USER
        and isinstance(parent.expression, exp.Identifier)
    )


def _parameter_name(node: exp.Expr) -> str | None:
    if (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Placeholder)
        and _is_parameter(node, node.this)
    ):
        return str(node.expression.name)
    return None


def condition_parameters(text: str) -> tuple[str, ...]:
    """The attributes ``:user.<name>`` the condition names, in order of first use.

    >>> condition_parameters("a = :user.region AND b IN (:user.teams, :user.region)")
    ('region', 'teams')
    """
    names = (_parameter_name(n) for n in parse_condition(text).walk())
    return tuple(dict.fromkeys(n for n in names if n is not None))


def condition_columns(text: str) -> tuple[str, ...]:
    """The columns the condition reads, as written."""
    return tuple(dict.fromkeys(c.name for c in parse_condition(text).find_all(exp.Column)))


def literal(value: Any) -> exp.Expr:
    """``value`` as a SQL literal node: the generator quotes and escapes it per dialect."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def bind(text: str, values: Mapping[str, Any]) -> exp.Expr:
    """The condition with each ``:user.<name>`` replaced by the literal of its value.

    A list or tuple value is allowed where a list belongs (``x IN (:user.teams)``) and
    expands to its items; an empty list matches no row. Raises ``MissingAttribute`` when a
    named attribute has no value, and ``FilterSyntaxError`` for a list anywhere else.

    >>> bind("region = :user.region", {"region": "O'Hare"}).sql("postgres")
    "region = 'O''Hare'"
    >>> bind("team IN (:user.teams)", {"teams": ("a", "b")}).sql()
    "team IN ('a', 'b')"
    """
    tree = parse_condition(text).copy()
    for node in list(tree.walk()):
        name = _parameter_name(node)
        if name is None:
            continue
        if name not in values:
            raise MissingAttribute(name)
        value = values[name]
        if isinstance(value, (list, tuple)):
            parent = node.parent
            if not isinstance(parent, exp.In) or node.arg_key != "expressions":
                raise FilterSyntaxError(
                    f"the attribute {name!r} holds a list: use it as x IN (:user.{name})"
                )
            items: Sequence[exp.Expr] = [literal(v) for v in value] or [exp.Null()]
            rest = [e for e in parent.expressions if e is not node]
            parent.set("expressions", [*rest, *items])
            # x IN (NULL) matches no row, as an empty list of permitted values should.
        else:
            node.replace(literal(value))
    return tree
