"""Any SQLAlchemy database (PostgreSQL, MySQL/MariaDB, SQLite, Snowflake, ...), read-only.

Each query checks a connection out of the pool, runs the dialect's prologue (read-only
transaction, server-side timeout: see ``sqlagent.db.dialects``), streams at most
``max_rows + 1`` rows through a server-side cursor, and always ends in ROLLBACK.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation
from ..types import QueryResult, SchemaInfo
from . import sqlite as sqlite_support
from .base import (
    TIMEOUT_HINT,
    Stopwatch,
    Watchdog,
    bounded,
    check_fetch_args,
    timeout_message,
)
from .dialects import Profile, install_hint, pick_driver, profile_for, sqlglot_dialect
from .sqla_schema import read_schema
from .targets import Target
from .values import Converter, bit_to_int, normalise_rows, parse_json, time_of_day

if TYPE_CHECKING:
    import sqlalchemy as sa

CLIENT_GRACE = 0.5
"""Seconds the client-side cancel waits beyond a server-side timeout before it steps in."""
CONNECT_TIMEOUT = 10
"""Seconds allowed to reach a server when connecting."""

# MySQL protocol column type codes that need converting (see sqlagent.db.values).
_MYSQL_CONVERTERS: dict[int, Converter] = {11: time_of_day, 16: bit_to_int, 245: parse_json}


class SqlaDatabase:
    """A read-only connection to a SQLAlchemy database (see the module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        backend: str,
        display_url: str,
        path: Path | None = None,
        sample_values: bool = True,
        secret: str | None = None,
    ) -> None:
        self._engine = engine
        self._backend = backend
        self.dialect = sqlglot_dialect(backend)
        self.display_url = display_url
        self.path = path
        self._sample_values = sample_values
        self._secret = secret
        is_mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
        self._profile: Profile = profile_for(backend, is_mariadb=is_mariadb)
        self._stream = self._profile.stream and bool(engine.dialect.supports_server_side_cursors)
        self._schema: SchemaInfo | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlaDatabase({self.display_url!r})"

    def schema(self, *, refresh: bool = False) -> SchemaInfo:
        """Tables, views, keys, comments, row counts and samples, read once and cached."""
        with self._lock:
            if self._schema is None or refresh:
                self._schema = read_schema(
                    self._engine,
                    self._run_rows,
                    backend=self._backend,
                    dialect=self.dialect,
                    sample_values=self._sample_values,
                )
            return self._schema

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        """Run one statement read-only; at most ``max_rows`` rows, within ``timeout`` seconds."""
        check_fetch_args(max_rows, timeout)
        return self._run(sql, max_rows, timeout)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # ------------------------------------------------------------------ internals

    def _run_rows(self, sql: str, max_rows: int, timeout: float) -> tuple[tuple[Any, ...], ...]:
        return self._run(sql, max_rows, timeout).rows

    def _run(self, sql: str, max_rows: int, timeout: float) -> QueryResult:
        import sqlalchemy as sa

        profile = self._profile
        options: dict[str, Any] = {"no_parameters": True}  # a % in the SQL is just a %
        if self._stream:
            options["yield_per"] = max_rows + 1
        clock = Stopwatch()
        with self._engine.connect() as conn:
            dbapi_con = conn.connection.dbapi_connection
            try:
                with self._deadline(dbapi_con, timeout) as fired:
                    try:
                        for statement in profile.prologue(timeout, max_rows):
                            conn.exec_driver_sql(statement)
                        result = conn.exec_driver_sql(sql, execution_options=options)
                        description = result.cursor.description if result.returns_rows else None
                        fetched = result.fetchmany(max_rows + 1) if description else []
                        result.close()
                    except sa.exc.DBAPIError as exc:
                        raise self._translate(exc, sql, timeout, fired=fired()) from None
                    if fired():  # cancelled, yet no error (MySQL's SLEEP just returns 1)
                        raise QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
                elapsed = clock.elapsed
            finally:
                self._reset(conn)
        rows, truncated = bounded(fetched, max_rows)
        converters = self._converters(description or ())
        return QueryResult(
            columns=tuple(str(d[0]) for d in description or ()),
            rows=normalise_rows(rows, converters),
            truncated=truncated,
            elapsed=elapsed,
        )

    @contextlib.contextmanager
    def _deadline(self, dbapi_con: Any, timeout: float) -> Iterator[Callable[[], bool]]:
        """Arm the client-side timeout for one statement; yields "did it fire?"."""
        if self._backend == "sqlite":
            fired = sqlite_support.set_deadline(dbapi_con, timeout)
            try:
                yield fired
            finally:
                sqlite_support.set_deadline(dbapi_con, None)
            return
        cancel = self._cancel_function(dbapi_con)
        if cancel is None:
            yield lambda: False
            return
        delay = timeout + CLIENT_GRACE if self._profile.server_timeout else timeout
        with Watchdog(delay, cancel) as dog:
            yield lambda: dog.fired

    def _cancel_function(self, dbapi_con: Any) -> Callable[[], Any] | None:
        if self._profile.cancel == "kill":
            thread_id = getattr(dbapi_con, "thread_id", None)
            if thread_id is None:
                return None
            query_id = int(thread_id())

            def kill() -> None:
                with self._engine.connect() as other:
                    other.exec_driver_sql(f"KILL QUERY {query_id}")

            return kill
        if self._profile.cancel == "connection":
            cancel = getattr(dbapi_con, "cancel_safe", None) or getattr(dbapi_con, "cancel", None)
            return cancel if callable(cancel) else None
        return None

    def _reset(self, conn: sa.Connection) -> None:
        """ROLLBACK, then the epilogue; a connection that cannot be reset is discarded."""
        try:
            conn.rollback()
            for statement in self._profile.epilogue:
                conn.exec_driver_sql(statement)
            conn.rollback()
        except Exception:
            conn.invalidate()

    def _converters(self, description: Any) -> list[Converter | None]:
        if self._backend not in ("mysql", "mariadb"):
            return []
        return [_MYSQL_CONVERTERS.get(d[1]) if isinstance(d[1], int) else None for d in description]

    def _translate(self, exc: Any, sql: str, timeout: float, *, fired: bool) -> Exception:
        orig = getattr(exc, "orig", None) or exc
        message = self._mask(driver_message(orig))
        kind = self._profile.error_codes.get(error_code(orig) or "")
        if fired or kind == "timeout":
            return QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
        if kind == "readonly" or (
            self._backend == "sqlite" and sqlite_support.is_write_refusal(orig)
        ):
            return ReadOnlyViolation(
                f"The connection is read-only; the database refused: {message}", sql=sql
            )
        if self._stream and self._backend == "postgresql":
            message = _without_cursor_lines(message)
            refused = cursor_refusal(sql, message)
            if refused:
                return refused
        return ExecutionError(message, sql=sql)

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


