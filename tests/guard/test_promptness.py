"""Which checked statements an interrupt stops within moments, and where they run.

A statement the guard vouches for (``GuardedSQL.stops_promptly``) runs on the caller's
thread of an engine whose interrupt is prompt (DuckDB); everything else runs on a worker,
so that the caller returns at the deadline even while the engine is still busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import duckdb
import pytest

from sqlagent.db import connect
from sqlagent.db.base import execute_within
from sqlagent.db.duck import DuckDatabase
from sqlagent.errors import QueryTimeout
from sqlagent.guard import check
from sqlagent.pipeline import run_sql
from sqlagent.settings import Policy, Settings
from sqlagent.types import QueryResult, SchemaInfo

PROMPT = [
    "SELECT grp, SUM(amount) AS total, AVG(amount) AS mean, COUNT(*) AS n FROM t "
    "GROUP BY grp ORDER BY grp",
    "SELECT t.grp, COUNT(DISTINCT u.label) FROM t JOIN u ON t.id = u.id GROUP BY t.grp",
    "WITH w AS (SELECT grp, amount FROM t WHERE amount > 10) SELECT MAX(amount) FROM w",
    "SELECT EXTRACT(year FROM day) AS y, date_trunc('month', day) AS m, COUNT(*) FROM t "
    "GROUP BY 1, 2",
    "SELECT id FROM t WHERE grp IN (SELECT grp FROM u WHERE lower(label) LIKE 'a%')",
    "SELECT CASE WHEN amount > 5 THEN 'big' ELSE 'small' END AS size, COUNT(*) FROM t GROUP BY 1",
    "SELECT id FROM t UNION ALL SELECT id FROM u ORDER BY id LIMIT 10",
]

SLOW_TO_STOP = [
    "SELECT repeat(label, 1000000) FROM u",  # one huge value per row
    "SELECT string_agg(label, ',') FROM u",  # one huge value per group
    "SELECT MEDIAN(amount) FROM t",  # sorts a whole group at the end
    "SELECT id, SUM(amount) OVER (ORDER BY id) FROM t",  # a window over one partition
    "SELECT COUNT(*) FROM range(100000000000)",  # a table function generating rows
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
    "SELECT regexp_replace(label, 'a', 'b') FROM u",  # not on the reviewed list
    "SELECT COUNT(*) FROM " + ", ".join(f"t t{i}" for i in range(9)),  # planning many joins
    "SELECT COUNT(*) FROM t WHERE id IN (" + ", ".join(map(str, range(500))) + ")",
    "SELECT UNNEST([1, 2, 3])",
]


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = tmp_path_factory.mktemp("prompt") / "p.duckdb"
    con = duckdb.connect(str(file))
    con.execute(
        "CREATE TABLE t AS SELECT range AS id, range % 7 AS grp, range * 1.5 AS amount, "
        "DATE '2024-01-01' + CAST(range % 300 AS INTEGER) AS day FROM range(200000)"
    )
    con.execute(
        "CREATE TABLE u AS SELECT range AS id, range % 7 AS grp, 'label ' || range AS label "
        "FROM range(300)"
    )
    con.close()
    return file


@pytest.fixture(scope="module")
def schema(path: Path) -> Iterator[SchemaInfo]:
    db = connect(f"duckdb:///{path}", sample_values=False)
    yield db.schema()
    db.close()


@pytest.mark.parametrize("sql", PROMPT)
def test_statements_of_bounded_steps_stop_promptly(sql: str, schema: SchemaInfo) -> None:
    assert check(sql, schema=schema, policy=Policy()).stops_promptly


@pytest.mark.parametrize("sql", SLOW_TO_STOP)
def test_statements_an_engine_may_notice_late_do_not(sql: str, schema: SchemaInfo) -> None:
    assert not check(sql, schema=schema, policy=Policy()).stops_promptly


class _Recording(DuckDatabase):
    """A DuckDB database that notes the thread each statement runs on."""

    threads: list[int]

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        self.threads.append(threading.get_ident())
        return super().execute(sql, max_rows=max_rows, timeout=timeout)


@pytest.fixture()
def recording(path: Path) -> Iterator[_Recording]:
    db = connect(f"duckdb:///{path}", sample_values=False)
    assert isinstance(db, DuckDatabase)
    db.__class__ = _Recording
    recorded = cast(_Recording, db)
    recorded.threads = []
    yield recorded
    db.close()


def _settings(timeout: float = 10.0) -> Settings:
    return Settings(model="scripted", policy=Policy.from_mapping({"statement_timeout": timeout}))


def test_a_prompt_statement_runs_on_the_callers_thread(recording: _Recording) -> None:
    answer = run_sql(PROMPT[0], db=recording, settings=_settings())
    assert answer.ok, answer.error
    assert answer.rows[0][3] == 200000 // 7 + 1
    assert recording.threads == [threading.get_ident()]
    check_step = next(s for s in answer.trace.steps if s.name == "check")
    assert check_step.detail["stops_promptly"] is True


def test_any_other_statement_runs_on_a_worker(recording: _Recording) -> None:
    answer = run_sql("SELECT MEDIAN(amount) AS m FROM t", db=recording, settings=_settings())
    assert answer.ok, answer.error
    assert len(recording.threads) == 1 and recording.threads[0] != threading.get_ident()


def test_an_engine_without_a_prompt_interrupt_always_uses_a_worker(path: Path) -> None:
    seen: list[int] = []

    class Plain:
        dialect = "duckdb"

        def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
            seen.append(threading.get_ident())
            return QueryResult(("n",), ((1,),))

    execute_within(Plain(), "SELECT 1", max_rows=5, timeout=5, stops_promptly=True)  # type: ignore[arg-type]
    assert seen and seen[0] != threading.get_ident()


def test_a_prompt_statement_over_time_ends_at_its_deadline_on_the_callers_thread(
    recording: _Recording,
) -> None:
    # Trillions of rows to count: only the interrupt can end it.
    sql = "SELECT COUNT(*) AS n FROM t a, t b, t c"
    start = time.monotonic()
    answer = run_sql(sql, db=recording, settings=_settings(timeout=1.0))
    took = time.monotonic() - start
    assert answer.error is not None and answer.error.type == QueryTimeout.__name__
    assert took < 2.0, took
    assert recording.threads == [threading.get_ident()]
    # The connection is still good for the next statement.
    assert run_sql("SELECT COUNT(*) AS n FROM u", db=recording, settings=_settings()).rows == (
        (300,),
    )
