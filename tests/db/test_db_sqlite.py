"""The SQLite backend on real files built in tmp_path."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbfixtures import CANONICAL_JSON, result_json

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation

SHOP_SQL = """
CREATE TABLE "Customers" ("Id" INTEGER PRIMARY KEY, "Full Name" TEXT NOT NULL, city TEXT);
CREATE TABLE "Order Items" (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES "Customers"("Id"),
    amount NUMERIC
);
CREATE VIEW big_spenders AS SELECT * FROM "Order Items" WHERE amount > 100;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)
INSERT INTO "Customers" SELECT i, 'Name ' || i,
    CASE i % 6 WHEN 1 THEN 'Tucson' WHEN 4 THEN 'Tucson' WHEN 3 THEN 'Mesa' ELSE 'Phoenix' END
    FROM s;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)
INSERT INTO "Order Items" SELECT i, i % 200 + 1, i * 1.5 FROM s;
"""


@pytest.fixture
def shop_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript(SHOP_SQL)
    con.commit()
    con.close()
    return path


@pytest.fixture
def shop(shop_path: Path) -> Iterator[Database]:
    db = connect(f"sqlite:///{shop_path}")
    yield db
    db.close()


def test_schema_reads_tables_views_keys_counts_and_samples(shop: Database) -> None:
    schema = shop.schema()
    assert schema.dialect == "sqlite"
    assert {t.name: t.kind for t in schema.tables} == {
        "Customers": "table",
        "Order Items": "table",
        "big_spenders": "view",
    }
    customers = schema.table("Customers")
    assert customers is not None
    assert customers.primary_key == ("Id",) and customers.row_count == 200
    full_name = customers.column("full name")
    assert full_name is not None and full_name.nullable is False and full_name.samples == ()
    assert customers.column("city").samples == ("Phoenix", "Tucson", "Mesa")  # type: ignore[union-attr]
    items = schema.table("Order Items")
    assert items is not None and items.row_count == 5000
    (fk,) = items.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("customer_id",), "Customers", ("Id",))
    assert schema.table("big_spenders").row_count is None  # type: ignore[union-attr]


def test_bounded_fetch_and_truncation(shop: Database) -> None:
    result = shop.execute('SELECT id FROM "Order Items" ORDER BY id', max_rows=10, timeout=5)
    assert [r[0] for r in result.rows] == list(range(1, 11))
    assert result.truncated and result.columns == ("id",)
    exact = shop.execute('SELECT count(*) AS n FROM "Order Items"', max_rows=1, timeout=5)
    assert exact.rows == ((5000,),) and not exact.truncated


def test_bounded_fetch_never_computes_the_whole_result(shop: Database) -> None:
    # An endless generator: only a bounded fetch can return from it.
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
    result = shop.execute(sql, max_rows=100, timeout=5)
    assert result.row_count == 100 and result.truncated


def test_timeout_cancels_and_connection_stays_usable(shop: Database) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    started = time.perf_counter()
    with pytest.raises(QueryTimeout, match=r"0\.5 s"):
        shop.execute(sql, max_rows=5, timeout=0.5)
    assert time.perf_counter() - started < 3.0
    assert shop.execute("SELECT 2 * 21", max_rows=5, timeout=5).rows == ((42,),)
    # the deadline does not linger on the pooled connection
    result = shop.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
        "SELECT count(*) FROM c",
        max_rows=5,
        timeout=10,
    )
    assert result.rows == ((300000,),)


WRITES = [
    "INSERT INTO \"Customers\" VALUES (999, 'x', 'y')",
    "UPDATE \"Customers\" SET city = 'Nowhere'",
    'DELETE FROM "Customers"',
    "CREATE TABLE t (a INTEGER)",
    'CREATE TEMP TABLE "Customers" AS SELECT 1 AS "Id"',
    'DROP TABLE "Order Items"',
    'ALTER TABLE "Customers" ADD COLUMN x INTEGER',
    "PRAGMA journal_mode = WAL",
    "VACUUM",
    "ANALYZE",
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_at_the_connection(shop: Database, shop_path: Path, sql: str) -> None:
    before = shop_path.read_bytes()
    with pytest.raises(ReadOnlyViolation):
        shop.execute(sql, max_rows=5, timeout=5)
    assert shop_path.read_bytes() == before
    count = shop.execute('SELECT count(*), min(city) FROM "Customers"', max_rows=5, timeout=5)
    assert count.rows == ((200, "Mesa"),)


def test_attach_creates_no_file(shop: Database, tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    with pytest.raises(ReadOnlyViolation):
        shop.execute(f"ATTACH '{target}' AS other", max_rows=5, timeout=5)
    assert not target.exists()


def test_only_one_statement_runs(shop: Database) -> None:
    with pytest.raises(ExecutionError):
        shop.execute('SELECT 1; DELETE FROM "Customers"', max_rows=5, timeout=5)
    assert shop.execute('SELECT count(*) FROM "Customers"', max_rows=5, timeout=5).rows == ((200,),)


def test_reading_pragmas_still_work(shop: Database) -> None:
    result = shop.execute("PRAGMA table_info('Customers')", max_rows=10, timeout=5)
    assert [r[1] for r in result.rows] == ["Id", "Full Name", "city"]


@pytest.mark.parametrize(
    "target", ["sqlite:///{dir}/missing.sqlite", "{dir}/missing.sqlite", "{dir}/missing.sqlite3"]
)
def test_a_missing_database_is_never_created(tmp_path: Path, target: str) -> None:
    with pytest.raises(ConnectionFailed, match="does not exist"):
        connect(target.format(dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_db_file_holding_sqlite_is_opened_as_sqlite(shop_path: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "legacy.db"
    renamed.write_bytes(shop_path.read_bytes())
    db = connect(renamed)
    try:
        assert db.dialect == "sqlite" and db.path == renamed
        assert db.execute('SELECT count(*) FROM "Customers"', max_rows=1, timeout=5).rows == (
            (200,),
        )
    finally:
        db.close()


def test_a_file_that_is_no_database_fails_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not a database at all\n" * 50)
    with pytest.raises(ConnectionFailed, match="not a database"):
        connect(bogus)


def test_values_give_the_canonical_json(shop: Database) -> None:
    # SQLite has no date/time types: dates and times are text, so only a timestamp's ISO
    # spelling cannot match (it is stored as text too, with a space).
    result = shop.execute(
        """SELECT 42 AS i, 12.5 AS d, 'héllo' AS t, '2024-01-02' AS day,
                  '12:30:00' AS tod, 0.25 AS f, x'00ff' AS b,
                  '12345678-1234-5678-1234-567812345678' AS u, NULL AS n""",
        max_rows=5,
        timeout=5,
    )
    expected = {k: v for k, v in CANONICAL_JSON.items() if k != "ts"}
    assert result_json(result) == expected
