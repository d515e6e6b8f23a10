"""The value index and the column profiles on disk, beside the cached schema.

Both are read from the data (a query per text column, a scan per table): seconds on a large
database, a good part of a cold command even on the sample. They are kept as JSON files next
to the schema cache's file of the same connection and are valid under the same conditions:
the catalog's fingerprint is unchanged and the entry is younger than the schema cache's
``max_age``. They are also keyed by the visible schema (a policy that hides a column gets
its own entry, so a denied column's values never come back from disk). Files are plain
data, never code; deleting them is always safe.

    db = with_schema_cache(connect(url))
    values = load_derived(db, "values", visible, decode)   # None: build, then store_derived
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..types import SchemaInfo
from .gcpause import gc_paused

DERIVED_VERSION = 2
"""Bumped when a stored layout changes; older files are ignored."""

_T = TypeVar("_T")


def _visible_digest(schema: SchemaInfo) -> str:
    """A hash of what the model may see: tables and their columns, with types, and the rows
    a person may read of them (so one person's values never come back from disk for
    another whose rows differ)."""
    h = hashlib.sha256()
    for table in schema.tables:
        h.update(table.qualified_name.encode())
        if table.row_filter is not None:
            h.update(b"\0rows:" + table.row_filter.encode())
        for column in table.columns:
            h.update(b"\0" + column.name.encode() + b":" + (column.type or "").encode())
        h.update(b"\n")
    return h.hexdigest()


def _location(db: Any, kind: str) -> tuple[Any, str, str] | None:
    """The schema cache, the file and the fingerprint for ``kind`` of ``db``; None when
    ``db`` has no schema cache or its catalog has no fingerprint (then nothing is kept)."""
    from .schema_cache import CachedSchemaDatabase, connection_key

    if not isinstance(db, CachedSchemaDatabase):
        return None
    fingerprint = db.fingerprint
    if fingerprint is None:
        return None
    key = connection_key(db.inner)
    base = db.cache.path_for(key)
    return db, str(base.with_suffix(f".{kind}.json")), fingerprint


def load_derived(
    db: Any, kind: str, schema: SchemaInfo, decode: Callable[[Any], _T]
) -> _T | None:
    """The stored ``kind`` of ``db`` built from ``schema``, decoded; None when there is none
    that is still valid (or it cannot be read)."""
    where = _location(db, kind)
    if where is None:
        return None
    cached_db, path, fingerprint = where
    try:
        with gc_paused(), open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("version") != DERIVED_VERSION
        or data.get("fingerprint") != fingerprint
    ):
        return None
    entry = data.get("entries", {}).get(_visible_digest(schema))
    if not isinstance(entry, dict):
        return None
    max_age = cached_db.max_age
    if max_age is not None and time.time() - float(entry.get("created", 0)) > max_age:
        return None
    try:
        with gc_paused():
            return decode(entry["data"])
    except (KeyError, TypeError, ValueError):
        return None


def store_derived(db: Any, kind: str, schema: SchemaInfo, data: Any) -> None:
    """Keep ``data`` (JSON-able) as the ``kind`` of ``db`` built from ``schema``. Entries of
    other visible schemas with the same fingerprint are kept; a failure to write is no error."""
    where = _location(db, kind)
    if where is None:
        return
    _, path, fingerprint = where
    entries: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="utf-8") as handle:
            old = json.load(handle)
        if isinstance(old, dict) and old.get("fingerprint") == fingerprint:
            entries = dict(old.get("entries") or {})
    entries[_visible_digest(schema)] = {"created": time.time(), "data": data}
    payload = {"version": DERIVED_VERSION, "fingerprint": fingerprint, "entries": entries}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    directory = os.path.dirname(path)
    with contextlib.suppress(OSError):
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".derived.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
