"""Turn what the user typed (a URL, a file, a folder, a glob) into a ``Target``.

duckdb:///data/shop.duckdb     DuckDB file (relative path; ``duckdb:////abs/path`` absolute)
duckdb:///:memory:             empty in-memory DuckDB
shop.duckdb, shop.db           DuckDB file (a ``.db`` holding SQLite is recognised as such)
sqlite:///shop.sqlite          SQLite file; so are bare ``.sqlite`` / ``.sqlite3`` paths
./data/  or  data/*.csv        CSV/Parquet/JSON files as tables of an in-memory DuckDB
sc://host:15002                Spark SQL through Spark Connect (``sqlagent.db.spark``)
postgresql://user:pw@host/db   any other SQLAlchemy URL
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ConnectionFailed

DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db3")
DATA_SUFFIXES = (
    ".csv",
    ".tsv",
    ".csv.gz",
    ".tsv.gz",
    ".parquet",
    ".json",
    ".jsonl",
    ".ndjson",
)
"""Files that become tables when a folder or glob is given."""

_SQLITE_MAGIC = b"SQLite format 3\x00"

Kind = Literal["duckdb", "sqlite", "files", "sqlalchemy", "spark"]


@dataclass(frozen=True)
class Target:
    """Where the data is. ``path`` is None for in-memory DuckDB and server URLs."""

    kind: Kind
    display: str
    path: Path | None = None
    files: tuple[Path, ...] = ()
    url: str | None = None


def parse_target(target: str | os.PathLike[str]) -> Target:
    """Classify ``target``; raises ``ConnectionFailed`` for a missing file or an empty folder.

    >>> parse_target("duckdb:///:memory:").kind
    'duckdb'
    """
    text = os.fspath(target).strip()
    if not text:
        raise ConnectionFailed("No database given", hint="Pass a URL, a database file or a folder.")
    low = text.lower()
    if low.startswith("duckdb:"):
        return _duckdb_url(text)
    if low.startswith("sqlite:"):
        return _sqlite_url(text)
    if low.startswith("sc://"):
        return Target("spark", display=text, url=text)
    if "://" in text:
        return Target("sqlalchemy", display=text, url=text)
    return _path_target(text)


def _url_path(text: str, scheme: str) -> str:
    """The path of ``scheme:///path`` as SQLAlchemy reads it (three slashes: relative)."""
    rest = text[len(scheme) + 1 :]
    if rest.startswith("///"):
        return rest[3:]
    if rest.startswith("//"):
        rest = rest[2:]
    return rest


def _duckdb_url(text: str) -> Target:
    path = _url_path(text, "duckdb").split("?", 1)[0]
    if path in ("", ":memory:"):
        return Target("duckdb", display="duckdb:///:memory:")
    return Target("duckdb", display=text, path=_existing_file(path))


def _sqlite_url(text: str) -> Target:
    path = _url_path(text, "sqlite").split("?", 1)[0]
    if path in ("", ":memory:"):
        raise ConnectionFailed(
            "An in-memory SQLite database holds no data to ask about",
            hint="Give the path of a SQLite file, e.g. sqlite:///shop.sqlite",
        )
    return Target("sqlite", display=text, path=_existing_file(path))


def _path_target(text: str) -> Target:
    if glob.has_magic(text):
        files = tuple(Path(p) for p in sorted(glob.glob(os.path.expanduser(text))) if _is_data(p))
        if not files:
            raise ConnectionFailed(
                f"No CSV, Parquet or JSON files match {text}",
                hint="Check the pattern, e.g. data/*.csv",
            )
        return Target("files", display=text, files=files)
    path = Path(text).expanduser()
    if path.is_dir():
        files = tuple(p for p in sorted(path.iterdir()) if p.is_file() and _is_data(p.name))
        if not files:
            raise ConnectionFailed(
                f"The folder {text} holds no CSV, Parquet or JSON files",
                hint=f"Supported files: {', '.join(DATA_SUFFIXES)}",
            )
        return Target("files", display=text, path=path, files=files)
    name = path.name.lower()
    if _is_data(name):
        return Target("files", display=text, files=(_existing_file(text),))
    if name.endswith(SQLITE_SUFFIXES):
        return Target("sqlite", display=text, path=_existing_file(text))
    if name.endswith(DUCKDB_SUFFIXES):
        existing = _existing_file(text)
        kind: Kind = "sqlite" if _has_sqlite_header(existing) else "duckdb"
        return Target(kind, display=text, path=existing)
    if not path.exists():
        raise ConnectionFailed(
            f"Database {text} does not exist",
            hint="Give a URL (postgresql://..., duckdb:///file.duckdb) or an existing file.",
        )
    kind = "sqlite" if _has_sqlite_header(path) else "duckdb"
    return Target(kind, display=text, path=path)


def _is_data(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES)


def _existing_file(text: str) -> Path:
    """``text`` as a path that exists and is a file; never create it."""
    path = Path(text).expanduser()
    if not path.exists():
        raise ConnectionFailed(
            f"Database file {text} does not exist",
            hint="Check the path; sqlagent never creates a database.",
        )
    if not path.is_file():
        raise ConnectionFailed(f"{text} is not a file")
    return path


def _has_sqlite_header(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False
