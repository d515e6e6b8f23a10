"""The DuckDB backend on real databases built in tmp_path, and the pure helpers of sqlagent.db."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dbfixtures import CANONICAL_JSON, result_json

from sqlagent.db import connect, parse_target
from sqlagent.db.base import Database, Watchdog
from sqlagent.db.files import table_name, table_names
from sqlagent.db.samples import pick_samples
from sqlagent.db.values import bit_to_int, normalise, parse_json, time_of_day
from sqlagent.errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation

SHOP_SQL = """
CREATE TABLE "Customers" ("Id" INTEGER PRIMARY KEY, "Full Name" VARCHAR NOT NULL, city VARCHAR);
COMMENT ON TABLE "Customers" IS 'People who bought something';
COMMENT ON COLUMN "Customers".city IS 'Home city';
CREATE TABLE "Order Items" (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES "Customers"("Id"),
    amount DECIMAL(10, 2)
);
CREATE SCHEMA sales;
CREATE TABLE sales.targets (year INTEGER, month INTEGER, goal DECIMAL(12, 2),
                            PRIMARY KEY (year, month));
CREATE VIEW big_spenders AS SELECT * FROM "Order Items" WHERE amount > 100;
INSERT INTO "Customers" SELECT i, 'Name ' || i,
    ['Phoenix', 'Tucson', 'Phoenix', 'Mesa', 'Tucson', 'Phoenix'][i % 6 + 1]
    FROM range(1, 201) t(i);
