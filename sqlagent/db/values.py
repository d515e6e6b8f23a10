"""Make the values every driver returns look alike.

Rows keep Python-native types: ``int``, ``float``, ``Decimal``, ``str``, ``bool``, ``date``,
``datetime``, ``time``, ``timedelta``, ``UUID``, ``bytes``, ``None``, and ``list``/``dict`` for
arrays, structs and JSON. Anything else a driver invents (IP addresses, ranges, pytz zones,
memoryviews) is turned into one of these, so ``sqlagent.types.to_json_value`` gives the same JSON
for the same logical value whichever database it came from.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, cast

Converter = Callable[[Any], Any]

_NATIVE = (bool, int, float, str, decimal.Decimal, uuid.UUID, bytes)


def normalise(value: Any) -> Any:
    """One value as a Python-native type (see the module docstring).

    >>> normalise(memoryview(b"ab"))
    b'ab'
    """
    if value is None or isinstance(value, _NATIVE):
        return value
    if isinstance(value, _dt.datetime):
        return _fixed_offset(value)
    if isinstance(value, (_dt.date, _dt.time, _dt.timedelta)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [normalise(v) for v in value]
    return str(value)


def _fixed_offset(value: _dt.datetime) -> _dt.datetime:
    """Replace a driver's zone object (pytz, zoneinfo) by the fixed offset it has at that time."""
    if value.tzinfo is None or isinstance(value.tzinfo, _dt.timezone):
        return value
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=None)
    return value.replace(tzinfo=_dt.timezone(offset))


def time_of_day(value: Any) -> Any:
    """A MySQL ``TIME`` arrives as ``timedelta``; within one day it is a time of day."""
    if isinstance(value, _dt.timedelta) and _dt.timedelta(0) <= value < _dt.timedelta(days=1):
        return (_dt.datetime.min + value).time()
    return normalise(value)


def bit_to_int(value: Any) -> Any:
    """A MySQL ``BIT(n)`` arrives as big-endian bytes: give the number."""
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    return normalise(value)


def parse_json(value: Any) -> Any:
    """A JSON column some drivers return as text (DuckDB, MySQL): give the parsed value,
    as PostgreSQL's driver does. Text that does not parse is kept as is."""
    if isinstance(value, (str, bytes)):
        try:
            return normalise(json.loads(value))
        except ValueError:
            return value if isinstance(value, str) else bytes(value)
    return normalise(value)


def keep(value: Any) -> Any:
    """The converter of a column whose driver already returns native values: none needed."""
    return value


def normalise_rows(
    rows: Sequence[Sequence[Any]], converters: Sequence[Converter | None] = ()
) -> tuple[tuple[Any, ...], ...]:
    """Normalise every value; ``converters[i]`` (when given and not None) replaces
    ``normalise`` for column ``i``. When every column's converter is ``keep`` the rows are
    returned as they are (no per-value work: a wide result of plain types costs nothing)."""
    if converters and all(c is keep for c in converters):
        if {*map(type, rows)} <= {tuple}:  # the driver's rows as they are: no work per row
            return tuple(cast("Sequence[tuple[Any, ...]]", rows))
        return tuple(r if type(r) is tuple else tuple(r) for r in rows)
    if not any(converters):
        return tuple(tuple(normalise(v) for v in row) for row in rows)
    width = max((len(r) for r in rows), default=0)
    funcs: list[Converter] = []
    for i in range(width):
        given = converters[i] if i < len(converters) else None
        funcs.append(given or normalise)
    return tuple(tuple(f(v) for f, v in zip(funcs, row, strict=False)) for row in rows)
