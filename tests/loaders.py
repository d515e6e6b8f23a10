"""Copy a DuckDB or SQLite database into PostgreSQL or MariaDB.

The end-to-end tests and the fidelity benchmark run the same questions on several engines; this
module makes the copies. A copy keeps tables, column types, primary keys and foreign keys:

    source = DuckSource(Path("sample_data/cards.duckdb"))
    report = load_postgres(source, "postgresql+psycopg://postgres@127.0.0.1:5432/scratch")
    report.rows["transactions"]        # 300000

Types: a DuckDB source keeps its types (DECIMAL, TIMESTAMP, DATE, BOOLEAN, ...). A SQLite
column gets the type that holds exactly what is stored in it: BIGINT when every value is an
integer, DOUBLE when every value is a number, text otherwise (SQLite stores by value, not by
declared type; a column declared ``int`` that holds ``''`` becomes text, as its values are).
Keys a SQLite file declares but its data breaks (duplicate or NULL primary keys, dangling or
type-mismatched foreign keys) are left out of the copy and listed in ``LoadReport.skipped``.

Loading is bulk: ``COPY FROM STDIN`` on PostgreSQL, multi-row ``INSERT`` batches on MariaDB.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

BATCH_ROWS = 5000
"""Rows per fetch from the source and per INSERT batch on MariaDB."""


@dataclass(frozen=True)
class Column:
    """A column of the source; ``type`` is spelt as DuckDB spells it (VARCHAR, DECIMAL(10,2))."""

    name: str
    type: str
    nullable: bool = True
    max_length: int = 0
    """Longest text value (characters), for engines that need a VARCHAR length."""


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


@dataclass
class LoadReport:
    """What a load did: rows per table, seconds, and keys left out (with the reason)."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


class Source(Protocol):
    """Tables in dependency order (referenced tables first) and their rows in batches."""

    tables: list[Table]
    skipped: list[str]

    def batches(self, table: Table) -> Iterator[list[tuple[Any, ...]]]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------- sources


class DuckSource:
    """A DuckDB file, read-only. ``where`` maps a table name to a SQL predicate that selects the
    rows to copy (a deterministic subset of a big table)."""

    def __init__(self, path: Path, *, where: Mapping[str, str] | None = None) -> None:
        import duckdb

        from sqlagent.db.duck import LOCKED_CONFIG

        # The configuration sqlagent's own connections use: DuckDB refuses a second
        # connection to the same file with another one while the first is still open.
        self._con = duckdb.connect(str(path), read_only=True, config=dict(LOCKED_CONFIG))
        self._where = dict(where or {})
        self.skipped: list[str] = []
        self.tables = _dependency_order(self._read_tables())

    def _read_tables(self) -> list[Table]:
        con = self._con
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        tables = []
        for name in names:
            cols = con.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
                [name],
            ).fetchall()
            lengths = self._text_lengths(name, [c[0] for c in cols if c[1] == "VARCHAR"])
            columns = tuple(Column(c[0], c[1], bool(c[2]), lengths.get(c[0], 0)) for c in cols)
            pk: tuple[str, ...] = ()
            fks: list[ForeignKey] = []
            for kind, cnames, ref_table, ref_cols in con.execute(
                "SELECT constraint_type, constraint_column_names, referenced_table, "
                "referenced_column_names FROM duckdb_constraints() "
                "WHERE schema_name = 'main' AND table_name = ? ORDER BY constraint_index",
                [name],
            ).fetchall():
                if kind == "PRIMARY KEY":
                    pk = tuple(cnames)
                elif kind == "FOREIGN KEY":
                    fks.append(ForeignKey(tuple(cnames), ref_table, tuple(ref_cols)))
            tables.append(Table(name, columns, pk, tuple(fks)))
        return tables

    def _text_lengths(self, table: str, columns: Sequence[str]) -> dict[str, int]:
        if not columns:
            return {}
        exprs = ", ".join(f"coalesce(max(length({_dq(c)})), 0)" for c in columns)
        row = self._con.execute(f"SELECT {exprs} FROM {_dq(table)}").fetchone() or ()
        return {c: int(v) for c, v in zip(columns, row, strict=True)}

    def batches(self, table: Table) -> Iterator[list[tuple[Any, ...]]]:
        where = self._where.get(table.name)
        cols = ", ".join(_dq(c.name) for c in table.columns)
        order = ", ".join(_dq(c) for c in table.primary_key) or "ALL"
        sql = f"SELECT {cols} FROM {_dq(table.name)}"
        if where:
            sql += f" WHERE {where}"
        cur = self._con.cursor()
        try:
            cur.execute(sql + f" ORDER BY {order}")
            while batch := cur.fetchmany(BATCH_ROWS):
                yield batch
        finally:
            cur.close()

    def close(self) -> None:
        self._con.close()


