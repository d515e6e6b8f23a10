"""CSV and Parquet downloads: the same values, normalised the same way, in both formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sqlagent.answer.export import file_stem, to_csv_bytes, to_parquet_bytes, unique_names


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


# value, CSV text, Parquet type, value read back from Parquet
CELLS: list[tuple[str, Any, str, pa.DataType, Any]] = [
    ("int", 42, "42", pa.int64(), 42),
    ("negative", -7, "-7", pa.int64(), -7),
    ("float", 2.5, "2.5", pa.float64(), 2.5),
    ("integral float", 3.0, "3", pa.float64(), 3.0),
    ("nan", float("nan"), "", pa.float64(), None),
    ("infinity", float("inf"), "", pa.float64(), None),
    (
        "decimal",
        Decimal("1234567890.12"),
        "1234567890.12",
        pa.decimal128(12, 2),
        Decimal("1234567890.12"),
    ),
    ("date", dt.date(2025, 1, 31), "2025-01-31", pa.date32(), dt.date(2025, 1, 31)),
    (
        "timestamp",
        dt.datetime(2025, 1, 31, 8, 5, 0),
        "2025-01-31T08:05:00",
        pa.timestamp("us"),
        dt.datetime(2025, 1, 31, 8, 5, 0),
    ),
    ("bool", True, "true", pa.bool_(), True),
    ("text", 'Café, "quoted"\nline', 'Café, "quoted"\nline', pa.string(), 'Café, "quoted"\nline'),
    ("null", None, "", pa.null(), None),
    ("json", {"k": [1, 2]}, '{"k": [1, 2]}', pa.string(), '{"k": [1, 2]}'),
    ("huge int", 2**70, str(2**70), pa.string(), str(2**70)),
    (
        "uuid",
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "12345678-1234-5678-1234-567812345678",
        pa.string(),
        "12345678-1234-5678-1234-567812345678",
    ),
]


@pytest.mark.parametrize(
    ("value", "text", "arrow_type", "back"), [c[1:] for c in CELLS], ids=[c[0] for c in CELLS]
)
def test_one_value_in_both_formats(
    value: Any, text: str, arrow_type: pa.DataType, back: Any
) -> None:
    assert read_csv(to_csv_bytes(["v"], [(value,)])) == [["v"], [text]]
    table = read_parquet(to_parquet_bytes(["v"], [(value,)]))
    assert table.schema.field("v").type == arrow_type
    assert table.column("v").to_pylist() == [back]


def test_mixed_column_becomes_text_in_parquet_like_csv() -> None:
    rows = [(1,), ("two",), (None,), (dt.date(2025, 1, 1),)]
    table = read_parquet(to_parquet_bytes(["v"], rows))
    assert table.schema.field("v").type == pa.string()
    assert table.column("v").to_pylist() == ["1", "two", None, "2025-01-01"]
    assert [r[0] for r in read_csv(to_csv_bytes(["v"], rows))[1:]] == ["1", "two", "", "2025-01-01"]


def test_column_names_are_made_unique_alike() -> None:
    columns = ["id", "name", "ID", ""]
    rows = [(1, "a", 2, "x")]
    assert unique_names(columns) == ["id", "name", "ID_2", "column_4"]
    assert read_csv(to_csv_bytes(columns, rows))[0] == ["id", "name", "ID_2", "column_4"]
    assert read_parquet(to_parquet_bytes(columns, rows)).column_names == [
        "id",
        "name",
        "ID_2",
        "column_4",
    ]


def test_empty_results() -> None:
    assert to_csv_bytes(["a", "b"], []) == b"a,b\r\n"
    table = read_parquet(to_parquet_bytes(["a", "b"], []))
    assert table.num_rows == 0 and table.column_names == ["a", "b"]
    assert read_parquet(to_parquet_bytes([], [])).num_columns == 0


def test_csv_is_utf8_with_a_header_and_crlf() -> None:
    data = to_csv_bytes(["city", "n"], [("Zürich", 1), ("Phoenix", None)])
    assert data == "city,n\r\nZürich,1\r\nPhoenix,\r\n".encode()


def test_a_real_result_exports_the_same_values_in_both_formats(sample_db: Any) -> None:
    """Every cell of a DuckDB result reads back equal from CSV and from Parquet."""
    result = sample_db.execute(
        "SELECT transaction_id, transaction_ts, CAST(transaction_ts AS DATE) AS day, amount, "
        "CAST(amount AS DECIMAL(12, 2)) AS exact, status, amount > 100 AS large "
        "FROM transactions ORDER BY transaction_id LIMIT 50",
        max_rows=100,
        timeout=30,
    )
    csv_rows = read_csv(to_csv_bytes(result.columns, result.rows))
    table = read_parquet(to_parquet_bytes(result.columns, result.rows))
    assert csv_rows[0] == list(result.columns) == table.column_names
    assert len(csv_rows) - 1 == table.num_rows == result.row_count == 50
    parquet_rows = table.to_pylist()
    for original, text_row, typed in zip(result.rows, csv_rows[1:], parquet_rows, strict=True):
        for name, value, text in zip(result.columns, original, text_row, strict=True):
            assert typed[name] == value, name  # Parquet keeps the type and the value
            # CSV holds the same value as text: it writes back identically from Parquet.
            assert to_csv_bytes([name], [(typed[name],)]).decode().split("\r\n")[1] == text


@pytest.mark.parametrize(
    ("question", "stem"),
    [
        ("How many merchants are in Phoenix?", "how-many-merchants-are-in-phoenix"),
        ("Ventes par catégorie — 2025 ?", "ventes-par-categorie-2025"),
        ("", "result"),
        ("???", "result"),
        ("word " * 40, "word-" * 11 + "word"),
    ],
)
def test_file_stem(question: str, stem: str) -> None:
    assert file_stem(question) == stem
