"""Apache Spark SQL through Spark Connect: ``sc://host:15002``.

Spark Connect is the client-server protocol that the ``pyspark`` package ships both halves of
(``pyspark[connect]`` for the client; ``sbin/start-connect-server.sh`` for the server), so it is
what a Spark user already runs; Databricks clusters speak it too. The URL is Spark Connect's
own connection string, ``sc://host:port/;param=value;...`` (``token``, ``user_id``,
``use_ssl`` are the client's), plus one parameter of sqlagent's: ``database=a,b`` limits the
databases introspected (default: every database of the session's current catalog).

Protection: Spark has no read-only session, so the guard (``sqlagent.guard``) is the main
defence and an account that can only read is the recommended setup. Two things hold here
besides: every statement is sent wrapped as ``SELECT * FROM (<statement>)``, so Spark's own
parser refuses anything that is not a query (a command such as ``CACHE TABLE`` or ``ADD JAR``
cannot be a subquery), and each connection is a Spark Connect session of its own, so nothing
session-scoped is shared. The timeout tags the statement's operation
(``SparkSession.addTag``) and a timer interrupts the tag, which cancels its Spark jobs.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionFailed, ExecutionError, QueryTimeout
from ..types import QueryResult, SchemaInfo
from .base import TIMEOUT_HINT, Stopwatch, Watchdog, bounded, check_fetch_args, timeout_message
from .spark_schema import read_schema
from .targets import Target
from .values import normalise

if TYPE_CHECKING:
    from pyspark.sql.connect.session import SparkSession

INSTALL_HINT = "Install the Spark Connect client: pip install 'sqlagent[spark]'"
TAG_PREFIX = "sqlagent-"
"""Every statement's operation carries a tag ``sqlagent-<uuid>`` (visible in the Spark UI)."""
_WRAP_ALIAS = "_sqlagent_q"
_SECRET_PARAM = re.compile(r"(;\s*token\s*=)[^;]*", re.IGNORECASE)


