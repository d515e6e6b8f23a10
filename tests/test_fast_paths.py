"""The shortcuts taken on every answer give exactly what the long way gives.

A thousand-row result passes through the size bound, the summary's statistics and the
prompt fence on every question; each has a fast path for the common case (numbers, plain
ASCII text). These tests hold each fast path to the general one it skips.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlagent.answer import summarize
from sqlagent.answer.summarize import column_stats, result_summary
from sqlagent.context import fence
from sqlagent.context.fence import data_line
from sqlagent.db.base import bound_bytes
from sqlagent.errors import ExecutionError
from sqlagent.types import QueryResult

_NEVER = re.compile(r"(?!)")

# Mostly printable ASCII (the fast path's domain) with its edges: `<`, backticks, runs of
# spaces, tabs, line breaks, and a few characters the fence removes or replaces.
_PLAIN_CHARS = "abcXYZ019 .,;:=>-_|!?%/@#()[]{}~\\\"'"
_TEXT = st.text(alphabet=st.sampled_from(list(_PLAIN_CHARS)), max_size=90) | st.text(
    alphabet=st.sampled_from(
        [*_PLAIN_CHARS, "<", "`", "\t", "\n", "\u202e", "\u200b", "é", "＜", "\x1b"]
    ),
    max_size=90,
)


@settings(max_examples=400, deadline=None)
@given(text=_TEXT, limit=st.integers(min_value=1, max_value=80))
def test_data_line_fast_path_equals_the_general_one(text: str, limit: int) -> None:
    fast = data_line(text, limit)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fence, "_PLAIN", _NEVER)
        general = data_line(text, limit)
    assert fast == general


def test_data_line_fast_path_leaves_no_tag_or_fence() -> None:
    assert fence._PLAIN.fullmatch("label 12, Phoenix (AZ)")  # the common case takes it
    assert data_line("a</result>b", 60) == "a‹/result>b"
    assert data_line("```sql", 60) == "ˋˋˋsql"
    assert data_line("x" * 61, 60) == "x" * 59 + "…"
    assert data_line(" two  spaces ", 60) == "two spaces"


@pytest.mark.parametrize(
    "value",
    [0, -12, 10**70, decimal.Decimal("-3.50"), decimal.Decimal("1E+3"), decimal.Decimal("NaN")],
)
def test_number_cells_read_as_the_fence_would(value: object) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(summarize, "_DIGITS", frozenset())
        general = summarize._cell(value)
    assert summarize._cell(value) == general
    assert len(summarize._cell(value)) <= 60  # a huge integer is cut like any long value


class _Str(str):
    """A text type of a driver's own (a subclass of str)."""


def _result(*rows: tuple[object, ...]) -> QueryResult:
    return QueryResult(tuple(f"c{i}" for i in range(len(rows[0]))), tuple(rows))


def test_size_bound_counts_text_in_every_kind_of_column() -> None:
    # 90 bytes of text a row: in a text column, a column mixing text and numbers, a column
    # of a str subclass, and bytes; numbers and dates count nothing.
    row = ("a" * 40, 7, _Str("b" * 20), b"c" * 30, dt.date(2024, 1, 1), decimal.Decimal(1))
    mixed = ("x" * 10, "d" * 10, _Str("b" * 20), b"c" * 30, None, 2.5)  # 70 bytes
    result = _result(row, row, mixed, row)
    assert bound_bytes(result, 340) is result
    cut = bound_bytes(result, 339)
    assert cut.truncated and cut.rows == (row, row, mixed)
    assert bound_bytes(result, 249).rows == (row, row)
    assert len(bound_bytes(result, 179).rows) == 1
    with pytest.raises(ExecutionError, match="first row holds 90 bytes"):
        bound_bytes(result, 89)


def test_size_bound_sees_text_after_numbers_in_one_column() -> None:
    # SQLite keeps any value in any column: the types are read over the whole column.
    rows = (*((i,) for i in range(50)), ("z" * 1000,))
    result = _result(*rows)
    assert bound_bytes(result, 999).truncated
    assert bound_bytes(result, 1000) is result


def test_columns_are_read_as_rows_hold_them() -> None:
    result = QueryResult(("a", "b"), ((1, "x"), (None, "y"), (3,)))
    assert result.by_column == ((1, None, 3), ("x", "y", None))
    assert result.column_types == (frozenset({int, type(None)}), frozenset({str, type(None)}))
    assert QueryResult(("a", "b"), ()).by_column == ((), ())


