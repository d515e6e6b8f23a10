"""Warehouses that cannot be reached from a test run: Snowflake, BigQuery, Trino, Databricks,
Redshift (and SQL Server, Oracle). What holds without a server is checked here: the URL picks
the right sqlglot dialect, a missing SQLAlchemy dialect gives an install hint, the guard parses
each dialect's own syntax, refuses its writes and bounds its rows (LIMIT, TOP, FETCH FIRST),
names are quoted the dialect's way, and the per-query statements that set a server-side
timeout are the documented ones. What is not verified is listed in docs/databases.md.
"""

from __future__ import annotations

import importlib.util

import pytest
import sqlalchemy as sa

from sqlagent.context import render_table
from sqlagent.db import connect, parse_target
from sqlagent.db.dialects import DEFAULT_PROFILE, profile_for, sqlglot_dialect
from sqlagent.errors import ConnectionFailed, GuardError, UnknownColumn, UnknownTable
from sqlagent.guard import check
from sqlagent.pipeline import dialect_name
from sqlagent.settings import Policy
from sqlagent.types import ColumnInfo, SchemaInfo, TableInfo

POLICY = Policy(max_rows=1000)


def schema(dialect: str, table_schema: str | None = None) -> SchemaInfo:
    """Two tables as SQLAlchemy reflects them (a name with a space in one of them)."""
    orders = TableInfo(
        "orders",
        (
            ColumnInfo("id", "INTEGER", primary_key=True),
            ColumnInfo("amount", "DECIMAL(10, 2)"),
            ColumnInfo("Order Date", "DATE"),
            ColumnInfo("region", "VARCHAR(20)"),
            ColumnInfo("customer_id", "INTEGER"),
        ),
        schema=table_schema,
        primary_key=("id",),
    )
    customers = TableInfo(
        "customers",
        (ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("name", "VARCHAR(80)")),
        schema=table_schema,
        primary_key=("id",),
    )
    return SchemaInfo(dialect, (orders, customers))


def guarded(sql: str, dialect: str, table_schema: str | None = None) -> str:
    return check(sql, schema=schema(dialect, table_schema), policy=POLICY).executable


# ---------------------------------------------------------------------- URL to dialect


@pytest.mark.parametrize(
    ("url", "dialect", "package", "module"),
    [
        (
            "snowflake://me:s3cret@acct/db/public?warehouse=wh",
            "snowflake",
            "snowflake-sqlalchemy",
            "snowflake",
        ),
        ("bigquery://my-project/sales", "bigquery", "sqlalchemy-bigquery", "sqlalchemy_bigquery"),
        ("trino://me@host:8080/hive/sales", "trino", "trino", "trino"),
        (
            "databricks://token:s3cret@host?http_path=/sql/1.0/w",
            "databricks",
            "databricks-sqlalchemy",
            "databricks",
        ),
        (
            "redshift+redshift_connector://me:s3cret@host:5439/dev",
            "redshift",
            "sqlalchemy-redshift",
            "sqlalchemy_redshift",
        ),
        ("mssql+pyodbc://me:s3cret@dsn", "tsql", "pyodbc", "pyodbc"),
        ("oracle+oracledb://me:s3cret@host/svc", "oracle", "oracledb", "oracledb"),
    ],
)
def test_url_names_the_sqlglot_dialect_and_a_missing_driver_says_what_to_install(
    url: str, dialect: str, package: str, module: str
) -> None:
    target = parse_target(url)
    assert target.kind == "sqlalchemy"
    assert sqlglot_dialect(sa.make_url(url).get_backend_name()) == dialect
    assert dialect_name(dialect) != dialect  # the model is told the product's own name

    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{package} is installed here: connecting would try the network")
    with pytest.raises(ConnectionFailed) as caught:
        connect(url)
    assert package in (caught.value.hint or "")
    assert "s3cret" not in caught.value.message  # the password never shows


# ---------------------------------------------------------------------- row bounds


