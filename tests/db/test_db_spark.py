"""Spark SQL through Spark Connect, on a real local Spark server (tests/sparkserver.py).

One server per test session (local mode, 2 cores, 1 GB). The sample data (all four tables,
300,000 transactions) is copied in as Parquet tables of a database ``cards``; the guard corpus
schema goes into ``default`` and ``sales``. Checks: bulk introspection, values, every sample
question against DuckDB's answer (SQL transpiled with sqlglot), the CLI, the Spark cases of the
guard corpus with table checksums before and after, and a long query cancelled at its timeout
with the Spark UI's status API showing its job gone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from dbfixtures import CANONICAL_JSON, free_port, result_json
from guard_corpus import load_cases
from test_e2e_databases import PHOENIX_Q, PHOENIX_SQL, QUESTIONS, fenced, rows_match

from sqlagent.db import connect
from sqlagent.db.duck import LOCKED_CONFIG
from sqlagent.db.spark import SparkDatabase
from sqlagent.errors import ConnectionFailed, ExecutionError, QueryTimeout, SqlAgentError
from sqlagent.pipeline import ask, run_sql
from sqlagent.settings import Policy, Settings
from sqlagent.testing import ScriptedLLM

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
SAMPLE_TABLES = ("customers", "cards", "merchants", "transactions")
CORPUS_CASES = [c for c in load_cases() if c.dialect == "spark"]


# --------------------------------------------------------------------------- fixtures


def _admin(url: str) -> Any:
    from pyspark.sql.connect.session import SparkSession

    return SparkSession.builder.remote(url).create()


def _copy_duckdb(con: duckdb.DuckDBPyConnection, spark: Any, tables: dict[str, str], out: Path):
    """Copy DuckDB tables (name -> Spark ``db.table``) into Spark as Parquet tables."""
    for source, target in tables.items():
        folder = out / target.replace("`", "").replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT * FROM {source}) TO '{folder}/part.parquet' (FORMAT parquet)")
        spark.sql(f"CREATE TABLE {target} USING parquet LOCATION '{folder}'")


@pytest.fixture(scope="module")
def loaded(spark_server: Any, sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """The Spark server with the sample data (``cards``) and the corpus schema loaded."""
    spark = _admin(spark_server.url)
    out = tmp_path_factory.mktemp("spark-data")
    for db in ("cards", "sales", "analytics"):
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    spark.sql("CREATE DATABASE cards COMMENT 'the sample card transactions'")
    # A copy of the file: this connection writes Parquet (external access on), which DuckDB
    # refuses for a file that sqlagent's locked connections (the dashboard's) hold open.
    source = out / "cards.duckdb"
    shutil.copy(sample_db_path, source)
    con = duckdb.connect(str(source), read_only=True)
    try:
        _copy_duckdb(con, spark, {t: f"cards.{t}" for t in SAMPLE_TABLES}, out)
    finally:
        con.close()
    spark.sql("CREATE DATABASE sales")
    spark.sql("CREATE DATABASE analytics")
    spark.sql(
        "CREATE TABLE analytics.events (id BIGINT NOT NULL COMMENT 'event id', "
        "kind STRING COMMENT 'what happened', amount DECIMAL(12,3), tags ARRAY<STRING>, "
        "payload STRUCT<source: STRING, n: INT>, attrs MAP<STRING, INT>, at TIMESTAMP, "
        "day DATE) USING parquet COMMENT 'raw events'"
    )
    spark.sql(
        "INSERT INTO analytics.events SELECT id, CASE WHEN id % 2 = 0 THEN 'view' ELSE 'buy' "
        "END, id * 1.5, array('a', 'b'), named_struct('source', 'web', 'n', CAST(id AS INT)), "
        "map('k', 1), TIMESTAMP '2024-01-02 03:04:05', DATE '2024-01-02' FROM range(1, 101)"
    )
    spark.sql("CREATE VIEW analytics.buys AS SELECT id, amount FROM analytics.events "
              "WHERE kind = 'buy'")  # fmt: skip
    _build_corpus_schema(spark, out)
    try:
        yield spark_server
    finally:
        spark.stop()


def _build_corpus_schema(spark: Any, out: Path) -> None:
    """The guard corpus' schema (tests/guard_corpus/schema.yaml): default and sales."""
    con = duckdb.connect()
    con.execute("""
        CREATE TABLE customers AS SELECT * FROM (VALUES
          (1, 'Ann', 'ann@x', '111-22-3333', 'pw1', 'Phoenix', DATE '2024-01-01'),
          (2, 'Bob', 'bob@x', '222-33-4444', 'pw2', 'Tucson', DATE '2024-02-01'))
          t(customer_id, name, email, ssn, password, city, signup_date);
        CREATE TABLE cards AS SELECT * FROM (VALUES
          (10, 1, 'visa', DATE '2024-01-02', 1000.00::DECIMAL(10,2)),
          (11, 2, 'amex', DATE '2024-02-02', 2500.50::DECIMAL(10,2)))
          t(card_id, customer_id, card_type, issued_at, credit_limit);
        CREATE TABLE merchants AS SELECT * FROM (VALUES (100, 'Shop', 'retail', 'US'))
          t(merchant_id, merchant_name, category, country);
        CREATE TABLE transactions AS SELECT txn_id, card_id, merchant_id, amount, ts, status,
          {'channel': 'web', 'device': {'os': 'ios'}} AS details FROM (VALUES
          (1000, 10, 100, 12.50::DECIMAL(10,2), TIMESTAMP '2024-03-01 10:00:00', 'ok'))
          t(txn_id, card_id, merchant_id, amount, ts, status);
        CREATE TABLE sales_orders AS SELECT * FROM (VALUES (1, 1, 99.90::DECIMAL(10,2),
          DATE '2024-03-03')) t(order_id, customer_id, total, placed_at);
        CREATE TABLE sales_reps AS SELECT * FROM (VALUES (1, 'Rita', 'pw3')) t(rep_id,
          rep_name, password);
    """)
    for t in ("customers", "cards", "merchants", "transactions"):
        spark.sql(f"DROP TABLE IF EXISTS default.{t}")
    _copy_duckdb(
        con,
        spark,
        {
            "customers": "default.customers",
            "cards": "default.cards",
            "merchants": "default.merchants",
            "transactions": "default.transactions",
            "sales_orders": "sales.orders",
            "sales_reps": "sales.reps",
        },
        out / "corpus",
    )
    con.close()


