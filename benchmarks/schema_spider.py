"""Schema context quality on the Spider dev subset: linking recall and value retrieval.

    .venv/bin/python benchmarks/schema_spider.py [--budget 1500] [--pooled-budget 1500]

Schema-linking recall: for each question, the share of the tables and columns its gold SQL
uses (extracted with sqlglot, qualified against the schema) that the pruned context shows.
Measured per database (each question against its own database) and pooled (all databases
as one catalog, one schema per database, each question against the whole pool).

Value retrieval: for the string literals of gold SQL that occur in the database, the share
the value index finds from the words of the question, in the right column.

The subset is read from ../shared/datasets/spider-dev-subset beside the repository, or from
$SQLAGENT_SPIDER_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlagent.context import build_context, estimate_tokens  # noqa: E402
from sqlagent.context.valueindex import ValueIndex, ValueMatch, is_text_column  # noqa: E402
from sqlagent.types import ColumnInfo, ForeignKey, SchemaInfo, TableInfo  # noqa: E402


def spider_dir() -> Path:
    """$SQLAGENT_SPIDER_DIR, else ../shared/datasets/spider-dev-subset beside the repo."""
    env = os.environ.get("SQLAGENT_SPIDER_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets" / "spider-dev-subset"


@dataclass(frozen=True)
class Item:
    db_id: str
    question: str
    sql: str


def load_items(root: Path) -> list[Item]:
    data = json.loads((root / "dev.json").read_text(encoding="utf-8"))
    return [Item(d["db_id"], d["question"], d["query"]) for d in data]


# --------------------------------------------------------------------------- schemas


def sqlite_path(root: Path, db_id: str) -> Path:
    return root / "database" / db_id / f"{db_id}.sqlite"


def read_sqlite_schema(path: Path, *, samples: bool = True) -> SchemaInfo:
    """A ``SchemaInfo`` from a SQLite file with the stdlib driver (PRAGMA introspection),
    with up to 5 sample values for low-cardinality text columns, like the database layer."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = []
        for name in names:
            q = '"' + name.replace('"', '""') + '"'
            info = con.execute(f"PRAGMA table_info({q})").fetchall()
            pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            fks: dict[int, list[tuple[str, str, str]]] = {}
            for r in con.execute(f"PRAGMA foreign_key_list({q})").fetchall():
                fks.setdefault(r[0], []).append((r[2], r[3], r[4]))
            foreign = tuple(
                ForeignKey(
                    tuple(c for _, c, _ in parts),
                    parts[0][0],
                    tuple(rc or "" for _, _, rc in parts),
                )
                for parts in fks.values()
            )
            cols = []
            for r in info:
                col = ColumnInfo(r[1], r[2] or "TEXT", not r[3], r[1] in pk)
                if samples and is_text_column(col):
                    cols.append(replace(col, samples=_samples(con, q, r[1])))
                else:
                    cols.append(col)
            count = con.execute(f"SELECT COUNT(*) FROM {q}").fetchone()[0]
            tables.append(TableInfo(name, tuple(cols), None, pk, foreign, row_count=count))
        return SchemaInfo("sqlite", tuple(tables))
    finally:
        con.close()


def _samples(con: sqlite3.Connection, table: str, column: str) -> tuple[str, ...]:
    c = '"' + column.replace('"', '""') + '"'
    rows = con.execute(
        f"SELECT {c}, COUNT(*) FROM (SELECT {c} FROM {table} LIMIT 10000) "
        f"WHERE {c} IS NOT NULL GROUP BY {c} ORDER BY 2 DESC LIMIT 51"
    ).fetchall()
    if len(rows) > 50 or any(len(str(v)) > 80 for v, _ in rows):
        return ()
    return tuple(str(v) for v, _ in rows[:5])


def pooled_schema(schemas: dict[str, SchemaInfo]) -> SchemaInfo:
    """All databases as one catalog: each database's tables in a schema named after it."""
    tables = []
    for db_id, schema in schemas.items():
        for t in schema.tables:
            fks = tuple(replace(fk, ref_schema=db_id) for fk in t.foreign_keys)
            tables.append(replace(t, schema=db_id, foreign_keys=fks))
    return SchemaInfo("sqlite", tuple(tables))


def database_values(path: Path, qualifier: str | None = None) -> Iterator[tuple[str, str, str]]:
    """(table, column, value) for every distinct short value of every text column."""
    schema = read_sqlite_schema(path, samples=False)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        for t in schema.tables:
            q = '"' + t.name.replace('"', '""') + '"'
            name = f"{qualifier}.{t.name}" if qualifier else t.name
            for col in t.columns:
                if not is_text_column(col):
                    continue
                c = '"' + col.name.replace('"', '""') + '"'
                for (v,) in con.execute(f"SELECT DISTINCT {c} FROM {q} WHERE {c} IS NOT NULL"):
                    yield name, col.name, str(v)
    finally:
        con.close()


