"""How long a result download takes to build, per format, and what the defusing costs.

A result of N rows (an id, a text that is sometimes formula-like, a negative number, a
decimal, a date) is written as CSV, Excel and Parquet; the CSV is also written without the
formula defusing (the cells as they are) to show its share. The terminal rendering of the
same rows (``sqlagent.cli.common.format_table``) is timed too. Medians of ``--repeat`` runs.

    python benchmarks/export_formats.py [--rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlagent.answer import export
from sqlagent.cli.common import format_table

COLUMNS = ["id", "label", "delta", "amount", "day"]
LABELS = ["Phoenix", '=HYPERLINK("https://x.example")', "-12.5", "@SUM(1)", "naïve café 中文"]


def _rows(n: int) -> list[tuple[Any, ...]]:
    day = dt.date(2025, 1, 1)
    return [(i, LABELS[i % len(LABELS)], -(i % 97) / 4, Decimal(i) / 100, day) for i in range(n)]


def _raw_csv(columns: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([export._csv_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = _rows(args.rows)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("CSV, cells as they are", lambda: _raw_csv(COLUMNS, rows)),
        ("CSV (defused)", lambda: export.to_csv_bytes(COLUMNS, rows)),
        ("Excel .xlsx (defused)", lambda: export.to_xlsx_bytes(COLUMNS, rows)),
        ("Parquet", lambda: export.to_parquet_bytes(COLUMNS, rows)),
        ("terminal table, first 50 rows", lambda: format_table(COLUMNS, rows)),
    ]
    print(f"{args.rows:,} rows x {len(COLUMNS)} columns, median of {args.repeat} runs\n")
    print("| what | seconds | bytes |")
    print("| --- | --- | --- |")
    for name, fn in cases:
        seconds = _median(fn, args.repeat)
        out = fn()
        size = len(out) if isinstance(out, (bytes, str)) else 0
        print(f"| {name} | {seconds:.3f} | {size:,} |")


if __name__ == "__main__":
    main()
