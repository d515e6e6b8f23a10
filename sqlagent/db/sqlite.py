"""SQLite through ``sqlite3``: a read-only URI connection, an authorizer and a deadline.

``mode=ro`` makes SQLite itself refuse to write the file (and never create it). The
authorizer refuses, at compile time, everything but reading: ``CREATE TEMP TABLE`` (which
would shadow a real table), ``ATTACH`` (which could create a file), writing ``PRAGMA``\\ s.
The statement timeout is a progress handler that aborts the statement once its deadline
has passed. No string or blob may grow past ``MAX_VALUE_BYTES``: SQLite checks progress only
between steps, and one step building a gigabyte value (``zeroblob``, ``replace``) would run
for minutes past any deadline.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

_ALLOWED_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        # BEGIN/COMMIT/ROLLBACK and savepoints: the driver itself issues them, and on a
        # connection that cannot write they change nothing.
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "database_list",
        "collation_list",
    }
)
"""Pragmas that take an argument and only read (reflection uses them)."""

PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two deadline checks (a few microseconds)."""


def _authorize(
    action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    # Connecting a table-valued function (json_each, json_tree) declares its columns with an
    # internal CREATE TABLE, which asks to update main's catalog. Nothing is written: the file
    # is opened mode=ro, so allowing exactly this keeps those functions usable.
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and db == "main":
        return sqlite3.SQLITE_OK
    # A pragma without a value only reads a setting; with one it may change it, unless it is
    # one of the introspection pragmas that take a table name.
    pragma = action == sqlite3.SQLITE_PRAGMA
    if pragma and (arg2 is None or (arg1 or "").lower() in _READ_PRAGMAS):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


MAX_VALUE_BYTES = 64 * 1024 * 1024
"""The largest string or blob a statement may build (SQLite's default is a gigabyte)."""


def read_only_creator(path: Path) -> Callable[[], sqlite3.Connection]:
    """A connection factory for SQLAlchemy's ``creator``: read-only, authorizer installed."""
    uri = f"{path.resolve().as_uri()}?mode=ro"

    def create() -> sqlite3.Connection:
        # check_same_thread=False: the pool hands connections to whichever thread asks;
        # SQLAlchemy's pool makes sure one connection serves one thread at a time.
        con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        con.set_authorizer(_authorize)
        if hasattr(con, "setlimit"):  # Python 3.11+
            con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        return con

    return create


def set_deadline(con: sqlite3.Connection, seconds: float | None) -> Callable[[], bool]:
    """Abort statements on ``con`` once ``seconds`` have passed (None removes the deadline).

    Returns a function telling whether the deadline fired.
    """
    if seconds is None:
        con.set_progress_handler(None, 0)
        return lambda: False
    deadline = time.monotonic() + seconds
    fired = False

    def check() -> int:
        nonlocal fired
        if time.monotonic() > deadline:
            fired = True
            return 1  # non-zero aborts the statement with "interrupted"
        return 0

    con.set_progress_handler(check, PROGRESS_STEPS)
    return lambda: fired


def is_write_refusal(exc: BaseException) -> bool:
    """True when SQLite refused a write (read-only file or the authorizer)."""
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("readonly database", "not authorized", "authorization denied", "read-only")
    )
