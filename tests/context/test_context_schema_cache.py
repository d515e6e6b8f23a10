"""The schema disk cache: a second start reads the cache, a changed catalog is noticed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import duckdb
import pytest

from sqlagent.context.schema_cache import (
    CachedSchemaDatabase,
    SchemaCache,
    connection_key,
    schema_fingerprint,
    schema_from_dict,
    schema_to_dict,
    with_schema_cache,
)
from sqlagent.db import connect


def make_duckdb(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    for statement in statements:
        con.execute(statement)
    con.close()


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    make_duckdb(
        path,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, city VARCHAR)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER "
        "REFERENCES customers(id), total DECIMAL(10,2))",
        "COMMENT ON TABLE orders IS 'One row per order'",
        "INSERT INTO customers VALUES (1, 'Phoenix'), (2, 'Tucson')",
    )
    return path


def open_cached(path: Path, cache_dir: Path, **options: object) -> CachedSchemaDatabase:
    return with_schema_cache(connect(f"duckdb:///{path}"), cache_dir, **options)


def test_second_start_reads_the_cache(shop: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = open_cached(shop, cache_dir)
    schema = first.schema()
    assert not first.from_cache
    first.close()
    assert len(list(cache_dir.glob("*.json"))) == 1

    second = open_cached(shop, cache_dir)
    try:
        assert second.schema() == schema
        assert second.from_cache
        # The wrapper is a Database: queries and attributes pass through.
        assert second.dialect == "duckdb" and second.path == shop
        rows = second.execute("SELECT city FROM customers ORDER BY id", max_rows=5, timeout=5)
        assert rows.rows == (("Phoenix",), ("Tucson",))
    finally:
        second.close()


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE customers ADD COLUMN segment VARCHAR",
        "CREATE TABLE refunds (id INTEGER)",
        "COMMENT ON TABLE orders IS 'Orders, refunds excluded'",
        "COMMENT ON COLUMN customers.city IS 'Home city'",
        "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    ],
)
def test_a_changed_catalog_is_noticed(shop: Path, tmp_path: Path, change: str) -> None:
    cache_dir = tmp_path / "cache"
    db = open_cached(shop, cache_dir)
    before = db.schema()
    db.close()
    make_duckdb(shop, change)
    db = open_cached(shop, cache_dir)
    try:
        after = db.schema()
        assert not db.from_cache
        assert after != before
    finally:
        db.close()


def test_an_unchanged_file_needs_no_catalog_query(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlagent.context import schema_cache

    cache_dir = tmp_path / "cache"
    db = open_cached(shop, cache_dir)
    schema = db.schema()
    fingerprint = db.fingerprint
    db.close()
    queried: list[object] = []
    real = schema_cache.schema_fingerprint

    def counted(inner: object, **kw: object) -> str | None:
        queried.append(inner)
        return real(inner, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(schema_cache, "schema_fingerprint", counted)
    db = open_cached(shop, cache_dir)
    try:  # the file is as it was when its schema was cached
        assert db.schema() == schema and db.from_cache
        assert db.fingerprint == fingerprint and queried == []
    finally:
        db.close()
    # A write changes the file: the catalog is read again, finds it unchanged (a data
    # change), and the cache still answers; the new file is stamped for the next process.
    make_duckdb(shop, "INSERT INTO customers VALUES (3, 'Mesa')")
    for expected_queries in (1, 1):
        db = open_cached(shop, cache_dir)
        try:
            assert db.schema() == schema and db.from_cache
        finally:
            db.close()
        assert len(queried) == expected_queries


def test_data_changes_alone_keep_the_fingerprint(shop: Path) -> None:
    db = connect(f"duckdb:///{shop}")
    before = schema_fingerprint(db)
    db.close()
    make_duckdb(shop, "INSERT INTO customers VALUES (3, 'Mesa')")
    db = connect(f"duckdb:///{shop}")
    try:
        assert schema_fingerprint(db) == before is not None
    finally:
        db.close()


def test_recheck_notices_a_change_while_running(tmp_path: Path) -> None:
    # SQLite lets another connection write while ours is open.
    path = tmp_path / "live.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    db = with_schema_cache(connect(f"sqlite:///{path}"), tmp_path / "cache", recheck_after=0)
    try:
        assert [c.name for c in db.schema().tables[0].columns] == ["a"]
        con.execute("ALTER TABLE t ADD COLUMN b TEXT")
        con.commit()
        assert [c.name for c in db.schema().tables[0].columns] == ["a", "b"]
    finally:
        db.close()
        con.close()


def test_without_recheck_the_schema_stays_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    db = with_schema_cache(connect(f"sqlite:///{path}"), tmp_path / "cache", recheck_after=None)
    try:
        first = db.schema()
        con.execute("ALTER TABLE t ADD COLUMN b TEXT")
        con.commit()
        assert db.schema() is first
        assert len(db.schema(refresh=True).tables[0].columns) == 2
    finally:
        db.close()
        con.close()


def test_old_or_broken_entries_are_ignored(shop: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    db = open_cached(shop, cache_dir)
    db.schema()
    db.close()
    db = open_cached(shop, cache_dir, max_age=0.0)
    db.schema()
    assert not db.from_cache  # too old
    db.close()
    (entry,) = cache_dir.glob("*.json")
    entry.write_text("{not json")
    db = open_cached(shop, cache_dir)
    try:
        assert db.schema().table("orders") is not None
        assert not db.from_cache
        assert json.loads(entry.read_text())["fingerprint"]  # rewritten
    finally:
        db.close()


def test_round_trip_keeps_every_field(sample_db: object) -> None:
    schema = sample_db.schema()  # type: ignore[attr-defined]
    again = schema_from_dict(json.loads(json.dumps(schema_to_dict(schema))))
    assert again == schema
    assert hash(again.tables[0].columns[0]) == hash(schema.tables[0].columns[0])


def test_cache_keys_separate_files_with_the_same_name(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        make_duckdb(tmp_path / folder / "x.duckdb", f"CREATE TABLE only_in_{folder} (i INT)")
    cache = SchemaCache(tmp_path / "cache")
    keys = set()
    for folder in ("a", "b"):
        db = connect(tmp_path / folder / "x.duckdb")
        keys.add(cache.path_for(connection_key(db)))
        db.close()
    assert len(keys) == 2


@pytest.fixture()
def pg() -> Iterator[dbfixtures.Scratch]:
    yield from dbfixtures.scratch_postgres()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE items ADD COLUMN note text",
        "ALTER TABLE items ALTER COLUMN name TYPE varchar(200)",
        "COMMENT ON COLUMN items.name IS 'Display name'",
        "ALTER TABLE items ADD CONSTRAINT fk FOREIGN KEY (parent) REFERENCES items(id)",
        "CREATE SCHEMA extra; CREATE TABLE extra.t (i int)",
    ],
)
def test_postgres_fingerprint(pg: dbfixtures.Scratch, change: str) -> None:
    pg.run("CREATE TABLE items (id int PRIMARY KEY, name varchar(50), parent int)")
    db = connect(pg.url)
    try:
        before = schema_fingerprint(db)
        assert before is not None and schema_fingerprint(db) == before
        pg.run("INSERT INTO items VALUES (1, 'a', NULL)")
        assert schema_fingerprint(db) == before  # data is not schema
        for statement in change.split("; "):
            pg.run(statement)
        assert schema_fingerprint(db) not in (before, None)
    finally:
        db.close()


@pytest.fixture()
def maria() -> Iterator[dbfixtures.Scratch]:
    yield from dbfixtures.scratch_mariadb()


@pytest.mark.mariadb
def test_mariadb_fingerprint(maria: dbfixtures.Scratch) -> None:
    maria.run("CREATE TABLE items (id int PRIMARY KEY, name varchar(50))")
    db = connect(maria.url)
    try:
        before = schema_fingerprint(db)
        assert before is not None
        maria.run("ALTER TABLE items ADD COLUMN note text")
        assert schema_fingerprint(db) not in (before, None)
    finally:
        db.close()
