"""A disk cache of introspected schemas, so a second start is instant.

Introspecting a large database (thousands of tables, sample values, row counts) takes
seconds; the schema rarely changes between two starts. The cache keeps the ``SchemaInfo`` of
each connection in a JSON file together with a fingerprint of the catalog: a hash over
every table's columns, types, keys and comments, computed by one cheap catalog query per
dialect. When the fingerprint differs, or the entry is older than ``max_age`` (sample values
and row counts follow the data, not the catalog), the schema is introspected again.

    db = with_schema_cache(connect("postgresql://..."))
    db.schema()      # from the cache when the catalog is unchanged

Files live in ``$SQLAGENT_CACHE_DIR``, else ``$SQLAGENT_HOME/cache/schema``, else
``$XDG_CACHE_HOME/sqlagent/schema``, else
``~/.cache/sqlagent/schema``; deleting them is always safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..types import ColumnInfo, ForeignKey, QueryResult, SchemaInfo, TableInfo
from .gcpause import gc_paused

if TYPE_CHECKING:
    from ..db.base import Database

CACHE_VERSION = 2
"""Bumped when the file layout or ``SchemaInfo`` changes; older files are ignored."""
DEFAULT_MAX_AGE = 24 * 3600.0
"""Seconds after which a cached schema is read again even with an unchanged catalog."""
DEFAULT_RECHECK = 300.0
"""Seconds between two fingerprint checks of a long-running connection."""
FINGERPRINT_TIMEOUT = 10.0

_USER_SCHEMA_FILTER = "('pg_catalog', 'information_schema', 'pg_toast')"

FINGERPRINT_SQL: dict[str, str] = {
    "duckdb": """
SELECT
  (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(schema_name, table_name, column_name,
      data_type, is_nullable, coalesce(comment, ''), column_index))::VARCHAR, '')
   FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal)
  || '|' ||
  (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(schema_name, table_name,
      constraint_type, constraint_text))::VARCHAR, '')
   FROM duckdb_constraints() WHERE database_name = current_database())
  || '|' ||
  (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(schema_name, table_name,
      coalesce(comment, '')))::VARCHAR, '')
   FROM duckdb_tables() WHERE database_name = current_database() AND NOT internal)
  || '|' ||
  (SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(schema_name, view_name,
      coalesce(sql, '')))::VARCHAR, '')
   FROM duckdb_views() WHERE database_name = current_database() AND NOT internal)
""",
    "postgres": f"""
SELECT
  (SELECT md5(coalesce(string_agg(n.nspname || '.' || c.relname || '.' || c.relkind::text || '.'
        || a.attname || ':' || a.atttypid::text || ':' || a.atttypmod::text || ':'
        || a.attnotnull::text, ',' ORDER BY n.nspname, c.relname, a.attnum), ''))
   FROM pg_attribute a
   JOIN pg_class c ON c.oid = a.attrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped
     AND n.nspname NOT IN {_USER_SCHEMA_FILTER} AND n.nspname NOT LIKE 'pg_temp%')
  || '|' ||
  (SELECT md5(coalesce(string_agg(co.conrelid::regclass::text || ':' || co.contype::text || ':'
        || co.conkey::text || ':' || coalesce(co.confrelid::regclass::text, '') || ':'
        || coalesce(co.confkey::text, ''), ',' ORDER BY 1), ''))
   FROM pg_constraint co
   JOIN pg_namespace n ON n.oid = co.connamespace
   WHERE co.contype IN ('p', 'f') AND n.nspname NOT IN {_USER_SCHEMA_FILTER})
  || '|' ||
  (SELECT md5(coalesce(string_agg(d.objoid::regclass::text || ':' || d.objsubid::text || ':'
        || d.description, ',' ORDER BY d.objoid, d.objsubid), ''))
   FROM pg_description d
   JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
   JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN {_USER_SCHEMA_FILTER})
""",
    "mysql": """
SELECT CONCAT_WS('|',
  (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, COLUMN_NAME,
      COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_COMMENT, ORDINAL_POSITION))), 0))
   FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()),
  (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, COLUMN_NAME,
      CONSTRAINT_NAME, COALESCE(REFERENCED_TABLE_NAME, ''),
      COALESCE(REFERENCED_COLUMN_NAME, '')))), 0))
   FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()),
  (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, TABLE_TYPE,
      TABLE_COMMENT))), 0))
   FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()))