@pytest.mark.parametrize(
    ("dialect", "sql", "executable"),
    [
        # No bound given: one is added, one row more than max_rows (to see truncation).
        ("snowflake", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("bigquery", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("trino", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("databricks", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("redshift", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("tsql", "SELECT id FROM orders", "SELECT TOP 1001 id FROM orders"),
        ("oracle", "SELECT id FROM orders", "SELECT id FROM orders FETCH FIRST 1001 ROWS ONLY"),
        ("postgres", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        ("mysql", "SELECT id FROM orders", "SELECT id FROM orders LIMIT 1001"),
        # A larger bound is lowered, in the dialect's own syntax.
        ("snowflake", "SELECT id FROM orders LIMIT 5000", "SELECT id FROM orders LIMIT 1001"),
        ("databricks", "SELECT id FROM orders LIMIT 20000", "SELECT id FROM orders LIMIT 1001"),
        ("tsql", "SELECT TOP 5000 id FROM orders", "SELECT TOP 1001 id FROM orders"),
        (
            "tsql",
            "SELECT id FROM orders ORDER BY id OFFSET 0 ROWS FETCH NEXT 5000 ROWS ONLY",
            "SELECT id FROM orders ORDER BY id OFFSET 0 ROWS FETCH NEXT 1001 ROWS ONLY",
        ),
        (
            "oracle",
            "SELECT id FROM orders FETCH FIRST 5000 ROWS ONLY",
            "SELECT id FROM orders FETCH FIRST 1001 ROWS ONLY",
        ),
        (
            "trino",
            "SELECT id FROM orders FETCH FIRST 5000 ROWS ONLY",
            "SELECT id FROM orders FETCH FIRST 1001 ROWS ONLY",
        ),
        # A smaller bound is kept as written.
        (
            "bigquery",
            "SELECT id FROM orders LIMIT 10 OFFSET 5",
            "SELECT id FROM orders LIMIT 10 OFFSET 5",
        ),
        ("tsql", "SELECT TOP 10 id FROM orders", "SELECT TOP 10 id FROM orders"),
        ("redshift", "SELECT TOP 10 id FROM orders", "SELECT id FROM orders LIMIT 10"),
        (
            "trino",
            "SELECT id FROM orders FETCH FIRST 10 ROWS ONLY",
            "SELECT id FROM orders FETCH FIRST 10 ROWS ONLY",
        ),
        # A set operation is bounded as a whole.
        (
            "snowflake",
            "SELECT id FROM orders UNION ALL SELECT id FROM customers",
            "SELECT id FROM orders UNION ALL SELECT id FROM customers LIMIT 1001",
        ),
    ],
)
def test_guard_bounds_rows_in_each_dialects_syntax(dialect: str, sql: str, executable: str) -> None:
    assert guarded(sql, dialect) == executable


# ---------------------------------------------------------------------- dialect syntax


@pytest.mark.parametrize(
    ("dialect", "sql", "kept"),
    [
        (
            "snowflake",
            "SELECT IFF(amount > 10, 'big', 'small') AS size, amount::INT AS whole FROM orders "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY region ORDER BY amount DESC) = 1",
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY region ORDER BY amount DESC) = 1",
        ),
        ("snowflake", "SELECT region FROM orders WHERE region ILIKE 'n%'", "ILIKE 'n%'"),
        (
            "bigquery",
            "SELECT region, SAFE_DIVIDE(SUM(amount), COUNT(*)) AS mean FROM orders GROUP BY region",
            "SAFE_DIVIDE(SUM(amount), COUNT(*))",
        ),
        (
            "bigquery",
            "SELECT DATE_TRUNC(`Order Date`, MONTH) AS m, COUNT(*) AS n FROM orders GROUP BY 1",
            "DATE_TRUNC(`Order Date`, MONTH)",
        ),
        (
            "trino",
            "SELECT region, approx_distinct(id) AS n FROM orders GROUP BY region",
            "APPROX_DISTINCT(id)",
        ),
        (
            "trino",
            "SELECT date_trunc('month', \"Order Date\") AS m FROM orders",
            "DATE_TRUNC('MONTH', \"Order Date\")",
        ),
        (
            "databricks",
            "SELECT date_format(`Order Date`, 'yyyy-MM') AS m FROM orders",
            "DATE_FORMAT(`Order Date`, 'yyyy-MM')",
        ),
        (
            "redshift",
            'SELECT GETDATE() AS now, DATEADD(day, 1, "Order Date") AS d FROM orders',
            'DATEADD(DAY, 1, "Order Date")',
        ),
        ("tsql", "SELECT [Order Date], ISNULL(amount, 0) AS a FROM orders", "[Order Date]"),
    ],
)
def test_guard_parses_each_dialects_own_syntax(dialect: str, sql: str, kept: str) -> None:
    assert kept in guarded(sql, dialect)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("snowflake", "COPY INTO @stage FROM orders"),
        ("snowflake", "PUT file:///etc/passwd @stage"),
        ("snowflake", "CREATE OR REPLACE TABLE orders AS SELECT 1 AS id"),
        ("snowflake", "SELECT * FROM orders; DROP TABLE orders"),
        ("snowflake", "CALL cleanup()"),
        ("snowflake", "UNDROP TABLE orders"),
        ("snowflake", "SELECT * FROM @stage"),
        ("snowflake", "SELECT SYSTEM$CANCEL_ALL_QUERIES(42)"),
        ("snowflake", "SELECT system$abort_session(7)"),
        ("snowflake", "SELECT SYSTEM$WAIT(600)"),
        ("snowflake", "SELECT * FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))"),
        (
            "bigquery",
            "EXPORT DATA OPTIONS(uri='gs://b/*.csv', format='CSV') AS SELECT * FROM orders",
        ),
        ("bigquery", "MERGE orders t USING customers s ON t.id = s.id WHEN MATCHED THEN DELETE"),
        ("bigquery", "SELECT * FROM EXTERNAL_QUERY('conn', 'DELETE FROM x')"),
        ("bigquery", "DECLARE x INT64"),
        ("trino", "INSERT INTO orders SELECT * FROM orders"),
        ("trino", "CALL system.sync_partition_metadata('sales', 'orders', 'ADD')"),
        ("trino", "SET SESSION query_max_run_time = '1h'"),
        ("trino", "SELECT * FROM TABLE(system.query(query => 'DELETE FROM x'))"),
        ("databricks", "OPTIMIZE orders"),
        ("databricks", "VACUUM orders"),
        ("databricks", "COPY INTO orders FROM 's3://bucket/x'"),
        ("databricks", "SELECT * FROM read_files('s3://bucket/x')"),
        ("databricks", "SELECT * FROM csv.`/tmp/x.csv`"),
        ("redshift", "UNLOAD ('select * from orders') TO 's3://b/x' IAM_ROLE 'r'"),
        ("redshift", "COPY orders FROM 's3://b/x' IAM_ROLE 'r'"),
        ("tsql", "EXEC xp_cmdshell 'dir'"),
        ("tsql", "SELECT * INTO orders_copy FROM orders"),
        ("oracle", "BEGIN EXECUTE IMMEDIATE 'DROP TABLE orders'; END;"),
    ],
)
def test_guard_refuses_each_dialects_writes_and_file_access(dialect: str, sql: str) -> None:
    with pytest.raises(GuardError):
        guarded(sql, dialect)


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("bigquery", "SELECT id FROM `my-project.sales.orders`"),
        ("trino", "SELECT id FROM hive.sales.orders"),
        ("snowflake", "SELECT id FROM analytics.sales.orders"),
    ],
)
def test_three_part_names_are_refused_with_a_clear_message(dialect: str, sql: str) -> None:
    # A documented limitation: the connection URL picks the project/catalog/database.
    with pytest.raises(UnknownTable, match="database-qualified names are not supported"):
        guarded(sql, dialect, "sales")


