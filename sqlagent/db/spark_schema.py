"""Schema introspection of Spark from ``SHOW TABLE EXTENDED``: one call per database.

``SHOW TABLE EXTENDED IN db LIKE '*'`` gives, for every table and view of a database, its
kind, comment, statistics (row count once ``ANALYZE``d) and its schema as a tree
(``|-- name: type (nullable = ...)``), which is parsed here into Spark type names
(``bigint``, ``array<string>``, ``struct<a:int,b:string>``). The tree carries no column
comments; they are read per table (``DESCRIBE TABLE ... AS JSON``) only while
``COMMENT_BUDGET`` lasts, so a catalog of thousands of tables costs one call per database.
Sample values come from ``SELECT ... LIMIT``: Spark reads partitions incrementally for a
limit, so a billion-row table is never scanned in full.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..types import ColumnInfo, SchemaInfo, TableInfo
from .base import SAMPLE_ROWS, Stopwatch
from .samples import Runner, add_samples

COMMENT_BUDGET = 5.0
"""Seconds spent reading column comments (one call per table) before giving up on them."""

_LEAF_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}
_LINE = re.compile(r"^(?P<prefix>[ |]*)\|-- (?P<body>.*)$")
_BODY = re.compile(
    r"^(?P<name>.*?): (?P<type>.*?)"
    r"(?: \((?:nullable|containsNull|valueContainsNull) = (?:true|false)\))?$"
)
_NULLABLE = re.compile(r"\(nullable = (true|false)\)$")
_STATS_ROWS = re.compile(r"^Statistics: .*?(\d+) rows", re.MULTILINE)
_TEXT_TYPES = ("string", "varchar", "char")

CatalogRows = Callable[[], Sequence[tuple[Any, ...]]]
"""Returns ``(database, table, information)`` of every table and view."""
Command = Callable[[str], Sequence[tuple[Any, ...]]]
"""Runs one catalog command (``DESCRIBE ...``) and returns its rows."""


@dataclass
class _Node:
    name: str
    type: str
    nullable: bool = True
    children: list[_Node] = field(default_factory=list)

    def sql_type(self) -> str:
        if self.type == "array" and self.children:
            return f"array<{self.children[0].sql_type()}>"
        if self.type == "map" and len(self.children) == 2:
            return f"map<{self.children[0].sql_type()},{self.children[1].sql_type()}>"
        if self.type == "struct":
            inner = ",".join(f"{_field_name(c.name)}:{c.sql_type()}" for c in self.children)
            return f"struct<{inner}>"
        return _LEAF_NAMES.get(self.type, self.type)


def _field_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"`{name}`"


def parse_tree(text: str) -> list[ColumnInfo]:
    """The columns of a ``StructType.treeString`` (the ``Schema:`` part of the output).

    >>> tree = " |-- id: long (nullable = false)\\n |-- tags: array (nullable = true)\\n"
    >>> tree += " |    |-- element: string (containsNull = true)\\n"
    >>> [(c.name, c.type, c.nullable) for c in parse_tree(tree)]
    [('id', 'bigint', False), ('tags', 'array<string>', True)]
    """
    top: list[_Node] = []
    stack: list[_Node] = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        depth = m.group("prefix").count("|")
        body = _BODY.match(m.group("body"))
        if body is None:
            raise ValueError(f"unreadable schema line: {line!r}")
        nullable = _NULLABLE.search(m.group("body"))
        is_nullable = nullable is None or nullable[1] == "true"
        node = _Node(body.group("name"), body.group("type").strip(), is_nullable)
        del stack[depth:]
        if depth == 0:
            top.append(node)
        elif stack:
            stack[-1].children.append(node)
        else:
            raise ValueError(f"schema line without a parent: {line!r}")
        stack.append(node)
    return [ColumnInfo(name=n.name, type=n.sql_type(), nullable=n.nullable) for n in top]


def _fields(info: str) -> tuple[dict[str, str], str]:
    """The ``Key: value`` lines of a table's information text, and its schema tree."""
    head, _, tree = info.partition("\nSchema: root\n")
    values: dict[str, str] = {}
    for line in head.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and key not in values:
            values[key] = value
    return values, tree


