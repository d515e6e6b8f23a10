"""DuckDB: a database file opened read-only, an empty in-memory database, or data files
loaded into memory.

Protection: a file is opened ``read_only=True`` (DuckDB refuses every write at the
connection); every connection runs with ``enable_external_access = false`` (no file or network
access: ``read_csv('/etc/passwd')``, ``COPY ... TO``, ``ATTACH``, ``INSTALL`` fail) and
``lock_configuration = true`` (no ``SET`` can undo that). Each statement is also checked with
DuckDB's own parser: only a single ``SELECT`` (or ``EXPLAIN`` of one) runs, which keeps an
in-memory database unchanged and stops temporary tables shadowing real ones. The timeout is
a timer thread calling ``interrupt()`` on the statement's own cursor.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionFailed, ExecutionError, QueryTimeout, ReadOnlyViolation
from ..types import QueryResult, SchemaInfo
from .base import (
    TIMEOUT_HINT,
    Stopwatch,
    Watchdog,
    bounded,
    check_fetch_args,
    in_background,
    timeout_message,
)
from .duck_schema import read_schema
from .files import load_files
from .targets import Target
from .values import Converter, keep, normalise_rows, parse_json

if TYPE_CHECKING:
    import duckdb

LOCKED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    # Otherwise a Python variable in the caller's scope can stand in for a table name.
    "python_enable_replacements": False,
    "lock_configuration": True,
}
"""DuckDB settings applied to every connection (checked against duckdb 2.0)."""

_READ_TYPES = ("SELECT",)
_EXPLAIN_PREFIX = re.compile(r"^\s*explain\s+(analy[sz]e\s+)?", re.IGNORECASE)


class DuckDatabase:
    """A read-only DuckDB connection (see the module docstring for what protects it)."""

    dialect = "duckdb"
    prompt_interrupt = True
    """An interrupt stops a statement of bounded steps between two chunks of rows, within
    moments (``execute_within`` then runs it on the caller's thread)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        display_url: str,
        path: Path | None = None,
        sample_values: bool = True,
    ) -> None:
        self._con = con
        self.display_url = display_url
        self.path = path
        self._sample_values = sample_values
        self._schema: SchemaInfo | None = None
        self.locked_file: Path | None = None
        """The database file when it is opened read-only: no process can write it meanwhile."""
        self._lock = threading.Lock()
        self._running = 0  # statements on the connection now
        self._running_lock = threading.Lock()
        # Cursors whose statement ended on its own, each to be reused by one statement at a
        # time (making one costs a client context: a tenth of a millisecond after a scan).
        self._idle: list[duckdb.DuckDBPyConnection] = []

    def __repr__(self) -> str:
        return f"DuckDatabase({self.display_url!r})"

    def schema(self, *, refresh: bool = False) -> SchemaInfo:
        """The tables and views of the database, read once and cached."""
        with self._lock:
            if self._schema is None or refresh:
                cur = self._con.cursor()
                try:
                    self._schema = read_schema(
                        cur, self._run_rows, sample_values=self._sample_values
                    )
                finally:
                    cur.close()
            return self._schema

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        """Run one read-only statement; at most ``max_rows`` rows, within ``timeout`` seconds."""
        check_fetch_args(max_rows, timeout)
        return self._run(sql, max_rows, timeout, check=True)

    def close(self) -> None:
        """Close the connection; with a statement still winding down from its timeout, the
        close is left to a background thread, so that the caller does not wait for it."""
        with self._running_lock:
            busy = self._running > 0
        if not busy:
            self._close_when_idle()
            return
        # A statement abandoned at its deadline may hold the connection for the seconds
        # DuckDB needs to notice its interrupt; the connection is read-only, so closing it
        # later loses nothing.
        in_background(self._close_when_idle, "sqlagent-duckdb-close")

    def _close_when_idle(self) -> None:
        import duckdb

        deadline = time.monotonic() + CLOSE_WAIT
        # Not into DuckDB before the statement has ended: its close would wait for it there,
        # holding up the other threads (the one printing the answer) meanwhile.
        while self._running and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._running_lock:
            idle, self._idle = self._idle, []
        for cur in idle:
            with contextlib.suppress(duckdb.Error):
                cur.close()
        while True:
            try:
                self._con.close()
                return
            except duckdb.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # ------------------------------------------------------------------ internals

    def _run_rows(self, sql: str, max_rows: int, timeout: float) -> tuple[tuple[Any, ...], ...]:
        return self._run(sql, max_rows, timeout, check=False).rows

    def _run(self, sql: str, max_rows: int, timeout: float, *, check: bool) -> QueryResult:
        import duckdb

        # A cursor of its own per statement: interrupt() then cancels exactly this statement.
        # A cursor is reused only after a statement that ended on its own and read its whole
        # result, a small one: only single SELECTs run (what one can leave with the session
        # is next to nothing: a `setseed()` for later `random()` calls), and one interrupted,
        # failed, cut short or holding text is closed with whatever it was still holding.
        with self._running_lock:
            self._running += 1
            cur = self._idle.pop() if self._idle else None
        reuse = False
        try:
            if cur is None:
                cur = self._con.cursor()
            # Checked, the statement DuckDB parsed is what runs: one parse, and what was
            # checked is exactly what runs.
            statement: Any = _check_read_only(cur, sql) if check else sql
            clock = Stopwatch()
            with Watchdog(timeout, cur.interrupt) as dog:
                try:
                    cur.execute(statement)
                    description = cur.description or []
                    fetched = cur.fetchmany(max_rows + 1) if description else []
                except duckdb.Error as exc:
                    raise _translate(exc, sql, timeout, fired=dog.fired) from None
                if dog.fired:  # interrupted just as the last rows arrived: still over time
                    raise QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
            elapsed = clock.elapsed
            rows, truncated = bounded(fetched, max_rows)
            type_names = [str(d[1]).upper() for d in description]
            converters = [_converter(name) for name in type_names]
            declared = tuple(map(declared_type, type_names))
            # Kept only when what the cursor holds until its next statement is small: a
            # result read to its end, of numbers and dates (no text, no blobs).
            reuse = len(fetched) <= max_rows and all(map(_fixed_width, declared))
            return QueryResult(
                columns=tuple(str(d[0]) for d in description),
                # The client's rows are tuples: of plain types only, they are kept as they are.
                rows=rows
                if all(c is keep for c in converters)
                else normalise_rows(rows, converters),
                truncated=truncated,
                elapsed=elapsed,
                declared=declared,
            )
        finally:
            with self._running_lock:
                self._running -= 1
                if reuse and cur is not None and len(self._idle) < _IDLE_CURSORS:
                    self._idle.append(cur)
                    cur = None
            if cur is not None:
                cur.close()