class SparkDatabase:
    """A Spark Connect session used read-only (see the module docstring)."""

    dialect = "spark"
    path: Path | None = None

    def __init__(
        self,
        spark: SparkSession,
        *,
        display_url: str,
        databases: tuple[str, ...] = (),
        sample_values: bool = True,
    ) -> None:
        self._spark = spark
        self.display_url = display_url
        self._databases = databases
        self._sample_values = sample_values
        self._schema: SchemaInfo | None = None
        self._lock = threading.Lock()
        self.last_tag: str | None = None
        """The tag of the most recent statement (for tests and the Spark UI)."""

    def __repr__(self) -> str:
        return f"SparkDatabase({self.display_url!r})"

    @property
    def session(self) -> SparkSession:
        """The Spark Connect session (for benchmarks and tests; it is not read-only)."""
        return self._spark

    def schema(self, *, refresh: bool = False) -> SchemaInfo:
        """Databases, tables, views and columns of the current catalog, read once and cached."""
        with self._lock:
            if self._schema is None or refresh:
                self._schema = read_schema(
                    self._catalog_rows,
                    self._run_rows,
                    self._command_rows,
                    current_database=self.current_database(),
                    sample_values=self._sample_values,
                )
            return self._schema

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        """Run one query; at most ``max_rows`` rows, within ``timeout`` seconds."""
        check_fetch_args(max_rows, timeout)
        return self._run(sql, max_rows, timeout)

    def catalog_fingerprint(self) -> str:
        """A text that changes when a table, view or column changes (for the schema cache):
        the catalog listing of every introspected database, in one call per database."""
        parts = []
        for row in self._catalog_rows():
            parts.append("\x1f".join(str(v) for v in row))
        return "\x1e".join(sorted(parts))

    def close(self) -> None:
        """End the Spark Connect session (the server drops its state)."""
        # Closing a session whose server went away is not an error.
        with contextlib.suppress(Exception):
            self._spark.stop()

    # ------------------------------------------------------------------ internals

    def _catalog_rows(self) -> list[tuple[Any, ...]]:
        """``(database, table, information)`` of every table and view: one call per
        database."""
        spark = self._spark
        databases = self._databases or tuple(r[0] for r in spark.sql("SHOW DATABASES").collect())
        rows: list[tuple[Any, ...]] = []
        for db in databases:
            quoted = "`" + db.replace("`", "``") + "`"
            for r in spark.sql(f"SHOW TABLE EXTENDED IN {quoted} LIKE '*'").collect():
                if r[2]:  # temporary views belong to other sessions' work, not the catalog
                    continue
                rows.append((r[0] or db, r[1], r[3]))
        return rows

    def current_database(self) -> str:
        """The session's current database (unqualified names resolve there)."""
        return str(self._spark.catalog.currentDatabase())

    def _command_rows(self, text: str) -> list[tuple[Any, ...]]:
        """A catalog command (``DESCRIBE ...``), sent as is: never a user's statement."""
        return [tuple(r) for r in self._spark.sql(text).collect()]

    def _run_rows(self, sql: str, max_rows: int, timeout: float) -> tuple[tuple[Any, ...], ...]:
        return self._run(sql, max_rows, timeout).rows

    @contextmanager
    def _tagged(self) -> Iterator[str]:
        tag = f"{TAG_PREFIX}{uuid.uuid4().hex}"
        self._spark.addTag(tag)  # the tag is the calling thread's: concurrent calls stay apart
        self.last_tag = tag
        try:
            yield tag
        finally:
            self._spark.removeTag(tag)

    def _run(self, sql: str, max_rows: int, timeout: float) -> QueryResult:
        # A trailing line comment must not swallow the closing parenthesis.
        wrapped = f"SELECT * FROM (\n{sql.strip().rstrip(';')}\n) AS {_WRAP_ALIAS}"
        spark = self._spark
        with self._tagged() as tag:
            clock = Stopwatch()
            with Watchdog(timeout, lambda: spark.interruptTag(tag)) as dog:
                try:
                    df = spark.sql(wrapped).limit(max_rows + 1)
                    fetched = df.collect()
                    columns = tuple(fetched[0].__fields__) if fetched else tuple(df.columns)
                except Exception as exc:
                    raise _translate(exc, sql, timeout, fired=dog.fired) from None
                if dog.fired:
                    raise QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
            elapsed = clock.elapsed
        rows, truncated = bounded(fetched, max_rows)
        return QueryResult(
            columns=columns,
            rows=tuple(tuple(_value(v) for v in row) for row in rows),
            truncated=truncated,
            elapsed=elapsed,
        )


