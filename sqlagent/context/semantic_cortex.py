"""Snowflake Cortex Analyst semantic model YAML read into table notes, named expressions and
verified examples.

Each logical table maps to its ``base_table.table``. Dimensions, time dimensions and facts
that are plain columns give column notes (descriptions, synonyms, the logical name when it
differs); computed ones become named dimensions. Facts with a ``default_aggregation``
(the older ``measures``) and ``metrics`` become measures and metrics, ``filters`` become
named filters, and ``verified_queries`` become verified examples, their ``__logical`` table
names replaced by the physical ones. Logical names used inside an expression are replaced
by the expressions they stand for.
"""

from __future__ import annotations

import re
from typing import Any

from .knowledge import NamedExpression, VerifiedExample
from .semantic_model import LineDict, LineList, Reader, clean_text, text_list

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_AGGS = {
    "sum": "SUM({x})",
    "avg": "AVG({x})",
    "average": "AVG({x})",
    "min": "MIN({x})",
    "max": "MAX({x})",
    "median": "MEDIAN({x})",
    "count": "COUNT({x})",
    "count_distinct": "COUNT(DISTINCT {x})",
}
_COLUMN_LISTS = ("dimensions", "time_dimensions", "facts", "measures", "columns")
_TOP_IGNORED = {"name", "description", "tables", "verified_queries"}
_TABLE_KNOWN = {
    "name", "description", "synonyms", "base_table", "primary_key", "filters", "metrics",
    *_COLUMN_LISTS,
}  # fmt: skip


def read_cortex(data: LineDict, reader: Reader) -> None:
    """Read one Cortex Analyst semantic model."""
    for key in data:
        if key in _TOP_IGNORED:
            continue
        reason = {
            "relationships": "joins are taken from the database's foreign keys",
            "custom_instructions": "custom instructions are not used",
            "module_custom_instructions": "custom instructions are not used",
        }.get(str(key), "not part of the Cortex Analyst semantic model format")
        reader.skip(data.line_of(key), str(key), reason)
    logical: dict[str, str] = {}
    tables = data.get("tables")
    for item, line in _entries(tables):
        name = _table(item, line, reader)
        if name is not None:
            logical[str(item["name"]).lower()] = name
    for item, line in _entries(data.get("verified_queries")):
        _verified(item, line, reader, logical)


def _entries(value: Any) -> list[tuple[Any, int]]:
    if isinstance(value, LineList):
        return list(zip(value, value.item_lines, strict=True))
    return []


def _table(item: Any, line: int, reader: Reader) -> str | None:
    if not isinstance(item, LineDict) or not isinstance(item.get("name"), str):
        reader.skip(line, "table", "must be a mapping with a name")
        return None
    logical = item["name"]
    base = item.get("base_table")
    physical = base.get("table") if isinstance(base, dict) else None
    if not isinstance(physical, str) or not physical.strip():
        reader.skip(item.line_of("base_table"), f"table {logical}", "has no base_table.table")
        return None
    physical = physical.strip()
    draft = reader.table(physical, line)
    draft.describe(clean_text(item.get("description")))
    synonyms = list(text_list(item.get("synonyms")))
    if logical.lower() != physical.lower():
        synonyms.append(logical)
    draft.add_synonyms(synonyms)
    for key in item:
        if key not in _TABLE_KNOWN:
            reader.skip(item.line_of(key), f"{key} of table {logical}", "not a known table field")

    # Logical names of computed columns, replaced by their expressions wherever used.
    names: dict[str, str] = {}
    for key in _COLUMN_LISTS:
        for col, _cline in _entries(item.get(key)):
            if isinstance(col, LineDict) and isinstance(col.get("name"), str):
                expr = str(col.get("expr") or col["name"]).strip()
                if expr.lower() != col["name"].lower():
                    names[col["name"].lower()] = expr

    def expand(sql: str) -> str:
        return _substitute(sql, names)

    for key in _COLUMN_LISTS:
        for col, cline in _entries(item.get(key)):
            _column(col, cline, key, physical, reader)
    for met, mline in _entries(item.get("metrics")):
        if not _named(met, mline, "metric", physical, reader):
            continue
        reader.expressions.append(
            NamedExpression(
                name=met["name"],
                kind="metric",
                table=physical,
                sql=expand(str(met["expr"]).strip()),
                filter=_metric_filter(met, expand),
                description=clean_text(met.get("description")),
                synonyms=text_list(met.get("synonyms")),
                tables=(physical,),
                origin=reader.at(mline),
            )
        )
    for flt, fline in _entries(item.get("filters")):
        if not _named(flt, fline, "filter", physical, reader):
            continue
        reader.expressions.append(
            NamedExpression(
                name=flt["name"],
                kind="filter",
                table=physical,
                sql=expand(str(flt["expr"]).strip()),
                description=clean_text(flt.get("description")),
                synonyms=text_list(flt.get("synonyms")),
                tables=(physical,),
                origin=reader.at(fline),
            )
        )
    return physical