def _converter(name: str) -> Converter | None:
    """``keep`` for a type the client already returns as a native value of
    ``sqlagent.db.values`` (every declared type), JSON parsed, anything else normalised."""
    if name == "JSON":
        return parse_json
    return keep if declared_type(name) is not None else None


_DECLARED: dict[str, type] = {
    **dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"), int),
    **dict.fromkeys(("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"), int),
    "FLOAT": float,
    "DOUBLE": float,
    "VARCHAR": str,
    "BOOLEAN": bool,
    "DATE": _dt.date,
    **dict.fromkeys(("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"), _dt.datetime),
    "TIME": _dt.time,
    "INTERVAL": _dt.timedelta,
    "UUID": uuid.UUID,
    "BLOB": bytes,
}
"""The Python type the DuckDB client returns for each native type: a column of that type
holds values of exactly that type, or None (the tests check every entry)."""


def declared_type(name: str) -> type | None:
    """The Python type of the non-NULL values of a DuckDB column of type ``name`` (upper
    case), or None for a type not vouched for (JSON, lists, structs, time zones, BIT...)."""
    kind = _DECLARED.get(name)
    if kind is None and _DECIMAL.fullmatch(name):
        return decimal.Decimal
    return kind


def _fixed_width(kind: type | None) -> bool:
    return kind is not None and not issubclass(kind, (str, bytes))


_DECIMAL = re.compile(r"DECIMAL\(\d+,\s*\d+\)")


def _check_read_only(cur: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    """Refuse anything but one SELECT, using DuckDB's own parser; the parsed statement."""
    import duckdb

    try:
        statements = cur.extract_statements(sql)
    except duckdb.Error as exc:
        raise ExecutionError(_message(exc), sql=sql) from None
    if not statements:
        raise ExecutionError("No statement to run", sql=sql)
    for statement in statements:
        kind = statement.type.name
        if kind == "EXPLAIN":
            inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
            _check_read_only(cur, inner)
            continue
        if kind not in _READ_TYPES:
            raise ReadOnlyViolation(
                f"The connection is read-only: {kind} statements cannot run", sql=sql
            )
    if len(statements) > 1:
        raise ExecutionError("Only one statement can run at a time", sql=sql)
    return statements[0]


_IDLE_CURSORS = 4
"""Cursors kept for reuse: as many as statements usually run at once on one database."""

CLOSE_WAIT = 30.0
"""Seconds ``close`` waits for statements still winding down."""


def _translate(exc: Exception, sql: str, timeout: float, *, fired: bool) -> Exception:
    import duckdb

    if fired or isinstance(exc, duckdb.InterruptException):
        return QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT)
    message = _message(exc)
    if isinstance(exc, duckdb.PermissionException):
        return ReadOnlyViolation(
            f"File and network access are disabled on this connection: {message}", sql=sql
        )
    if "read-only mode" in message:
        return ReadOnlyViolation(message, sql=sql)
    return ExecutionError(message, sql=sql)


def _message(exc: Exception) -> str:
    return str(exc).strip()


# ---------------------------------------------------------------------- opening


def open_duckdb(target: Target, *, sample_values: bool = True) -> DuckDatabase:
    """Open a DuckDB target: a file read-only, ``:memory:``, or data files loaded in memory."""
    import duckdb

    if target.kind == "files":
        con = duckdb.connect(":memory:")
        try:
            load_files(con, target.files)
            # Only now, with the files loaded, is file access switched off and locked.
            con.execute("SET enable_external_access = false")
            con.execute("SET python_enable_replacements = false")
            con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
        return DuckDatabase(
            con, display_url=target.display, path=target.path, sample_values=sample_values
        )
    if target.path is None:
        con = duckdb.connect(":memory:", config=dict(LOCKED_CONFIG))
        return DuckDatabase(con, display_url=target.display, sample_values=sample_values)
    if not target.path.is_file():  # checked again here: DuckDB would create it
        raise ConnectionFailed(f"Database file {target.path} does not exist")
    try:
        con = duckdb.connect(str(target.path), read_only=True, config=dict(LOCKED_CONFIG))
    except duckdb.Error as exc:
        message = _message(exc).splitlines()[0]
        hint = None
        if "lock" in message.lower():
            hint = "Another process has the file open for writing; close it and try again."
        raise ConnectionFailed(
            f"Could not open DuckDB file {target.path}: {message}", hint=hint
        ) from None
    db = DuckDatabase(
        con, display_url=target.display, path=target.path, sample_values=sample_values
    )
    db.locked_file = target.path
    return db