# --------------------------------------------------------------------------- gold SQL

_DQ_STRING = re.compile(r'"([^"]*)"')


def gold_references(
    sql: str, schema: SchemaInfo
) -> tuple[set[str], set[tuple[str, str]], list[tuple[str, str, str]]]:
    """(tables, (table, column) pairs, (table, column, literal) comparisons) of gold SQL,
    lower-cased and qualified against ``schema``. Spider writes strings in double quotes,
    which SQLite reads as strings when no column has that name: they are made literals."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    text = _DQ_STRING.sub(lambda m: "'" + m.group(1).replace("'", "''") + "'", sql)
    mapping = {t.name.lower(): {c.name.lower(): "TEXT" for c in t.columns} for t in schema.tables}
    tree = sqlglot.parse_one(text, read="sqlite")
    tree = qualify(
        tree,
        schema=mapping,
        dialect="sqlite",
        validate_qualify_columns=False,
        identify=False,
        quote_identifiers=False,
    )
    tables: set[str] = set()
    columns: set[tuple[str, str]] = set()
    literals: list[tuple[str, str, str]] = []
    for scope in traverse_scope(tree):
        aliases: dict[str, str] = {}
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                aliases[alias.lower()] = source.name.lower()
                if source.name.lower() in mapping:
                    tables.add(source.name.lower())
        for col in scope.columns:
            table = aliases.get(col.table.lower()) if col.table else None
            if table is None and len(aliases) == 1:
                table = next(iter(aliases.values()))
            if table in mapping and col.name.lower() in mapping[table]:
                columns.add((table, col.name.lower()))
        for node in scope.expression.find_all(exp.EQ, exp.NEQ, exp.Like, exp.In):
            col = node.this if isinstance(node.this, exp.Column) else None
            if col is None:
                continue
            table = aliases.get(col.table.lower()) if col.table else None
            if table is None and len(aliases) == 1:
                table = next(iter(aliases.values()))
            if table is None:
                continue
            found = node.expressions if isinstance(node, exp.In) else [node.args.get("expression")]
            for lit in found:
                if isinstance(lit, exp.Literal) and lit.is_string:
                    literals.append((table, col.name.lower(), lit.this))
    return tables, columns, literals


# --------------------------------------------------------------------------- recall


def shown_columns(text: str, schema: SchemaInfo, tables: Iterable[str]) -> set[tuple[str, str]]:
    """(table, column) pairs whose column is written in the table's block of ``text``."""
    out = set()
    blocks = text.split("\n\n")
    for qualified in tables:
        t = schema.table(*reversed(qualified.split(".", 1))) if "." in qualified else None
        t = t or schema.table(qualified)
        if t is None:
            continue
        block = next((b for b in blocks if _block_name(b) == qualified.lower()), "")
        for col in t.columns:
            if re.search(r'(?<![\w"])"?' + re.escape(col.name) + r'"?(?![\w"])', block):
                out.add((t.name.lower(), col.name.lower()))
    return out


def _block_name(block: str) -> str:
    m = re.search(r"CREATE TABLE (\S+) \(", block)
    return m.group(1).replace('"', "").lower() if m else ""


@dataclass
class Recall:
    label: str
    tables_gold: int = 0
    tables_hit: int = 0
    columns_gold: int = 0
    columns_hit: int = 0
    questions_all_tables: int = 0
    questions: int = 0

    def row(self, tokens: list[int], times: list[float]) -> str:
        return (
            f"| {self.label} | {self.tables_hit / self.tables_gold:.1%} "
            f"| {self.columns_hit / self.columns_gold:.1%} "
            f"| {self.questions_all_tables / self.questions:.1%} "
            f"| {statistics.median(tokens):,.0f} | {max(tokens):,} "
            f"| {statistics.median(times) * 1000:.2f} |"
        )