def read_schema(
    catalog_rows: CatalogRows,
    run: Runner,
    command: Command,
    *,
    current_database: str,
    sample_values: bool,
    comment_budget: float = COMMENT_BUDGET,
) -> SchemaInfo:
    """Every table and view the catalog listing names; tables of ``current_database`` get no
    schema (unqualified names resolve there)."""
    tables: list[TableInfo] = []
    for db, name, info in catalog_rows():
        values, tree = _fields(info or "")
        kind: Literal["table", "view"] = (
            "view" if values.get("Type", "").upper() == "VIEW" else "table"
        )
        stats = _STATS_ROWS.search(info or "")
        try:
            columns = tuple(parse_tree(tree))
        except ValueError:
            columns = ()
        tables.append(
            TableInfo(
                name=name,
                columns=columns,
                schema=None if db == current_database else db,
                comment=values.get("Comment") or None,
                row_count=int(stats.group(1)) if stats else None,
                kind=kind,
            )
        )
    tables = _with_comments(tables, command, current_database, comment_budget)
    if sample_values:
        tables = add_samples(tables, run, _sample_sql, _is_text)
    return SchemaInfo(dialect="spark", tables=tuple(tables), default_schema=current_database)


def _with_comments(
    tables: list[TableInfo], command: Command, current_database: str, budget: float
) -> list[TableInfo]:
    """Column comments (and exact columns for a tree that did not parse), per table, while
    ``budget`` lasts."""
    clock = Stopwatch()
    out: list[TableInfo] = []
    for table in tables:
        if clock.elapsed > budget:
            out.append(table)
            continue
        try:
            described = _describe(table, command, current_database)
        except Exception:  # comments are a nicety: the table keeps the tree's columns
            out.append(table)
            continue
        if not table.columns:
            out.append(replace(table, columns=described))
            continue
        comments = {c.name: c.comment for c in described if c.comment}
        cols = tuple(
            replace(c, comment=comments[c.name]) if c.name in comments else c for c in table.columns
        )
        out.append(replace(table, columns=cols))
    return out


def _describe(table: TableInfo, command: Command, current_database: str) -> tuple[ColumnInfo, ...]:
    source = _quote(table.schema or current_database) + "." + _quote(table.name)
    rows = command(f"DESCRIBE TABLE EXTENDED {source} AS JSON")
    data = json.loads(rows[0][0])
    return tuple(
        ColumnInfo(
            name=c["name"],
            type=_json_type(c["type"]),
            nullable=bool(c.get("nullable", True)),
            comment=c.get("comment") or None,
        )
        for c in data.get("columns", [])
    )


def _json_type(t: dict[str, Any]) -> str:
    name = str(t.get("name", ""))
    if name == "decimal":
        return f"decimal({t.get('precision')},{t.get('scale')})"
    if name in ("char", "varchar"):
        return f"{name}({t.get('length')})"
    if name == "array":
        return f"array<{_json_type(t['element_type'])}>"
    if name == "map":
        return f"map<{_json_type(t['key_type'])},{_json_type(t['value_type'])}>"
    if name == "struct":
        inner = ",".join(f"{_field_name(f['name'])}:{_json_type(f['type'])}" for f in t["fields"])
        return f"struct<{inner}>"
    return {"timestamp_ltz": "timestamp"}.get(name, name)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _is_text(column: ColumnInfo) -> bool:
    return column.type.lower().startswith(_TEXT_TYPES)


def _sample_sql(table: TableInfo, columns: list[ColumnInfo]) -> str:
    source = _quote(table.name)
    if table.schema:
        source = f"{_quote(table.schema)}.{source}"
    select = ", ".join(_quote(c.name) for c in columns)
    return f"SELECT {select} FROM {source} LIMIT {SAMPLE_ROWS}"
