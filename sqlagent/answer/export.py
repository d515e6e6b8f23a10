"""Result downloads: CSV, Excel and Parquet bytes from columns and rows, values normalised alike.

    from sqlagent.answer.export import to_csv_bytes, to_parquet_bytes, to_xlsx_bytes
    data = to_csv_bytes(answer.columns, answer.rows)      # UTF-8, header row first

Every format sees the same values: dates and timestamps keep their meaning (ISO text in CSV,
typed cells in Excel and Parquet), NaN and infinities become empty/null, nested values become
JSON text. Duplicate or empty column names are made unique the same way (``unique_names``).

A spreadsheet runs a cell that starts like a formula (``=HYPERLINK(...)``, ``+cmd|...``,
``@SUM(...)``), so in CSV and Excel every text cell and column name that would start one gets
a leading ``'`` (``defuse_formula``), as OWASP's "CSV Injection" advises. Numbers stay numbers,
negative ones included, and so does text that is just a negative number (``"-12.5"``): a
spreadsheet reads it as that number, which is what the text says. Parquet keeps values as they
are: its readers type columns and evaluate nothing.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import importlib.util
import io
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from ..types import to_json_value

__all__ = [
    "defuse_formula",
    "excel_available",
    "exporter_for",
    "file_stem",
    "to_csv_bytes",
    "to_parquet_bytes",
    "to_xlsx_bytes",
    "unique_names",
]

FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
"""First characters that make a spreadsheet read a cell as a formula: ``= + - @``, tab and
carriage return (OWASP), and the fullwidth ``＝＋－＠`` some spreadsheets fold to ASCII."""

_NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# ASCII digits only: a spreadsheet folds fullwidth digits too, so "－１" stays defused.


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


def defuse_formula(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula.

    The first character counts, and so does the first after leading whitespace (spreadsheets
    trim it). Text that is exactly a negative number (``-12.5``, ``-1e3``) is left alone.

    >>> defuse_formula("=1+1"), defuse_formula("  @SUM(A1)"), defuse_formula("-12.5")
    ("'=1+1", "'  @SUM(A1)", '-12.5')
    """
    if not text:
        return text
    stripped = text.lstrip()
    if text[0] not in FORMULA_STARTS and stripped[:1] not in FORMULA_STARTS:
        return text
    if _NEGATIVE_NUMBER.fullmatch(text):
        return text
    return "'" + text


_NUMBERS = (int, float, decimal.Decimal, _dt.timedelta)
"""Values whose CSV text is a number (a timedelta is written as seconds): never defused."""


def _csv_text(value: Any) -> str:
    text = _csv_cell(value)
    if isinstance(value, _NUMBERS):  # bool is an int too: "true"/"false" need nothing
        return text
    return defuse_formula(text)


def to_csv_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The result as CSV (UTF-8, comma-separated, header row, ``\\r\\n`` line ends).

    Fields holding a comma, quote or line break are quoted; formula-like text is defused.

    >>> to_csv_bytes(["city", "n"], [("Phoenix", 9), ("=Tucson", None)])
    b"city,n\\r\\nPhoenix,9\\r\\n'=Tucson,\\r\\n"
    """
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL)
    writer.writerow([defuse_formula(n) for n in unique_names(columns)])
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    return buf.getvalue().encode("utf-8")


EXCEL_MAX_TEXT = 32767
"""Excel refuses a file with a longer cell text (it offers to repair it)."""
_EXCEL_DIGITS = 15
"""Excel keeps 15 significant digits: a longer number is written as text to keep them all."""


def _excel_text(text: str) -> str:
    # XML cannot carry most C0 controls (openpyxl refuses them): show them as \xNN instead.
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = defuse_formula(text)
    if len(text) > EXCEL_MAX_TEXT:
        text = text[: EXCEL_MAX_TEXT - 1] + "…"
    return text


def _excel_value(value: Any) -> Any:
    """A cell value openpyxl stores as a number, boolean, date or (defused) string."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**_EXCEL_DIGITS else _excel_text(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        if len(value.as_tuple().digits) > _EXCEL_DIGITS:
            return _excel_text(_csv_cell(value))
        return value
    if isinstance(value, (_dt.datetime, _dt.time)) and value.tzinfo is not None:
        return _excel_text(value.isoformat())  # Excel has no time zones: keep the offset
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
        return value
    return _excel_text(_csv_cell(value))


def _no_openpyxl() -> ConfigError:
    return ConfigError(
        "Excel export needs the openpyxl package, which is not installed.",
        hint="pip install 'sqlagent[excel]'",
    )


def excel_available() -> bool:
    """Whether ``to_xlsx_bytes`` can run (openpyxl, from ``sqlagent[excel]``, is installed)."""
    return importlib.util.find_spec("openpyxl") is not None


def to_xlsx_bytes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The result as an Excel workbook (one sheet, header row; needs ``sqlagent[excel]``).

    Text cells are stored as strings, never as formulas, and formula-like text is defused as
    in CSV; numbers, booleans and dates keep their types.

    >>> import io, openpyxl
    >>> book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(["n"], [(-5,), ("=1",)])))
    >>> [c.value for c in book.active["A"]]
    ['n', -5, "'=1"]
    """
    try:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
    except ImportError:
        raise _no_openpyxl() from None
    book = Workbook(write_only=True)
    sheet = book.create_sheet("result")

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = WriteOnlyCell(sheet, value=value)
        text.data_type = "s"  # a string whatever it starts with: never a formula
        return text

    sheet.append([cell(_excel_text(n)) for n in unique_names(columns)])
    for row in rows:
        sheet.append([cell(_excel_value(v)) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


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


def exporter_for(file_name: str) -> Callable[[Sequence[str], Sequence[Sequence[Any]]], bytes]:
    """The function that writes a result in the format ``file_name``'s suffix names.

    >>> exporter_for("out.CSV") is to_csv_bytes
    True
    """
    suffix = Path(file_name).suffix.lower()
    writers = {".csv": to_csv_bytes, ".xlsx": to_xlsx_bytes, ".parquet": to_parquet_bytes}
    if suffix not in writers:
        raise UsageError(
            f"Cannot tell the format of {file_name!r} from its suffix.",
            hint="Name a .csv, .xlsx or .parquet file.",
        )
    if suffix == ".xlsx" and not excel_available():
        raise _no_openpyxl()
    return writers[suffix]


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