""",
    "sqlite": "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
}
"""One catalog query per dialect; its rows, hashed, are the fingerprint."""

GENERIC_FINGERPRINT_SQL = (
    "SELECT table_schema, table_name, column_name, data_type, is_nullable "
    "FROM information_schema.columns ORDER BY 1, 2, 3"
)
"""For other dialects: the standard catalog view, hashed on the client."""


def file_stamp(db: Database) -> str | None:
    """The identity, size and times of the database file (and its write-ahead log), when
    ``db`` is a DuckDB file opened read-only; None for anything else.

    DuckDB lets no process write a file that another holds open read-only, so while ``db``
    is open its file stays as stamped: a cached schema with the same stamp was read from
    this very file, and the catalog query of ``schema_fingerprint`` can be skipped.
    """
    path = getattr(db, "locked_file", None)
    if path is None:
        return None
    parts = []
    for each in (Path(path), Path(f"{path}.wal")):
        try:
            st = each.stat()
        except FileNotFoundError:
            parts.append("-")
            continue
        except OSError:
            return None
        parts.append(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}")
    return "|".join(parts)


def schema_fingerprint(db: Database, *, timeout: float = FINGERPRINT_TIMEOUT) -> str | None:
    """A hash of the catalog of ``db`` (tables, columns, types, keys, comments), or None
    when it cannot be computed (then nothing is cached)."""
    sql = FINGERPRINT_SQL.get(db.dialect, GENERIC_FINGERPRINT_SQL)
    try:
        result = db.execute(sql, max_rows=1_000_000, timeout=timeout)
    except Exception:  # no fingerprint only means no caching
        return None
    if result.truncated:
        return None
    return _digest(result)


def _digest(result: QueryResult) -> str:
    h = hashlib.sha256()
    for row in result.rows:
        h.update(json.dumps([str(v) for v in row], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$SQLAGENT_CACHE_DIR``, else ``$SQLAGENT_HOME/cache/schema``, else
    ``$XDG_CACHE_HOME/sqlagent/schema``, else ``~/.cache/sqlagent/schema``."""
    explicit = os.environ.get("SQLAGENT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("SQLAGENT_HOME")
    if home:  # everything of sqlagent's in one folder, as the history does
        return Path(home).expanduser() / "cache" / "schema"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "sqlagent" / "schema"


def connection_key(db: Database) -> str:
    """What identifies a connection in the cache: its display URL and, for a file, its
    absolute path (two folders may hold databases with the same relative name)."""
    path = getattr(db, "path", None)
    where = str(Path(path).resolve()) if path is not None else ""
    return f"{db.display_url}|{where}"


class SchemaCache:
    """Schemas on disk, one JSON file per connection."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path_for(self, key: str) -> Path:
        """The file that holds the schema of connection ``key``."""
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def load(
        self, key: str, fingerprint: str, *, max_age: float | None = None
    ) -> SchemaInfo | None:
        """The cached schema of ``key`` if it has this ``fingerprint`` (and is younger than
        ``max_age`` seconds); None otherwise, or when the file is unreadable."""
        hit = self._read(key, "fingerprint", fingerprint, max_age)
        return hit[1] if hit is not None else None

    def load_stamped(
        self, key: str, stamp: str, *, max_age: float | None = None
    ) -> tuple[str, SchemaInfo] | None:
        """The fingerprint and schema cached for ``key`` with this file ``stamp`` (see
        ``file_stamp``), younger than ``max_age`` seconds; None otherwise."""
        return self._read(key, "stamp", stamp, max_age)

    def _read(
        self, key: str, field: str, expected: str, max_age: float | None
    ) -> tuple[str, SchemaInfo] | None:
        try:
            with gc_paused():
                data = json.loads(self.path_for(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if (
            not isinstance(data, dict)
            or data.get("version") != CACHE_VERSION
            or data.get("key") != key
            or data.get(field) != expected
            or not isinstance(data.get("fingerprint"), str)
        ):
            return None
        if max_age is not None and time.time() - float(data.get("created", 0)) > max_age:
            return None
        try:
            with gc_paused():
                return data["fingerprint"], schema_from_dict(data["schema"])
        except (KeyError, TypeError, ValueError):
            return None

    def store(
        self, key: str, fingerprint: str, schema: SchemaInfo, *, stamp: str | None = None
    ) -> None:
        """Write the schema of ``key`` atomically; a failure to write is not an error."""
        payload = {
            "version": CACHE_VERSION,
            "key": key,
            "fingerprint": fingerprint,
            "stamp": stamp,
            "created": time.time(),
            "schema": schema_to_dict(schema),
        }
        self._write(key, payload)

    def restamp(self, key: str, stamp: str) -> None:
        """Record the file ``stamp`` the cached schema of ``key`` holds for (its age kept)."""
        try:
            data = json.loads(self.path_for(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("key") == key and data.get("stamp") != stamp:
            self._write(key, {**data, "stamp": stamp})

    def _write(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".schema.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(tmp, self.path_for(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def schema_to_dict(schema: SchemaInfo) -> dict[str, Any]:
    """``schema`` as JSON-able data; columns as compact rows (a large schema has tens of
    thousands: keys repeated in each would double the file and its parse time)."""
    return {
        "dialect": schema.dialect,
        "default_schema": schema.default_schema,
        "tables": [
            {
                "name": t.name,
                "schema": t.schema,
                "kind": t.kind,
                "comment": t.comment,
                "row_count": t.row_count,
                "primary_key": list(t.primary_key),
                "foreign_keys": [
                    [list(fk.columns), fk.ref_table, list(fk.ref_columns), fk.ref_schema]
                    for fk in t.foreign_keys
                ],
                "columns": [
                    [c.name, c.type, c.nullable, c.primary_key, c.comment, list(c.samples)]
                    for c in t.columns
                ],
            }
            for t in schema.tables
        ],
    }


def schema_from_dict(data: dict[str, Any]) -> SchemaInfo:
    """The inverse of ``schema_to_dict``."""
    tables = []
    for t in data["tables"]:
        columns = tuple(
            _frozen(
                ColumnInfo,
                name=str(name),
                type=str(type_),
                nullable=bool(nullable),
                primary_key=bool(primary_key),
                comment=comment,
                samples=tuple(str(v) for v in samples),
            )
            for name, type_, nullable, primary_key, comment, samples in t["columns"]
        )
        fks = tuple(
            ForeignKey(tuple(cols), ref_table, tuple(ref_cols), ref_schema)
            for cols, ref_table, ref_cols, ref_schema in t["foreign_keys"]
        )
        tables.append(
            TableInfo(
                name=t["name"],
                columns=columns,
                schema=t["schema"],
                primary_key=tuple(t["primary_key"]),
                foreign_keys=fks,
                comment=t["comment"],
                row_count=t["row_count"],
                kind="view" if t["kind"] == "view" else "table",
            )
        )
    return SchemaInfo(
        dialect=data["dialect"], tables=tuple(tables), default_schema=data["default_schema"]
    )


_T = TypeVar("_T")


def _frozen(cls: type[_T], **values: Any) -> _T:
    """An instance of frozen dataclass ``cls`` from all of its field values.

    A frozen dataclass sets each field through ``object.__setattr__``, which costs about a
    microsecond per field: for the 20,000 columns of a large schema that is most of a warm
    start. Filling ``__dict__`` directly is what unpickling does, and gives an equal object.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


class CachedSchemaDatabase:
    """A ``Database`` whose ``schema()`` is served from the disk cache when the catalog is
    unchanged; everything else is passed to the wrapped database.

    A long-running process re-checks the fingerprint at most every ``recheck_after``
    seconds, so a schema changed underneath it is noticed.
    """

    def __init__(
        self,
        db: Database,
        cache: SchemaCache | None = None,
        *,
        max_age: float | None = DEFAULT_MAX_AGE,
        recheck_after: float | None = DEFAULT_RECHECK,
    ) -> None:
        self.inner = db
        self.dialect: str = db.dialect
        self.display_url: str = db.display_url
        self.path: Path | None = db.path
        # Statements run on the wrapped database, so its interrupt is the one that stops them.
        self.prompt_interrupt: bool = getattr(db, "prompt_interrupt", False)
        self.cache = cache or SchemaCache()
        self.max_age = max_age
        self.recheck_after = recheck_after
        self.from_cache = False
        """True when the current schema was read from the cache (for traces and tests)."""
        self._schema: SchemaInfo | None = None
        self._fingerprint: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Anything else a backend offers stays reachable through the wrapper.
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CachedSchemaDatabase({self.inner!r})"

    @property
    def fingerprint(self) -> str | None:
        """The catalog fingerprint of the current schema (None before ``schema()`` or when
        the catalog has none); what derived data (value index, profiles) is keyed by."""
        return self._fingerprint

    def schema(self, *, refresh: bool = False) -> SchemaInfo:
        """The schema: from memory, else from the cache if the catalog is unchanged, else
        introspected (and cached). ``refresh`` always introspects."""
        with self._lock:
            now = time.monotonic()
            if self._schema is not None and not refresh:
                if self.recheck_after is None or now - self._checked < self.recheck_after:
                    return self._schema
                fingerprint = schema_fingerprint(self.inner)
                self._checked = now
                if fingerprint is not None and fingerprint == self._fingerprint:
                    return self._schema
            stamp = file_stamp(self.inner)
            key = connection_key(self.inner)
            if self._schema is None or refresh:
                self._checked = now
                hit = None
                if stamp is not None and not refresh:
                    hit = self.cache.load_stamped(key, stamp, max_age=self.max_age)
                if hit is not None:  # the very file the schema was read from: no query
                    self._fingerprint, self._schema = hit
                    self.from_cache = True
                    return self._schema
                fingerprint = schema_fingerprint(self.inner)
            cached = None
            if fingerprint is not None and not refresh:
                cached = self.cache.load(key, fingerprint, max_age=self.max_age)
            if cached is not None:
                self._schema, self.from_cache = cached, True
                if stamp is not None:  # the next process skips the catalog query
                    self.cache.restamp(key, stamp)
            else:
                self._schema = self.inner.schema(refresh=True)
                self.from_cache = False
                if fingerprint is not None:
                    self.cache.store(key, fingerprint, self._schema, stamp=stamp)
            self._fingerprint = fingerprint
            return self._schema

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        """Run a statement on the wrapped database."""
        return self.inner.execute(sql, max_rows=max_rows, timeout=timeout)

    def close(self) -> None:
        """Close the wrapped database."""
        self.inner.close()


def with_schema_cache(
    db: Database, directory: str | os.PathLike[str] | None = None, **options: Any
) -> CachedSchemaDatabase:
    """``db`` with its schema cached on disk (see ``CachedSchemaDatabase`` for options)."""
    return CachedSchemaDatabase(db, SchemaCache(directory), **options)
