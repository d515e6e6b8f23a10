"""Column profiles: what the data in each column looks like, measured cheaply.

Per column: the share of NULLs, the number of distinct values (approximate where an exact
count is expensive), the range of numbers and dates, and the most frequent values of
low-cardinality text. Every query goes through ``Database.execute`` (read-only, with a
timeout), reads at most ``sample_rows`` rows of a table, and is written with sqlglot for the
database's dialect. Profiling stops starting new tables once ``time_budget`` is spent.

    profiles = profile_schema(db, db.schema())
    profiles["transactions"].columns["amount"].summary()   # 'range 0.5 .. 4890.0'
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

    from ..db.base import Database
    from ..types import ColumnInfo, SchemaInfo, TableInfo

SAMPLE_ROWS = 100_000
"""Rows read of a table known (or suspected) to hold more than ``FULL_SCAN_ROWS``."""
FULL_SCAN_ROWS = 1_000_000
"""Tables with at most this many rows (per the catalog) are profiled whole: a sample of the
first rows would get the range of a date column wrong when rows arrive in date order."""
TOP_VALUES = 5
MAX_TOP_DISTINCT = 50
"""Text columns with at most this many distinct values (in the sample) get top values."""
COLUMNS_PER_QUERY = 40
"""Wide tables are profiled in several queries of this many columns."""

APPROX_DISTINCT_DIALECTS = frozenset(
    {"duckdb", "snowflake", "bigquery", "trino", "presto", "databricks", "spark", "redshift"}
)
"""Dialects with an approximate distinct count (HyperLogLog), which sqlglot spells for each."""

_NUMERIC = re.compile(r"INT|DEC|NUMERIC|NUMBER|REAL|FLOAT|DOUBLE|MONEY|SERIAL", re.IGNORECASE)
_TEMPORAL = re.compile(r"DATE|TIME", re.IGNORECASE)
_TEXT = re.compile(r"CHAR|TEXT|STRING|CLOB|ENUM|CITEXT", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnProfile:
    """What one column's data looks like (in the sample, unless said otherwise)."""

    name: str
    type: str
    null_fraction: float | None = None
    distinct: int | None = None
    distinct_approximate: bool = False
    """True when ``distinct`` is an estimate (HyperLogLog, or PostgreSQL's statistics)."""
    min: Any = None
    max: Any = None
    top_values: tuple[tuple[Any, int], ...] = ()
    """Most frequent values with their counts in the sample, for low-cardinality text."""

    def summary(self) -> str | None:
        """A short comment for the schema context: the range, and NULLs when common.

        >>> ColumnProfile("ts", "DATE", 0.0, min=_dt.date(2025, 1, 1),
        ...               max=_dt.date(2026, 6, 30)).summary()
        'range 2025-01-01 .. 2026-06-30'
        """
        parts = []
        if self.min is not None and self.max is not None:
            parts.append(f"range {_short(self.min)} .. {_short(self.max)}")
        if self.null_fraction is not None and self.null_fraction >= 0.5:
            parts.append(f"{self.null_fraction:.0%} NULL")
        return "; ".join(parts) or None


@dataclass(frozen=True)
class TableProfile:
    """The profile of one table; ``sampled`` when only ``sample_rows`` rows were read."""

    table: str
    row_count: int | None
    sample_rows: int
    sampled: bool
    columns: Mapping[str, ColumnProfile] = field(default_factory=lambda: MappingProxyType({}))
    """Column name → profile (columns whose query failed are missing)."""
    elapsed: float = 0.0