@pytest.mark.parametrize("dialect", ["bigquery", "trino", "snowflake", "redshift", "databricks"])
def test_schema_qualified_names_resolve(dialect: str) -> None:
    assert "sales.orders" in guarded("SELECT id FROM sales.orders", dialect, "sales").lower()


# ---------------------------------------------------------------------- quoting


@pytest.mark.parametrize(
    ("dialect", "column", "table"),
    [
        ("snowflake", '"Order Date" DATE', '"Mixed Table"'),
        ("trino", '"Order Date" DATE', '"Mixed Table"'),
        ("redshift", '"Order Date" DATE', '"Mixed Table"'),
        ("bigquery", "`Order Date` DATE", "`Mixed Table`"),
        ("databricks", "`Order Date` DATE", "`Mixed Table`"),
        ("tsql", "[Order Date] DATE", "[Mixed Table]"),
        ("oracle", '"Order Date" DATE', '"Mixed Table"'),
    ],
)
def test_context_quotes_names_the_dialects_way(dialect: str, column: str, table: str) -> None:
    info = TableInfo("Mixed Table", (ColumnInfo("id", "INTEGER"), ColumnInfo("Order Date", "DATE")))
    text = render_table(info, dialect)
    assert f"CREATE TABLE {table} (" in text
    assert f"  {column}" in text
    assert "  id INTEGER" in text  # plain names stay plain


