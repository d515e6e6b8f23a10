"""The MySQL-protocol backend on a scratch database of the local MariaDB server."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Iterator

import dbfixtures
import pytest
from dbfixtures import CANONICAL_JSON, Scratch, free_port, result_json

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation

pytestmark = pytest.mark.mariadb

SHOP_SQL = [
    """CREATE TABLE `Customers` (`Id` INT PRIMARY KEY, `Full Name` TEXT NOT NULL,
                                 city VARCHAR(40) COMMENT 'Home city', opens TIME, flags BIT(3))
       COMMENT 'People who bought something'""",
    """CREATE TABLE `Order Items` (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2),
                                   FOREIGN KEY (customer_id) REFERENCES `Customers`(`Id`))""",
    "CREATE VIEW big_spenders AS SELECT * FROM `Order Items` WHERE amount > 100",
    """INSERT INTO `Customers` SELECT seq, CONCAT('Name ', seq),
           ELT(seq % 6 + 1, 'Tucson', 'Phoenix', 'Mesa', 'Phoenix', 'Tucson', 'Phoenix'),
           '09:30:00', b'101'
       FROM seq_1_to_200""",
    "INSERT INTO `Order Items` SELECT seq, seq % 200 + 1, seq * 1.5 FROM seq_1_to_50000",
]


# One scratch database per module: every test here only reads it (the write tests prove
# exactly that), so sharing it is safe and keeps the module fast.
@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    for database in dbfixtures.scratch_mariadb():
        database.run(*SHOP_SQL)
        yield database


@pytest.fixture
def shop(scratch: Scratch) -> Iterator[Database]:
    db = connect(scratch.url)
    yield db
    db.close()


def test_schema_reads_keys_comments_counts_and_samples(shop: Database) -> None:
    schema = shop.schema()
    assert schema.dialect == "mysql" and shop.dialect == "mysql"
    assert {t.name: t.kind for t in schema.tables} == {
        "Customers": "table",
        "Order Items": "table",
        "big_spenders": "view",
    }
    customers = schema.table("customers")
    assert customers is not None and customers.schema is None
    assert customers.comment == "People who bought something"
    assert customers.primary_key == ("Id",)
    assert customers.row_count == 200
    city = customers.column("city")
    assert city is not None and city.comment == "Home city" and city.type == "varchar(40)"
    assert city.samples == ("Phoenix", "Tucson", "Mesa")
    assert customers.column("Full Name").nullable is False  # type: ignore[union-attr]
    assert customers.column("Full Name").samples == ()  # type: ignore[union-attr]

    items = schema.table("Order Items")
    assert items is not None and items.row_count == 50000
    (fk,) = items.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("customer_id",), "Customers", ("Id",))
    view = schema.table("big_spenders")
    assert view is not None and view.comment is None and view.row_count is None


def test_bounded_fetch_and_truncation(shop: Database) -> None:
    started = time.perf_counter()
    result = shop.execute("SELECT id FROM `Order Items` ORDER BY id", max_rows=10, timeout=10)
    assert time.perf_counter() - started < 2.0
    assert [r[0] for r in result.rows] == list(range(1, 11))
    assert result.truncated and result.columns == ("id",)
    # a huge generated result is cut at the server, not drained
    started = time.perf_counter()
    huge = shop.execute("SELECT seq FROM seq_1_to_100000000", max_rows=5, timeout=10)
    assert time.perf_counter() - started < 2.0
    assert huge.row_count == 5 and huge.truncated


def test_the_row_bound_does_not_leak_into_later_queries(shop: Database) -> None:
    shop.execute("SELECT id FROM `Order Items`", max_rows=3, timeout=5)
    result = shop.execute("SELECT id FROM `Order Items`", max_rows=60000, timeout=10)
    assert result.row_count == 50000 and not result.truncated
    # nor into introspection, which shares the pool
    assert shop.schema(refresh=True).table("Order Items").row_count == 50000  # type: ignore[union-attr]


def test_timeout_cancels_and_connection_stays_usable(shop: Database) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryTimeout, match=r"0\.5 s"):
        shop.execute("SELECT SLEEP(5)", max_rows=5, timeout=0.5)
    assert time.perf_counter() - started < 2.5
    for _ in range(3):
        assert shop.execute("SELECT 1", max_rows=5, timeout=5).rows == ((1,),)
    assert shop.execute("SELECT SLEEP(0.6), 7", max_rows=5, timeout=5).rows == ((0, 7),)


WRITES = [
    "INSERT INTO `Customers` (`Id`, `Full Name`) VALUES (999, 'x')",
    "UPDATE `Customers` SET city = 'Nowhere'",
    "DELETE FROM `Customers`",
    "CREATE TABLE t (a INT)",
    "CREATE TEMPORARY TABLE `Customers` (a INT)",
    "DROP TABLE `Order Items`",
    "TRUNCATE `Order Items`",
    "ALTER TABLE `Customers` ADD COLUMN x INT",
    "RENAME TABLE `Order Items` TO items",
    "SELECT * FROM `Customers` FOR UPDATE",
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_at_the_connection(shop: Database, scratch: Scratch, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation):
        shop.execute(sql, max_rows=5, timeout=5)
    assert scratch.rows("SELECT count(*), min(city) FROM `Customers`") == [(200, "Mesa")]
    assert scratch.rows(
        f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{scratch.name}'"
    ) == [(3,)]


@pytest.mark.parametrize(
    "sql",
    [
        "SET SESSION TRANSACTION READ WRITE",
        "SELECT 1; DELETE FROM `Customers`",
        "COMMIT",
    ],
)
def test_tricks_around_the_read_only_transaction_fail(
    shop: Database, scratch: Scratch, sql: str
) -> None:
    with contextlib.suppress(ExecutionError):
        shop.execute(sql, max_rows=5, timeout=5)
    with pytest.raises(ReadOnlyViolation):
        shop.execute("DELETE FROM `Customers`", max_rows=5, timeout=5)
    assert scratch.rows("SELECT count(*) FROM `Customers`") == [(200,)]


def test_percent_signs_are_plain_sql(shop: Database) -> None:
    result = shop.execute(
        "SELECT count(*) FROM `Customers` WHERE city LIKE 'P%' AND '%s' = '%s'",
        max_rows=5,
        timeout=5,
    )
    assert result.rows == ((100,),)


def test_values_give_the_canonical_json(shop: Database) -> None:
    result = shop.execute(
        """SELECT 42 AS i, CAST(12.50 AS DECIMAL(10, 2)) AS d, 'héllo' AS t,
                  DATE '2024-01-02' AS day, TIMESTAMP '2024-01-02 03:04:05' AS ts,
                  TIME '12:30:00' AS tod, CAST(0.25 AS DOUBLE) AS f, x'00ff' AS b,
                  CAST('12345678-1234-5678-1234-567812345678' AS UUID) AS u, NULL AS n""",
        max_rows=5,
        timeout=5,
    )
    assert result_json(result) == CANONICAL_JSON


def test_driver_specific_values_become_python_natives(shop: Database) -> None:
    result = shop.execute(
        "SELECT opens, flags, TIME '30:00:00' AS long_time FROM `Customers` WHERE `Id` = 1",
        max_rows=5,
        timeout=5,
    )
    assert result.rows == ((dt.time(9, 30), 5, dt.timedelta(hours=30)),)
    u = shop.execute("SELECT UUID() AS u", max_rows=1, timeout=5).rows[0][0]
    assert uuid.UUID(str(u))


# ---------------------------------------------------------------------- connecting


@pytest.fixture
def reader(scratch: Scratch) -> Iterator[tuple[str, str]]:
    """A non-root account with a password, dropped afterwards."""
    user = f"{scratch.name}_r"[:32]
    scratch.run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'Right-pw-1'",
        f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'Right-pw-1'",
        f"GRANT SELECT ON `{scratch.name}`.* TO '{user}'@'%'",
        f"GRANT SELECT ON `{scratch.name}`.* TO '{user}'@'localhost'",
    )
    try:
        yield user, "Right-pw-1"
    finally:
        scratch.run(
            f"DROP USER IF EXISTS '{user}'@'%'", f"DROP USER IF EXISTS '{user}'@'localhost'"
        )


def test_a_wrong_password_is_one_clear_masked_message(
    scratch: Scratch, reader: tuple[str, str]
) -> None:
    import sqlalchemy as sa

    user, password = reader
    base = sa.make_url(scratch.url).set(username=user)
    good = connect(base.set(password=password).render_as_string(hide_password=False))
    try:
        assert "Right-pw-1" not in good.display_url and "***" in good.display_url
        assert good.execute("SELECT 1", max_rows=1, timeout=5).rows == ((1,),)
    finally:
        good.close()
    with pytest.raises(ConnectionFailed, match="Access denied") as info:
        connect(base.set(password="Wrong-pw-2").render_as_string(hide_password=False))
    assert "Wrong-pw-2" not in str(info.value)
    assert "password" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("change", "message", "hint"),
    [
        ({"database": "sqlagent_no_such_db"}, "Unknown database", "database name"),
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


def test_mariadb_scheme_and_bare_mysql_scheme_work(scratch: Scratch) -> None:
    import sqlalchemy as sa

    for scheme in ("mysql", "mariadb+pymysql"):
        url = sa.make_url(scratch.url).set(drivername=scheme)
        db = connect(url.render_as_string(hide_password=False))
        try:
            assert db.dialect == "mysql"
            with pytest.raises(QueryTimeout):
                db.execute("SELECT SLEEP(3)", max_rows=1, timeout=0.3)
        finally:
            db.close()


def test_the_client_side_kill_holds_without_the_server_timeout(shop: Database) -> None:
    # Replace the dialect profile by one that sets no server-side timeout: KILL QUERY from the
    # timer thread alone must stop the statement, and the connection must stay usable.
    from dataclasses import replace

    from sqlagent.db.sqla import SqlaDatabase

    assert isinstance(shop, SqlaDatabase)
    shop._profile = replace(
        shop._profile,
        prologue=lambda timeout, max_rows: ["START TRANSACTION READ ONLY"],
        server_timeout=False,
    )
    started = time.perf_counter()
    with pytest.raises(QueryTimeout):
        shop.execute("SELECT SLEEP(5)", max_rows=5, timeout=0.5)
    assert time.perf_counter() - started < 2.5
    assert shop.execute("SELECT 1", max_rows=5, timeout=5).rows == ((1,),)
