"""What differs between SQLAlchemy databases, as tables: dialect names, driver packages, and the
statements that make each query read-only and time-limited.

Which protection holds where (every query also ends in ROLLBACK):

==========  ==============================================  =====================================
dialect     read-only                                       statement timeout
==========  ==============================================  =====================================
postgres    ``SET TRANSACTION READ ONLY`` per query; a      ``SET LOCAL statement_timeout``, plus
            server-side cursor (``DECLARE``) admits one     ``cancel()`` from a timer thread
            SELECT/VALUES/TABLE statement only
redshift    as postgres                                     as postgres
mysql       ``SET SESSION TRANSACTION READ ONLY`` +         ``max_execution_time`` (ms), plus
            ``START TRANSACTION READ ONLY`` per query;      ``KILL QUERY`` from a timer thread
            refuses DDL too; one statement per call
mariadb     as mysql                                        ``max_statement_time`` (s), plus
                                                            ``KILL QUERY`` from a timer thread
sqlite      ``mode=ro`` URI + an authorizer (see            progress handler with a deadline
            ``sqlagent.db.sqlite``)
oracle      ``SET TRANSACTION READ ONLY`` per query         ``cancel()`` from a timer thread
snowflake   none at the connection: use a read-only role    ``STATEMENT_TIMEOUT_IN_SECONDS``
trino       none at the connection: use a read-only user    ``query_max_run_time``
others      none at the connection: use a read-only user    ``cancel()`` where the driver has it
==========  ==============================================  =====================================

Where nothing holds at the connection, the account's privileges are the real protection, and
even where something does, a read-only account is the recommended setup: ``SELECT ... INTO
OUTFILE`` on MySQL, for instance, writes a server file whenever the account has the FILE
privilege, read-only transaction or not.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field

SQLA_TO_SQLGLOT: dict[str, str] = {
    "postgresql": "postgres",
    "cockroachdb": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "trino": "trino",
    "presto": "presto",
    "databricks": "databricks",
    "redshift": "redshift",
    "mssql": "tsql",
    "oracle": "oracle",
    "clickhouse": "clickhouse",
    "hive": "hive",
    "awsathena": "athena",
    "teradatasql": "teradata",
    "teradata": "teradata",
}
"""SQLAlchemy backend name (``url.get_backend_name()``) to sqlglot dialect name."""

DRIVER_PACKAGES: dict[str, str] = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pymysql": "pymysql",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
    "oracledb": "oracledb",
    "cx_oracle": "cx_Oracle",
}
"""DBAPI driver name to the package that provides it."""

DIALECT_PACKAGES: dict[str, str] = {
    "snowflake": "snowflake-sqlalchemy",
    "bigquery": "sqlalchemy-bigquery",
    "trino": "trino",
    "databricks": "databricks-sqlalchemy",
    "redshift": "sqlalchemy-redshift redshift_connector",
    "clickhouse": "clickhouse-sqlalchemy",
    "duckdb": "duckdb-engine",
    "awsathena": "pyathena[SQLAlchemy]",
    "hive": "pyhive[hive]",
    "presto": "pyhive[presto]",
    "teradatasql": "teradatasqlalchemy",
}
"""SQLAlchemy backends that live in a package of their own."""

FALLBACK_DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "postgresql": (("psycopg2", "psycopg2"), ("psycopg", "psycopg")),
    "mysql": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql")),
    "mariadb": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql")),
}
"""For a URL without a driver: (driver, module) in SQLAlchemy's order of preference."""

Statements = Callable[[float, int], list[str]]
"""``(timeout seconds, max_rows) -> statements`` run before each query."""


def _none(timeout: float, max_rows: int) -> list[str]:
    return []


def _postgres(timeout: float, max_rows: int) -> list[str]:
    return ["SET TRANSACTION READ ONLY", f"SET LOCAL statement_timeout = {_ms(timeout)}"]


def _mysql(timeout: float, max_rows: int) -> list[str]:
    # sql_select_limit bounds a result without LIMIT at the server, so the rows a streaming
    # cursor must drain before the connection is reusable stay few.
    return [
        "SET SESSION TRANSACTION READ ONLY",
        f"SET SESSION max_execution_time = {_ms(timeout)}, sql_select_limit = {max_rows + 1}",
        "START TRANSACTION READ ONLY",
    ]


