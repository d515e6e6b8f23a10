"""Pick sample values of low-cardinality text columns from a bounded sample of rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..types import ColumnInfo, TableInfo
from .base import (
    SAMPLE_BUDGET,
    SAMPLE_MAX_DISTINCT,
    SAMPLE_MAX_LENGTH,
    SAMPLE_ROWS,
    SAMPLE_TIMEOUT,
    SAMPLES_PER_COLUMN,
    Stopwatch,
)


def pick_samples(
    rows: Sequence[Sequence[Any]],
    width: int,
    *,
    per_column: int = SAMPLES_PER_COLUMN,
    max_distinct: int = SAMPLE_MAX_DISTINCT,
    max_length: int = SAMPLE_MAX_LENGTH,
) -> list[tuple[str, ...]]:
    """For each of ``width`` columns: its most frequent values (ties in first-seen order), or
    ``()`` when the column has more than ``max_distinct`` distinct values or long values.

    >>> pick_samples([("a",), ("b",), ("b",), (None,)], 1)
    [('b', 'a')]
    """
    out: list[tuple[str, ...]] = []
    for i in range(width):
        counts: Counter[str] = Counter()
        usable = True
        for row in rows:
            value = row[i]
            if value is None:
                continue
            text = value if isinstance(value, str) else str(value)
            if len(text) > max_length:
                usable = False
                break
            counts[text] += 1
            if len(counts) > max_distinct:
                usable = False
                break
        if not usable or not counts:
            out.append(())
        else:
            out.append(tuple(v for v, _ in counts.most_common(per_column)))
    return out


Runner = Callable[[str, int, float], Sequence[Sequence[Any]]]
"""Runs one SELECT with a row bound and a timeout: ``run(sql, max_rows, timeout)``."""


def add_samples(
    tables: Sequence[TableInfo],
    run: Runner,
    sample_sql: Callable[[TableInfo, list[ColumnInfo]], str],
    is_text: Callable[[ColumnInfo], bool],
) -> list[TableInfo]:
    """``tables`` with sample values on their text columns.

    One query per table reads at most ``SAMPLE_ROWS`` rows of its text columns
    (``sample_sql`` writes it); views are not sampled, since a view can be arbitrarily
    expensive. Sampling stops once ``SAMPLE_BUDGET`` seconds are spent, so a large schema
    cannot stall start-up.
    """
    clock = Stopwatch()
    out: list[TableInfo] = []
    for table in tables:
        text_cols = [c for c in table.columns if is_text(c)]
        if table.kind != "table" or not text_cols or clock.elapsed > SAMPLE_BUDGET:
            out.append(table)
            continue
        try:
            rows = run(sample_sql(table, text_cols), SAMPLE_ROWS, SAMPLE_TIMEOUT)
        except Exception:  # samples are a nicety: a failure leaves the table without them
            out.append(table)
            continue
        picked = dict(
            zip((c.name for c in text_cols), pick_samples(rows, len(text_cols)), strict=True)
        )
        cols = tuple(
            replace(c, samples=picked[c.name]) if picked.get(c.name) else c for c in table.columns
        )
        out.append(replace(table, columns=cols))
    return out
