"""PostgreSQL's system columns (``xmin``, ``ctid``...) are server details; elsewhere, names.

On a real PostgreSQL server ``SELECT ctid, xmin FROM t`` is refused unless the policy sets
``allow_server_info``; a view that really has a column called ``xmin`` is read like any other.
On DuckDB, a table whose own columns are called ``xmin`` and ``ctid`` is read as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import duckdb
import pytest
from dbfixtures import Scratch

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.pipeline import run_sql
from sqlagent.settings import Policy, Settings


def settings(**policy: object) -> Settings:
    return Settings(
        model="scripted", api_key=None, base_url=None, policy=Policy.from_mapping(policy)
    )


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    for database in dbfixtures.scratch_postgres():
        database.run(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
            # A view has no system columns of its own: these two are ordinary view columns.
            "CREATE VIEW v AS SELECT id, xmin::text AS xmin, ctid::text AS ctid FROM t",
        )
        yield database


@pytest.fixture
def pg(scratch: Scratch) -> Iterator[Database]:
    db = connect(scratch.url)
    yield db
    db.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ctid, xmin FROM t",
        "SELECT t.xmax FROM t",
        "SELECT name FROM t WHERE cmin::text = '0'",
        "WITH x AS (SELECT tableoid, id FROM t) SELECT id FROM x",
        "SELECT id FROM t WHERE id IN (SELECT length(ctid::text) FROM t)",
    ],
)
def test_system_columns_are_refused_on_postgres(pg: Database, sql: str) -> None:
    answer = run_sql(sql, db=pg, settings=settings())
    assert answer.error is not None
    assert answer.error.type == "UnsafeSQL"
    assert "PostgreSQL system column" in answer.error.message
    assert "allow_server_info" in (answer.error.hint or "")
    assert not answer.rows


@pytest.mark.postgres
def test_the_policy_may_allow_them(pg: Database) -> None:
    answer = run_sql(
        "SELECT ctid, xmin FROM t ORDER BY id", db=pg, settings=settings(allow_server_info=True)
    )
    assert answer.error is None, answer.error
    assert list(answer.columns) == ["ctid", "xmin"]
    assert len(answer.rows) == 2
    assert str(answer.rows[0][0]).startswith("(0,")  # a real row location: (page, item)


@pytest.mark.postgres
def test_a_star_and_ordinary_columns_are_unchanged(pg: Database) -> None:
    answer = run_sql("SELECT * FROM t ORDER BY id", db=pg, settings=settings())
    assert answer.error is None and list(answer.columns) == ["id", "name"]
    assert [list(r) for r in answer.rows] == [[1, "a"], [2, "b"]]


@pytest.mark.postgres
def test_a_view_column_named_xmin_is_an_ordinary_column(pg: Database) -> None:
    answer = run_sql("SELECT id, xmin, v.ctid FROM v ORDER BY id", db=pg, settings=settings())
    assert answer.error is None, answer.error
    assert list(answer.columns) == ["id", "xmin", "ctid"]
    assert [r[0] for r in answer.rows] == [1, 2]
    assert all(r[1].isdigit() and r[2].startswith("(0,") for r in answer.rows)


def test_duckdb_columns_named_like_system_columns_are_read(tmp_path: Path) -> None:
    path = tmp_path / "named.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER, xmin INTEGER, ctid VARCHAR, tableoid INTEGER)")
    con.execute("INSERT INTO t VALUES (1, -3, 'here', 7)")
    con.close()
    db = connect(str(path))
    try:
        answer = run_sql("SELECT xmin, t.ctid, tableoid FROM t", db=db, settings=settings())
        assert answer.error is None, answer.error
        assert [list(r) for r in answer.rows] == [[-3, "here", 7]]
        missing = run_sql("SELECT xmax FROM t", db=db, settings=settings())
        assert missing.error is not None and missing.error.type == "UnknownColumn"
    finally:
        db.close()
