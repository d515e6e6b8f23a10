"""Schema introspection through SQLAlchemy's bulk reflection.

Per schema: one call each for table names, columns, primary keys, foreign keys and comments
(``Inspector.get_multi_*``), never one round trip per table; then row counts (catalog
estimates, exact counts in batches where estimates are missing) and bounded sample values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..types import ColumnInfo, ForeignKey, SchemaInfo, TableInfo
from .base import COUNT_TIMEOUT, SAMPLE_ROWS
from .mysql_schema import reflect_mysql
from .samples import Runner, add_samples

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Inspector

SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast"})
"""Never listed, whatever the backend reports."""

MULTI_SCHEMA_BACKENDS = frozenset({"postgresql", "redshift", "cockroachdb"})
"""Backends where every user schema is read; elsewhere only the default schema is."""

COUNT_BATCH = 50
"""Tables per exact-count query (one UNION ALL)."""

EXACT_COUNT_BELOW = 100_000
"""MySQL estimates below this are replaced by an exact count (InnoDB's are rough)."""

PG_EXACT_COUNT_BYTES = 64 * 1024 * 1024
"""A never-analysed PostgreSQL table smaller than this is counted exactly."""

Key = tuple[str | None, str]


def read_schema(
    engine: sa.Engine, run: Runner, *, backend: str, dialect: str, sample_values: bool
) -> SchemaInfo:
    """Every table and view the connection can see (see the module docstring)."""
    import sqlalchemy as sa

    estimates: dict[str, int | None] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        default = inspector.default_schema_name
        tables: list[TableInfo] = []
        if backend in ("mysql", "mariadb"):
            tables, estimates = reflect_mysql(conn)
        else:
            for schema in _schemas(inspector, backend, default):
                tables.extend(_reflect(inspector, None if schema == default else schema))
        conn.rollback()
    tables = _with_row_counts(engine, run, backend, tables, estimates)
    if sample_values:
        tables = add_samples(tables, run, _sample_sql(engine.dialect), _is_text)
    return SchemaInfo(dialect=dialect, tables=tuple(tables), default_schema=default)


def _schemas(inspector: Inspector, backend: str, default: str | None) -> list[str | None]:
    if backend not in MULTI_SCHEMA_BACKENDS:
        return [default]
    names = [
        s
        for s in inspector.get_schema_names()
        if s.lower() not in SYSTEM_SCHEMAS and not s.lower().startswith(("pg_temp", "pg_toast"))
    ]
    # The default schema first: its tables are the ones unqualified names reach.
    return sorted(names, key=lambda s: (s != default, s))


def _reflect(inspector: Inspector, schema: str | None) -> list[TableInfo]:
    from sqlalchemy.engine import ObjectKind

    table_names = set(inspector.get_table_names(schema=schema))
    columns = inspector.get_multi_columns(schema=schema, kind=ObjectKind.ANY)
    pks = inspector.get_multi_pk_constraint(schema=schema)
    fks = inspector.get_multi_foreign_keys(schema=schema)
    comments: dict[Any, Any] = {}
    if inspector.dialect.supports_comments:
        comments = inspector.get_multi_table_comment(schema=schema, kind=ObjectKind.ANY)
    out: list[TableInfo] = []
    for key in sorted(columns, key=lambda k: k[1]):
        _, name = key
        pk_info: dict[str, Any] = dict(pks.get(key) or {})
        pk = tuple(pk_info.get("constrained_columns") or ())
        cols = tuple(
            ColumnInfo(
                name=c["name"],
                type=_type_name(c["type"], inspector.dialect),
                nullable=bool(c.get("nullable", True)),
                primary_key=c["name"] in pk,
                comment=c.get("comment") or None,
            )
            for c in columns[key]
        )
        foreign = tuple(
            ForeignKey(
                columns=tuple(fk["constrained_columns"]),
                ref_table=fk["referred_table"],
                ref_columns=tuple(fk["referred_columns"]),
                ref_schema=fk.get("referred_schema") or None,
            )
            for fk in fks.get(key, [])
        )
        out.append(
            TableInfo(
                name=name,
                columns=cols,
                schema=schema,
                primary_key=pk,
                foreign_keys=foreign,
                comment=(comments.get(key) or {}).get("text") or None,
                kind="table" if name in table_names else "view",
            )
        )
    return out


def _type_name(type_: Any, dialect: sa.Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # some reflected types cannot be rendered: their class name will do
        return type(type_).__name__.upper()


def _is_text(column: ColumnInfo) -> bool:
    return bool(re.search(r"CHAR|TEXT|STRING|ENUM|CITEXT", column.type, re.IGNORECASE))


def _sample_sql(dialect: sa.Dialect) -> Any:
    import sqlalchemy as sa

    def build(table: TableInfo, columns: list[ColumnInfo]) -> str:
        stmt: Any = (
            sa.select(*(sa.column(c.name) for c in columns))
            .select_from(sa.table(table.name, schema=table.schema))
            .limit(SAMPLE_ROWS)
        )
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    return build


# ---------------------------------------------------------------------- row counts


def _with_row_counts(
    engine: sa.Engine,
    run: Runner,
    backend: str,
    tables: list[TableInfo],
    estimates: dict[str, int | None],
) -> list[TableInfo]:
    from dataclasses import replace

    counts: dict[Key, int] = {}
    try:
        if backend == "postgresql":
            counts = _postgres_counts(engine, run, tables)
        elif backend in ("mysql", "mariadb"):
            counts = _mysql_counts(engine.dialect, run, estimates)
        elif backend == "sqlite":
            counts = exact_counts(
                engine.dialect, run, [_key(t) for t in tables if t.kind == "table"]
            )
    except Exception:  # counts are context, not essentials: without them the schema still works
        counts = {}
    return [replace(t, row_count=counts.get(_key(t))) if t.kind == "table" else t for t in tables]


def _key(table: TableInfo) -> Key:
    return (table.schema, table.name)


def _postgres_counts(engine: sa.Engine, run: Runner, tables: list[TableInfo]) -> dict[Key, int]:
    with engine.connect() as conn:
        default = conn.exec_driver_sql("SELECT current_schema()").scalar()
        rows = conn.exec_driver_sql(
            "SELECT n.nspname, c.relname, c.reltuples, pg_relation_size(c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm', 'f')"
        ).fetchall()
        conn.rollback()
    wanted = {_key(t) for t in tables if t.kind == "table"}
    counts: dict[Key, int] = {}
    exact: list[Key] = []
    for schema, name, reltuples, size in rows:
        key: Key = (None if schema == default else schema, name)
        if key not in wanted:
            continue
        if reltuples is not None and reltuples >= 0:
            counts[key] = int(reltuples)
        elif (size or 0) < PG_EXACT_COUNT_BYTES:  # never analysed, and small enough to count
            exact.append(key)
    counts.update(exact_counts(engine.dialect, run, exact))
    return counts


def _mysql_counts(
    dialect: sa.Dialect, run: Runner, estimates: dict[str, int | None]
) -> dict[Key, int]:
    counts: dict[Key, int] = {}
    exact: list[Key] = []
    for name, estimate in estimates.items():
        if estimate is None or estimate < EXACT_COUNT_BELOW:
            exact.append((None, name))
        else:
            counts[(None, name)] = estimate
    counts.update(exact_counts(dialect, run, exact))
    return counts


def exact_counts(dialect: sa.Dialect, run: Runner, keys: Sequence[Key]) -> dict[Key, int]:
    """``count(*)`` of each table, ``COUNT_BATCH`` tables per query; a batch that fails or
    times out leaves its tables without a count."""
    counts: dict[Key, int] = {}
    for batch in _batches(keys, COUNT_BATCH):
        try:
            rows = run(_count_sql(dialect, batch), len(batch), COUNT_TIMEOUT)
        except Exception:
            continue
        for index, count in rows:
            counts[batch[int(index)]] = int(count)
    return counts


def _count_sql(dialect: sa.Dialect, keys: Sequence[Key]) -> str:
    import sqlalchemy as sa

    selects = [
        sa.select(sa.literal(i).label("k"), sa.func.count().label("n")).select_from(
            sa.table(name, schema=schema)
        )
        for i, (schema, name) in enumerate(keys)
    ]
    stmt: Any = selects[0] if len(selects) == 1 else sa.union_all(*selects)
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _batches(items: Sequence[Key], size: int) -> Iterable[list[Key]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
