"""Row filters on the real servers: PostgreSQL, MariaDB and Spark.

The cases of the property test (tests/rowfilter_cases.py) on each server: the data is
loaded twice, whole and as one person may see it, and every query template that the engine
runs gives, guarded with the person's row filters on the whole data, exactly what it gives
unguarded on the permitted copy. The queries are written in DuckDB's SQL and transpiled with
sqlglot, as the tests of the other engines do.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dbfixtures
import pytest
import sqlglot
from rowfilter_cases import (
    DDL,
    FILTERS,
    REGION_SETS,
    TEMPLATES,
    canonical,
    make_data,
    permitted,
)

from sqlagent.db import connect
from sqlagent.guard import check
from sqlagent.settings import Policy

DATA = make_data(seed=11)
PEOPLE = REGION_SETS[:2]


def _cases(dialect: str) -> list[tuple[str, str]]:
    """(id, SQL in ``dialect``) for each template the engine runs, with two aggregates."""
    out: list[tuple[str, str]] = []
    for i, (text, engines) in enumerate(TEMPLATES):
        if dialect not in engines:
            continue
        for agg in ("count(*)", "sum(amount)"):
            sql = text.format(agg=agg, n=300)
            out.append((f"t{i:02d}-{agg}", sqlglot.transpile(sql, read="duckdb", write=dialect)[0]))
            if "{agg}" not in text:
                break
    return out


def _values(rows: list[tuple[Any, ...]]) -> str:
    def lit(v: Any) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, (int, decimal.Decimal)):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(lit(v) for v in r) + ")" for r in rows)


def _load(run: Callable[[str], Any], data: dict[str, list[tuple[Any, ...]]], ddl_tail: str = ""):
    for ddl in DDL:
        run(ddl + ddl_tail)
    for table, rows in data.items():
        if rows:
            run(f"INSERT INTO {table} VALUES {_values(rows)}")


def _compare(
    dialect: str,
    full_url: str,
    copies: dict[tuple[str, tuple[str, ...]], Callable[[str], list[tuple[Any, ...]]]],
) -> None:
    db = connect(full_url)
    try:
        schema = db.schema()
        failures: list[str] = []
        compared = 0
        for region, regions in PEOPLE:
            policy = Policy(row_filters=FILTERS, max_rows=100_000).bound(
                {"region": region, "regions": regions}
            )
            for case_id, sql in _cases(dialect):
                expected = copies[(region, regions)](sql)
                guarded = check(sql, schema=schema, policy=policy)
                got = list(db.execute(guarded.executable, max_rows=100_000, timeout=60).rows)
                if canonical(got) != canonical(expected):
                    failures.append(f"{case_id} as {region}: {sql}")
                compared += 1
        assert failures == []
        assert compared >= 2 * 30
    finally:
        db.close()


@pytest.mark.postgres
def test_row_filters_on_postgres() -> None:
    full_gen = dbfixtures.scratch_postgres()
    full = next(full_gen)
    copies_gens = []
    copies: dict[tuple[str, tuple[str, ...]], Callable[[str], list[tuple[Any, ...]]]] = {}
    try:
        full.run(*_statements(DATA))
        for who in PEOPLE:
            gen = dbfixtures.scratch_postgres()
            scratch = next(gen)
            copies_gens.append(gen)
            scratch.run(*_statements(permitted(DATA, *who)))
            copies[who] = scratch.rows
        _compare("postgres", full.url, copies)
    finally:
        for gen in [*copies_gens, full_gen]:
            gen.close()


@pytest.mark.mariadb
def test_row_filters_on_mariadb() -> None:
    full_gen = dbfixtures.scratch_mariadb()
    full = next(full_gen)
    copies_gens = []
    copies: dict[tuple[str, tuple[str, ...]], Callable[[str], list[tuple[Any, ...]]]] = {}
    try:
        full.run(*_statements(DATA))
        for who in PEOPLE:
            gen = dbfixtures.scratch_mariadb()
            scratch = next(gen)
            copies_gens.append(gen)
            scratch.run(*_statements(permitted(DATA, *who)))
            copies[who] = scratch.rows
        _compare("mysql", full.url, copies)
    finally:
        for gen in [*copies_gens, full_gen]:
            gen.close()


def _statements(data: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    out: list[str] = []
    _load(out.append, data)
    return out


@pytest.fixture(scope="module")
def spark_loaded(spark_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql.connect.session import SparkSession

    spark = SparkSession.builder.remote(spark_server.url).create()
    names = {"full": DATA, **{f"copy{i}": permitted(DATA, *w) for i, w in enumerate(PEOPLE)}}
    for name, data in names.items():
        spark.sql(f"DROP DATABASE IF EXISTS rf_{name} CASCADE")
        spark.sql(f"CREATE DATABASE rf_{name}")
        spark.sql(f"USE rf_{name}")
        _load(lambda s: spark.sql(s).collect(), data, " USING parquet")
    spark.sql("USE default")
    try:
        yield spark_server, spark
    finally:
        for name in names:
            spark.sql(f"DROP DATABASE IF EXISTS rf_{name} CASCADE")
        spark.stop()


@pytest.mark.spark
def test_row_filters_on_spark(spark_loaded: Any, tmp_path: Path) -> None:
    server, spark = spark_loaded

    def on(database: str) -> Callable[[str], list[tuple[Any, ...]]]:
        def run(sql: str) -> list[tuple[Any, ...]]:
            spark.sql(f"USE {database}")
            return [tuple(r) for r in spark.sql(sql).collect()]

        return run

    copies = {w: on(f"rf_copy{i}") for i, w in enumerate(PEOPLE)}
    _compare("spark", f"{server.url}/;database=rf_full", copies)
