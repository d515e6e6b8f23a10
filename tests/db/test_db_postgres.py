"""The PostgreSQL backend on a scratch database of the local server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import dbfixtures
import pytest
from dbfixtures import CANONICAL_JSON, Scratch, free_port, result_json

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation

pytestmark = pytest.mark.postgres

SHOP_SQL = [
    """CREATE TABLE "Customers" ("Id" INTEGER PRIMARY KEY, "Full Name" TEXT NOT NULL,
                                 city TEXT, tags JSONB, since INTERVAL, ip INET)""",
    "COMMENT ON TABLE \"Customers\" IS 'People who bought something'",
    "COMMENT ON COLUMN \"Customers\".city IS 'Home city'",
    """CREATE TABLE "Order Items" (id INTEGER PRIMARY KEY,
                                   customer_id INTEGER REFERENCES "Customers"("Id"),
                                   amount NUMERIC(10, 2))""",
    "CREATE SCHEMA sales",
    """CREATE TABLE sales.targets (year INTEGER, month INTEGER, goal NUMERIC(12, 2),
                                  owner INTEGER REFERENCES "Customers"("Id"),
                                  PRIMARY KEY (year, month))""",
    "COMMENT ON TABLE sales.targets IS 'Monthly goals'",
    'CREATE VIEW big_spenders AS SELECT * FROM "Order Items" WHERE amount > 100',
    """INSERT INTO "Customers" SELECT i, 'Name ' || i,
           (ARRAY['Tucson', 'Phoenix', 'Mesa', 'Phoenix', 'Tucson', 'Phoenix'])[i % 6 + 1],
           '{"vip": true}', INTERVAL '2 days', '10.0.0.1'
       FROM generate_series(1, 200) AS i""",
    """INSERT INTO "Order Items" SELECT i, i % 200 + 1, i * 1.5
       FROM generate_series(1, 50000) AS i""",
]


# One scratch database per module: every test here only reads it (the write tests prove
# exactly that), so sharing it is safe and keeps the module fast.
@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    for database in dbfixtures.scratch_postgres():
        database.run(*SHOP_SQL)
        yield database


@pytest.fixture
def shop(scratch: Scratch) -> Iterator[Database]:
    db = connect(scratch.url)
    yield db
    db.close()


def test_schema_reads_every_user_schema_with_keys_comments_counts_samples(shop: Database) -> None:
    schema = shop.schema()
    assert schema.dialect == "postgres" and shop.dialect == "postgres"
    assert schema.default_schema == "public"
    assert {t.qualified_name: t.kind for t in schema.tables} == {
        "Customers": "table",
        "Order Items": "table",
        "big_spenders": "view",
        "sales.targets": "table",
    }
    customers = schema.table("Customers")
    assert customers is not None and customers.schema is None
    assert customers.comment == "People who bought something"
    assert customers.primary_key == ("Id",)
    assert customers.row_count == 200
    city = customers.column("city")
    assert city is not None and city.comment == "Home city"
    assert city.samples == ("Phoenix", "Tucson", "Mesa")
    assert customers.column("Full Name").nullable is False  # type: ignore[union-attr]
    assert customers.column("Full Name").samples == ()  # type: ignore[union-attr]
    assert customers.column("tags").type == "JSONB"  # type: ignore[union-attr]

    items = schema.table("Order Items")
    assert items is not None and items.row_count == 50000
    (fk,) = items.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("customer_id",), "Customers", ("Id",))

    targets = schema.table("targets", schema="sales")
    assert targets is not None
    assert targets.schema == "sales" and targets.comment == "Monthly goals"
    assert targets.primary_key == ("year", "month")
    (owner,) = targets.foreign_keys
    assert owner.ref_table == "Customers" and owner.ref_schema in (None, "public")


def test_bounded_fetch_streams_only_what_is_asked(shop: Database) -> None:
    started = time.perf_counter()
    result = shop.execute('SELECT id FROM "Order Items" ORDER BY id', max_rows=10, timeout=10)
    assert time.perf_counter() - started < 2.0
    assert [r[0] for r in result.rows] == list(range(1, 11))
    assert result.truncated and result.columns == ("id",)
    exact = shop.execute('SELECT count(*) AS n FROM "Order Items"', max_rows=1, timeout=5)
    assert exact.rows == ((50000,),) and not exact.truncated


def test_timeout_cancels_and_connection_stays_usable(shop: Database) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryTimeout, match=r"0\.5 s"):
        shop.execute("SELECT pg_sleep(5)", max_rows=5, timeout=0.5)
    assert time.perf_counter() - started < 2.5
    for _ in range(3):  # every pooled connection is healthy again
        assert shop.execute("SELECT 1", max_rows=5, timeout=5).rows == ((1,),)
    slow_but_allowed = shop.execute("SELECT pg_sleep(0.6), 7", max_rows=5, timeout=5)
    assert slow_but_allowed.rows[0][1] == 7


WRITES = [
    'INSERT INTO "Customers" ("Id", "Full Name") VALUES (999, \'x\')',
    "UPDATE \"Customers\" SET city = 'Nowhere'",
    'DELETE FROM "Customers"',
    "CREATE TABLE t (a INTEGER)",
    'CREATE TEMP TABLE "Customers" AS SELECT 1 AS "Id"',
    'DROP TABLE "Order Items"',
    'TRUNCATE "Order Items"',
    'ALTER TABLE "Customers" ADD COLUMN x INTEGER',
    'WITH gone AS (DELETE FROM "Customers" RETURNING *) SELECT count(*) FROM gone',
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_at_the_connection(shop: Database, scratch: Scratch, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        shop.execute(sql, max_rows=5, timeout=5)
    assert scratch.rows('SELECT count(*), min(city) FROM "Customers"') == [(200, "Mesa")]
    user_tables = "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'sales')"
    assert scratch.rows(user_tables) == [(3,)]


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT 1; DELETE FROM "Customers"',
        'SELECT 1; COMMIT; DELETE FROM "Customers"',
        "SELECT set_config('default_transaction_read_only', 'off', false)",
    ],
)
def test_tricks_around_the_read_only_transaction_fail(
    shop: Database, scratch: Scratch, sql: str
) -> None:
    with contextlib.suppress(ExecutionError):
        shop.execute(sql, max_rows=5, timeout=5)
    # whatever the first statement did, the next write is still refused
    with pytest.raises(ReadOnlyViolation):
        shop.execute('DELETE FROM "Customers"', max_rows=5, timeout=5)
    assert scratch.rows('SELECT count(*) FROM "Customers"') == [(200,)]


def test_non_queries_get_a_plain_message(shop: Database) -> None:
    with pytest.raises(ExecutionError, match="only queries") as info:
        shop.execute("EXPLAIN SELECT 1", max_rows=5, timeout=5)
    assert not isinstance(info.value, ReadOnlyViolation)


def test_database_errors_carry_its_message_without_the_cursor_wrapper(shop: Database) -> None:
    with pytest.raises(ExecutionError) as info:
        shop.execute("SELECT * FROM custmers", max_rows=5, timeout=5)
    assert 'relation "custmers" does not exist' in info.value.message
    assert "DECLARE" not in info.value.message


def test_percent_signs_are_plain_sql(shop: Database) -> None:
    result = shop.execute(
        "SELECT count(*) FROM \"Customers\" WHERE city LIKE 'P%' AND '%s' = '%s'",
        max_rows=5,
        timeout=5,
    )
    assert result.rows == ((100,),)


def test_values_give_the_canonical_json(shop: Database) -> None:
    result = shop.execute(
        """SELECT 42 AS i, 12.50::NUMERIC(10, 2) AS d, 'héllo' AS t, DATE '2024-01-02' AS day,
                  TIMESTAMP '2024-01-02 03:04:05' AS ts, TIME '12:30:00' AS tod,
                  0.25::DOUBLE PRECISION AS f, '\\x00ff'::BYTEA AS b,
                  '12345678-1234-5678-1234-567812345678'::UUID AS u, NULL AS n""",
        max_rows=5,
        timeout=5,
    )
    assert result_json(result) == CANONICAL_JSON


def test_driver_specific_values_become_python_natives(shop: Database) -> None:
    result = shop.execute(
        'SELECT tags, since, ip, ARRAY[1, 2] AS arr FROM "Customers" WHERE "Id" = 1',
        max_rows=5,
        timeout=5,
    )
    tags, since, ip, arr = result.rows[0]
    assert tags == {"vip": True}
    assert since.days == 2
    assert ip == "10.0.0.1"  # an ipaddress object from the driver, as text
    assert arr == [1, 2]


# ---------------------------------------------------------------------- connecting


def test_the_url_without_driver_uses_the_installed_one(scratch: Scratch) -> None:
    import sqlalchemy as sa

    url = sa.make_url(scratch.url).set(drivername="postgresql")
    db = connect(url.render_as_string(hide_password=False))
    try:
        assert db.execute("SELECT 1", max_rows=1, timeout=5).rows == ((1,),)
    finally:
        db.close()


def test_password_is_masked_in_display_url_and_errors(scratch: Scratch) -> None:
    import sqlalchemy as sa

    url = sa.make_url(scratch.url).set(password="s3cret-pw", port=free_port())
    with pytest.raises(ConnectionFailed) as info:
        connect(url.render_as_string(hide_password=False))
    assert "s3cret-pw" not in str(info.value) and "***" in str(info.value)
    assert "s3cret-pw" not in (info.value.hint or "")


@pytest.mark.parametrize(
    ("change", "message", "hint"),
    [
        ({"database": "sqlagent_no_such_db"}, "does not exist", "database name"),
        ({"port": "FREE"}, "Could not connect", "Is the server running"),
    ],
)
def test_connection_errors_are_one_clear_message(
    scratch: Scratch, change: dict[str, object], message: str, hint: str
) -> None:
    import sqlalchemy as sa

    change = {k: free_port() if v == "FREE" else v for k, v in change.items()}
    url = sa.make_url(scratch.url).set(**change)  # type: ignore[arg-type]
    with pytest.raises(ConnectionFailed, match=message) as info:
        connect(url.render_as_string(hide_password=False))
    assert hint in (info.value.hint or "")


def test_a_missing_driver_names_the_package() -> None:
    with pytest.raises(ConnectionFailed) as info:
        connect("postgresql+psycopg2://user:pw@127.0.0.1/db")
    assert "psycopg2-binary" in (info.value.hint or "")
    assert "pw@" not in info.value.message


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("snowflake://user:pw@account/db", "snowflake-sqlalchemy"),
        ("postgresql://user:pw@host:notaport/db", "postgresql://"),
    ],
)
def test_unknown_dialects_and_malformed_urls(url: str, hint: str) -> None:
    with pytest.raises(ConnectionFailed) as info:
        connect(url)
    assert hint in (info.value.hint or "")
    assert ":pw@" not in info.value.message


def test_the_client_side_cancel_holds_without_the_server_timeout(shop: Database) -> None:
    # Replace the dialect profile by one that sets no server-side timeout: the timer thread's
    # cancel() alone must stop the statement, and the pool must stay healthy.
    from dataclasses import replace

    from sqlagent.db.sqla import SqlaDatabase

    assert isinstance(shop, SqlaDatabase)
    shop._profile = replace(
        shop._profile,
        prologue=lambda timeout, max_rows: ["SET TRANSACTION READ ONLY"],
        server_timeout=False,
    )
    started = time.perf_counter()
    with pytest.raises(QueryTimeout):
        shop.execute("SELECT pg_sleep(5)", max_rows=5, timeout=0.5)
    assert time.perf_counter() - started < 2.5
    assert shop.execute("SELECT 1", max_rows=5, timeout=5).rows == ((1,),)
