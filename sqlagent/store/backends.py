"""Where the history lives: a local SQLite file, or a shared database named by a URL.

    backend = open_backend("/home/me/.local/share/sqlagent/history.sqlite3")
    backend = open_backend("postgresql+psycopg://sqlagent@db.internal/sqlagent")
    backend.read("SELECT count(*) FROM answers")
    with backend.write() as run:
        run("INSERT INTO feedback (...) VALUES (:answer_id, ...)", {"answer_id": ...})

A backend runs short transactions with named parameters (``:name``) and nothing else; the
queries themselves live in ``sqlagent.store.history``. Two implementations share that protocol:

- ``SqliteFileBackend``, the default local file, on the standard library's ``sqlite3`` (WAL
  mode, ``BEGIN IMMEDIATE``, a busy timeout), so a command-line start pays for no driver;
- ``SqlAlchemyBackend`` for a URL (``SQLAGENT_STORE``): PostgreSQL for a team, or a
  ``sqlite:///`` file. SQLAlchemy is imported only when such a store is opened. It connects
  on first use with a bounded connect timeout, and after a failed connection answers at once
  with an error for ``RETRY_SECONDS``, so a store that is down never holds up an answer.

The schema is versioned by ``MIGRATIONS``: append-only, each applied once in its own
transaction and remembered in the ``sqlagent_migrations`` table (on SQLite also in
``PRAGMA user_version``). A store written by an older version gets the newer migrations on
open; one written by a newer version is refused with a clear message.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, SqlAgentError

__all__ = [
    "MIGRATIONS",
    "Backend",
    "Migration",
    "SqlAlchemyBackend",
    "SqliteFileBackend",
    "StoreError",
    "is_url",
    "open_backend",
]

BUSY_TIMEOUT = 10.0
"""Seconds a SQLite writer waits for another writer's transaction before giving up."""
CONNECT_TIMEOUT = 3
"""Seconds allowed to connect to a store server."""
RETRY_SECONDS = 5.0
"""After a failed connection, calls fail at once for this long before connecting again."""

Params = Mapping[str, Any]
Run = Callable[[str, Params], list[tuple[Any, ...]]]
"""Runs one statement inside a write transaction; returns its rows (empty for a write)."""


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]+@")


def mask_url(text: str) -> str:
    """Replace a password in a URL by ``***``.

    >>> mask_url("postgresql://bob:s3cret@db:5432/shop")
    'postgresql://bob:***@db:5432/shop'
    """
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", text)


class StoreError(SqlAgentError):
    """The store could not be reached, read or written (down, locked too long, disk full)."""


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema, with its statements for each supported dialect."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The statements of this step for ``dialect`` (sqlite or postgresql)."""
        return self.sqlite if dialect == "sqlite" else self.postgresql


_ANSWER_COLUMNS = """
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    database TEXT NOT NULL,
    question TEXT NOT NULL,
    outcome TEXT NOT NULL,
    sql TEXT,
    error TEXT,
    attempts TEXT NOT NULL,
    context_tokens INTEGER,
    timings TEXT NOT NULL,
    duration {real} NOT NULL,
    llm_calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd {real},
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    confidence {real}"""

# Only the SHA-256 of a token is kept; ``user_groups`` (a JSON list) and ``user_attributes``
# (a JSON object) are what the policy's role mapping and row filters read for its user.
_ACCESS_TOKENS = (
    "CREATE TABLE IF NOT EXISTS access_tokens (id TEXT PRIMARY KEY, "
    "secret_sha256 TEXT NOT NULL UNIQUE, user_name TEXT NOT NULL, user_groups TEXT NOT NULL, "
    "user_attributes TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT, "
    "last_used_at TEXT)"
)
_ACCESS_TOKENS_BY_USER = (
    "CREATE INDEX IF NOT EXISTS access_tokens_by_user ON access_tokens (user_name)"
)

