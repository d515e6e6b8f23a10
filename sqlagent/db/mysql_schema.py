"""MySQL/MariaDB introspection from ``information_schema`` in three queries.

SQLAlchemy reflects MySQL one ``SHOW CREATE TABLE`` per table; on a server with hundreds of
tables across a network that is hundreds of round trips, so the catalog is read in bulk here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from ..types import ColumnInfo, ForeignKey, TableInfo

if TYPE_CHECKING:
    import sqlalchemy as sa

_TABLES = """
SELECT table_name, table_type, table_comment, table_rows
FROM information_schema.tables WHERE table_schema = DATABASE()
ORDER BY table_name
"""
_COLUMNS = """
SELECT table_name, column_name, column_type, is_nullable, column_comment
FROM information_schema.columns WHERE table_schema = DATABASE()
ORDER BY table_name, ordinal_position
"""
_KEYS = """
SELECT k.table_name, k.constraint_name, c.constraint_type, k.column_name,
       k.referenced_table_schema, k.referenced_table_name, k.referenced_column_name
FROM information_schema.key_column_usage k
JOIN information_schema.table_constraints c
  ON c.constraint_schema = k.constraint_schema AND c.table_name = k.table_name
 AND c.constraint_name = k.constraint_name
WHERE k.table_schema = DATABASE() AND c.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY k.table_name, k.constraint_name, k.ordinal_position
"""


def reflect_mysql(conn: sa.Connection) -> tuple[list[TableInfo], dict[str, int | None]]:
    """The tables and views of the current database, and InnoDB's row estimates by table."""
    columns: dict[str, list[tuple[str, str, bool, str | None]]] = defaultdict(list)
    for table, name, ctype, nullable, comment in conn.exec_driver_sql(_COLUMNS).fetchall():
        columns[table].append((name, _text(ctype), nullable == "YES", comment or None))

    pks: dict[str, list[str]] = defaultdict(list)
    fk_parts: dict[tuple[str, str], list[tuple[str, str | None, str, str]]] = defaultdict(list)
    for table, cname, ctype, column, ref_schema, ref_table, ref_col in conn.exec_driver_sql(
        _KEYS
    ).fetchall():
        if ctype == "PRIMARY KEY":
            pks[table].append(column)
        elif ref_table is not None:
            fk_parts[(table, cname)].append((column, ref_schema, ref_table, ref_col))
    fks: dict[str, list[ForeignKey]] = defaultdict(list)
    for (table, _), parts in fk_parts.items():
        fks[table].append(
            ForeignKey(
                columns=tuple(p[0] for p in parts),
                ref_table=parts[0][2],
                ref_columns=tuple(p[3] for p in parts),
            )
        )

    tables: list[TableInfo] = []
    estimates: dict[str, int | None] = {}
    for name, ttype, comment, rows in conn.exec_driver_sql(_TABLES).fetchall():
        is_view = ttype == "VIEW"
        pk = tuple(pks.get(name, ()))
        tables.append(
            TableInfo(
                name=name,
                columns=tuple(
                    ColumnInfo(n, t, nullable=nl, primary_key=n in pk, comment=c)
                    for n, t, nl, c in columns.get(name, [])
                ),
                primary_key=pk,
                foreign_keys=tuple(fks.get(name, [])),
                # MySQL puts "VIEW" in the comment of every view: that is no comment.
                comment=None if is_view or not comment else comment,
                kind="view" if is_view else "table",
            )
        )
        if not is_view:
            estimates[name] = None if rows is None else int(rows)
    return tables, estimates


def _text(value: object) -> str:
    # information_schema returns some columns as bytes on older servers/drivers
    return value.decode() if isinstance(value, bytes) else str(value)