_QUERY_WORDS = frozenset({"select", "with", "values", "table", "("})
_READ_WORDS = frozenset({"explain", "show", "describe", "analyse", "analyze", "fetch"})


def cursor_refusal(sql: str, message: str) -> ExecutionError | None:
    """PostgreSQL runs every statement as ``DECLARE ... CURSOR FOR <sql>``, which admits queries
    only: another statement is refused as a syntax error at its first word, and a write hidden
    in a WITH as a data-modifying WITH. Say so plainly; writes are read-only refusals."""
    words = sql.lstrip().split(None, 1)
    first = words[0].lower() if words else ""
    if "data-modifying statements in with" in message.lower():
        return ReadOnlyViolation(
            "The connection is read-only: data-modifying WITH clauses cannot run", sql=sql
        )
    match = re.search(r'syntax error at or near "([^"]+)"', message)
    if not match or match.group(1).lower() != first or first in _QUERY_WORDS:
        return None
    if first in _READ_WORDS:
        return ExecutionError(
            f"{first.upper()} cannot run here: only queries (SELECT, WITH, VALUES, TABLE) do",
            sql=sql,
        )
    return ReadOnlyViolation(
        f"The connection is read-only: {first.upper()} statements cannot run", sql=sql
    )


def _without_cursor_lines(message: str) -> str:
    """Drop PostgreSQL's "LINE 1: DECLARE ..." excerpt: it shows the cursor wrapper, and its
    caret is offset by it, so it would mislead rather than help."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("LINE ") and "CURSOR FOR" in line:
            return "\n".join(lines[:i]).rstrip()
    return message


def driver_message(orig: BaseException) -> str:
    """The driver's own message, without its error-code wrapping."""
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return args[1]  # PyMySQL / mysqlclient: (code, message)
    return str(orig).strip()


def error_code(orig: BaseException) -> str | None:
    """SQLSTATE (PostgreSQL) or error number (MySQL) of a driver error, as text."""
    for attr in ("sqlstate", "pgcode"):
        code = getattr(orig, attr, None)
        if isinstance(code, str) and code:
            args = getattr(orig, "args", ())
            # PyMySQL also carries a sqlstate; its error number is the more precise code.
            if args and isinstance(args[0], int):
                return str(args[0])
            return code
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return str(args[0])
    return None


