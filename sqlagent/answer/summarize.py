"""A bounded view of a query result, for the narration prompt and for plain summaries.

The model never sees the whole table: the first rows, the row count, whether the result was
truncated, and simple statistics per column. That bounds the prompt whatever the query returns.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Sequence
from typing import Any

from ..context.fence import data_line
from ..types import QueryResult

_CELL_CHARS = 60


_NONE = type(None)
_DIGITS = frozenset({int, decimal.Decimal})
"""Types whose text is digits, a sign, a point or an exponent: already one inert line."""


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if value.__class__ in _DIGITS:
        text = str(value)
        if len(text) <= _CELL_CHARS:
            return text
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    # One inert line: it cannot close the <result> block or pass for an instruction.
    return data_line(value, _CELL_CHARS)


def _is_number_type(kind: type) -> bool:
    return issubclass(kind, (int, float, decimal.Decimal)) and not issubclass(kind, bool)


def _exact_sum(values: Sequence[Any], kinds: set[type]) -> Any:
    """The sum without float drift: exact for integers and decimals, correctly rounded for
    floats. (Once per column of every answer, so it avoids a conversion per value.)"""
    if any(issubclass(k, float) for k in kinds):
        if all(issubclass(k, (int, float)) for k in kinds):
            return math.fsum(values)  # takes them as they are: no conversion per value
        return math.fsum(float(v) for v in values)
    if any(issubclass(k, decimal.Decimal) for k in kinds):
        return sum(values, decimal.Decimal(0))
    return sum(values)


def column_stats(result: QueryResult) -> list[str]:
    """One line per column: min/max/sum for numbers and dates, distinct count for text."""
    lines = []
    n = result.row_count
    # Read column by column, as transposed once for the result (``QueryResult.by_column``).
    for raw_name, column, types in zip(
        result.columns, result.by_column, result.column_types, strict=True
    ):
        name = data_line(raw_name, _CELL_CHARS)
        kinds = set(types)
        values: Sequence[Any] = column
        if _NONE in kinds:  # most columns hold no NULL: then no copy is made
            kinds.discard(_NONE)
            values = [v for v in column if v is not None]
        nulls = n - len(values)
        null_note = f", {nulls} null" if nulls else ""
        if values and all(_is_number_type(k) for k in kinds):
            total = _exact_sum(values, kinds)
            lines.append(
                f"{name}: numeric, min {_cell(min(values))}, max {_cell(max(values))}, "
                f"sum {_cell(total)}{null_note}"
            )
        elif values and all(issubclass(k, (_dt.date, _dt.datetime)) for k in kinds):
            lines.append(
                f"{name}: dates from {_cell(min(values))} to {_cell(max(values))}{null_note}"
            )
        elif values:
            # Text as it is; anything else (or a mix) by how it reads.
            distinct = len(set(values) if kinds == {str} else {str(v) for v in values})
            lines.append(f"{name}: {distinct} distinct values{null_note}")
        else:
            lines.append(f"{name}: all null")
    return lines


def result_summary(result: QueryResult, *, max_rows: int = 20) -> str:
    """The bounded text the narration step sees for ``result``.

    >>> print(result_summary(QueryResult(("city", "n"), (("Mesa | 99", 3),))))
    Row count: 1 rows
    Columns: city, n
    Rows:
    city | n
    Mesa \\| 99 | 3
    """
    n = result.row_count
    count = f"{n} rows" + (" (truncated: the query returned more)" if result.truncated else "")
    if n == 0:
        names = ", ".join(data_line(c, _CELL_CHARS) for c in result.columns)
        return f"Columns: {names}\nRow count: 0 (no rows matched)"
    shown = result.rows[:max_rows]
    # A name's or a cell's own "|" is escaped: a value cannot pose as more columns.
    header = " | ".join(data_line(c, _CELL_CHARS).replace("|", "\\|") for c in result.columns)
    table = "\n".join(" | ".join(_cell(v).replace("|", "\\|") for v in row) for row in shown)
    parts = [f"Row count: {count}", f"Columns: {header.replace(' | ', ', ')}"]
    if len(shown) < n:
        parts.append(f"First {len(shown)} rows:")
    else:
        parts.append("Rows:")
    parts.append(header)
    parts.append(table)
    if n > 1:
        parts.append("Column statistics over all fetched rows:")
        parts.extend(column_stats(result))
    return "\n".join(parts)


def plain_narrative(result: QueryResult) -> str:
    """A short mechanical description, used when narration is off or the model fails."""
    n = result.row_count
    if n == 0:
        return "The query returned no rows."
    if n == 1 and len(result.columns) == 1:
        return f"{result.columns[0]}: {_cell(result.rows[0][0])}."
    more = " (truncated: there are more)" if result.truncated else ""
    if len(result.columns) == 1 and n <= 10:
        values = ", ".join(_cell(r[0]) for r in result.rows)
        return f"{n} rows{more}: {values}."
    return f"The query returned {n} rows{more} with columns {', '.join(result.columns)}."
