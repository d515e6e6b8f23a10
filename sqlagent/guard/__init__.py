"""The SQL guard: decide, before anything runs, whether a statement may run.

The model writes SQL from text that users and the data control, so every statement is
untrusted. ``check`` parses it with sqlglot and refuses, with a typed error that says what and
why, anything that is not a single read-only query over tables the policy allows:

1. exactly one statement, parsed strictly (no "best effort" fallback);
2. only SELECT / WITH ... SELECT / set operations / VALUES at the top, and no statement,
   ``SELECT ... INTO``, locking clause or denied function anywhere inside (CTEs, subqueries);
   table functions in FROM only from a short allow list; no file paths or URLs as tables;
3. every table exists and the policy allows it; every column exists (resolved with sqlglot's
   optimizer against the schema) and is not denied.

What runs is regenerated from the checked syntax tree, without comments, so text that the
database would read differently from sqlglot (executable comments, odd comment styles) cannot
smuggle anything past the guard. The guard is pure: no I/O, no database.

``SELECT *`` over a table with denied columns is expanded to the allowed columns (``sql`` and
``executable`` then list them explicitly) rather than refused; naming a denied column anywhere
(projection, WHERE, JOIN, ORDER BY, USING, ``t.*`` inside a function) is refused.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..errors import GuardError, SQLParseError
from ..settings import Policy
from ..types import GuardedSQL, SchemaInfo
from .bound import _bounded_text, _generate, _trailing_limit
from .constructs import _check_nodes, _check_reserved_names
from .names import _analyse, _demote_double_quoted, _known_names, _QuotedName, _spell_as_defined
from .parse import _check_blocks, _check_size, _check_statement, _parse, _strip_parens
from .policy import visible_schema
from .promptness import stops_promptly
from .rowfilter import apply_row_filters
from .rules import rules_for

__all__ = ["cached_check", "check", "visible_schema"]


def check(
    sql: str, *, schema: SchemaInfo, policy: Policy, dialect: str | None = None
) -> GuardedSQL:
    """Check one statement and return it normalised, with the row bound the executor needs.

    Raises ``SQLParseError``, ``UnsafeSQL``, ``PolicyViolation``, ``UnknownTable`` or
    ``UnknownColumn`` (all ``GuardError``), each with ``sql`` set and a message that says what
    was refused and why. ``dialect`` defaults to ``schema.dialect``.

    >>> from sqlagent.types import ColumnInfo, TableInfo
    >>> s = SchemaInfo("duckdb", (TableInfo("t", (ColumnInfo("a", "INTEGER"),)),))
    >>> check("select a from t", schema=s, policy=Policy(max_rows=10)).executable
    'SELECT a FROM t LIMIT 11'
    """
    name = (dialect or schema.dialect).lower()
    key = (sql, name, id(schema), policy)
    hit = cached_check(sql, schema=schema, policy=policy, dialect=name)
    if hit is not None:
        return hit
    guarded = _check(sql, schema, policy, name)
    with _CACHE_LOCK:
        # The schema is held with the result: an id is only unique while its object lives.
        _CACHE[key] = (schema, guarded)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return guarded


def cached_check(
    sql: str, *, schema: SchemaInfo, policy: Policy, dialect: str | None = None
) -> GuardedSQL | None:
    """What ``check`` returned for exactly these arguments before, if it passed; else None."""
    key = (sql, (dialect or schema.dialect).lower(), id(schema), policy)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is schema:
            _CACHE.move_to_end(key)
            return hit[1]
    return None


_CACHE_SIZE = 512


_CACHE: OrderedDict[tuple[str, str, int, Policy], tuple[SchemaInfo, GuardedSQL]] = OrderedDict()


"""Checks passed, by (SQL, dialect, schema object, policy): the guard is a pure function of
these, and a dashboard re-running a query (or a chart, a download) need not check it again.
Refusals are not kept: they are cheap, and each carries its own error object."""


_CACHE_LOCK = threading.Lock()


def _check(sql: str, schema: SchemaInfo, policy: Policy, name: str) -> GuardedSQL:
    rules = rules_for(name)
    try:
        _check_size(sql, policy)
        tree = _parse(sql, name, rules)
        _check_blocks(tree, policy)
        _check_statement(tree, sql, name)
        _check_reserved_names(tree)
        _check_nodes(tree, rules, policy)
        tree = _strip_parens(tree)
        if rules.double_quoted_strings:
            _demote_double_quoted(tree, _known_names(tree, schema), demote_all=False)
        # SQLite reads an unresolvable "name" as the string 'name'; each retry turns one more
        # such name into a string, exactly as SQLite would, until everything resolves.
        for _ in range(64):
            try:
                output, tables = _analyse(tree, schema, policy, rules)
                break
            except _QuotedName as quoted:
                _demote_double_quoted(tree, {quoted.name}, demote_all=True)
        else:  # pragma: no cover - needs more than 64 distinct unresolvable quoted names
            raise SQLParseError("The query has too many unresolvable quoted names")
        if rules.case_insensitive_names:
            _spell_as_defined(output, schema)
        if policy.row_filters:
            output = apply_row_filters(output, schema, policy, rules)
        prompt = stops_promptly(output)  # before generating: that may reuse the tree
        if _trailing_limit(output, name):
            # The tree is not needed after this: generate it in place rather than copy it.
            text = _generate(output, name, copy=False)
            executable, added = f"{text} LIMIT {policy.max_rows + 1}", True
        else:
            text = _generate(output, name)
            executable, added = _bounded_text(output, text, policy.max_rows, name)
    except GuardError as err:
        err.sql = sql
        raise
    except Exception as exc:  # the guard fails closed, with a typed error
        raise SQLParseError(
            f"The query could not be checked ({type(exc).__name__}: {exc}); rewrite it more simply",
            sql=sql,
        ) from exc
    return GuardedSQL(
        sql=text, executable=executable, tables=tables, limit_added=added, stops_promptly=prompt
    )