def measure_linking(
    root: Path,
    items: list[Item],
    schemas: dict[str, SchemaInfo],
    *,
    budget: int,
    pooled_budget: int,
    use_values: bool,
    show_misses: int = 0,
) -> list[str]:
    pool = pooled_schema(schemas)
    value_indexes: dict[str, ValueIndex] = {}
    pooled_index = None
    if use_values:
        for db_id in schemas:
            value_indexes[db_id] = ValueIndex.from_values(database_values(sqlite_path(root, db_id)))
        pooled_index = ValueIndex.from_values(
            v for db_id in schemas for v in database_values(sqlite_path(root, db_id), db_id)
        )
    rows = []
    misses: list[str] = []
    for label, pooled in (("per database", False), ("pooled", True)):
        rec = Recall(label + (" + values" if use_values else ""))
        tokens: list[int] = []
        times: list[float] = []
        for item in items:
            schema = schemas[item.db_id]
            gold_tables, gold_columns, _ = gold_references(item.sql, schema)
            target = pool if pooled else schema
            values = pooled_index if pooled else value_indexes.get(item.db_id)
            start = time.perf_counter()
            ctx = build_context(
                target, item.question, budget=pooled_budget if pooled else budget, values=values
            )
            times.append(time.perf_counter() - start)
            tokens.append(estimate_tokens(ctx.text))
            prefix = f"{item.db_id}.".lower() if pooled else ""
            shown_tables = {
                t.lower()[len(prefix) :]
                for t in ctx.tables
                if not pooled or t.lower().startswith(prefix)
            }
            shown = {
                (t, c)
                for t, c in shown_columns(ctx.text, target, ctx.tables)
                if (not pooled) or f"{prefix}{t}" in {x.lower() for x in ctx.tables}
            }
            hit_t = gold_tables & shown_tables
            hit_c = {gc for gc in gold_columns if gc in shown and gc[0] in shown_tables}
            rec.tables_gold += len(gold_tables)
            rec.tables_hit += len(hit_t)
            rec.columns_gold += len(gold_columns)
            rec.columns_hit += len(hit_c)
            rec.questions += 1
            rec.questions_all_tables += hit_t == gold_tables
            if pooled and hit_t != gold_tables and len(misses) < show_misses:
                misses.append(
                    f"  {item.db_id}: {item.question}\n    missing {gold_tables - hit_t}; "
                    f"shown {list(ctx.tables)}"
                )
        rows.append(rec.row(tokens, times))
    for m in misses:
        print(m)
    return rows


def measure_values(
    root: Path, items: list[Item], schemas: dict[str, SchemaInfo], *, k: int = 10
) -> list[str]:
    rows = []
    for label, pooled in (("per database", False), ("pooled", True)):
        if pooled:
            index = ValueIndex.from_values(
                v for db_id in schemas for v in database_values(sqlite_path(root, db_id), db_id)
            )
            indexes = {db_id: index for db_id in schemas}
        else:
            indexes = {
                db_id: ValueIndex.from_values(database_values(sqlite_path(root, db_id)))
                for db_id in schemas
            }
        present: dict[str, dict[tuple[str, str], set[str]]] = {}
        for db_id in schemas:
            d: dict[tuple[str, str], set[str]] = {}
            for t, c, v in database_values(sqlite_path(root, db_id)):
                d.setdefault((t.lower(), c.lower()), set()).add(v)
            present[db_id] = d
        total = found = found_value = 0
        times = []
        for item in items:
            _, _, literals = gold_references(item.sql, schemas[item.db_id])
            wanted = [
                (t, c, v) for t, c, v in literals if v in present[item.db_id].get((t, c), set())
            ]
            if not wanted:
                continue
            start = time.perf_counter()
            matches = indexes[item.db_id].search(item.question, k=k)
            times.append(time.perf_counter() - start)
            for t, c, v in wanted:
                total += 1
                found += any(_same(m, item.db_id if pooled else None, t, c, v) for m in matches)
                found_value += any(m.value == v for m in matches)
        rows.append(
            f"| {label} | {total} | {found / total:.1%} | {found_value / total:.1%} "
            f"| {statistics.median(times) * 1000:.2f} |"
        )
    return rows


def _same(m: ValueMatch, qualifier: str | None, table: str, column: str, value: str) -> bool:
    want_table = f"{qualifier}.{table}".lower() if qualifier else table
    return m.table.lower() == want_table and m.column.lower() == column and m.value == value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=1500, help="tokens, per-database setting")
    parser.add_argument("--pooled-budget", type=int, default=1500, help="tokens, pooled setting")
    parser.add_argument("--misses", type=int, default=0, help="print this many pooled misses")
    args = parser.parse_args(argv)
    root = spider_dir()
    if not (root / "dev.json").exists():
        print(f"The Spider dev subset is not at {root}; set SQLAGENT_SPIDER_DIR.")
        return 2
    items = load_items(root)
    db_ids = sorted({i.db_id for i in items})
    schemas = {db_id: read_sqlite_schema(sqlite_path(root, db_id)) for db_id in db_ids}
    pool = pooled_schema(schemas)
    print(
        f"Spider dev subset: {len(items)} questions, {len(db_ids)} databases, "
        f"{len(pool.tables)} tables pooled; budgets {args.budget} / {args.pooled_budget} tokens\n"
    )
    print("Schema linking recall (gold tables/columns shown in the context)\n")
    print(
        "| setting | table recall | column recall | questions with all tables "
        "| median schema tokens | max schema tokens | median ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for use_values in (False, True):
        for row in measure_linking(
            root,
            items,
            schemas,
            budget=args.budget,
            pooled_budget=args.pooled_budget,
            use_values=use_values,
            show_misses=args.misses if use_values else 0,
        ):
            print(row)
    print("\nValue retrieval (gold string literals present in the data, top 10 matches)\n")
    print("| setting | literals | right column | right value | median ms |")
    print("|---|---|---|---|---|")
    for row in measure_values(root, items, schemas):
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