_AFFINITY_INT = re.compile("INT", re.IGNORECASE)
_AFFINITY_TEXT = re.compile("CHAR|CLOB|TEXT", re.IGNORECASE)
_AFFINITY_REAL = re.compile("REAL|FLOA|DOUB", re.IGNORECASE)


class SqliteSource:
    """A SQLite file, read-only; column types are inferred from the stored values."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        # As the Spider evaluator reads text: bytes that are not UTF-8 are dropped.
        self._con.text_factory = lambda b: b.decode(errors="ignore")
        self.skipped: list[str] = []
        self.tables = _dependency_order(self._valid_keys(self._read_tables()))

    def _read_tables(self) -> list[Table]:
        con = self._con
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = []
        for name in names:
            info = con.execute(f"PRAGMA table_info({_dq(name)})").fetchall()
            columns = tuple(
                self._column(name, cname, declared, notnull)
                for _, cname, declared, notnull, _, _ in info
            )
            pk = tuple(c[1] for c in sorted((c for c in info if c[5]), key=lambda c: c[5]))
            fk_rows = con.execute(f"PRAGMA foreign_key_list({_dq(name)})").fetchall()
            grouped: dict[int, list[tuple[Any, ...]]] = {}
            for row in fk_rows:
                grouped.setdefault(row[0], []).append(row)
            fks = tuple(
                ForeignKey(
                    tuple(r[3] for r in rows),
                    rows[0][2],
                    tuple(r[4] for r in rows if r[4] is not None),
                )
                for rows in grouped.values()
            )
            tables.append(Table(name, columns, pk, fks))
        return tables

    def _column(self, table: str, name: str, declared: str, notnull: int) -> Column:
        kinds = {
            r[0]
            for r in self._con.execute(
                f"SELECT DISTINCT typeof({_dq(name)}) FROM {_dq(table)}"
            ).fetchall()
        } - {"null"}
        if kinds == {"integer"}:
            type_ = "BIGINT"
        elif kinds and kinds <= {"integer", "real"}:
            type_ = "DOUBLE"
        elif kinds == {"blob"}:
            type_ = "BLOB"
        elif kinds:
            type_ = "VARCHAR"
        elif _AFFINITY_INT.search(declared or ""):  # no values: the declared affinity decides
            type_ = "BIGINT"
        elif _AFFINITY_REAL.search(declared or ""):
            type_ = "DOUBLE"
        else:
            type_ = "VARCHAR"
        length = 0
        if type_ == "VARCHAR":
            row = self._con.execute(
                f"SELECT coalesce(max(length(CAST({_dq(name)} AS TEXT))), 0) FROM {_dq(table)}"
            ).fetchone()
            length = int(row[0]) if row else 0
        return Column(name, type_, not notnull, length)

    def _valid_keys(self, tables: list[Table]) -> list[Table]:
        """Drop the keys the stored data breaks: other engines would refuse them."""
        by_name = {t.name.lower(): t for t in tables}
        out = []
        for table in tables:
            pk = table.primary_key
            if pk and not self._unique_not_null(table.name, pk):
                self.skipped.append(f"{table.name}: primary key {pk} has NULLs or duplicates")
                pk = ()
            out.append(Table(table.name, table.columns, pk, table.foreign_keys))
        by_name = {t.name.lower(): t for t in out}
        result = []
        for table in out:
            kept = []
            for fk in table.foreign_keys:
                why = self._fk_problem(table, fk, by_name)
                if why:
                    self.skipped.append(f"{table.name}: foreign key {fk.columns} {why}")
                else:
                    kept.append(fk)
            result.append(Table(table.name, table.columns, table.primary_key, tuple(kept)))
        return result

    def _unique_not_null(self, table: str, columns: Sequence[str]) -> bool:
        cols = ", ".join(_dq(c) for c in columns)
        nulls = " OR ".join(f"{_dq(c)} IS NULL" for c in columns)
        dup = self._con.execute(
            f"SELECT 1 FROM {_dq(table)} GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        null = self._con.execute(f"SELECT 1 FROM {_dq(table)} WHERE {nulls} LIMIT 1").fetchone()
        return dup is None and null is None

    def _fk_problem(self, table: Table, fk: ForeignKey, by_name: Mapping[str, Table]) -> str:
        ref = by_name.get(fk.ref_table.lower())
        if ref is None:
            return f"references a missing table {fk.ref_table}"
        ref_columns = fk.ref_columns or ref.primary_key
        if not ref.primary_key or [c.lower() for c in ref_columns] != [
            c.lower() for c in ref.primary_key
        ]:
            return f"references {ref.name}{ref_columns}, which is not its primary key"
        types = {c.name.lower(): c.type for c in table.columns}
        ref_types = {c.name.lower(): c.type for c in ref.columns}
        for mine, theirs in zip(fk.columns, ref_columns, strict=False):
            if types.get(mine.lower()) != ref_types.get(theirs.lower()):
                return f"joins {types.get(mine.lower())} to {ref_types.get(theirs.lower())}"
        on = " AND ".join(
            f"p.{_dq(r)} = c.{_dq(m)}" for m, r in zip(fk.columns, ref_columns, strict=False)
        )
        present = " AND ".join(f"c.{_dq(m)} IS NOT NULL" for m in fk.columns)
        dangling = self._con.execute(
            f"SELECT 1 FROM {_dq(table.name)} c WHERE {present} AND NOT EXISTS "
            f"(SELECT 1 FROM {_dq(ref.name)} p WHERE {on}) LIMIT 1"
        ).fetchone()
        if dangling:
            return f"has values missing from {ref.name}"
        return ""

    def batches(self, table: Table) -> Iterator[list[tuple[Any, ...]]]:
        casts = []
        for c in table.columns:
            # Casts give each value the storage class of the column's type, the way SQLite
            # itself renders it (CAST(1.0 AS TEXT) is '1.0').
            if c.type == "VARCHAR":
                casts.append(f"CAST({_dq(c.name)} AS TEXT)")
            elif c.type == "DOUBLE":
                casts.append(f"CAST({_dq(c.name)} AS REAL)")
            else:
                casts.append(_dq(c.name))
        cur = self._con.execute(f"SELECT {', '.join(casts)} FROM {_dq(table.name)}")
        while batch := cur.fetchmany(BATCH_ROWS):
            yield batch

    def close(self) -> None:
        self._con.close()


def _dependency_order(tables: list[Table]) -> list[Table]:
    """Referenced tables before the tables that reference them; a cycle keeps file order."""
    by_name = {t.name.lower(): t for t in tables}
    done: dict[str, Table] = {}
    visiting: set[str] = set()

    def visit(table: Table) -> None:
        key = table.name.lower()
        if key in done or key in visiting:
            return
        visiting.add(key)
        for fk in table.foreign_keys:
            parent = by_name.get(fk.ref_table.lower())
            if parent is not None and parent is not table:
                visit(parent)
        visiting.discard(key)
        done[key] = table

    for table in tables:
        visit(table)
    return list(done.values())


def _dq(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ---------------------------------------------------------------------- targets


def postgres_type(column: Column) -> str:
    """The PostgreSQL type for a source column (DuckDB spelling in)."""
    t = column.type.upper()
    simple = {
        "VARCHAR": "text",
        "DOUBLE": "double precision",
        "FLOAT": "real",
        "BLOB": "bytea",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP WITH TIME ZONE": "timestamptz",
        "TINYINT": "smallint",
        "HUGEINT": "numeric(38, 0)",
        "UBIGINT": "numeric(20, 0)",
        "UINTEGER": "bigint",
    }
    return simple.get(t, t.lower())


def mariadb_type(column: Column) -> str:
    """The MariaDB type for a source column; text gets a VARCHAR long enough for its values."""
    t = column.type.upper()
    if t == "VARCHAR":
        return "VARCHAR(255)" if column.max_length <= 255 else "TEXT"
    simple = {
        "INTEGER": "INT",
        "TIMESTAMP": "DATETIME(6)",
        "BLOB": "LONGBLOB",
        "HUGEINT": "DECIMAL(38, 0)",
        "UBIGINT": "BIGINT UNSIGNED",
        "UINTEGER": "INT UNSIGNED",
    }
    return simple.get(t, t)


def _names(name: str, lower: bool) -> str:
    return name.lower() if lower else name


def load_postgres(
    source: Source, url: str, *, schema: str | None = None, lower_names: bool = True
) -> LoadReport:
    """Create the source's tables in the PostgreSQL database ``url`` (a SQLAlchemy or libpq
    URL) and COPY their rows in. ``lower_names`` folds every name to lower case, so that
    unquoted names in queries (which PostgreSQL folds) find them."""
    import psycopg

    report = LoadReport(skipped=list(source.skipped))
    start = time.perf_counter()

    def q(name: str) -> str:
        return _dq(_names(name, lower_names))

    prefix = f"{_dq(schema)}." if schema else ""
    with psycopg.connect(_libpq_url(url), autocommit=True) as con:
        if schema:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_dq(schema)}")
        for table in source.tables:
            cols = [
                f"{q(c.name)} {postgres_type(c)}" + ("" if c.nullable else " NOT NULL")
                for c in table.columns
            ]
            if table.primary_key:
                cols.append(f"PRIMARY KEY ({', '.join(q(c) for c in table.primary_key)})")
            con.execute(f"CREATE TABLE {prefix}{q(table.name)} ({', '.join(cols)})")
            names = ", ".join(q(c.name) for c in table.columns)
            count = 0
            with (
                con.cursor() as cur,
                cur.copy(f"COPY {prefix}{q(table.name)} ({names}) FROM STDIN") as copy,
            ):
                for batch in source.batches(table):
                    for row in batch:
                        copy.write_row(row)
                    count += len(batch)
            report.rows[table.name] = count
        for table in source.tables:
            for i, fk in enumerate(table.foreign_keys):
                con.execute(
                    f"ALTER TABLE {prefix}{q(table.name)} ADD CONSTRAINT "
                    f"{q(f'{table.name}_fk{i}')} FOREIGN KEY "
                    f"({', '.join(q(c) for c in fk.columns)}) REFERENCES "
                    f"{prefix}{q(fk.ref_table)} ({', '.join(q(c) for c in fk.ref_columns)})"
                )
        # Statistics, as on a database in use: row counts in the schema come from them.
        con.execute("ANALYZE")
    report.seconds = time.perf_counter() - start
    return report


def load_mariadb(source: Source, url: str, *, batch_rows: int = BATCH_ROWS) -> LoadReport:
    """Create the source's tables in the MariaDB database ``url`` and insert their rows in
    multi-row batches (names keep their case; MariaDB compares column names without it)."""
    import pymysql

    report = LoadReport(skipped=list(source.skipped))
    start = time.perf_counter()
    con = pymysql.connect(**_mysql_args(url), autocommit=False, charset="utf8mb4")
    try:
        with con.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            for table in source.tables:
                cols = [
                    f"{_bq(c.name)} {mariadb_type(c)}" + ("" if c.nullable else " NOT NULL")
                    for c in table.columns
                ]
                if table.primary_key:
                    cols.append(f"PRIMARY KEY ({', '.join(_bq(c) for c in table.primary_key)})")
                cur.execute(
                    f"CREATE TABLE {_bq(table.name)} ({', '.join(cols)}) "
                    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
                )
                names = ", ".join(_bq(c.name) for c in table.columns)
                marks = ", ".join(["%s"] * len(table.columns))
                insert = f"INSERT INTO {_bq(table.name)} ({names}) VALUES ({marks})"
                count = 0
                pending: list[tuple[Any, ...]] = []
                for rows in source.batches(table):
                    pending.extend(rows)
                    if len(pending) >= batch_rows:
                        cur.executemany(insert, pending)
                        count += len(pending)
                        pending = []
                if pending:
                    cur.executemany(insert, pending)
                    count += len(pending)
                con.commit()
                report.rows[table.name] = count
            for table in source.tables:
                for i, fk in enumerate(table.foreign_keys):
                    cur.execute(
                        f"ALTER TABLE {_bq(table.name)} ADD CONSTRAINT "
                        f"{_bq(f'{table.name}_fk{i}')} FOREIGN KEY "
                        f"({', '.join(_bq(c) for c in fk.columns)}) REFERENCES "
                        f"{_bq(fk.ref_table)} ({', '.join(_bq(c) for c in fk.ref_columns)})"
                    )
            cur.execute("SET SESSION foreign_key_checks = 1, unique_checks = 1")
            con.commit()
    finally:
        con.close()
    report.seconds = time.perf_counter() - start
    return report


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) as a libpq URL."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def _mysql_args(url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "database": parsed.database,
    }