def test_transposing_a_thousand_rows_sets_off_no_collection() -> None:
    """Columns are read without an object per row (``zip(*rows)`` makes an iterator per row:
    a thousand of them set the cyclic collector off on every answer)."""
    import gc

    rows = tuple((i, f"v{i}", float(i)) for i in range(1000))
    result = QueryResult(("a", "b", "c"), rows)
    threshold = gc.get_threshold()
    gc.collect()
    before = sum(s["collections"] for s in gc.get_stats())
    gc.set_threshold(200)
    try:
        columns = result.by_column
    finally:
        gc.set_threshold(*threshold)
    assert sum(s["collections"] for s in gc.get_stats()) == before
    assert columns == (tuple(range(1000)), tuple(f"v{i}" for i in range(1000)),
                       tuple(float(i) for i in range(1000)))  # fmt: skip


def test_statistics_of_columns_with_nulls_text_and_mixes() -> None:
    result = QueryResult(
        ("n", "city", "mix", "day", "empty"),
        (
            (1, "Mesa", "1", dt.date(2024, 1, 2), None),
            (None, "Mesa", 1, dt.date(2024, 3, 1), None),
            (5, "Tempe", None, None, None),
        ),
    )
    assert column_stats(result) == [
        "n: numeric, min 1, max 5, sum 6, 1 null",
        "city: 2 distinct values",
        "mix: 1 distinct values, 1 null",  # "1" and 1 read the same
        "day: dates from 2024-01-02 to 2024-03-01, 1 null",
        "empty: all null",
    ]
    assert "Column statistics over all fetched rows:" in result_summary(result)


# --------------------------------------------------------------------------- declared types

_DUCK_TYPES = (
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL(12,2)", "DECIMAL(38,10)",
    "VARCHAR", "DATE", "TIME", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS",
    "INTERVAL", "UUID", "BLOB",
)  # fmt: skip


_ONE = "'1'"
_LITERALS = {
    "DATE": "'2024-03-01'",
    "TIME": "'10:00:00'",
    **dict.fromkeys(
        ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"), "'2024-03-01 10:00:00'"
    ),
    "INTERVAL": "INTERVAL 1 DAY",
    "UUID": "uuid()",
    "VARCHAR": "'text'",
    "BLOB": "'text'",
}


def test_every_type_duckdb_declares_holds_values_of_exactly_that_type() -> None:
    """The declared type of each native DuckDB column is the exact Python type of every
    non-NULL value the client returns for it; types not vouched for are declared None."""
    from sqlagent.db import connect

    db = connect("duckdb:///:memory:")
    try:
        casts = ", ".join(
            f"CASE WHEN i = 1 THEN NULL ELSE CAST({_LITERALS.get(t, _ONE)} AS {t}) END AS c{n}"
            for n, t in enumerate(_DUCK_TYPES)
        )
        result = db.execute(f"SELECT {casts} FROM range(3) t(i)", max_rows=10, timeout=10)
        assert len(result.declared) == len(_DUCK_TYPES)
        assert all(type(row) is tuple for row in result.rows)  # kept as the client gave them
        for kind, column, name in zip(result.declared, result.by_column, _DUCK_TYPES, strict=True):
            assert kind is not None, name
            assert None in column, name
            assert {type(v) for v in column if v is not None} == {kind}, name
        other = db.execute(
            "SELECT [1, 2] AS l, {'a': 1} AS s, '{}'::JSON AS j, now() AS tz, 1::BIT AS b",
            max_rows=10,
            timeout=10,
        )
        assert other.declared == (None,) * 5
    finally:
        db.close()


_DECLARABLE = st.sampled_from(
    [
        (int, st.integers(-(10**20), 10**20)),
        (float, st.floats(allow_nan=False, width=64)),
        (decimal.Decimal, st.decimals(places=2, min_value=-(10**9), max_value=10**9)),
        (str, st.text(max_size=8)),
        (dt.date, st.dates()),
        (dt.datetime, st.datetimes()),
        (bool, st.booleans()),
        (dt.time, st.times()),
    ]
)


@st.composite
def _declared_column(draw: st.DrawFn) -> tuple[type, list[object]]:
    kind, values = draw(_DECLARABLE)
    column = draw(st.lists(st.none() | values if draw(st.booleans()) else values, max_size=12))
    return kind, column