@pytest.fixture(scope="module")
def cards(loaded: Any) -> Iterator[SparkDatabase]:
    db = connect(f"{loaded.url}/;database=cards")
    assert isinstance(db, SparkDatabase)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="module")
def duckdb_answers(sample_db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(sample_db_path), read_only=True, config=dict(LOCKED_CONFIG))
    try:
        return {q["question"]: con.execute(q["sql"]).fetchall() for q in QUESTIONS}
    finally:
        con.close()


def checksums(spark: Any, tables: list[str]) -> dict[str, tuple[Any, ...]]:
    """Per table: row count and an order-free sum of row hashes, read as admin."""
    out = {}
    for t in tables:
        row = spark.sql(f"SELECT count(*), sum(hash(to_json(struct(*)))) FROM {t}").collect()[0]
        out[t] = tuple(row)
    return out


def catalog(spark: Any) -> list[tuple[Any, ...]]:
    """Every database, table and function the admin session sees."""
    dbs = sorted(r[0] for r in spark.sql("SHOW DATABASES").collect())
    tables = sorted(tuple(r) for db in dbs for r in spark.sql(f"SHOW TABLES IN {db}").collect())
    funcs = sorted(r[0] for r in spark.sql("SHOW USER FUNCTIONS").collect())
    return [tuple(dbs), tuple(tables), tuple(funcs)]


# --------------------------------------------------------------------------- connection


def test_introspection_reads_databases_types_comments_and_views(loaded: Any) -> None:
    db = connect(f"{loaded.url}/;database=analytics,cards")
    try:
        schema = db.schema()
        assert schema.dialect == "spark"
        assert schema.default_schema == "analytics"  # the first database given
        events = schema.table("events")
        assert events is not None and events.schema is None
        assert events.comment == "raw events"
        types = {c.name: c.type for c in events.columns}
        assert types == {
            "id": "bigint",
            "kind": "string",
            "amount": "decimal(12,3)",
            "tags": "array<string>",
            "payload": "struct<source:string,n:int>",
            "attrs": "map<string,int>",
            "at": "timestamp",
            "day": "date",
        }
        # Spark itself relaxes NOT NULL on Parquet tables: the catalog says nullable.
        assert events.column("id").nullable is True  # type: ignore[union-attr]
        assert events.column("kind").comment == "what happened"  # type: ignore[union-attr]
        assert events.column("kind").samples == ("buy", "view")  # type: ignore[union-attr]
        buys = schema.table("buys")
        assert buys is not None and buys.kind == "view"
        assert [c.name for c in buys.columns] == ["id", "amount"]
        transactions = schema.table("transactions", "cards")
        assert transactions is not None and transactions.qualified_name == "cards.transactions"
        assert {t.qualified_name for t in schema.tables} == {
            "events", "buys", *(f"cards.{t}" for t in SAMPLE_TABLES)
        }  # fmt: skip
    finally:
        db.close()