def _mariadb(timeout: float, max_rows: int) -> list[str]:
    return [
        "SET SESSION TRANSACTION READ ONLY",
        f"SET SESSION max_statement_time = {timeout:.3f}, sql_select_limit = {max_rows + 1}",
        "START TRANSACTION READ ONLY",
    ]


def _oracle(timeout: float, max_rows: int) -> list[str]:
    return ["SET TRANSACTION READ ONLY"]


def _snowflake(timeout: float, max_rows: int) -> list[str]:
    return [f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {math.ceil(timeout)}"]


def _trino(timeout: float, max_rows: int) -> list[str]:
    return [f"SET SESSION query_max_run_time = '{math.ceil(timeout)}s'"]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@dataclass(frozen=True)
class Profile:
    """How one kind of server is kept read-only and time-limited."""

    prologue: Statements = _none
    epilogue: tuple[str, ...] = ()
    """Run after the ROLLBACK, to leave the pooled connection as it was."""
    server_timeout: bool = False
    """The prologue sets a server-side timeout; the client-side cancel is only a backstop."""
    cancel: str | None = "connection"
    """Client-side cancel: ``connection`` (the DBAPI connection's ``cancel()``), ``kill``
    (MySQL ``KILL QUERY`` from a second connection) or None."""
    stream: bool = True
    """Fetch through a server-side cursor (``stream_results``) where the dialect has one."""
    error_codes: dict[str, str] = field(default_factory=dict)
    """Driver error code (SQLSTATE or MySQL number, as text) to ``readonly``/``timeout``."""


_PG_CODES = {"25006": "readonly", "57014": "timeout"}
_MY_CODES = {"1792": "readonly", "1290": "readonly", "1969": "timeout", "3024": "timeout"}

PROFILES: dict[str, Profile] = {
    "postgresql": Profile(_postgres, server_timeout=True, error_codes=_PG_CODES),
    "redshift": Profile(_postgres, server_timeout=True, error_codes=_PG_CODES),
    "mysql": Profile(
        _mysql,
        epilogue=("SET SESSION max_execution_time = DEFAULT, sql_select_limit = DEFAULT",),
        server_timeout=True,
        cancel="kill",
        error_codes=_MY_CODES,
    ),
    "mariadb": Profile(
        _mariadb,
        epilogue=("SET SESSION max_statement_time = DEFAULT, sql_select_limit = DEFAULT",),
        server_timeout=True,
        cancel="kill",
        error_codes=_MY_CODES,
    ),
    "sqlite": Profile(cancel=None, stream=False),
    "oracle": Profile(_oracle),
    "snowflake": Profile(_snowflake, server_timeout=True),
    "trino": Profile(_trino, server_timeout=True),
}
DEFAULT_PROFILE = Profile()


def profile_for(backend: str, *, is_mariadb: bool = False) -> Profile:
    """The profile of a SQLAlchemy backend; MySQL-protocol servers that are MariaDB get
    MariaDB's (its timeout variable differs)."""
    if backend in ("mysql", "mariadb"):
        return PROFILES["mariadb" if is_mariadb else "mysql"]
    return PROFILES.get(backend, DEFAULT_PROFILE)


def sqlglot_dialect(backend: str) -> str:
    """The sqlglot dialect name of a SQLAlchemy backend (the backend name if unknown)."""
    return SQLA_TO_SQLGLOT.get(backend, backend)


def install_hint(backend: str, driver: str | None) -> str:
    """What to install when a backend or its driver is missing."""
    if driver and driver in DRIVER_PACKAGES:
        return f"Install the driver: pip install '{DRIVER_PACKAGES[driver]}'"
    if backend in DIALECT_PACKAGES:
        return f"Install the SQLAlchemy dialect: pip install {DIALECT_PACKAGES[backend]}"
    return f"Install the SQLAlchemy dialect and driver for {backend}"


def pick_driver(backend: str) -> str | None:
    """A driver for a URL that names none: SQLAlchemy's default if installed, else the first
    installed alternative (``postgresql://`` works with only psycopg 3 installed). None
    leaves the choice to SQLAlchemy."""
    for name, module in FALLBACK_DRIVERS.get(backend, ()):
        if importlib.util.find_spec(module) is not None:
            return name
    return None
