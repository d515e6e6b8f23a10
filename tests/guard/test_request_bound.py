"""Every request is bounded in time and size, on every engine, whatever the statement does.

The statement timeout alone did not bound a request: SQLite checks its deadline only between
steps (one step building a gigabyte blob ran for minutes), DuckDB notices an interrupt only
after the value in hand is built, and sqlglot's parser, where no timeout applies, needs
seconds for a huge IN list. Each case here must come back within the timeout plus one second,
as an error or a bounded result, and leave the data as it was.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import duckdb
import pytest

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.pipeline import run_sql
from sqlagent.settings import Policy, Settings

TIMEOUT = 2.0
MARGIN = 1.0

HUGE_IN = "SELECT count(*) FROM t WHERE id IN (" + ", ".join(map(str, range(200_000))) + ")"
MANY_CTES = (
    "WITH " + ", ".join(f"w{i} AS (SELECT * FROM t)" for i in range(2500)) + " SELECT * FROM w1"
)
MANY_JOINS = "SELECT 1 FROM " + " JOIN ".join(
    f"t t{i} ON t{i}.id = t0.id" if i else "t t0" for i in range(1500)
)
LONG_CHAIN = "SELECT " + "||".join(["label"] * 12_000) + " FROM t"
MANY_STARS = "SELECT " + ", ".join(["*"] * 9_000) + " FROM t"  # passes the limits, slow to check
MANY_LITERALS = "SELECT count(*) FROM t WHERE id IN (" + ",".join(["1"] * 12_000) + ")"

CASES: dict[str, list[str]] = {
    "duckdb": [
        "SELECT repeat('x', 1000000000) AS v",
        "SELECT length(repeat('x', 1000000000)) AS n",
        "SELECT string_agg(repeat('x', 1000), '') AS s FROM range(2000000)",
        "SELECT count(*) FROM range(100000000000)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM t a, t b, t c, t d, t e",
        HUGE_IN,
        MANY_LITERALS,
        MANY_CTES,
        MANY_JOINS,
        LONG_CHAIN,
        MANY_STARS,
    ],
    "sqlite": [
        "SELECT zeroblob(1000000000) AS v",
        "SELECT length(replace(hex(zeroblob(100000000)), '0', 'ab')) AS n",
        "SELECT randomblob(1000000000) AS v",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM t a, t b, t c, t d, t e",
        HUGE_IN,
        MANY_LITERALS,
        MANY_CTES,
        LONG_CHAIN,
        MANY_STARS,
    ],
    "postgres": [
        "SELECT length(repeat('x', 900000000)) AS n",
        "SELECT count(*) FROM generate_series(1, 10000000000)",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM t a, t b, t c, t d, t e",
        HUGE_IN,
        MANY_JOINS,
    ],
    "mysql": [
        "SELECT repeat('x', 1000000000) AS v",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "SELECT count(*) FROM t a, t b, t c, t d, t e",
        HUGE_IN,
        MANY_CTES,
    ],
}

ROWS = 300


def _settings(**policy: object) -> Settings:
    return Settings(
        model="scripted",
        api_key=None,
        base_url=None,
        policy=Policy.from_mapping({"statement_timeout": TIMEOUT, **policy}),
    )


@pytest.fixture(scope="module")
def duckdb_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("bound") / "t.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        f"CREATE TABLE t AS SELECT range AS id, 'row ' || range AS label FROM range({ROWS})"
    )
    con.close()
    db = connect(f"duckdb:///{path}", sample_values=False)
    yield db
    db.close()


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("bound") / "t.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(ROWS)])
    con.commit()
    con.close()
    db = connect(f"sqlite:///{path}", sample_values=False)
    yield db
    db.close()


def _server_db(scratch: dbfixtures.Scratch) -> Database:
    scratch.run("CREATE TABLE t (id INTEGER PRIMARY KEY, label VARCHAR(20))")
    values = ", ".join(f"({i}, 'row {i}')" for i in range(ROWS))
    scratch.run(f"INSERT INTO t VALUES {values}")
    return connect(scratch.url, sample_values=False)


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[Database]:
    for scratch in dbfixtures.scratch_postgres():
        db = _server_db(scratch)
        yield db
        db.close()


@pytest.fixture(scope="module")
def mysql_db() -> Iterator[Database]:
    for scratch in dbfixtures.scratch_mariadb():
        db = _server_db(scratch)
        yield db
        db.close()


def _params() -> list[object]:
    marks = {"postgres": [pytest.mark.postgres], "mysql": [pytest.mark.mariadb]}
    return [
        pytest.param(engine, sql, id=f"{engine}-{i}", marks=marks.get(engine, []))
        for engine, cases in CASES.items()
        for i, sql in enumerate(cases)
    ]


def _rows(db: Database) -> tuple[tuple[object, ...], ...]:
    return db.execute("SELECT id, label FROM t ORDER BY id", max_rows=ROWS + 1, timeout=30).rows


@pytest.mark.parametrize(("engine", "sql"), _params())
def test_every_request_ends_within_the_timeout(
    engine: str, sql: str, request: pytest.FixtureRequest
) -> None:
    """Parse, check and run together end by the timeout plus a second, with the data intact."""
    db: Database = request.getfixturevalue(f"{engine}_db")
    before = _rows(db)
    started = time.monotonic()
    answer = run_sql(sql, db=db, settings=_settings())
    elapsed = time.monotonic() - started
    assert elapsed <= TIMEOUT + MARGIN, f"{elapsed:.2f} s for {sql[:80]!r}: {answer.error}"
    if answer.error is None:
        # Some engines answer quickly instead (MariaDB returns NULL for a value over
        # max_allowed_packet): then what came back is small.
        size = sum(len(v) for row in answer.rows for v in row if isinstance(v, (str, bytes)))
        assert size <= Policy().max_result_bytes
    assert _rows(db) == before
    # The engine is usable again straight away: the abandoned statement is not in the way.
    ok = run_sql("SELECT count(*) AS n FROM t", db=db, settings=_settings())
    assert ok.error is None and ok.rows[0][0] == ROWS


def test_input_limits_refuse_before_parsing(duckdb_db: Database) -> None:
    """A 200,000-item IN list is refused at once, with the limit named, not parsed for seconds."""
    started = time.monotonic()
    answer = run_sql(HUGE_IN, db=duckdb_db, settings=_settings())
    assert time.monotonic() - started < 0.5
    assert answer.error is not None and answer.error.type == "UnsafeSQL"
    assert "too long" in answer.error.message
    # Without comments the statement may have 100,000 characters; comments are not counted.
    code = "SELECT count(*) FROM t WHERE " + " OR ".join(["label = label"] * 8_000)
    answer = run_sql(code, db=duckdb_db, settings=_settings())
    assert answer.error is not None and "100,000" in answer.error.message
    commented = "SELECT count(*) AS n FROM t\n" + "-- a comment line\n" * 20_000
    assert len(commented) > 100_000
    assert run_sql(commented, db=duckdb_db, settings=_settings()).error is None
    answer = run_sql(MANY_LITERALS, db=duckdb_db, settings=_settings())
    assert answer.error is not None and "too many values" in answer.error.message
    answer = run_sql(MANY_CTES, db=duckdb_db, settings=_settings())
    assert answer.error is not None and "too complex to check" in answer.error.message
    # A policy can raise the limits for a deployment that needs long lists.
    roomy = _settings(max_literals=15_000, statement_timeout=30)
    assert run_sql(MANY_LITERALS, db=duckdb_db, settings=roomy).error is None


def test_a_slow_check_ends_at_the_deadline(duckdb_db: Database) -> None:
    """A statement within the input limits that takes seconds to check is answered by a
    timeout at the deadline (the check runs where the request need not wait for it)."""
    started = time.monotonic()
    answer = run_sql(MANY_STARS, db=duckdb_db, settings=_settings(statement_timeout=0.3))
    assert time.monotonic() - started < 0.3 + MARGIN
    assert answer.error is not None and answer.error.type == "QueryTimeout"
    assert "to check" in answer.error.message
    # The abandoned check goes on on its worker; the next case is about a limit, not about
    # sharing the interpreter with it on a busy machine, so it waits for it to end.
    from sqlagent.db.base import winding_down

    ends = time.monotonic() + 60
    while winding_down() and time.monotonic() < ends:
        time.sleep(0.05)
    answer = run_sql(LONG_CHAIN, db=duckdb_db, settings=_settings())
    assert answer.error is not None and "levels" in answer.error.message


def test_result_size_is_bounded_in_bytes(duckdb_db: Database) -> None:
    """Rows past the byte bound are cut like rows past max_rows; one oversized row is an error."""
    sql = "SELECT id, repeat('x', 10000) AS pad FROM t ORDER BY id"
    answer = run_sql(sql, db=duckdb_db, settings=_settings(max_result_bytes=95_000))
    assert answer.error is None
    assert answer.truncated and len(answer.rows) == 9
    answer = run_sql(sql, db=duckdb_db, settings=_settings(max_result_bytes=5_000))
    assert answer.error is not None and answer.error.type == "ExecutionError"
    assert "result-size limit of 5,000 bytes" in answer.error.message


def test_sqlite_refuses_to_build_a_huge_value_at_once(sqlite_db: Database) -> None:
    """The length limit stops the blob before it is built: no waiting for the deadline."""
    started = time.monotonic()
    answer = run_sql("SELECT zeroblob(1000000000) AS v", db=sqlite_db, settings=_settings())
    assert time.monotonic() - started < 1.0
    assert answer.error is not None and "too big" in answer.error.message


def test_the_check_counts_against_the_statement_time(tmp_path: Path) -> None:
    """The deadline is the request's: what the check took is not given to the statement again."""
    from sqlagent.types import ColumnInfo, QueryResult, SchemaInfo, TableInfo

    seen: list[float] = []

    class Recorder:
        dialect = "duckdb"
        display_url = "recorder"
        path = None

        def schema(self, *, refresh: bool = False) -> SchemaInfo:
            return SchemaInfo("duckdb", (TableInfo("t", (ColumnInfo("id", "INTEGER"),)),))

        def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
            seen.append(timeout)
            return QueryResult(("id",), ((1,),))

        def close(self) -> None:
            return None

    big = "SELECT id FROM t WHERE id IN (" + ", ".join(map(str, range(9_000))) + ")"
    answer = run_sql(big, db=Recorder(), settings=_settings())
    assert answer.error is None
    assert seen and seen[0] < TIMEOUT
