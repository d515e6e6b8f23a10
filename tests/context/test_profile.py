"""Column profiles on real databases: NULL shares, distinct counts, ranges, top values."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import duckdb
import pytest
import sqlglot

from sqlagent.context.profile import (
    ColumnProfile,
    _aggregate_sql,
    _top_sql,
    column_kind,
    profile_schema,
    profile_table,
)
from sqlagent.db import connect
from sqlagent.types import ColumnInfo, TableInfo


def test_sample_database_profiles(sample_db: object) -> None:
    profiles = profile_schema(sample_db, sample_db.schema())  # type: ignore[arg-type,attr-defined]
    assert set(profiles) == {"cards", "customers", "merchants", "transactions"}
    tx = profiles["transactions"]
    assert tx.row_count == 300_000 and not tx.sampled  # small enough to read whole
    status = tx.columns["status"]
    assert status.null_fraction == 0
    assert status.distinct == 3 and status.distinct_approximate  # DuckDB's HyperLogLog
    assert status.top_values[0][0] == "approved"
    assert {v for v, _ in status.top_values} == {"approved", "declined", "refunded"}
    ts = tx.columns["transaction_ts"]
    assert ts.min.date() == dt.date(2025, 1, 1) and ts.max.date() == dt.date(2026, 6, 30)
    assert ts.summary() is not None and ts.summary().startswith("range 2025-01-01")
    amount = tx.columns["amount"]
    assert 0 < amount.min < amount.max
    assert amount.top_values == ()  # numbers get a range, not top values
    names = profiles["merchants"].columns["merchant_name"]
    assert names.top_values == ()  # 390 distinct names: not low-cardinality


@pytest.fixture()
def duck_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE t AS SELECT i AS id, "
        "CASE WHEN i % 2 = 0 THEN NULL ELSE 'x' END AS half, "
        "CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END AS ab, "
        "DATE '2024-01-01' + CAST(i AS INTEGER) AS day "
        "FROM range(3000) r(i)"
    )
    con.close()
    return path


def test_null_share_range_and_sampling(duck_file: Path) -> None:
    db = connect(f"duckdb:///{duck_file}")
    try:
        schema = db.schema()
        whole = profile_schema(db, schema)["t"]
        sampled = profile_schema(db, schema, sample_rows=100, full_scan_rows=10)["t"]
    finally:
        db.close()
    assert whole.columns["half"].null_fraction == pytest.approx(0.5)
    assert whole.columns["half"].summary() == "50% NULL"
    assert dict(whole.columns["ab"].top_values) == {"b": 2000, "a": 1000}
    assert whole.columns["day"].max == dt.date(2024, 1, 1) + dt.timedelta(days=2999)
    assert not whole.sampled and whole.sample_rows == 3000
    assert sampled.sampled and sampled.sample_rows == 100
    assert sum(n for _, n in sampled.columns["ab"].top_values) == 100


def test_time_budget_stops_profiling(duck_file: Path) -> None:
    db = connect(f"duckdb:///{duck_file}")
    try:
        assert profile_schema(db, db.schema(), time_budget=0) == {}
        assert set(profile_schema(db, db.schema(), tables=["T"])) == {"t"}
    finally:
        db.close()


def test_sqlite_counts_distinct_exactly(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE pets (id INTEGER PRIMARY KEY, kind TEXT, weight REAL)")
    con.executemany(
        "INSERT INTO pets VALUES (?, ?, ?)",
        [(i, ["dog", "cat", "bird"][i % 3], 1.5 * i) for i in range(1, 31)],
    )
    con.commit()
    con.close()
    db = connect(f"sqlite:///{path}")
    try:
        pets = profile_schema(db, db.schema())["pets"]
    finally:
        db.close()
    kind = pets.columns["kind"]
    assert kind.distinct == 3 and not kind.distinct_approximate
    assert {v for v, _ in kind.top_values} == {"dog", "cat", "bird"}
    assert pets.columns["weight"].min == 1.5 and pets.columns["weight"].max == 45.0


def test_a_table_that_fails_is_left_out(sample_db: object) -> None:
    schema = sample_db.schema()  # type: ignore[attr-defined]
    from sqlagent.types import SchemaInfo

    ghost = TableInfo("ghost", (ColumnInfo("a", "INTEGER"),))
    patched = SchemaInfo(schema.dialect, (ghost, *schema.tables[:1]), schema.default_schema)
    profiles = profile_schema(sample_db, patched)  # type: ignore[arg-type]
    assert set(profiles) == {schema.tables[0].name}


@pytest.mark.parametrize(
    ("type_name", "kind"),
    [
        ("INTEGER", "numeric"),
        ("DECIMAL(10,2)", "numeric"),
        ("double precision", "numeric"),
        ("TIMESTAMP WITH TIME ZONE", "temporal"),
        ("DATE", "temporal"),
        ("INTERVAL", "other"),
        ("VARCHAR", "text"),
        ("BOOLEAN", "boolean"),
        ("INTEGER[]", "other"),
        ("JSON", "other"),
    ],
)
def test_column_kind(type_name: str, kind: str) -> None:
    assert column_kind(ColumnInfo("c", type_name)) == kind


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "mysql", "sqlite", "snowflake"])
def test_profile_sql_parses_in_each_dialect(dialect: str) -> None:
    table = TableInfo(
        "Order Items",
        (ColumnInfo("Qty", "INTEGER"), ColumnInfo("Item Name", "TEXT"), ColumnInfo("j", "JSON")),
        schema="sales",
    )
    approx = dialect in ("duckdb", "snowflake")
    for sql in (
        _aggregate_sql(table, table.columns, dialect, 1000, approx),
        _top_sql(table, table.columns[1], dialect, None, 5),
    ):
        tree = sqlglot.parse_one(sql, read=dialect)
        assert tree.find(sqlglot.exp.Table) is not None
    assert "1000" in _aggregate_sql(table, table.columns, dialect, 1000, approx)


def test_summary_formats() -> None:
    assert ColumnProfile("n", "INTEGER", 0.0, min=1, max=10).summary() == "range 1 .. 10"
    assert ColumnProfile("s", "TEXT", 0.1).summary() is None
    ts = ColumnProfile(
        "t", "TIMESTAMP", 0.7, min=dt.datetime(2025, 1, 1), max=dt.datetime(2025, 2, 1, 8, 30)
    )
    assert ts.summary() == "range 2025-01-01 .. 2025-02-01 08:30:00; 70% NULL"


@pytest.fixture()
def pg() -> Iterator[dbfixtures.Scratch]:
    yield from dbfixtures.scratch_postgres()


@pytest.mark.postgres
def test_postgres_uses_statistics_for_distinct_counts(pg: dbfixtures.Scratch) -> None:
    pg.run(
        "CREATE TABLE events (id int PRIMARY KEY, kind text, at date)",
        "INSERT INTO events SELECT i, 'k' || (i % 7), DATE '2025-01-01' + i "
        "FROM generate_series(1, 5000) i",
        "ANALYZE events",
    )
    db = connect(pg.url)
    try:
        schema = db.schema()
        table = schema.table("events")
        assert table is not None
        events = profile_schema(db, schema)["events"]
        sampled = profile_table(db, table, "postgres", sample_rows=100, full_scan_rows=10)
    finally:
        db.close()
    kind = events.columns["kind"]
    assert kind.distinct == 7 and kind.distinct_approximate  # from pg_stats
    assert len(kind.top_values) == 5
    assert events.columns["at"].min == dt.date(2025, 1, 2)
    assert sampled.sampled and sampled.sample_rows == 100