def _value(value: Any) -> Any:
    """A Spark value as a native one: a struct (a ``Row``) becomes a dict."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _value(v) for k, v in zip(value.__fields__, value, strict=False)}
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    return normalise(value)


def _translate(exc: Exception, sql: str, timeout: float, *, fired: bool) -> Exception:
    message = error_message(exc)
    if fired or "OPERATION_CANCELED" in message or "INTERRUPTED" in message:
        return QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
    if "PARSE_SYNTAX_ERROR" in message and _WRAP_ALIAS in message:
        return ExecutionError(
            "Spark could not read the statement as a query: only a single SELECT can run",
            sql=sql,
        )
    return ExecutionError(message, sql=sql)


_SQLSTATE = re.compile(r"SQLSTATE: \w+")


def error_message(exc: Exception) -> str:
    """Spark's message without the query plan and JVM stack trace it appends.

    >>> error_message(ValueError("[X] Bad. SQLSTATE: 42803; line 2 pos 0; Project [a#1]"))
    '[X] Bad. SQLSTATE: 42803'
    """
    text = str(exc).strip()
    text = text.split("\nJVM stacktrace:", 1)[0].strip()
    found = _SQLSTATE.search(text)
    if found:
        return text[: found.end()]
    return text.split("\n\n", 1)[0].strip() or type(exc).__name__


# ---------------------------------------------------------------------- opening


def split_url(url: str) -> tuple[str, tuple[str, ...], str]:
    """``(client URL, databases, display URL)`` of an ``sc://`` URL: sqlagent's own
    ``database=`` parameter taken out, the token masked for display.

    >>> split_url("sc://h:15002/;token=abc;database=shop,sales")
    ('sc://h:15002/;token=abc', ('shop', 'sales'), 'sc://h:15002/;token=***;database=shop,sales')
    """
    head, _, params = url.partition("/;")
    kept: list[str] = []
    databases: tuple[str, ...] = ()
    for part in filter(None, params.split(";")):
        key, _, value = part.partition("=")
        if key.strip().lower() == "database":
            databases = tuple(d.strip() for d in value.split(",") if d.strip())
        else:
            kept.append(part)
    client = head + ("/;" + ";".join(kept) if kept else "")
    return client, databases, _SECRET_PARAM.sub(r"\1***", url)


CONNECT_TIMEOUT = 10.0
"""Seconds allowed to reach the server: the client itself retries for minutes."""
DEFAULT_PORT = 15002


def _quiet_client_logs() -> None:
    """The client logs every failed statement, with the JVM stack trace, to stderr; sqlagent
    reports errors itself. A level the application set is left as it is."""
    import logging

    log = logging.getLogger("SQLQueryContextLogger")
    if log.level == logging.NOTSET:
        log.setLevel(logging.CRITICAL)


def _check_reachable(client_url: str, display: str) -> None:
    """Fail fast, with a plain message, when nothing listens at the URL's host and port."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(client_url.split("/;", 1)[0])
    try:
        host, port = parts.hostname or "localhost", parts.port or DEFAULT_PORT
    except ValueError:
        raise ConnectionFailed(
            f"Not a Spark Connect URL: {display}", hint="Write sc://host:15002"
        ) from None
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConnectionFailed(
            f"Cannot connect to Spark at {display}: {exc.strerror or exc}",
            hint="Is the Spark Connect server running (sbin/start-connect-server.sh) and the "
            f"port right (default {DEFAULT_PORT})?",
        ) from None


def open_spark(target: Target, *, sample_values: bool = True) -> SparkDatabase:
    """Connect to a Spark Connect server; raises ``ConnectionFailed`` with a clear message."""
    assert target.url is not None
    try:
        with warnings.catch_warnings():
            # pyspark warns about pandas versions it has not been tested with.
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql.connect.session import SparkSession
    except ImportError as exc:
        raise ConnectionFailed(
            f"Cannot connect to {target.display}: the Spark Connect client is not installed "
            f"({exc})",
            hint=INSTALL_HINT,
        ) from None
    client_url, databases, display = split_url(target.url)
    _check_reachable(client_url, display)
    _quiet_client_logs()
    spark: SparkSession | None = None
    try:
        spark = SparkSession.builder.remote(client_url).create()
        known = {r[0] for r in spark.sql("SHOW DATABASES").collect()}
    except Exception as exc:
        # A session left open would make the client retry its clean-up calls at exit.
        _stop_quietly(spark)
        raise ConnectionFailed(
            f"Cannot connect to Spark at {display}: {error_message(exc).splitlines()[0]}",
            hint="Is the Spark Connect server running (sbin/start-connect-server.sh) and the "
            "port right (default 15002)?",
        ) from None
    missing = [d for d in databases if d not in known]
    if missing:
        spark.stop()
        raise ConnectionFailed(
            f"Spark at {display} has no database {', '.join(missing)}",
            hint=f"Databases there: {', '.join(sorted(known))}",
        )
    if databases:
        # This session's own setting: unqualified names then mean the first database given.
        try:
            spark.catalog.setCurrentDatabase(databases[0])
        except Exception as exc:
            _stop_quietly(spark)
            raise ConnectionFailed(
                f"Cannot use database {databases[0]} on Spark at {display}: "
                f"{error_message(exc).splitlines()[0]}"
            ) from None
    return SparkDatabase(
        spark, display_url=display, databases=databases, sample_values=sample_values
    )


def _stop_quietly(spark: SparkSession | None) -> None:
    """Stop a session being given up on; a server that went away is not an error here."""
    if spark is not None:
        with contextlib.suppress(Exception):
            spark.stop()