def test_values_come_back_as_python_natives(cards: SparkDatabase) -> None:
    result = cards.execute(
        "SELECT 42 AS i, CAST(12.5 AS DOUBLE) AS d, 'héllo' AS t, DATE '2024-01-02' AS day, "
        "TIMESTAMP_NTZ '2024-01-02 03:04:05' AS ts, "
        "CAST(0.25 AS DECIMAL(4,2)) AS f, X'00FF' AS b, "
        "'12345678-1234-5678-1234-567812345678' AS u, NULL AS n",
        max_rows=5,
        timeout=30,
    )
    # Spark 4 has a TIME type only behind a flag (UNSUPPORTED_TIME_TYPE by default).
    assert result_json(result) == {k: v for k, v in CANONICAL_JSON.items() if k != "tod"}
    nested = cards.execute(
        "SELECT array(1, 2) AS a, named_struct('x', 1, 'y', named_struct('z', 'q')) AS s, "
        "map('k', 2) AS m",
        max_rows=5,
        timeout=30,
    )
    assert nested.rows == (([1, 2], {"x": 1, "y": {"z": "q"}}, {"k": 2}),)


def test_rows_are_bounded_and_duplicate_names_kept(cards: SparkDatabase) -> None:
    result = cards.execute(
        "SELECT card_id, card_id FROM cards ORDER BY card_id", max_rows=3, timeout=30
    )
    assert result.columns == ("card_id", "card_id")
    assert result.truncated and len(result.rows) == 3
    empty = cards.execute("SELECT card_id FROM cards WHERE 1 = 0", max_rows=3, timeout=30)
    assert empty.columns == ("card_id",) and empty.rows == ()


@pytest.mark.parametrize(
    "statement",
    ["CACHE TABLE cards", "DROP TABLE cards", "SELECT 1; DROP TABLE cards", "ADD JAR /x.jar"],
)
def test_connection_itself_refuses_commands(cards: SparkDatabase, statement: str) -> None:
    spark = _admin(cards.display_url.split("/;")[0])
    try:
        before = catalog(spark), checksums(spark, ["cards.cards"])
        with pytest.raises(ExecutionError):
            cards.execute(statement, max_rows=5, timeout=30)
        assert (catalog(spark), checksums(spark, ["cards.cards"])) == before
        cached = spark.sql("SELECT 1").collect()  # the server is still fine
        assert cached[0][0] == 1
    finally:
        spark.stop()


def test_bad_urls_fail_with_clear_messages(loaded: Any) -> None:
    with pytest.raises(ConnectionFailed, match="has no database nope"):
        connect(f"{loaded.url}/;database=nope")
    port = free_port()
    with pytest.raises(ConnectionFailed, match=r"Cannot connect to Spark at sc://127\.0\.0\.1"):
        connect(f"sc://127.0.0.1:{port}/;token=s3cret")
    try:
        connect(f"sc://127.0.0.1:{port}/;token=s3cret")
    except ConnectionFailed as exc:
        assert "s3cret" not in str(exc)


# --------------------------------------------------------------------------- questions


def test_phoenix_question_through_the_chain(cards: SparkDatabase, settings: Settings) -> None:
    sql = sqlglot.transpile(PHOENIX_SQL, read="duckdb", write="spark")[0]
    llm = ScriptedLLM([fenced(sql), "There are 9 unique merchants in Phoenix."])
    answer = ask(PHOENIX_Q, llm=llm, db=cards, settings=settings)
    assert answer.ok, answer.error
    assert answer.row_count == 9
    assert answer.narrative == "There are 9 unique merchants in Phoenix."
    system = llm.calls[0].messages[0]["content"]
    assert "Spark SQL" in system


@pytest.mark.parametrize("item", QUESTIONS, ids=[f"q{i:02d}" for i in range(len(QUESTIONS))])
def test_sample_question_matches_duckdb(
    cards: SparkDatabase,
    item: dict[str, Any],
    settings: Settings,
    duckdb_answers: dict[str, list[tuple[Any, ...]]],
) -> None:
    sql = sqlglot.transpile(item["sql"], read="duckdb", write="spark")[0]
    answer = ask(
        item["question"],
        llm=ScriptedLLM([fenced(sql)]),
        db=cards,
        settings=settings.with_(narrate=False),
    )
    assert answer.ok, (answer.error, sql)
    ordered = "order by" in item["sql"].lower()
    want = duckdb_answers[item["question"]]
    assert rows_match(answer.rows, want, ordered), (sql, answer.rows[:5], want[:5])


