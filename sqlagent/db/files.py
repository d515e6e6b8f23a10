"""CSV, Parquet and JSON files as tables of an in-memory DuckDB."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConnectionFailed
from .targets import DATA_SUFFIXES

if TYPE_CHECKING:
    import duckdb

_READERS = {
    ".parquet": "read_parquet",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}
"""Every other supported suffix is read with ``read_csv_auto``."""


def table_name(path: Path) -> str:
    """A plain identifier from a file name: ``Sales 2024.csv`` gives ``sales_2024``.

    >>> table_name(Path("data/2024 Orders.csv.gz"))
    't_2024_orders'
    """
    name = path.name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    ident = re.sub(r"[^0-9a-zA-Z_]+", "_", name).strip("_").lower() or "table"
    return f"t_{ident}" if ident[0].isdigit() else ident


def table_names(paths: Sequence[Path]) -> list[str]:
    """One unique table name per file, in order (``sales``, ``sales_2``, ... on clashes)."""
    seen: set[str] = set()
    names: list[str] = []
    for path in paths:
        base = table_name(path)
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names


def _reader(path: Path) -> str:
    low = path.name.lower()
    for suffix, reader in _READERS.items():
        if low.endswith(suffix):
            return reader
    return "read_csv_auto"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def load_files(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> list[str]:
    """Copy every file into a table of ``con`` (which must still allow file access).

    Returns the table names; a file that cannot be read is a ``ConnectionFailed``.
    """
    import duckdb

    names = table_names(paths)
    for name, path in zip(names, paths, strict=True):
        sql = (
            f"CREATE TABLE {quote_ident(name)} AS "
            f"SELECT * FROM {_reader(path)}({_literal(str(path))})"
        )
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            raise ConnectionFailed(
                f"Could not load {path} as table {name}: {_first_line(str(exc))}",
                hint="Check that the file is valid CSV, Parquet or JSON.",
            ) from None
    return names


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