INSERT INTO "Order Items" SELECT i, i % 200 + 1, i * 1.5 FROM range(1, 51) t(i);
"""


@pytest.fixture
def shop_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(SHOP_SQL)
    con.close()
    return path


@pytest.fixture
def shop(shop_path: Path) -> Iterator[Database]:
    db = connect(f"duckdb:///{shop_path}")
    yield db
    db.close()


# ---------------------------------------------------------------------- introspection


def test_schema_reads_tables_views_keys_comments_counts_and_samples(shop: Database) -> None:
    schema = shop.schema()
    assert schema.dialect == "duckdb"
    assert schema.default_schema == "main"
    names = {t.qualified_name: t.kind for t in schema.tables}
    assert names == {
        "Customers": "table",
        "Order Items": "table",
        "sales.targets": "table",
        "big_spenders": "view",
    }

    customers = schema.table("customers")
    assert customers is not None
    assert customers.comment == "People who bought something"
    assert customers.primary_key == ("Id",)
    assert customers.row_count == 200
    full_name = customers.column("Full Name")
    city = customers.column("city")
    assert full_name is not None and city is not None
    assert full_name.nullable is False and full_name.type == "VARCHAR"
    assert customers.column("Id").primary_key  # type: ignore[union-attr]
    assert city.comment == "Home city"
    # most frequent first; 200 distinct names are too many to sample
    assert city.samples == ("Phoenix", "Tucson", "Mesa")
    assert full_name.samples == ()

    items = schema.table("Order Items")
    assert items is not None and items.row_count == 50
    (fk,) = items.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (("customer_id",), "Customers", ("Id",))

    targets = schema.table("targets", schema="sales")
    assert targets is not None and targets.schema == "sales"
    assert targets.primary_key == ("year", "month")

    view = schema.table("big_spenders")
    assert view is not None and [c.name for c in view.columns] == ["id", "customer_id", "amount"]


def test_schema_is_cached_until_refresh(shop: Database) -> None:
    first = shop.schema()
    assert shop.schema() is first
    assert shop.schema(refresh=True) is not first
    assert shop.schema(refresh=True) == first


def test_samples_can_be_switched_off(shop_path: Path) -> None:
    db = connect(shop_path, sample_values=False)
    try:
        city = db.schema().table("Customers").column("city")  # type: ignore[union-attr]
        assert city is not None and city.samples == ()
    finally:
        db.close()


# ---------------------------------------------------------------------- execution


def test_bounded_fetch_of_a_huge_result_is_fast_and_truncated(shop: Database) -> None:
    started = time.perf_counter()
    result = shop.execute("SELECT * FROM range(1000000000) t(i)", max_rows=10, timeout=10)
    assert time.perf_counter() - started < 2.0
    assert result.columns == ("i",)
    assert [r[0] for r in result.rows] == list(range(10))
    assert result.truncated is True
    assert result.elapsed > 0


@pytest.mark.parametrize(("max_rows", "truncated"), [(3, False), (2, True), (0, True)])
def test_truncated_only_when_rows_were_cut(shop: Database, max_rows: int, truncated: bool) -> None:
    result = shop.execute("SELECT * FROM range(3)", max_rows=max_rows, timeout=5)
    assert result.row_count == min(3, max_rows)
    assert result.truncated is truncated


def test_column_names_come_from_the_cursor(shop: Database) -> None:
    result = shop.execute(
        'SELECT "Full Name", count(*) AS "n orders" FROM "Customers" GROUP BY 1 ORDER BY 1 LIMIT 1',
        max_rows=5,
        timeout=5,
    )
    assert result.columns == ("Full Name", "n orders")
    assert result.rows == (("Name 1", 1),)


def test_timeout_cancels_and_connection_stays_usable(shop: Database) -> None:
    started = time.perf_counter()
    with pytest.raises(QueryTimeout) as info:
        shop.execute(
            "SELECT count(*) FROM range(100000000) a, range(100000000) b", max_rows=5, timeout=0.5
        )
    assert time.perf_counter() - started < 3.0
    assert "0.5 s" in info.value.message
    assert shop.execute("SELECT 1 + 1", max_rows=5, timeout=5).rows == ((2,),)


SLOW_TO_STOP = "SELECT length(string_agg(repeat('x', 1000000), '')) AS n FROM range(100000)"
"""Gigabytes of string: DuckDB goes on building them for seconds after its interrupt."""


def test_after_a_timed_out_statement_the_same_agent_answers_the_next(shop_path: Path) -> None:
    from sqlagent import Agent
    from sqlagent.settings import Settings

    settings = Settings(history=False)
    settings = settings.with_(policy=settings.policy.limited(statement_timeout=1))
    with Agent.connect(f"duckdb:///{shop_path}", settings=settings) as agent:
        slow = agent.sql(SLOW_TO_STOP)
        assert slow.error is not None and slow.error.type == "QueryTimeout"
        # Sent while the engine may still be winding the first one down.
        answer = agent.sql('SELECT city, count(*) AS n FROM "Customers" GROUP BY city ORDER BY 1')
        assert answer.error is None
        assert answer.rows == (("Mesa", 33), ("Phoenix", 100), ("Tucson", 67))


def test_close_with_a_statement_winding_down_leaves_the_close_to_the_background(
    shop_path: Path,
) -> None:
    from sqlagent.db.base import execute_within, winding_down

    db = connect(f"duckdb:///{shop_path}")
    with pytest.raises(QueryTimeout):
        execute_within(db, SLOW_TO_STOP, max_rows=5, timeout=0.5, grace=0.1)
    assert winding_down() >= 1  # the statement is still running on its worker
    db.close()  # returns; the connection closes once the statement has ended
    deadline = time.monotonic() + 60  # a safety bound, not a measurement
    while winding_down() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert winding_down() == 0
    with pytest.raises(duckdb.ConnectionException):
        db.execute("SELECT 1", max_rows=5, timeout=5)


def test_a_cursor_is_reused_only_after_a_statement_that_ended_on_its_own(shop: Database) -> None:
    """Reused after a statement that read its whole result of numbers; closed after a
    timeout, an error, a result cut short or one of text, so that no interrupt, failure,
    leftover rows or large values stay with it for the next statement."""
    idle = shop._idle  # type: ignore[attr-defined]
    shop.execute("SELECT 1", max_rows=5, timeout=5)
    assert len(idle) == 1
    first = idle[0]
    assert shop.execute("SELECT 2", max_rows=5, timeout=5).rows == ((2,),)
    assert idle == [first]  # the same cursor ran it
    with pytest.raises(QueryTimeout):
        shop.execute(
            "SELECT count(*) FROM range(100000000) a, range(100000000) b", max_rows=5, timeout=0.3
        )
    assert idle == []  # the interrupted one was closed, not put back
    assert shop.execute("SELECT 3", max_rows=5, timeout=5).rows == ((3,),)
    with pytest.raises(ExecutionError):
        shop.execute("SELECT no_such_column FROM range(3)", max_rows=5, timeout=5)
    assert idle == []  # the cursor that ran the failed statement was closed
    assert shop.execute("SELECT 4", max_rows=5, timeout=5).rows == ((4,),)
    assert len(idle) == 1
    cut = shop.execute("SELECT * FROM range(100)", max_rows=10, timeout=5)
    assert cut.truncated and idle == []  # rows left unread: closed with them
    assert shop.execute("SELECT 5", max_rows=5, timeout=5).rows == ((5,),)
    assert len(idle) == 1
    assert shop.execute("SELECT 'text' AS t", max_rows=5, timeout=5).rows == (("text",),)
    assert idle == []  # what a result of text holds may be large: not kept


def test_statements_running_at_once_each_have_a_cursor_of_their_own(shop: Database) -> None:
    import threading

    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(25):
                sql = f"SELECT {k} AS k, {i} AS i, sum(x) AS s FROM range({1000 * (k + 1)}) t(x)"
                got = shop.execute(sql, max_rows=5, timeout=10).rows
                n = 1000 * (k + 1)
                assert got == ((k, i, n * (n - 1) // 2),)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 <= len(shop._idle) <= 4  # type: ignore[attr-defined]


def test_closing_frees_the_file_with_cursors_kept_for_reuse(shop_path: Path) -> None:
    """Once closed, the file is free: DuckDB lets this process open it for writing, which it
    refuses while any connection (a kept cursor included) still has it open read-only."""
    db = connect(f"duckdb:///{shop_path}")
    db.execute("SELECT 1", max_rows=5, timeout=5)
    assert len(db._idle) == 1  # type: ignore[attr-defined]
    with pytest.raises(duckdb.ConnectionException):
        duckdb.connect(str(shop_path))
    db.close()
    con = duckdb.connect(str(shop_path))
    con.close()


def test_errors_carry_the_database_message(shop: Database) -> None:
    with pytest.raises(ExecutionError) as info:
        shop.execute("SELECT * FROM custmers", max_rows=5, timeout=5)
    assert not isinstance(info.value, ReadOnlyViolation)
    assert "custmers" in info.value.message
    assert info.value.sql == "SELECT * FROM custmers"


def test_a_message_quoting_a_huge_value_is_bounded(shop: Database) -> None:
    """The engine quotes the value it could not convert: the message shown and sent to the
    model for a repair keeps its start, not a hundred thousand characters."""
    with pytest.raises(ExecutionError) as info:
        shop.execute("SELECT CAST(repeat('x', 100000) AS INTEGER)", max_rows=5, timeout=5)
    message = info.value.message
    assert message.startswith("Conversion Error") and "xxxx" in message
    assert len(message) < 2_100 and "more characters)" in message


def test_only_one_statement_runs(shop: Database) -> None:
    with pytest.raises(ExecutionError, match="one statement"):
        shop.execute("SELECT 1; SELECT 2", max_rows=5, timeout=5)


# ---------------------------------------------------------------------- read-only


WRITES = [
    "INSERT INTO \"Customers\" VALUES (999, 'x', 'y')",
    "UPDATE \"Customers\" SET city = 'Nowhere'",
    'DELETE FROM "Customers"',
    "CREATE TABLE t (a INTEGER)",
    'CREATE TEMP TABLE "Customers" AS SELECT 1 AS "Id"',
    "CREATE OR REPLACE VIEW big_spenders AS SELECT 1",
    'DROP TABLE "Order Items"',
    'ALTER TABLE "Customers" ADD COLUMN x INTEGER',
    "ATTACH ':memory:' AS other",
    "SET enable_external_access = true",
    "INSTALL httpfs",
    'EXPLAIN ANALYZE DELETE FROM "Customers"',
    'SELECT 1; DROP TABLE "Customers"',
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_at_the_connection(shop: Database, sql: str) -> None:
    before = shop.execute('SELECT count(*), min(city) FROM "Customers"', max_rows=5, timeout=5)
    with pytest.raises(ReadOnlyViolation):
        shop.execute(sql, max_rows=5, timeout=5)
    after = shop.execute('SELECT count(*), min(city) FROM "Customers"', max_rows=5, timeout=5)
    assert after.rows == before.rows
    tables = shop.execute(
        "SELECT table_name FROM duckdb_tables() ORDER BY 1", max_rows=50, timeout=5
    )
    assert tables.rows == (("Customers",), ("Order Items",), ("targets",))


def test_the_file_itself_is_opened_read_only(shop_path: Path) -> None:
    # A second, writing process would be locked out only by a read-write open; a read-only
    # open leaves the file untouched (same bytes afterwards).
    before = shop_path.read_bytes()
    db = connect(shop_path)
    db.schema()
    db.execute('SELECT * FROM "Customers"', max_rows=5, timeout=5)
    db.close()
    assert shop_path.read_bytes() == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM 'OUT_DIR/some.parquet'",
    ],
)
def test_file_access_is_refused(shop: Database, tmp_path: Path, sql: str) -> None:
    with pytest.raises(ReadOnlyViolation, match="disabled"):
        shop.execute(sql.replace("OUT_DIR", str(tmp_path)), max_rows=5, timeout=5)


def test_copy_to_a_file_creates_no_file(shop: Database, tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    with pytest.raises(ReadOnlyViolation):
        shop.execute(f"COPY \"Customers\" TO '{target}'", max_rows=5, timeout=5)
    assert not target.exists()


@pytest.mark.parametrize(
    "target", ["duckdb:///{dir}/missing.duckdb", "{dir}/missing.duckdb", "{dir}/missing.db"]
)
def test_a_missing_database_is_never_created(tmp_path: Path, target: str) -> None:
    text = target.format(dir=tmp_path)
    with pytest.raises(ConnectionFailed, match="does not exist"):
        connect(text)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_no_database_fails_clearly(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("just text, not a database\n" * 100)
    with pytest.raises(ConnectionFailed, match="Could not open DuckDB file"):
        connect(bogus)


def test_memory_database(tmp_path: Path) -> None:
    db = connect("duckdb:///:memory:")
    assert db.schema().tables == ()
    assert db.execute("SELECT 42 AS answer", max_rows=5, timeout=5).rows == ((42,),)
    with pytest.raises(ReadOnlyViolation):
        db.execute("CREATE TABLE t AS SELECT 1", max_rows=5, timeout=5)
    with pytest.raises(ReadOnlyViolation):
        db.execute(f"SELECT * FROM read_csv('{tmp_path}/x.csv')", max_rows=5, timeout=5)
    db.close()


# ---------------------------------------------------------------------- files as tables


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "Sales 2024.csv").write_text("region,amount\nEast,10.5\nWest,20\nEast,7\n")
    (folder / "notes.md").write_text("not data")
    con = duckdb.connect()
    parquet = folder / "products.parquet"
    con.execute(
        "COPY (SELECT i AS id, 'p' || i AS name FROM range(5) t(i)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    (folder / "events.jsonl").write_text('{"kind": "click", "n": 1}\n{"kind": "view", "n": 2}\n')
    con.close()
    return folder


def test_a_folder_of_files_becomes_tables(data_dir: Path) -> None:
    db = connect(data_dir)
    try:
        assert db.path == data_dir
        schema = db.schema()
        assert sorted(t.name for t in schema.tables) == ["events", "products", "sales_2024"]
        sales = schema.table("sales_2024")
        assert sales is not None and sales.row_count == 3
        assert sales.column("region").samples == ("East", "West")  # type: ignore[union-attr]
        result = db.execute(
            "SELECT region, sum(amount) FROM sales_2024 GROUP BY 1 ORDER BY 1",
            max_rows=5,
            timeout=5,
        )
        assert result.rows == (("East", 17.5), ("West", 20.0))
        assert db.execute("SELECT count(*) FROM products", max_rows=5, timeout=5).rows == ((5,),)
        # loaded first, then locked: no more file access, no writes
        with pytest.raises(ReadOnlyViolation):
            db.execute(
                f"SELECT * FROM read_csv('{data_dir}/Sales 2024.csv')", max_rows=5, timeout=5
            )
        with pytest.raises(ReadOnlyViolation):
            db.execute("DROP TABLE products", max_rows=5, timeout=5)
        assert db.execute("SELECT count(*) FROM products", max_rows=5, timeout=5).rows == ((5,),)
    finally:
        db.close()


def test_a_glob_selects_files(data_dir: Path) -> None:
    db = connect(f"{data_dir}/*.csv")
    try:
        assert [t.name for t in db.schema().tables] == ["sales_2024"]
    finally:
        db.close()


def test_a_folder_without_data_files_fails(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("nothing here")
    with pytest.raises(ConnectionFailed, match="no CSV, Parquet or JSON"):
        connect(tmp_path)


def test_an_unreadable_data_file_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_text("this is not parquet")
    with pytest.raises(ConnectionFailed, match=r"broken\.parquet"):
        connect(tmp_path)


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("sales.csv", "sales"),
        ("Sales 2024.CSV", "sales_2024"),
        ("2024-orders.csv.gz", "t_2024_orders"),
        ("données.parquet", "donn_es"),
        ("---.json", "table"),
    ],
)
def test_table_names_are_plain_identifiers(file: str, name: str) -> None:
    assert table_name(Path(file)) == name


def test_clashing_table_names_get_suffixes() -> None:
    paths = [Path("a/sales.csv"), Path("b/sales.parquet"), Path("Sales.json")]
    assert table_names(paths) == ["sales", "sales_2", "sales_3"]


# ---------------------------------------------------------------------- values


def test_values_give_the_canonical_json(shop: Database) -> None:
    result = shop.execute(
        """SELECT 42 AS i, 12.50::DECIMAL(10, 2) AS d, 'héllo' AS t, DATE '2024-01-02' AS day,
                  TIMESTAMP '2024-01-02 03:04:05' AS ts, TIME '12:30:00' AS tod,
                  0.25::DOUBLE AS f, '\\x00\\xFF'::BLOB AS b,
                  '12345678-1234-5678-1234-567812345678'::UUID AS u, NULL AS n""",
        max_rows=5,
        timeout=5,
    )
    assert result_json(result) == CANONICAL_JSON


def test_duckdb_specific_values_become_python_natives(shop: Database) -> None:
    result = shop.execute(
        """SELECT '{"a": [1, 2]}'::JSON AS j, gen_random_uuid() AS u, [1, 2] AS l,
                  {'k': 1} AS s, INTERVAL 3 DAY AS iv, 12.5::DECIMAL(4, 1) AS d,
                  TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz""",
        max_rows=5,
        timeout=5,
    )
    j, u, lst, struct, iv, d, tz = result.rows[0]
    assert j == {"a": [1, 2]}
    assert isinstance(u, uuid.UUID)
    assert lst == [1, 2] and struct == {"k": 1}
    assert iv == dt.timedelta(days=3)
    assert d == Decimal("12.5")
    assert isinstance(tz.tzinfo, dt.timezone) and tz.utcoffset() is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (memoryview(b"\x01\x02"), b"\x01\x02"),
        (bytearray(b"ab"), b"ab"),
        ((1, (2, 3)), [1, [2, 3]]),
        ({1: {"x": (1,)}}, {"1": {"x": [1]}}),
        (Decimal("1.5"), Decimal("1.5")),
        (complex(1, 2), "(1+2j)"),
    ],
)
def test_normalise(value: object, expected: object) -> None:
    assert normalise(value) == expected


def test_zone_objects_become_fixed_offsets() -> None:
    from zoneinfo import ZoneInfo

    value = dt.datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    out = normalise(value)
    assert out == value
    assert out.tzinfo == dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (time_of_day, dt.timedelta(hours=12, minutes=30), dt.time(12, 30)),
        (time_of_day, dt.timedelta(hours=30), dt.timedelta(hours=30)),  # not a time of day
        (time_of_day, dt.timedelta(hours=-1), dt.timedelta(hours=-1)),
        (bit_to_int, b"\x01\x01", 257),
        (parse_json, '{"a": 1}', {"a": 1}),
        (parse_json, "not json", "not json"),
    ],
)
def test_converters(func: object, value: object, expected: object) -> None:
    assert func(value) == expected  # type: ignore[operator]


# ---------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a",), ("b",), ("b",), (None,)], [("b", "a")]),
        ([(str(i),) for i in range(51)], [()]),  # too many distinct values
        ([("x" * 200,)], [()]),  # free text, not a category
        ([(None,)], [()]),
        ([(c,) for c in "aabbbcdddde"], [("d", "b", "a", "c", "e")]),
    ],
)
def test_pick_samples(rows: list[tuple[object, ...]], expected: list[tuple[str, ...]]) -> None:
    assert pick_samples(rows, 1) == expected


def test_watchdog_fires_only_when_the_block_overruns() -> None:
    calls: list[str] = []
    with Watchdog(0.05, lambda: calls.append("cancel")) as dog:
        time.sleep(0.2)
    assert dog.fired and calls == ["cancel"]
    with Watchdog(0.2, lambda: calls.append("late")) as quick:
        pass
    time.sleep(0.3)
    assert not quick.fired and calls == ["cancel"]


@pytest.mark.parametrize(
    ("target", "kind", "path"),
    [
        ("duckdb:///:memory:", "duckdb", None),
        ("duckdb://", "duckdb", None),
        ("postgresql://u:pw@host/db", "sqlalchemy", None),
        ("mysql+pymysql://root@127.0.0.1/test", "sqlalchemy", None),
    ],
)
def test_parse_target(target: str, kind: str, path: str | None) -> None:
    parsed = parse_target(target)
    assert parsed.kind == kind
    assert parsed.path == (Path(path) if path else None)


def test_parse_target_paths(tmp_path: Path, shop_path: Path) -> None:
    assert parse_target(f"duckdb:///{shop_path}").path == shop_path
    assert parse_target(str(shop_path)).kind == "duckdb"
    sqlite_file = tmp_path / "legacy.db"
    import sqlite3

    sqlite3.connect(sqlite_file).execute("CREATE TABLE t (a)").connection.commit()
    assert parse_target(sqlite_file).kind == "sqlite"  # a .db holding SQLite is SQLite
    with pytest.raises(ConnectionFailed, match="does not exist"):
        parse_target(tmp_path / "nowhere.sqlite")
    with pytest.raises(ConnectionFailed, match="in-memory SQLite"):
        parse_target("sqlite://")


def test_replacement_scans_are_off_and_locked(tmp_path):
    """DuckDB could otherwise resolve a table name to a Python variable in scope."""
    import duckdb

    from sqlagent.db import connect
    from sqlagent.errors import ExecutionError

    path = tmp_path / "r.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    db = connect(path)
    try:
        res = db.execute(
            "SELECT current_setting('python_enable_replacements') AS v", max_rows=1, timeout=5
        )
        assert res.rows == ((False,),)
        with pytest.raises(ExecutionError):
            db.execute("SET python_enable_replacements = true", max_rows=1, timeout=5)
    finally:
        db.close()