# Append only: a released step is never edited, a change is a new step at the end. Version 1
# is the layout SQLite history files had before versioning by migrations (user_version 1),
# written with IF NOT EXISTS so that applying it to such a file changes nothing. On PostgreSQL
# a ``seq`` column stands in for SQLite's implicit rowid (the order rows were written in).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "answers and their feedback",
        sqlite=(
            "CREATE TABLE IF NOT EXISTS answers (" + _ANSWER_COLUMNS.format(real="REAL") + ")",
            "CREATE INDEX IF NOT EXISTS answers_by_time ON answers (created_at)",
            "CREATE TABLE IF NOT EXISTS feedback (answer_id TEXT NOT NULL, "
            "rating INTEGER NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS feedback_by_answer ON feedback (answer_id)",
        ),
        postgresql=(
            "CREATE TABLE IF NOT EXISTS answers ("
            + _ANSWER_COLUMNS.format(real="DOUBLE PRECISION")
            + ", seq BIGSERIAL NOT NULL)",
            "CREATE INDEX IF NOT EXISTS answers_by_time ON answers (created_at)",
            "CREATE TABLE IF NOT EXISTS feedback (seq BIGSERIAL PRIMARY KEY, "
            "answer_id TEXT NOT NULL, rating INTEGER NOT NULL, note TEXT NOT NULL, "
            "created_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS feedback_by_answer ON feedback (answer_id)",
        ),
    ),
    Migration(
        2,
        "verified examples saved from the dashboard, per database",
        sqlite=(
            "CREATE TABLE IF NOT EXISTS verified_examples (database TEXT NOT NULL, "
            "question_key TEXT NOT NULL, question TEXT NOT NULL, sql TEXT NOT NULL, "
            "source TEXT NOT NULL, created_at TEXT NOT NULL, "
            "PRIMARY KEY (database, question_key))",
        ),
        postgresql=(
            "CREATE TABLE IF NOT EXISTS verified_examples (database TEXT NOT NULL, "
            "question_key TEXT NOT NULL, question TEXT NOT NULL, sql TEXT NOT NULL, "
            "source TEXT NOT NULL, created_at TEXT NOT NULL, "
            "PRIMARY KEY (database, question_key))",
        ),
    ),
    Migration(
        3,
        "who asked: the user and role on answers, feedback and verified examples",
        sqlite=(
            "ALTER TABLE answers ADD COLUMN asked_by TEXT",
            "ALTER TABLE answers ADD COLUMN role TEXT",
            "CREATE INDEX IF NOT EXISTS answers_by_user ON answers (asked_by, created_at)",
            "ALTER TABLE feedback ADD COLUMN given_by TEXT",
            "ALTER TABLE feedback ADD COLUMN role TEXT",
            "ALTER TABLE verified_examples ADD COLUMN saved_by TEXT",
        ),
        postgresql=(
            "ALTER TABLE answers ADD COLUMN IF NOT EXISTS asked_by TEXT",
            "ALTER TABLE answers ADD COLUMN IF NOT EXISTS role TEXT",
            "CREATE INDEX IF NOT EXISTS answers_by_user ON answers (asked_by, created_at)",
            "ALTER TABLE feedback ADD COLUMN IF NOT EXISTS given_by TEXT",
            "ALTER TABLE feedback ADD COLUMN IF NOT EXISTS role TEXT",
            "ALTER TABLE verified_examples ADD COLUMN IF NOT EXISTS saved_by TEXT",
        ),
    ),
    Migration(
        4,
        "access tokens of the MCP server's users, kept as hashes",
        sqlite=(_ACCESS_TOKENS, _ACCESS_TOKENS_BY_USER),
        postgresql=(_ACCESS_TOKENS, _ACCESS_TOKENS_BY_USER),
    ),
)
LATEST = MIGRATIONS[-1].version
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS sqlagent_migrations "
    "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
_PG_MIGRATION_LOCK = 0x5A1A9E47
"""Key of the advisory lock that makes processes starting together migrate one at a time."""


