"""All input and output with the user's database.

    from sqlagent.db import connect
    db = connect("duckdb:///shop.duckdb")          # or postgresql://..., sc://host:15002, ./data/
    db.schema().tables                             # introspected once, cached
    db.execute("SELECT 1", max_rows=1000, timeout=30.0)

Every connection is read-only at the database itself and every statement has a timeout;
which mechanism holds where is listed in ``sqlagent.db.dialects`` (servers) and
``sqlagent.db.duck`` (DuckDB). Heavy drivers are imported only when a connection is opened.
"""

from __future__ import annotations

import os

from .base import Database
from .targets import Target, parse_target

__all__ = ["Database", "Target", "connect", "parse_target"]


def connect(target: str | os.PathLike[str], *, sample_values: bool = True) -> Database:
    """Open ``target`` read-only; raises ``ConnectionFailed`` with a clear message on failure.

    ``target`` is a URL (``duckdb:///file.duckdb``, ``sqlite:///file.db``, any SQLAlchemy
    URL), a database file, a folder of CSV/Parquet/JSON files or a glob of them.
    ``sample_values`` adds a few sample values of low-cardinality text columns to the schema.

    >>> db = connect("duckdb:///:memory:")
    >>> db.execute("SELECT 42 AS answer", max_rows=10, timeout=5).rows
    ((42,),)
    """
    parsed = parse_target(target)
    if parsed.kind in ("duckdb", "files"):
        from .duck import open_duckdb

        return open_duckdb(parsed, sample_values=sample_values)
    if parsed.kind == "spark":
        from .spark import open_spark

        return open_spark(parsed, sample_values=sample_values)
    from .sqla import open_sqlalchemy

    return open_sqlalchemy(parsed, sample_values=sample_values)