def _named(item: Any, line: int, what: str, table: str, reader: Reader) -> bool:
    if not isinstance(item, LineDict) or not isinstance(item.get("name"), str):
        reader.skip(line, f"{what} of {table}", "must be a mapping with a name")
        return False
    if not isinstance(item.get("expr"), (str, int, float)) or not str(item["expr"]).strip():
        reader.skip(line, f"{what} {item['name']}", "has no expr")
        return False
    return True


def _metric_filter(item: LineDict, expand: Any) -> str | None:
    value = item.get("filter")
    if isinstance(value, dict) and isinstance(value.get("expr"), str):
        return str(expand(value["expr"].strip()))
    return None


def _column(col: Any, line: int, key: str, table: str, reader: Reader) -> None:
    if not isinstance(col, LineDict) or not isinstance(col.get("name"), str):
        reader.skip(line, f"{key} entry of {table}", "must be a mapping with a name")
        return
    name = col["name"]
    expr = str(col.get("expr") or name).strip()
    description = clean_text(col.get("description"))
    synonyms = list(text_list(col.get("synonyms")))
    agg = str(col.get("default_aggregation") or "").lower()
    if agg:
        if agg not in _AGGS:
            reader.skip(
                col.line_of("default_aggregation"),
                f"measure {name}",
                f"aggregation {agg!r} is unknown",
            )
        else:
            reader.expressions.append(
                NamedExpression(
                    name=name,
                    kind="measure",
                    table=table,
                    sql=_AGGS[agg].format(x=expr),
                    description=description,
                    synonyms=tuple(synonyms),
                    tables=(table,),
                    origin=reader.at(line),
                )
            )
    if _IDENT.match(expr):
        if name.lower() != expr.lower():
            synonyms.append(name.replace("_", " "))
        reader.table(table).column(expr, description, synonyms)
    elif not agg:
        reader.expressions.append(
            NamedExpression(
                name=name,
                kind="dimension",
                table=table,
                sql=expr,
                description=description,
                synonyms=tuple(synonyms),
                tables=(table,),
                origin=reader.at(line),
            )
        )


def _verified(item: Any, line: int, reader: Reader, logical: dict[str, str]) -> None:
    if not isinstance(item, LineDict):
        reader.skip(line, "verified query", "must be a mapping with question and sql")
        return
    question = clean_text(item.get("question"))
    sql = item.get("sql")
    what = f"verified query {item.get('name') or question or line}"
    if not question or not isinstance(sql, str) or not sql.strip():
        reader.skip(line, what, "needs a question and sql")
        return
    unknown: list[str] = []

    def physical(found: re.Match[str]) -> str:
        name = found.group(1).lower()
        if name in logical:
            return logical[name]
        unknown.append(found.group(1))
        return found.group(0)

    text = re.sub(r"(?<![\w.])__(\w+)\b", physical, sql.strip())
    if unknown:
        reader.skip(
            item.line_of("sql"),
            what,
            f"its SQL names {', '.join('__' + u for u in unknown)}, which no table defines",
        )
        return
    reader.verified.append(VerifiedExample(question, text))
    reader.verified_origins.append(reader.at(line))


def _substitute(sql: str, names: dict[str, str]) -> str:
    """``sql`` with each logical name (a bare word, not a function call, not quoted and not
    after a dot) replaced by its parenthesised expression."""
    if not names:
        return sql
    pattern = re.compile(
        r"(?<![\w.'\"])(" + "|".join(re.escape(n) for n in names) + r")(?![\w'\"])(?!\s*\()",
        re.IGNORECASE,
    )

    def expression(found: re.Match[str]) -> str:
        expr = names[found.group(1).lower()]
        return expr if _IDENT.match(expr) else f"({expr})"

    return pattern.sub(expression, sql)
