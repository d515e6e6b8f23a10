"""Result downloads: CSV and Parquet bytes from columns and rows, values normalised alike.

    from sqlagent.answer.export import to_csv_bytes, to_parquet_bytes
    data = to_csv_bytes(answer.columns, answer.rows)      # UTF-8, header row first

Both formats see the same values: dates and timestamps keep their meaning (ISO text in CSV,
typed columns in Parquet), NaN and infinities become empty/null, nested values become JSON
text. Duplicate or empty column names are made unique the same way for both (``unique_names``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import io
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from typing import Any

from ..types import to_json_value

__all__ = ["file_stem", "to_csv_bytes", "to_parquet_bytes", "unique_names"]


def unique_names(columns: Sequence[str]) -> list[str]:
    """Column names made unique and non-empty, in order: a repeat gets ``_2``, ``_3``...

    >>> unique_names(["id", "name", "id", ""])
    ['id', 'name', 'id_2', 'column_4']
    """
    seen: set[str] = set()
    out: list[str] = []
    for i, raw in enumerate(columns, start=1):
        base = str(raw) if str(raw).strip() else f"column_{i}"
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.lower())
        out.append(name)
    return out


def _csv_cell(value: Any) -> str:
    """One value as CSV text: empty for NULL, ISO for dates, JSON for nested values."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return format(value, "f")  # exact: a float would round large or long decimals
    j = to_json_value(value)
    if j is None:
        return ""
    if isinstance(j, bool):
        return "true" if j else "false"
    if isinstance(j, float):
        # repr keeps every digit; integral floats print without the trailing ".0"
        return str(int(j)) if j.is_integer() and abs(j) < 1e16 else repr(j)
    if isinstance(j, (dict, list)):
        return json.dumps(j, ensure_ascii=False)
    return str(j)


def to_csv_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The result as CSV (UTF-8, comma-separated, header row, ``\\r\\n`` line ends).

    >>> to_csv_bytes(["city", "n"], [("Phoenix", 9), ("Tucson", None)])
    b'city,n\\r\\nPhoenix,9\\r\\nTucson,\\r\\n'
    """
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(unique_names(columns))
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _parquet_value(value: Any) -> Any:
    """Keep values Arrow types natively; turn the rest into the same text CSV shows."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return value if value.is_finite() else None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return _csv_cell(value)


def _arrow_column(values: list[Any]) -> Any:
    import pyarrow as pa

    cleaned = [_parquet_value(v) for v in values]
    try:
        array = pa.array(cleaned)
        if pa.types.is_null(array.type) and any(isinstance(v, float) for v in values):
            # Only NaN/infinity (now NULL): the column is still a column of numbers.
            return pa.array(cleaned, type=pa.float64())
        return array
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # Mixed types (or integers beyond 64 bits): one text column rather than a failure.
        return pa.array([None if v is None else _csv_cell(v) for v in values], type=pa.string())


def to_parquet_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The result as a Parquet file (typed columns; a column of mixed types becomes text).

    >>> import io, pyarrow.parquet as pq
    >>> pq.read_table(io.BytesIO(to_parquet_bytes(["n"], [(1,), (2,)]))).column("n").to_pylist()
    [1, 2]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = unique_names(columns)
    arrays = [_arrow_column([row[i] for row in rows]) for i in range(len(names))]
    table = pa.Table.from_arrays(arrays, names=names)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def file_stem(question: str, default: str = "result", max_length: int = 60) -> str:
    """A safe, readable file name stem for a download, from the question.

    >>> file_stem("How many merchants are in Phoenix?")
    'how-many-merchants-are-in-phoenix'
    >>> file_stem("")
    'result'
    """
    text = unicodedata.normalize("NFKD", question or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] or slug[:max_length]
    return slug or default