def test_cli_answers_a_verified_question_on_spark(cards: SparkDatabase, tmp_path: Path) -> None:
    url = cards.display_url
    env = dict(
        os.environ,
        SQLAGENT_KNOWLEDGE=str(REPO / "sample_data" / "cards.knowledge.yaml"),
        SQLAGENT_HOME=str(tmp_path),
    )
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, "-m", "sqlagent", "ask", PHOENIX_Q, "--db", url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["error"] is None
    assert out["row_count"] == 9
    assert "Sky Harbor Travel Co." in [r[0] for r in out["rows"]]


def test_dashboard_answers_the_sample_question_on_spark(
    cards: SparkDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard on a Spark database: the sample question asked in its chat box is
    answered with the nine merchants (a verified question: no model is configured)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLAGENT_MODEL", "SQLAGENT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SQLAGENT_DB", cards.display_url)
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", str(REPO / "sample_data" / "cards.knowledge.yaml"))
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path))
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=300)
    try:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        at.chat_input[0].set_value(PHOENIX_Q).run()
        assert not at.exception, [e.value for e in at.exception]
    finally:
        # The dashboard's shared connection ends its Spark session when released (else the
        # client's exit hook retries clean-up calls against a server that has gone).
        st.cache_resource.clear()
    frames = [df.value for df in at.dataframe]
    assert frames, "no result table on the page"
    names = list(frames[-1].iloc[:, 0])
    assert len(names) == 9 and "Sky Harbor Travel Co." in names


# --------------------------------------------------------------------------- guard corpus


@pytest.fixture(scope="module")
def corpus_db(loaded: Any) -> Iterator[SparkDatabase]:
    db = connect(loaded.url)
    assert isinstance(db, SparkDatabase)
    try:
        yield db
    finally:
        db.close()


def test_guard_corpus_spark_cases_leave_every_table_unchanged(
    corpus_db: SparkDatabase, loaded: Any, settings: Settings
) -> None:
    assert len(CORPUS_CASES) >= 40
    spark = _admin(loaded.url)
    tables = [
        "default.customers", "default.cards", "default.merchants", "default.transactions",
        "sales.orders", "sales.reps", "cards.transactions", "analytics.events",
    ]  # fmt: skip
    try:
        before = checksums(spark, tables), catalog(spark)
        failures = []
        counts = {"refused": 0, "allowed": 0}
        for case in CORPUS_CASES:
            policy = Policy(max_rows=50, **case.policy)  # type: ignore[arg-type]
            answer = run_sql(case.sql, db=corpus_db, settings=settings.with_(policy=policy))
            if case.expect == "refuse":
                counts["refused"] += 1
                if answer.error is None or answer.error.type != case.error_type:
                    failures.append((case.id, case.sql, answer.error))
            else:
                counts["allowed"] += 1
                if answer.error is not None:
                    failures.append((case.id, case.sql, answer.error))
        assert not failures, failures
        assert (checksums(spark, tables), catalog(spark)) == before
        assert counts["refused"] >= 30 and counts["allowed"] >= 10, counts
    finally:
        spark.stop()


# --------------------------------------------------------------------------- timeout


def _jobs(ui: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{ui}/api/v1/applications", timeout=10) as resp:
        apps = json.load(resp)
    app = apps[0]["id"]
    with urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/jobs", timeout=10) as resp:
        return list(json.load(resp))


def test_timeout_cancels_the_spark_job(cards: SparkDatabase, loaded: Any) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        cards.execute(
            "SELECT count(*) FROM range(0, 100000000000) a WHERE a.id % 7 = 3",
            max_rows=5,
            timeout=3,
        )
    assert time.monotonic() - started < 10
    tag = cards.last_tag
    assert tag
    deadline = time.monotonic() + 20
    while True:
        mine = [j for j in _jobs(loaded.ui) if any(tag in t for t in j.get("jobTags", []))]
        if mine and all(j["status"] != "RUNNING" for j in mine):
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.5)
    assert all(j["status"] == "FAILED" for j in mine), mine
    assert all(j["numCompletedTasks"] < j["numTasks"] for j in mine)
    # The connection is usable right after.
    assert cards.execute("SELECT 1 AS x", max_rows=1, timeout=30).rows == ((1,),)


def test_errors_are_spark_messages_without_the_jvm_trace(cards: SparkDatabase) -> None:
    with pytest.raises(SqlAgentError) as err:
        cards.execute("SELECT no_such_column FROM cards", max_rows=5, timeout=30)
    assert "no_such_column" in str(err.value)
    assert "JVM stacktrace" not in str(err.value)