def _short(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def column_kind(column: ColumnInfo) -> str:
    """``numeric``, ``temporal``, ``text``, ``boolean`` or ``other``, from the type name."""
    name = column.type or ""
    if re.search(r"BOOL|\bBIT\b", name, re.IGNORECASE):
        return "boolean"
    if re.search(r"INTERVAL", name, re.IGNORECASE):
        return "other"  # durations: neither a number nor a point in time
    if _TEMPORAL.search(name):
        return "temporal"
    if _NUMERIC.search(name) and not re.search(r"\[\]|ARRAY|STRUCT|MAP", name, re.IGNORECASE):
        return "numeric"
    if _TEXT.search(name):
        return "text"
    return "other"


def profile_schema(
    db: Database,
    schema: SchemaInfo,
    *,
    time_budget: float = 30.0,
    sample_rows: int = SAMPLE_ROWS,
    full_scan_rows: int = FULL_SCAN_ROWS,
    timeout: float = 5.0,
    top_values: int = TOP_VALUES,
    tables: Sequence[str] | None = None,
) -> dict[str, TableProfile]:
    """Profiles of the tables of ``schema`` (or of those named in ``tables``), keyed by
    qualified name. Views are skipped; a table whose query fails or times out is left out;
    no new table is started after ``time_budget`` seconds.
    """
    wanted = {t.lower() for t in tables} if tables is not None else None
    started = time.perf_counter()
    pg_stats = _postgres_stats(db, timeout) if schema.dialect == "postgres" else {}
    out: dict[str, TableProfile] = {}
    for table in schema.tables:
        if table.kind != "table" or not table.columns:
            continue
        if wanted is not None and table.qualified_name.lower() not in wanted:
            continue
        if time.perf_counter() - started > time_budget:
            break
        try:
            out[table.qualified_name] = profile_table(
                db,
                table,
                schema.dialect,
                sample_rows=sample_rows,
                full_scan_rows=full_scan_rows,
                timeout=timeout,
                top_values=top_values,
                # The server's statistics describe every row: not for a row-filtered table.
                stats=None
                if table.row_filter is not None
                else pg_stats.get((table.schema or schema.default_schema or "", table.name)),
            )
        except Exception:  # a profile is a help: a table that cannot be read has none
            continue
    return out


def profile_table(
    db: Database,
    table: TableInfo,
    dialect: str,
    *,
    sample_rows: int = SAMPLE_ROWS,
    full_scan_rows: int = FULL_SCAN_ROWS,
    timeout: float = 5.0,
    top_values: int = TOP_VALUES,
    stats: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> TableProfile:
    """The profile of one table: read whole when the catalog says it holds at most
    ``full_scan_rows`` rows, else from a sample of ``sample_rows`` rows.

    ``stats`` (PostgreSQL's ``pg_stats``: column → (null_frac, n_distinct)) gives
    whole-table distinct counts where the sample would under-count.
    """
    started = time.perf_counter()
    approx = dialect in APPROX_DISTINCT_DIALECTS
    whole = table.row_count is not None and table.row_count <= full_scan_rows
    limit = None if whole else sample_rows
    columns = list(table.columns)
    counted = 0
    profiles: dict[str, ColumnProfile] = {}
    for start in range(0, len(columns), COLUMNS_PER_QUERY):
        chunk = columns[start : start + COLUMNS_PER_QUERY]
        sql = _aggregate_sql(table, chunk, dialect, limit, approx)
        row = db.execute(sql, max_rows=1, timeout=timeout).rows[0]
        counted = int(row[0] or 0)
        for i, col in enumerate(chunk):
            non_null, distinct, low, high = row[1 + 4 * i : 5 + 4 * i]
            null_fraction = 1 - int(non_null or 0) / counted if counted else None
            is_approx = approx
            n_distinct = int(distinct) if distinct is not None else None
            if stats and col.name in stats:
                _, pg_distinct = stats[col.name]
                estimate = _pg_distinct(pg_distinct, table.row_count)
                if estimate is not None:
                    n_distinct, is_approx = estimate, True
            profiles[col.name] = ColumnProfile(
                name=col.name,
                type=col.type,
                null_fraction=round(null_fraction, 4) if null_fraction is not None else None,
                distinct=n_distinct,
                distinct_approximate=is_approx,
                min=low,
                max=high,
            )
    for col in columns:
        prof = profiles.get(col.name)
        if (
            prof is None
            or column_kind(col) != "text"
            or prof.distinct is None
            or not 0 < prof.distinct <= MAX_TOP_DISTINCT
        ):
            continue
        try:
            rows = db.execute(
                _top_sql(table, col, dialect, limit, top_values),
                max_rows=top_values,
                timeout=timeout,
            ).rows
        except Exception:
            continue
        profiles[col.name] = _with_top(prof, tuple((v, int(n)) for v, n in rows))
    return TableProfile(
        table=table.qualified_name,
        row_count=table.row_count,
        sample_rows=counted,
        sampled=limit is not None and counted >= limit,
        columns=MappingProxyType(profiles),
        elapsed=time.perf_counter() - started,
    )


def _with_top(prof: ColumnProfile, top: tuple[tuple[Any, int], ...]) -> ColumnProfile:
    from dataclasses import replace

    return replace(prof, top_values=top)


def _pg_distinct(n_distinct: float | None, rows: int | None) -> int | None:
    """PostgreSQL's n_distinct: a count when positive, minus a fraction of rows when not."""
    if n_distinct is None or n_distinct == 0:
        return None
    if n_distinct > 0:
        return int(n_distinct)
    return round(-n_distinct * rows) if rows else None


def _sample(
    table: TableInfo, columns: Sequence[ColumnInfo], rows: int | None, dialect: str
) -> exp.Subquery:
    """The columns of the table (of its permitted rows), at most ``rows`` of them (all when
    None), as a subquery."""
    from sqlglot import exp

    select = exp.select(*(exp.column(c.name, quoted=True) for c in columns))
    inner = select.from_(table.source(dialect))
    return (inner.limit(rows) if rows is not None else inner).subquery("s")


def _aggregate_sql(
    table: TableInfo, columns: Sequence[ColumnInfo], dialect: str, rows: int | None, approx: bool
) -> str:
    """COUNT(*) and, per column, non-NULL count, distinct count, MIN and MAX (the last two
    only for numbers and dates: NULL otherwise), over a bounded sample."""
    from sqlglot import exp

    select: list[exp.Expression] = [exp.Count(this=exp.Star())]
    for col in columns:
        ref = exp.column(col.name, quoted=True)
        kind = column_kind(col)
        if kind == "other":
            # JSON, arrays, blobs: counting distinct values may not even be defined.
            distinct: exp.Expression = exp.Null()
        elif approx:
            distinct = exp.ApproxDistinct(this=ref.copy())
        else:
            distinct = exp.Count(this=exp.Distinct(expressions=[ref.copy()]))
        ranged = kind in ("numeric", "temporal")
        select += [
            exp.Count(this=ref.copy()),
            distinct,
            exp.Min(this=ref.copy()) if ranged else exp.Null(),
            exp.Max(this=ref.copy()) if ranged else exp.Null(),
        ]
    query = exp.select(*select).from_(_sample(table, columns, rows, dialect))
    return query.sql(dialect=dialect)


def _top_sql(table: TableInfo, column: ColumnInfo, dialect: str, rows: int | None, k: int) -> str:
    from sqlglot import exp

    ref = exp.column(column.name, quoted=True)
    query = (
        exp.select(ref.copy(), exp.Count(this=exp.Star()).as_("n"))
        .from_(_sample(table, [column], rows, dialect))
        .where(ref.copy().is_(exp.null()).not_())
        .group_by(ref.copy())
        .order_by(exp.Ordered(this=exp.column("n"), desc=True), ref.copy())
        .limit(k)
    )
    return query.sql(dialect=dialect)


def _postgres_stats(
    db: Database, timeout: float
) -> dict[tuple[str, str], dict[str, tuple[float | None, float | None]]]:
    """pg_stats of every analysed user table: (schema, table) → column → (null_frac,
    n_distinct). Empty when the view cannot be read."""
    sql = (
        "SELECT schemaname, tablename, attname, null_frac, n_distinct FROM pg_stats "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    try:
        rows = db.execute(sql, max_rows=1_000_000, timeout=timeout).rows
    except Exception:
        return {}
    out: dict[tuple[str, str], dict[str, tuple[float | None, float | None]]] = {}
    for schema, table, column, null_frac, n_distinct in rows:
        out.setdefault((schema, table), {})[column] = (
            float(null_frac) if null_frac is not None else None,
            float(n_distinct) if n_distinct is not None else None,
        )
    return out


# --------------------------------------------------------------------------- on disk


def _encode_value(value: Any) -> Any:
    """A profile value (a bound or a top value) as JSON, tagged with its type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else ["f", repr(value)]
    if isinstance(value, decimal.Decimal):
        return ["d", str(value)]
    if isinstance(value, _dt.datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, _dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, _dt.time):
        return ["t", value.isoformat()]
    return ["s", str(value)]


_DECODERS: dict[str, Any] = {
    "f": float,
    "d": decimal.Decimal,
    "dt": _dt.datetime.fromisoformat,
    "date": _dt.date.fromisoformat,
    "t": _dt.time.fromisoformat,
    "s": str,
}


def _decode_value(data: Any) -> Any:
    if isinstance(data, list):
        tag, text = data
        return _DECODERS[tag](text)
    return data


def profiles_to_data(profiles: Mapping[str, TableProfile]) -> list[Any]:
    """``profiles`` as JSON-able data (``profiles_from_data`` reads it back)."""
    return [
        {
            "table": p.table,
            "row_count": p.row_count,
            "sample_rows": p.sample_rows,
            "sampled": p.sampled,
            "elapsed": p.elapsed,
            "columns": [
                [
                    c.name,
                    c.type,
                    c.null_fraction,
                    c.distinct,
                    c.distinct_approximate,
                    _encode_value(c.min),
                    _encode_value(c.max),
                    [[_encode_value(v), n] for v, n in c.top_values],
                ]
                for c in p.columns.values()
            ],
        }
        for p in profiles.values()
    ]


def profiles_from_data(data: list[Any]) -> dict[str, TableProfile]:
    """The profiles ``profiles_to_data`` described, keyed by qualified table name."""
    out: dict[str, TableProfile] = {}
    for t in data:
        columns = {}
        for name, type_, nulls, distinct, approx, low, high, top in t["columns"]:
            columns[name] = ColumnProfile(
                name=name,
                type=type_,
                null_fraction=nulls,
                distinct=distinct,
                distinct_approximate=bool(approx),
                min=_decode_value(low),
                max=_decode_value(high),
                top_values=tuple((_decode_value(v), int(n)) for v, n in top),
            )
        out[t["table"]] = TableProfile(
            table=t["table"],
            row_count=t["row_count"],
            sample_rows=int(t["sample_rows"]),
            sampled=bool(t["sampled"]),
            columns=MappingProxyType(columns),
            elapsed=float(t["elapsed"]),
        )
    return out
