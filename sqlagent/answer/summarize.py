"""A bounded view of a query result, for the narration prompt and for plain summaries.

The model never sees the whole table: the first rows, the row count, whether the result was
truncated, and simple statistics per column. That bounds the prompt whatever the query returns.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Sequence
from fractions import Fraction
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
        floats = values if all(issubclass(k, (int, float)) for k in kinds) else None
        try:
            if floats is not None:
                return math.fsum(floats)  # takes them as they are: no conversion per value
            return math.fsum(float(v) for v in values)
        except OverflowError:
            # The running sum left the float range: add exactly, then round (to ±inf beyond it).
            exact = sum(map(Fraction, (float(v) for v in values)), Fraction(0))
            try:
                return float(exact)
            except OverflowError:
                return math.inf if exact > 0 else -math.inf
    if any(issubclass(k, decimal.Decimal) for k in kinds):
        return sum(values, decimal.Decimal(0))
    return sum(values)


def column_stats(result: QueryResult) -> list[str]:
    """One line per column: min/max/sum for numbers and dates, distinct count for text."""
    lines = []
    n = result.row_count
    # Read column by column, as transposed once for the result (``QueryResult.by_column``).
    for i, (raw_name, column) in enumerate(zip(result.columns, result.by_column, strict=True)):
        name = data_line(raw_name, _CELL_CHARS)
        declared = result.declared_kind(i)
        line = _declared_stats(name, column, declared) if declared and n > 1 else None
        if line is None:
            # Without declared types, the types of all columns were read once (for the size
            # bound too); otherwise only this column's are.
            types = frozenset(map(type, column)) if result.declared else result.column_types[i]
            line = _stats(name, column, types, n)
        lines.append(line)
    return lines


def _declared_stats(name: str, column: Sequence[Any], kind: type) -> str | None:
    """``_stats`` for a column of two or more values that the engine declares to be ``kind``
    or NULL, read without looking at each value's type; None when NULLs are among them.

    Comparing or adding a NULL raises ``TypeError``: for numbers and dates, a pass that does
    not raise has met no NULL, so the column needs no pass of its own to find them.
    """
    try:
        if _is_number_type(kind):
            low, high, total = min(column), max(column), _exact_sum(column, {kind})
            return f"{name}: numeric, min {_cell(low)}, max {_cell(high)}, sum {_cell(total)}"
        if issubclass(kind, _dt.date):  # and datetime
            return f"{name}: dates from {_cell(min(column))} to {_cell(max(column))}"
    except TypeError:
        return None
    if kind is str:
        distinct = set(column)
        if None not in distinct:
            return f"{name}: {len(distinct)} distinct values"
    return None


def _stats(name: str, column: Sequence[Any], types: frozenset[type], n: int) -> str:
    """The statistics line of ``column``, whose values are of ``types``."""
    kinds = set(types)
    values: Sequence[Any] = column
    if _NONE in kinds:  # most columns hold no NULL: then no copy is made
        kinds.discard(_NONE)
        values = [v for v in column if v is not None]
    nulls = n - len(values)
    null_note = f", {nulls} null" if nulls else ""
    if values and all(_is_number_type(k) for k in kinds):
        total = _exact_sum(values, kinds)
        return (
            f"{name}: numeric, min {_cell(min(values))}, max {_cell(max(values))}, "
            f"sum {_cell(total)}{null_note}"
        )
    if values and all(issubclass(k, (_dt.date, _dt.datetime)) for k in kinds):
        return f"{name}: dates from {_cell(min(values))} to {_cell(max(values))}{null_note}"
    if values:
        # Text as it is; anything else (or a mix) by how it reads.
        distinct = len(set(values) if kinds == {str} else {str(v) for v in values})
        return f"{name}: {distinct} distinct values{null_note}"
    return f"{name}: all null"


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