class Backend(Protocol):
    """Short transactions on the store's database (see the module docstring)."""

    dialect: str
    """``sqlite`` or ``postgresql``: which statements of a migration apply."""
    location: str
    """The file or URL (password masked), for messages."""
    seq: str
    """The column that orders rows by when they were written (``rowid`` on SQLite)."""

    def read(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """The rows of one query."""
        ...

    def write(self) -> AbstractContextManager[Run]:
        """A context manager giving a ``Run`` inside one transaction, committed on exit."""
        ...


def is_url(location: str | os.PathLike[str]) -> bool:
    """True when ``location`` is a SQLAlchemy URL rather than a file path."""
    return isinstance(location, str) and "://" in location


def open_backend(location: str | os.PathLike[str]) -> Backend:
    """The backend for a file path (local SQLite) or a SQLAlchemy URL (opened lazily)."""
    if is_url(location):
        return SqlAlchemyBackend(str(location))
    return SqliteFileBackend(Path(location))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _applied(rows_of: Callable[[str], list[tuple[Any, ...]] | None], user_version: int) -> set[int]:
    """Versions already applied: the migrations table, or a file that predates it."""
    rows = rows_of("SELECT version FROM sqlagent_migrations")
    if rows is None:  # no table yet: a file from before, or a new store
        return set(range(1, user_version + 1))
    return {int(r[0]) for r in rows}


def _check_not_newer(applied: set[int], location: str) -> None:
    newest = max(applied, default=0)
    if newest > LATEST:
        raise StoreError(
            f"The history store {location} was written by a newer sqlagent "
            f"(format {newest}; this one reads up to {LATEST}).",
            hint="Upgrade sqlagent, or point SQLAGENT_STORE / SQLAGENT_HOME elsewhere.",
        )


# --------------------------------------------------------------------------- local file


class SqliteFileBackend:
    """The local history file, on the standard library's sqlite3 (see the module docstring).

    Every call opens its own connection and runs one short transaction (``BEGIN IMMEDIATE``
    for writes, with a busy timeout), so any number of threads and processes can write at
    once, and a process killed mid-write leaves every committed answer intact.
    """

    dialect = "sqlite"
    seq = "rowid"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as con:
                mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # e.g. a file system without shared memory
                    con.execute("PRAGMA journal_mode = DELETE")
                self._migrate(con)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"Cannot open the history file {path}: {exc}",
                hint="Set SQLAGENT_HOME to a writable folder, or turn the history off.",
            ) from None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # One connection per call: nothing is shared between threads or kept open.
        con = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            # In WAL mode NORMAL loses no committed transaction when a process dies; only a
            # power cut can drop the last few, which a history can afford.
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self, con: sqlite3.Connection) -> Iterator[None]:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _migrate(self, con: sqlite3.Connection) -> None:
        def rows_of(sql: str) -> list[tuple[Any, ...]] | None:
            try:
                return con.execute(sql).fetchall()
            except sqlite3.OperationalError:  # no such table
                return None

        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        applied = _applied(rows_of, version)
        _check_not_newer(applied, self.location)
        if version == LATEST and applied >= {m.version for m in MIGRATIONS}:
            return
        with self._transaction(con):  # BEGIN IMMEDIATE: one process migrates at a time
            applied = _applied(rows_of, int(con.execute("PRAGMA user_version").fetchone()[0]))
            _check_not_newer(applied, self.location)
            con.execute(_MIGRATIONS_TABLE)
            for migration in MIGRATIONS:
                if migration.version in applied:
                    continue
                for statement in migration.sqlite:
                    con.execute(statement)
            for migration in MIGRATIONS:
                con.execute(
                    "INSERT OR IGNORE INTO sqlagent_migrations VALUES (?, ?, ?)",
                    (migration.version, migration.description, _now()),
                )
            con.execute(f"PRAGMA user_version = {LATEST}")

    def read(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """The rows of one query."""
        try:
            with self._connection() as con:
                return con.execute(sql, dict(params or {})).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot read the history file {self.path}: {exc}") from None

    @contextmanager
    def write(self) -> Iterator[Run]:
        """One ``BEGIN IMMEDIATE`` transaction; the ``Run`` it gives executes statements."""

        def run(sql: str, params: Params) -> list[tuple[Any, ...]]:
            return con.execute(sql, dict(params)).fetchall()

        try:
            with self._connection() as con, self._transaction(con):
                yield run
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot write to the history file {self.path}: {exc}") from None


# --------------------------------------------------------------------------- a URL


class SqlAlchemyBackend:
    """A store named by a SQLAlchemy URL: PostgreSQL (shared by a team) or a SQLite file.

    Nothing is connected until the first call; the schema is migrated then. Connections come
    from a small pool, checked before use (a restarted server is reconnected to).
    """

    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy as sa
        except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
            raise ConfigError("A store URL needs SQLAlchemy installed.") from None
        try:
            parsed = sa.make_url(url)
        except Exception:
            raise ConfigError(
                f"SQLAGENT_STORE is not a valid SQLAlchemy URL: {mask_url(url)}",
                hint="e.g. postgresql+psycopg://user@host/sqlagent or sqlite:///history.db",
            ) from None
        self.location = mask_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("postgresql", "sqlite"):
            raise ConfigError(
                f"A history store can be PostgreSQL or SQLite, not {self.dialect} "
                f"({self.location}).",
                hint="e.g. SQLAGENT_STORE=postgresql+psycopg://user@host/sqlagent",
            )
        self.seq = "rowid" if self.dialect == "sqlite" else "seq"
        self._sa = sa
        self._lock = threading.Lock()
        self._ready = False
        self._down_until = 0.0
        self._down_reason = ""
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            # Transactions are begun by hand (BEGIN IMMEDIATE), as on the local file.
            kwargs["isolation_level"] = "AUTOCOMMIT"
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT, "check_same_thread": False}
        else:
            if "connect_timeout" not in parsed.query:
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
            kwargs.update(pool_size=2, max_overflow=6, pool_timeout=BUSY_TIMEOUT)
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except Exception as exc:  # a driver that is not installed, a bad option
            raise ConfigError(
                f"Cannot use the history store {self.location}: {exc}",
                hint="PostgreSQL needs the psycopg package (pip install 'psycopg[binary]').",
            ) from None
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    def __repr__(self) -> str:
        return f"SqlAlchemyBackend({self.location!r})"

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A pooled connection; a failure to connect opens a short window of fast failures."""
        now = time.monotonic()
        if now < self._down_until:
            raise StoreError(
                f"The history store {self.location} is unreachable ({self._down_reason}); "
                f"retrying in {self._down_until - now:.0f} s."
            )
        try:
            conn = self.engine.connect()
        except self._sa.exc.SQLAlchemyError as exc:
            self._down_reason = _first_line(exc)
            self._down_until = time.monotonic() + RETRY_SECONDS
            raise StoreError(
                f"Cannot connect to the history store {self.location}: {self._down_reason}"
            ) from None
        try:
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        self._migrate(conn)
                        self._ready = True
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        if self.dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        else:
            with conn.begin():
                yield

    def _migrate(self, conn: Any) -> None:
        sa = self._sa

        def rows_of(sql: str) -> list[tuple[Any, ...]] | None:
            if not sa.inspect(conn).has_table("sqlagent_migrations"):
                return None
            return [tuple(r) for r in conn.execute(sa.text(sql)).fetchall()]

        def user_version() -> int:
            if self.dialect != "sqlite":
                return 0
            return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)

        if self.dialect == "postgresql" and conn.in_transaction():
            conn.rollback()  # has_table begins one; migrations run in their own
        applied = _applied(rows_of, user_version())
        if self.dialect == "postgresql":
            conn.rollback()
        _check_not_newer(applied, self.location)
        if applied >= {m.version for m in MIGRATIONS} and user_version() in (0, LATEST):
            return
        with self._transaction(conn):
            if self.dialect == "postgresql":
                # Processes starting together wait here; the first one migrates.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            applied = _applied(rows_of, user_version())
            _check_not_newer(applied, self.location)
            conn.exec_driver_sql(_MIGRATIONS_TABLE)
            for migration in MIGRATIONS:
                if migration.version in applied:
                    continue
                for statement in migration.statements(self.dialect):
                    conn.exec_driver_sql(statement)
                conn.execute(
                    sa.text("INSERT INTO sqlagent_migrations VALUES (:v, :d, :t)"),
                    {"v": migration.version, "d": migration.description, "t": _now()},
                )
            if self.dialect == "sqlite":
                conn.exec_driver_sql(f"PRAGMA user_version = {LATEST}")

    def read(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """The rows of one query."""
        try:
            with self._connect() as conn:
                rows = [tuple(r) for r in conn.execute(self._sa.text(sql), dict(params or {}))]
                if conn.in_transaction():
                    conn.rollback()
                return rows
        except self._sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot read the history store {self.location}: {_first_line(exc)}"
            ) from None

    @contextmanager
    def write(self) -> Iterator[Run]:
        """One transaction; the ``Run`` it gives executes statements in it."""
        text = self._sa.text

        try:
            with self._connect() as conn:

                def run(sql: str, params: Params) -> list[tuple[Any, ...]]:
                    result = conn.execute(text(sql), dict(params))
                    return [tuple(r) for r in result] if result.returns_rows else []

                with self._transaction(conn):
                    yield run
        except self._sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot write to the history store {self.location}: {_first_line(exc)}"
            ) from None

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode = DELETE")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return mask_url(text[0] if text else type(orig).__name__)