# ---------------------------------------------------------------------- opening


def open_sqlalchemy(target: Target, *, sample_values: bool = True) -> SqlaDatabase:
    """Create the engine for ``target``, connect once to fail early, and wrap it."""
    import sqlalchemy as sa

    if target.kind == "sqlite":
        assert target.path is not None
        engine = sa.create_engine(
            "sqlite://", creator=sqlite_support.read_only_creator(target.path)
        )
        _check_connects(engine, target.display, None, backend="sqlite")
        return SqlaDatabase(
            engine,
            backend="sqlite",
            display_url=target.display,
            path=target.path,
            sample_values=sample_values,
        )

    url = _parse_url(target.url or "")
    backend = url.get_backend_name()
    display = url.render_as_string(hide_password=True)
    engine = _create_engine(url, backend, display)
    _check_connects(engine, display, url, backend=backend)
    return SqlaDatabase(
        engine,
        backend=backend,
        display_url=display,
        sample_values=sample_values,
        secret=url.password if isinstance(url.password, str) and url.password else None,
    )


def _parse_url(text: str) -> sa.URL:
    import sqlalchemy as sa

    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError) as exc:
        shown = _mask_raw_password(text)
        raise ConnectionFailed(
            f"Malformed database URL {shown}: {exc}",
            hint="Expected e.g. postgresql://user:password@host:5432/dbname",
        ) from None
    if "+" not in url.drivername:
        driver = pick_driver(url.get_backend_name())
        if driver:
            url = url.set(drivername=f"{url.get_backend_name()}+{driver}")
    return url


def _mask_raw_password(text: str) -> str:
    """Mask ``:password@`` in a URL SQLAlchemy could not parse."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)


def _create_engine(url: sa.URL, backend: str, display: str) -> sa.Engine:
    import sqlalchemy as sa

    # From the text: get_driver_name() would load the dialect, which may not be installed.
    driver = url.drivername.partition("+")[2] or None
    connect_args: dict[str, Any] = {}
    if (
        driver in ("psycopg", "psycopg2", "pymysql", "mysqldb")
        and "connect_timeout" not in url.query
    ):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except sa.exc.NoSuchModuleError:
        raise ConnectionFailed(
            f"No SQLAlchemy dialect for {url.drivername!r} (in {display})",
            hint=install_hint(backend, None),
        ) from None
    except ImportError as exc:
        raise ConnectionFailed(
            f"The database driver for {url.drivername} is not installed ({exc.name or exc})",
            hint=install_hint(backend, driver),
        ) from None
    except (sa.exc.ArgumentError, TypeError, ValueError) as exc:
        raise ConnectionFailed(f"Invalid database URL {display}: {exc}") from None
    if engine.dialect.is_async:
        engine.dispose()
        raise ConnectionFailed(
            f"{url.drivername} is an asynchronous driver, which sqlagent does not use",
            hint="Use a synchronous driver, e.g. postgresql+psycopg:// or mysql+pymysql://",
        )
    return engine


def _check_connects(engine: sa.Engine, display: str, url: sa.URL | None, *, backend: str) -> None:
    """Connect once so a wrong URL fails now, with one clear message."""
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            if backend == "sqlite":  # opening a file reads nothing: read its catalog once
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").fetchall()
            conn.rollback()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        orig = exc.orig or exc
        message = driver_message(orig).splitlines()[0] if driver_message(orig) else str(exc)
        secret = url.password if url is not None and isinstance(url.password, str) else None
        if secret:
            message = message.replace(secret, "***")
        raise ConnectionFailed(
            f"Could not connect to {display}: {message}", hint=_connect_hint(message, url)
        ) from None
    except ImportError as exc:
        engine.dispose()
        driver = url.drivername.partition("+")[2] or None if url is not None else None
        raise ConnectionFailed(
            f"The database driver for {backend} is not installed ({exc.name or exc})",
            hint=install_hint(backend, driver),
        ) from None


def _connect_hint(message: str, url: sa.URL | None) -> str | None:
    low = message.lower()
    where = f"{url.host}:{url.port or 'default port'}" if url is not None and url.host else ""
    if "refused" in low or "can't connect" in low or "could not connect" in low or "timeout" in low:
        return f"Is the server running and reachable at {where}?" if where else None
    if "password" in low or "access denied" in low or "authentication" in low:
        return "Check the user name and password."
    if "does not exist" in low or "unknown database" in low:
        return "Check the database name."
    if "unable to open database file" in low:
        return "Check that the file exists and is readable."
    return None
