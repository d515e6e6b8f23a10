"""Copy a SQLite database into a DuckDB file, table by table, to evaluate on DuckDB.

DuckDB's own SQLite reader is an extension that would have to be downloaded, so rows are
read with ``sqlite3`` and written through Arrow. SQLite columns may hold any type whatever
their declaration, so each column's DuckDB type comes from the values actually stored: all
integers ⇒ BIGINT, all numbers ⇒ DOUBLE, all blobs ⇒ BLOB, anything else ⇒ VARCHAR (numbers
mixed into a text column are kept as their text). An empty column takes its declared type's
SQLite affinity. Keys and constraints are not copied.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "copy_to_duckdb", "duckdb_copy"]

_INT64 = (-(2**63), 2**63 - 1)


def cache_dir() -> Path:
    """Where DuckDB copies are kept: ``$XDG_CACHE_HOME/sqlagent/duckdb`` (or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "sqlagent" / "duckdb"


def _affinity(declared: str) -> str:
    """SQLite's type affinity rules (section 3.1 of its datatype documentation)."""
    t = declared.upper()
    if "INT" in t:
        return "BIGINT"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "VARCHAR"
    if "BLOB" in t:
        return "BLOB"
    if not t:
        return "VARCHAR"  # no affinity: an all-NULL column is typed as text
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "DOUBLE"
    return "DOUBLE"  # NUMERIC affinity


def _column_type(values: Sequence[Any], declared: str) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return _affinity(declared)
    if all(isinstance(v, int) and _INT64[0] <= v <= _INT64[1] for v in present):
        return "BIGINT"
    if all(isinstance(v, (int, float)) for v in present):
        return "DOUBLE"
    if all(isinstance(v, bytes) for v in present):
        return "BLOB"
    return "VARCHAR"


def _convert(values: Sequence[Any], duck_type: str) -> list[Any]:
    if duck_type == "VARCHAR":
        return [
            None
            if v is None
            else v
            if isinstance(v, str)
            else v.decode("utf-8", "replace")
            if isinstance(v, bytes)
            else str(v)
            for v in values
        ]
    if duck_type == "DOUBLE":
        return [None if v is None else float(v) for v in values]
    return list(values)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_to_duckdb(sqlite_path: Path, dest: Path) -> Path:
    """Copy every table of ``sqlite_path`` into a new DuckDB file ``dest`` (replaced whole)."""
    import duckdb
    import pyarrow as pa

    arrow_types = {
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "VARCHAR": pa.string(),
        "BLOB": pa.binary(),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"{sqlite_path.resolve().as_uri()}?mode=ro", uri=True)
    # As the official Spider evaluator reads text: bytes that are not UTF-8 are dropped.
    src.text_factory = lambda b: b.decode(errors="ignore")
    con = duckdb.connect(str(tmp))
    try:
        tables = [
            r[0]
            for r in src.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for table in tables:
            info = src.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
            names = [str(c[1]) for c in info]
            declared = [str(c[2] or "") for c in info]
            rows = src.execute(f"SELECT * FROM {_quote(table)}").fetchall()
            columns = [[row[i] for row in rows] for i in range(len(names))]
            types = [_column_type(col, d) for col, d in zip(columns, declared, strict=True)]
            ddl = ", ".join(f"{_quote(n)} {t}" for n, t in zip(names, types, strict=True))
            con.execute(f"CREATE TABLE {_quote(table)} ({ddl})")
            if rows:
                arrays = [
                    pa.array(_convert(col, t), type=arrow_types[t])
                    for col, t in zip(columns, types, strict=True)
                ]
                staged = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(names))])
                con.register("staged_rows", staged)
                con.execute(f"INSERT INTO {_quote(table)} SELECT * FROM staged_rows")
                con.unregister("staged_rows")
        con.execute("CHECKPOINT")
    finally:
        con.close()
        src.close()
    os.replace(tmp, dest)
    return dest


def duckdb_copy(sqlite_path: str | Path, cache: Path | None = None) -> Path:
    """A DuckDB copy of ``sqlite_path``, made once and reused while the source is unchanged."""
    src = Path(sqlite_path).resolve()
    stat = src.stat()
    key = hashlib.sha256(f"{src}|{stat.st_size}|{stat.st_mtime_ns}|1".encode()).hexdigest()[:16]
    dest = (cache or cache_dir()) / f"{src.stem}-{key}.duckdb"
    if not dest.exists():
        copy_to_duckdb(src, dest)
    return dest