@pytest.mark.parametrize(
    ("dialect", "sql", "quoted"),
    [
        ("snowflake", 'SELECT "Order Date" FROM orders', '"Order Date"'),
        ("trino", 'SELECT "Order Date" FROM orders', '"Order Date"'),
        ("redshift", 'SELECT "Order Date" FROM orders', '"Order Date"'),
        ("bigquery", "SELECT `Order Date` FROM orders", "`Order Date`"),
        ("databricks", "SELECT `Order Date` FROM orders", "`Order Date`"),
        ("tsql", "SELECT [Order Date] FROM orders", "[Order Date]"),
    ],
)
def test_guard_keeps_quoted_names_quoted(dialect: str, sql: str, quoted: str) -> None:
    assert quoted in guarded(sql, dialect)


def test_snowflake_names_follow_its_upper_case_rules() -> None:
    # SQLAlchemy reports Snowflake's case-insensitive (stored upper-case) names in lower case:
    # unquoted names in any case, and quoted upper case, all reach them.
    assert "AMOUNT" in guarded("SELECT AMOUNT FROM ORDERS", "snowflake")
    assert "amount" in guarded("SELECT amount FROM orders", "snowflake")
    assert '"AMOUNT"' in guarded('SELECT "AMOUNT" FROM "ORDERS"', "snowflake")


@pytest.mark.parametrize("dialect", ["snowflake", "oracle"])
def test_upper_case_dialects_refuse_unknown_columns(dialect: str) -> None:
    with pytest.raises(UnknownColumn, match="amount"):
        guarded("SELECT amount_usd FROM orders", dialect)


# ---------------------------------------------------------------------- timeouts


@pytest.mark.parametrize(
    ("backend", "statements"),
    [
        ("snowflake", ["ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = 3"]),
        ("trino", ["SET SESSION query_max_run_time = '3s'"]),
        ("redshift", ["SET TRANSACTION READ ONLY", "SET LOCAL statement_timeout = 2500"]),
        ("postgresql", ["SET TRANSACTION READ ONLY", "SET LOCAL statement_timeout = 2500"]),
    ],
)
def test_server_side_timeout_statements(backend: str, statements: list[str]) -> None:
    profile = profile_for(backend)
    assert profile.prologue(2.5, 1000) == statements
    assert profile.server_timeout


@pytest.mark.parametrize("backend", ["bigquery", "databricks", "awsathena", "clickhouse"])
def test_warehouses_without_a_timeout_statement_rely_on_the_client_cancel(backend: str) -> None:
    profile = profile_for(backend)
    assert profile is DEFAULT_PROFILE
    assert profile.prologue(30, 1000) == []
    assert not profile.server_timeout
    assert profile.cancel == "connection"
