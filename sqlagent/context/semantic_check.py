"""Checking a semantic model against a database: named expressions whose tables or columns
the database lacks, and verified queries over missing tables, are moved to ``skipped`` (a
model written for another warehouse, or for tables since renamed, must not steer the SQL);
``probe`` also runs each expression on the database, reading no rows, so one written in
another warehouse's dialect (``MEDIAN`` on PostgreSQL) is skipped with the database's error.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..types import SchemaInfo

if TYPE_CHECKING:
    from ..db.base import Database
from .knowledge import NamedExpression
from .semantic_model import SemanticModel, Skipped

_CACHE: dict[tuple[int, int], tuple[SemanticModel, SchemaInfo, SemanticModel]] = {}
_LOCK = threading.Lock()


def check_against(model: SemanticModel, schema: SchemaInfo) -> SemanticModel:
    """``model`` with only what ``schema`` can answer; the rest is in ``skipped`` with the
    missing table or column. The same inputs give the same object."""
    key = (id(model), id(schema))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is model and hit[1] is schema:
            return hit[2]
    columns: dict[str, set[str]] = {}
    for table in schema.tables:
        names = {c.name.lower() for c in table.columns}
        columns[table.name.lower()] = names
        columns[table.qualified_name.lower()] = names
    kept: list[NamedExpression] = []
    skipped = list(model.skipped)
    for expr in model.expressions:
        problem = _expression_problem(expr, columns, schema.dialect)
        if problem:
            skipped.append(Skipped(expr.origin, f"{expr.kind} {expr.name}", problem))
        else:
            kept.append(expr)
    verified, origins = [], []
    for example, origin in zip(model.verified, model.verified_origins, strict=True):
        problem = _query_problem(example.sql, columns, schema.dialect)
        if problem:
            skipped.append(Skipped(origin, f"verified query {example.question!r}", problem))
        else:
            verified.append(example)
            origins.append(origin)
    tables = {k: v for k, v in model.tables.items() if k in columns}
    for name in model.tables:
        if name not in columns:
            origin = model.table_origins.get(name, "")
            skipped.append(Skipped(origin, f"table {name}", "the database has no such table"))
    skipped.sort(key=lambda entry: entry.place)
    checked = replace(
        model,
        tables=MappingProxyType(tables),
        expressions=tuple(kept),
        verified=tuple(verified),
        verified_origins=tuple(origins),
        skipped=tuple(skipped),
    )
    with _LOCK:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = (model, schema, checked)
    return checked


def _expression_problem(
    expr: NamedExpression, columns: dict[str, set[str]], dialect: str
) -> str | None:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    tables = expr.tables or (expr.table,)
    missing = [t for t in tables if t.lower() not in columns]
    if missing:
        return f"the database has no table {', '.join(missing)}"
    known = set().union(*(columns[t.lower()] for t in tables))
    text = f"SELECT {expr.sql} FROM t" + (f" WHERE {expr.filter}" if expr.filter else "")
    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except SqlglotError as exc:
        return f"its SQL does not parse: {' '.join(str(exc).split())[:200]}"
    absent = sorted(
        {
            c.name
            for c in tree.find_all(exp.Column)
            if c.name and c.name.lower() not in known and not isinstance(c.this, exp.Star)
        }
    )
    if absent:
        return f"column {', '.join(absent)} is not in table {', '.join(tables)}"
    return None


def _query_problem(sql: str, columns: dict[str, set[str]], dialect: str) -> str | None:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError as exc:
        return f"its SQL does not parse: {' '.join(str(exc).split())[:200]}"
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    absent = sorted(
        {
            t.name
            for t in tree.find_all(exp.Table)
            if t.name and t.name.lower() not in columns and t.name.lower() not in ctes
        }
    )
    if absent:
        return f"the database has no table {', '.join(absent)}"
    return None


PROBE_SECONDS = 10.0
"""Time allowed for running one expression's probe (it reads no rows)."""

_PROBED: dict[tuple[int, int, int], tuple[SemanticModel, Database, SemanticModel]] = {}


def probe(model: SemanticModel, db: Database) -> SemanticModel:
    """``model`` without the named expressions that fail on ``db``: each runs as
    ``SELECT <sql> FROM <tables> WHERE 1 = 0`` through the guard (read-only), and one the
    guard refuses or the database rejects is in ``skipped`` with the error. The same
    inputs give the same object."""
    from ..errors import SqlAgentError
    from ..guard import check
    from ..settings import Policy

    schema = db.schema()
    key = (id(model), id(db), id(schema))
    with _LOCK:
        hit = _PROBED.get(key)
        if hit is not None and hit[0] is model and hit[1] is db:
            return hit[2]
    kept: list[NamedExpression] = []
    skipped = list(model.skipped)
    for expr in model.expressions:
        condition = f"(1 = 0) AND ({expr.filter})" if expr.filter else "1 = 0"
        if expr.kind == "filter":
            sql = f"SELECT COUNT(*) FROM {expr.table} WHERE (1 = 0) AND ({expr.sql})"
        else:
            sql = f"SELECT {expr.sql} FROM {', '.join(expr.tables or (expr.table,))}"
            sql += f" WHERE {condition}"
        try:
            guarded = check(sql, schema=schema, policy=Policy(max_rows=1))
            db.execute(guarded.executable, max_rows=1, timeout=PROBE_SECONDS)
        except SqlAgentError as exc:
            message = " ".join(str(exc.message).split())[:300]
            skipped.append(
                Skipped(expr.origin, f"{expr.kind} {expr.name}", f"does not run here: {message}")
            )
            continue
        kept.append(expr)
    if len(kept) == len(model.expressions):
        result = model
    else:
        skipped.sort(key=lambda entry: entry.place)
        result = replace(model, expressions=tuple(kept), skipped=tuple(skipped))
    with _LOCK:
        if len(_PROBED) > 32:
            _PROBED.clear()
        _PROBED[key] = (model, db, result)
    return result