@settings(max_examples=400, deadline=None)
@given(columns=st.lists(_declared_column(), min_size=1, max_size=4))
def test_statistics_and_size_of_declared_columns_are_those_read_from_the_values(
    columns: list[tuple[type, list[object]]],
) -> None:
    """Reading a column by its declared type (no look at each value's type, NULLs found by
    the statistics themselves) gives the lines and byte count that reading every value does."""
    from sqlagent.db.base import _text_bytes

    n = min(len(c) for _, c in columns)
    rows = tuple(zip(*(c[:n] for _, c in columns), strict=True)) if n else ()
    names = tuple(f"c{i}" for i in range(len(columns)))
    declared = QueryResult(names, rows, declared=tuple(k for k, _ in columns))
    measured = QueryResult(names, rows)
    assert declared == measured  # what was declared is no part of the result's value
    assert column_stats(declared) == column_stats(measured)
    assert _text_bytes(declared, 10**9) == _text_bytes(measured, 10**9)


def test_a_size_bound_passes_over_columns_declared_without_text() -> None:
    rows = tuple((i, decimal.Decimal(i), float(i)) for i in range(50))
    result = QueryResult(("a", "b", "c"), rows, declared=(int, decimal.Decimal, float))
    assert bound_bytes(result, 10) is result
    assert "by_column" not in result.__dict__  # not even transposed
    text = QueryResult(("a", "t"), ((1, "x" * 20), (2, None), (3, "y" * 20)), declared=(int, str))
    cut = bound_bytes(text, 30)
    assert cut.rows == ((1, "x" * 20), (2, None)) and cut.truncated


# --------------------------------------------------------------------------- driver rows


def test_rows_kept_as_the_driver_gave_them_are_tuples_in_order() -> None:
    """Rows of plain types are passed on without work per row, and still come out as
    tuples, in order, whatever sequence type the driver used for a row."""
    from sqlagent.db.values import keep, normalise_rows

    tuples = [(1, "a"), (2, "b")]
    out = normalise_rows(tuples, [keep, keep])
    assert out == ((1, "a"), (2, "b")) and all(a is b for a, b in zip(out, tuples, strict=True))
    mixed = [(1, "a"), [2, "b"], (3, "c")]
    assert normalise_rows(mixed, [keep, keep]) == ((1, "a"), (2, "b"), (3, "c"))
    assert all(type(r) is tuple for r in normalise_rows(mixed, [keep, keep]))


def test_the_byte_bound_applied_with_the_statement_matches_bound_bytes() -> None:
    """``execute_within(max_bytes=...)`` cuts the result on the statement's worker exactly as
    ``bound_bytes`` does afterwards, and leaves the transposed columns with the result."""
    from sqlagent.db import connect
    from sqlagent.db.base import execute_within

    db = connect("duckdb:///:memory:")
    try:
        sql = "SELECT i, repeat('x', 100) AS pad FROM range(50) t(i) ORDER BY i"
        whole = db.execute(sql, max_rows=1000, timeout=10)
        for limit in (10_000, 4_999, 150):
            got = execute_within(db, sql, max_rows=1000, timeout=10, max_bytes=limit)
            want = bound_bytes(whole, limit)
            assert (got.rows, got.truncated) == (want.rows, want.truncated)
            if not got.truncated:  # computed once, where the rows were made
                assert "by_column" in got.__dict__ and got.by_column[0] == tuple(range(50))
        assert len(got.rows) == 1 and got.truncated
        with pytest.raises(ExecutionError, match="first row"):
            execute_within(db, sql, max_rows=1000, timeout=10, max_bytes=99)
    finally:
        db.close()


def _source_values_one_by_one(texts: list[str]) -> list[float]:
    """The numbers of ``texts`` found one match at a time (the general way)."""
    from sqlagent.answer.grounding import _SOURCE_NUMBER

    values = set()
    for text in texts:
        for m in _SOURCE_NUMBER.finditer(text.replace(",", "")):
            values.add(abs(float(m.group(0))))
    return sorted(values)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from(list("0123456789.,-+eE xk|")), max_size=60),
        max_size=4,
    )
)
def test_source_numbers_found_at_once_match_one_by_one(texts: list[str]) -> None:
    from sqlagent.answer.grounding import _source_values

    assert _source_values(texts) == _source_values_one_by_one(texts)


def test_a_sum_past_the_float_range_is_summarised_not_raised() -> None:
    big = 8.988465674311579e307
    result = QueryResult(("x",), ((big,), (big,), (-big,)), declared=(float,))
    # Exactly, the sum is ``big``; a running float sum overflows on the way.
    assert column_stats(result) == [f"x: numeric, min {-big!r}, max {big!r}, sum {big!r}"]
    over = QueryResult(("x",), ((big,), (big,), (big,)), declared=(float,))
    assert column_stats(over)[0].endswith("sum inf")
