"""The row-filter rewrite on the cases around it: views, other ways to name or reach a table,
clauses that stay with the table, and filters that cannot be bound."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.errors import GuardError, PolicyViolation
from sqlagent.guard import check, visible_schema
from sqlagent.settings import Policy, RowFilter

WEST = RowFilter("orders", "region = :user.r", (("r", "W"),))


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "rows.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE orders AS SELECT range AS id, CASE WHEN range % 2 = 0 THEN 'W' ELSE 'E' "
        "END AS region, range * 10 AS amount FROM range(10)"
    )
    con.execute("CREATE VIEW everything AS SELECT * FROM orders")
    con.execute("CREATE VIEW big AS SELECT * FROM orders WHERE amount > 40")
    con.close()
    database = connect(f"duckdb:///{path}")
    yield database
    database.close()


def _run(db: Database, sql: str, policy: Policy) -> list[tuple[object, ...]]:
    guarded = check(sql, schema=db.schema(), policy=policy)
    return list(db.execute(guarded.executable, max_rows=100, timeout=10).rows)


def test_a_view_is_closed_while_row_filters_apply(db: Database) -> None:
    policy = Policy(row_filters=(WEST,))
    with pytest.raises(PolicyViolation, match="View everything is not accessible"):
        _run(db, "SELECT count(*) FROM everything", policy)
    names = {t.name for t in visible_schema(db.schema(), policy).tables}
    assert names == {"orders"}
    # Without row filters the views are there as before.
    assert _run(db, "SELECT count(*) FROM everything", Policy()) == [(10,)]


def test_a_view_with_a_filter_of_its_own_is_read_through_it(db: Database) -> None:
    policy = Policy(row_filters=(WEST, RowFilter("big", "region = 'W'")))
    assert _run(db, "SELECT id FROM big ORDER BY id", policy) == [(6,), (8,)]
    assert {t.name for t in visible_schema(db.schema(), policy).tables} == {"orders", "big"}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM orders",
        'SELECT count(*) FROM "main"."orders"',
        "SELECT count(*) FROM (FROM orders)",
        "FROM orders SELECT count(*)",
        "SELECT count(*) FROM orders USING SAMPLE 100 PERCENT (bernoulli)",
        "SELECT count(*) FROM orders o NATURAL JOIN orders",
        "SELECT (SELECT count(*) FROM orders) FROM range(1)",
        "SELECT count(*) FROM orders WHERE region = 'E' OR 1 = 1",
    ],
)
def test_every_way_of_naming_the_table_reads_the_permitted_rows(db: Database, sql: str) -> None:
    assert _run(db, sql, Policy(row_filters=(WEST,))) == [(5,)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM query_table('orders')",
        "SELECT * FROM query('SELECT * FROM orders')",
        "SELECT estimated_size FROM duckdb_tables()",
        "SELECT * FROM information_schema.tables",
        "SUMMARIZE orders",
    ],
)
def test_no_other_door_to_the_rows_is_open(db: Database, sql: str) -> None:
    with pytest.raises(GuardError):
        _run(db, sql, Policy(row_filters=(WEST,)))


def test_a_filter_that_cannot_be_bound_reads_nothing(db: Database) -> None:
    unbound = Policy(row_filters=(RowFilter("orders", "region = :user.r"),))
    with pytest.raises(PolicyViolation, match="needs the user attribute 'r'"):
        _run(db, "SELECT count(*) FROM orders", unbound)
    shown = visible_schema(db.schema(), unbound).table("orders")
    assert shown is not None and shown.row_filter == "1 = 0"
    wrong = Policy(row_filters=(RowFilter("orders", "nope = 1", origin="p.yaml:3"),))
    with pytest.raises(PolicyViolation, match=r"p.yaml:3.*names nope"):
        _run(db, "SELECT count(*) FROM orders", wrong)


def test_filters_on_one_table_all_hold(db: Database) -> None:
    policy = Policy(
        row_filters=(WEST, RowFilter("orders", "amount >= 40"), RowFilter("ord*", "id < 8"))
    )
    assert _run(db, "SELECT id FROM orders ORDER BY id", policy) == [(4,), (6,)]
