"""``sqlagent sql --out FILE``: the rows written as CSV, Excel or Parquet, formulas defused."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
from clirun import run_main as run

SQL = "SELECT v, n FROM t ORDER BY id"


@pytest.fixture()
def hostile_db(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER, v VARCHAR, n INTEGER)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [(1, '=HYPERLINK("https://attacker.example")', -5), (2, "-12.5", 7), (3, "plain", 0)],
    )
    con.close()
    return path


def test_out_csv(hostile_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    code, out, err = run("sql", SQL, "--db", str(hostile_db), "--out", str(target))
    assert code == 0, err
    assert "3 rows written to" in err
    assert "plain" in out  # the table is still printed
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert rows == [
        ["v", "n"],
        ['\'=HYPERLINK("https://attacker.example")', "-5"],
        ["-12.5", "7"],
        ["plain", "0"],
    ]


def test_out_xlsx_and_parquet(hostile_db: Path, tmp_path: Path) -> None:
    book_path, parquet_path = tmp_path / "rows.xlsx", tmp_path / "rows.parquet"
    assert run("sql", SQL, "--db", str(hostile_db), "--out", str(book_path), "--json")[0] == 0
    sheet = openpyxl.load_workbook(book_path).active
    cells = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows()]
    assert cells == [
        [("v", "s"), ("n", "s")],
        [('\'=HYPERLINK("https://attacker.example")', "s"), (-5, "n")],
        [("-12.5", "s"), (7, "n")],
        [("plain", "s"), (0, "n")],
    ]
    assert run("sql", SQL, "--db", str(hostile_db), "--out", str(parquet_path))[0] == 0
    # Parquet keeps values as they are: its readers evaluate nothing.
    assert pq.read_table(parquet_path).column("v").to_pylist()[0].startswith("=HYPERLINK")


def test_out_with_an_unknown_suffix_is_a_usage_error(hostile_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "rows.txt"
    code, out, err = run("sql", SQL, "--db", str(hostile_db), "--out", str(target))
    assert code == 2
    assert "error: Cannot tell the format of" in err and ".xlsx" in err
    assert not target.exists() and out == ""


def test_out_to_a_folder_that_does_not_exist(hostile_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "rows.csv"
    code, _, err = run("sql", SQL, "--db", str(hostile_db), "--out", str(target))
    assert code == 2
    assert err.startswith("error: Cannot write") and "Traceback" not in err
