"""Property: random compositions of allowed pieces pass; one forbidden piece anywhere is refused.

Queries are built from a small grammar of read-only pieces (plain selects, CTEs, derived
tables, IN and correlated EXISTS subqueries, scalar subqueries, unions). Every generated query
outputs one column ``v`` so pieces compose at any depth. Optionally one forbidden piece (a
denied function, a table function reading a file, a data-modifying CTE, a locking clause,
SELECT INTO, a stacked statement) is planted at a random nesting depth. The guard must refuse
the query exactly when a forbidden piece is present.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from guard_corpus import cards_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlagent import errors
from sqlagent.guard import check
from sqlagent.guard.rules import rules_for
from sqlagent.settings import Policy

TABLES = {
    "customers": ("customer_id", "name", "city", "signup_date"),
    "cards": ("card_id", "customer_id", "card_type", "issued_at"),
    "merchants": ("merchant_id", "merchant_name", "category", "country"),
    "transactions": ("txn_id", "card_id", "amount", "status"),
}
SAFE_FUNCTIONS = ("upper", "lower", "length", "coalesce", "abs")

# Which forbidden pieces each dialect can express (all of them parse in that dialect).
KINDS = {
    "duckdb": ("function", "table_function", "file", "dml_cte", "into", "stacked", "lock"),
    "postgres": ("function", "table_function", "dml_cte", "into", "stacked", "lock"),
    "mysql": ("function", "stacked", "lock"),
    "sqlite": ("function", "stacked"),
}
TOP_LEVEL_ONLY = {"into", "stacked"}


@dataclass
class Plan:
    """Where (depth) and what to plant; ``kind`` None builds a clean query."""

    dialect: str
    kind: str | None
    depth: int
    function: str
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"


@st.composite
def _expr(draw: st.DrawFn, table: str, alias: str) -> str:
    column = f"{alias}.{draw(st.sampled_from(TABLES[table]))}"
    shape = draw(st.sampled_from(("col", "func", "case", "cast")))
    if shape == "func":
        fn = draw(st.sampled_from(SAFE_FUNCTIONS))
        return f"{fn}({column})" if fn != "coalesce" else f"coalesce({column}, {column})"
    if shape == "case":
        return f"CASE WHEN {column} IS NULL THEN 0 ELSE 1 END"
    if shape == "cast":
        return f"CAST({column} AS VARCHAR(20))"
    return column


@st.composite
def _query(draw: st.DrawFn, plan: Plan, depth: int, max_depth: int) -> str:
    """A query with one output column ``v``; plants the forbidden piece at ``plan.depth``."""
    here = plan.kind is not None and depth == plan.depth
    nested = ["derived", "cte", "in", "exists", "scalar", "union"]
    if depth >= max_depth or (here and plan.kind == "file"):
        shapes = ["base"]
    elif plan.kind is not None and depth < plan.depth:
        shapes = nested  # keep descending until the planted piece's depth
    elif here and plan.kind in ("function", "table_function"):
        shapes = ["base", "in", "exists", "union"]  # the shapes that use expr and source
    else:
        shapes = ["base", *nested]
    shape = draw(st.sampled_from(shapes))
    table = draw(st.sampled_from(sorted(TABLES)))
    alias = plan.fresh("t")
    expr = draw(_expr(table, alias))
    if here and plan.kind == "function":
        expr = draw(st.sampled_from((f"{plan.function}('x')", f"upper({plan.function}('x'))")))
    source = f"{table} AS {alias}"
    if here and plan.kind == "table_function":
        source = f"{plan.function}('data.csv') AS {alias}"
    if here and plan.kind == "file":
        source = f"'data.csv' AS {alias}"
    inner = draw(_query(plan, depth + 1, max_depth)) if shape != "base" else ""
    if shape == "base":
        sql = f"SELECT {expr} AS v FROM {source}"
        if draw(st.booleans()):
            sql += f" WHERE {alias}.{TABLES[table][0]} > {draw(st.integers(0, 99))}"
    elif shape == "derived":
        d = plan.fresh("d")
        sql = f"SELECT {d}.v AS v FROM ({inner}) AS {d}"
    elif shape == "cte":
        c = plan.fresh("c")
        sql = f"WITH {c} AS ({inner}) SELECT {c}.v AS v FROM {c}"
    elif shape == "in":
        s = plan.fresh("s")
        key = TABLES[table][0]
        sql = (
            f"SELECT {expr} AS v FROM {source} "
            f"WHERE {alias}.{key} IN (SELECT {s}.v FROM ({inner}) AS {s})"
        )
    elif shape == "exists":
        e = plan.fresh("e")
        key = TABLES[table][0]
        sql = (
            f"SELECT {expr} AS v FROM {source} "
            f"WHERE EXISTS (SELECT 1 FROM ({inner}) AS {e} WHERE {e}.v = {alias}.{key})"
        )
    elif shape == "scalar":
        m = plan.fresh("m")
        sql = f"SELECT (SELECT max({m}.v) FROM ({inner}) AS {m}) AS v FROM {source}"
    else:
        u = plan.fresh("u")
        other = f"SELECT {expr} AS v FROM {source}"
        sql = f"SELECT {u}.v AS v FROM ({inner}) AS {u} UNION ALL {other}"
    if here and plan.kind == "dml_cte":
        w, z = plan.fresh("w"), plan.fresh("z")
        sql = f"WITH {w} AS (DELETE FROM cards RETURNING card_id), {z} AS ({sql}) "
        sql += f"SELECT {z}.v AS v FROM {z}"
    if here and plan.kind == "lock" and shape == "base":
        sql += " FOR UPDATE"
    elif here and plan.kind == "lock":
        sql = f"SELECT l.v AS v FROM ({sql} FOR UPDATE) AS l" if depth else f"{sql} FOR UPDATE"
    if here and plan.kind == "into":
        sql = sql.replace(" AS v FROM ", " AS v INTO stolen FROM ", 1)
    return sql


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, str, bool]:
    dialect = draw(st.sampled_from(sorted(KINDS)))
    forbidden = draw(st.booleans())
    kind = draw(st.sampled_from(KINDS[dialect])) if forbidden else None
    max_depth = draw(st.integers(0, 3))
    depth = 0 if kind in TOP_LEVEL_ONLY else draw(st.integers(0, max_depth))
    function = draw(st.sampled_from(sorted(rules_for(dialect).denied_functions)))
    if kind == "table_function":
        function = draw(st.sampled_from(("read_csv", "read_parquet", "read_text", "query")))
        if dialect == "postgres":
            function = draw(st.sampled_from(("pg_ls_dir", "pg_read_file", "dblink")))
    plan = Plan(dialect, kind, depth, function)
    sql = draw(_query(plan, 0, max_depth))
    if kind == "stacked":
        tail = draw(
            st.sampled_from(
                (
                    "; DROP TABLE customers",
                    " /* ; */; DELETE FROM cards",
                    ";\nUPDATE cards SET card_type = 'x'",
                    "; SELECT 1",
                )
            )
        )
        sql += tail
    return dialect, sql, kind is not None


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_cases())
def test_refused_exactly_when_a_forbidden_piece_is_present(
    case: tuple[str, str, bool],
) -> None:
    dialect, sql, forbidden = case
    schema = cards_schema(dialect)
    if forbidden:
        with pytest.raises(errors.UnsafeSQL):
            check(sql, schema=schema, policy=Policy())
    else:
        guarded = check(sql, schema=schema, policy=Policy())
        assert guarded.executable.endswith("LIMIT 1001")
        assert set(guarded.tables) <= set(TABLES)
