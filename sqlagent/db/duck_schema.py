"""Schema introspection of a DuckDB database from its ``duckdb_*()`` catalog functions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from ..types import ColumnInfo, ForeignKey, SchemaInfo, TableInfo
from .base import SAMPLE_ROWS
from .files import quote_ident
from .samples import Runner, add_samples

if TYPE_CHECKING:
    import duckdb

DEFAULT_SCHEMA = "main"

_TABLES = """
SELECT schema_name, table_name, comment, estimated_size FROM duckdb_tables()
WHERE database_name = current_database() AND NOT internal AND NOT temporary
ORDER BY schema_name, table_name
"""
_VIEWS = """
SELECT schema_name, view_name, comment FROM duckdb_views()
WHERE database_name = current_database() AND NOT internal AND NOT temporary
ORDER BY schema_name, view_name
"""
_COLUMNS = """
SELECT schema_name, table_name, column_name, data_type, is_nullable, comment
FROM duckdb_columns()
WHERE database_name = current_database() AND NOT internal
ORDER BY schema_name, table_name, column_index
"""
_CONSTRAINTS = """
SELECT schema_name, table_name, constraint_type, constraint_column_names,
       referenced_table, referenced_column_names
FROM duckdb_constraints()
WHERE database_name = current_database()
  AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY schema_name, table_name, constraint_index
"""

TEXT_TYPES = ("VARCHAR", "ENUM")


def read_schema(con: duckdb.DuckDBPyConnection, run: Runner, *, sample_values: bool) -> SchemaInfo:
    """Every table and view of the current database, in four catalog queries (plus one
    bounded sampling query per table when ``sample_values``)."""
    columns: dict[tuple[str, str], list[ColumnInfo]] = defaultdict(list)
    for schema, table, name, dtype, nullable, comment in con.execute(_COLUMNS).fetchall():
        columns[(schema, table)].append(
            ColumnInfo(name=name, type=dtype, nullable=bool(nullable), comment=comment or None)
        )
    pks: dict[tuple[str, str], tuple[str, ...]] = {}
    fks: dict[tuple[str, str], list[ForeignKey]] = defaultdict(list)
    for schema, table, ctype, cols, ref_table, ref_cols in con.execute(_CONSTRAINTS).fetchall():
        if ctype == "PRIMARY KEY":
            pks[(schema, table)] = tuple(cols)
        else:
            fks[(schema, table)].append(
                ForeignKey(
                    columns=tuple(cols),
                    ref_table=ref_table,
                    ref_columns=tuple(ref_cols),
                    ref_schema=None if schema == DEFAULT_SCHEMA else schema,
                )
            )

    tables: list[TableInfo] = []
    for schema, name, comment, size in con.execute(_TABLES).fetchall():
        key = (schema, name)
        pk = pks.get(key, ())
        cols = tuple(replace(c, primary_key=c.name in pk) for c in columns.get(key, []))
        tables.append(
            TableInfo(
                name=name,
                columns=cols,
                schema=None if schema == DEFAULT_SCHEMA else schema,
                primary_key=pk,
                foreign_keys=tuple(fks.get(key, [])),
                comment=comment or None,
                row_count=int(size) if size is not None else None,
            )
        )
    for schema, name, comment in con.execute(_VIEWS).fetchall():
        tables.append(
            TableInfo(
                name=name,
                columns=tuple(columns.get((schema, name), [])),
                schema=None if schema == DEFAULT_SCHEMA else schema,
                comment=comment or None,
                kind="view",
            )
        )
    if sample_values:
        tables = add_samples(tables, run, _sample_sql, _is_text)
    return SchemaInfo(dialect="duckdb", tables=tuple(tables), default_schema=DEFAULT_SCHEMA)


def _is_text(column: ColumnInfo) -> bool:
    return column.type.upper().startswith(TEXT_TYPES)


def _sample_sql(table: TableInfo, columns: list[ColumnInfo]) -> str:
    source = quote_ident(table.name)
    if table.schema:
        source = f"{quote_ident(table.schema)}.{source}"
    select = ", ".join(quote_ident(c.name) for c in columns)
    return f"SELECT {select} FROM {source} LIMIT {SAMPLE_ROWS}"
