"""Schema-linking recall and value retrieval on the Spider dev subset (523 questions).

The measurement is benchmarks/schema_spider.py; these tests hold its results to the goals:
in the pooled setting (all databases as one catalog, a 1,500-token schema budget) the
pruned context keeps at least 99% of the tables and 97% of the columns the gold SQL uses,
and the value index finds 95% of the gold string literals that occur in the data.
"""

from __future__ import annotations

import importlib.util
import re
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sqlagent.context import build_context, estimate_tokens
from sqlagent.context.valueindex import ValueIndex

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = REPO / "benchmarks" / "schema_spider.py"
    spec = importlib.util.spec_from_file_location("schema_spider", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["schema_spider"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loaded(spider: Path, bench: ModuleType) -> tuple[list, dict]:
    items = bench.load_items(spider)
    db_ids = sorted({i.db_id for i in items})
    schemas = {d: bench.read_sqlite_schema(bench.sqlite_path(spider, d)) for d in db_ids}
    return items, schemas


def test_gold_references_are_qualified(bench: ModuleType, loaded: tuple[list, dict]) -> None:
    _, schemas = loaded
    tables, columns, literals = bench.gold_references(
        "SELECT T1.Airline FROM AIRLINES AS T1 JOIN FLIGHTS AS T2 ON T1.uid = T2.Airline "
        'WHERE T2.SourceAirport = "CVO"',
        schemas["flight_2"],
    )
    assert tables == {"airlines", "flights"}
    assert ("airlines", "uid") in columns and ("flights", "sourceairport") in columns
    assert literals == [("flights", "sourceairport", "CVO")]


def test_pooled_linking_recall(spider: Path, bench: ModuleType, loaded: tuple[list, dict]) -> None:
    items, schemas = loaded
    pool = bench.pooled_schema(schemas)
    values = ValueIndex.from_values(
        v for d in schemas for v in bench.database_values(bench.sqlite_path(spider, d), d)
    )
    gold_t = hit_t = gold_c = hit_c = 0
    tokens = []
    for item in items:
        tables, columns, _ = bench.gold_references(item.sql, schemas[item.db_id])
        ctx = build_context(pool, item.question, budget=1500, values=values)
        text_tokens = estimate_tokens(ctx.text)
        assert text_tokens <= 1500
        tokens.append(text_tokens)
        prefix = item.db_id.lower() + "."
        shown = {t.lower()[len(prefix) :] for t in ctx.tables if t.lower().startswith(prefix)}
        gold_t += len(tables)
        hit_t += len(tables & shown)
        blocks = {
            m.group(1).replace('"', "").lower(): m.group(2)
            for m in re.finditer(r"CREATE TABLE (\S+) \((.*?)\n\);", ctx.text, re.S)
        }
        for table, column in columns:
            gold_c += 1
            block = blocks.get(prefix + table, "")
            hit_c += bool(re.search(rf'(?i)(?<![\w"])"?{re.escape(column)}"?(?![\w"])', block))
    assert hit_t / gold_t >= 0.99
    assert hit_c / gold_c >= 0.97
    assert statistics.median(tokens) <= 1500


def test_value_retrieval(spider: Path, bench: ModuleType, loaded: tuple[list, dict]) -> None:
    items, schemas = loaded
    total = found = 0
    for db_id in schemas:
        path = bench.sqlite_path(spider, db_id)
        present: dict[tuple[str, str], set[str]] = {}
        for t, c, v in bench.database_values(path):
            present.setdefault((t.lower(), c.lower()), set()).add(v)
        index = ValueIndex.from_values(bench.database_values(path))
        for item in (i for i in items if i.db_id == db_id):
            _, _, literals = bench.gold_references(item.sql, schemas[db_id])
            wanted = [(t, c, v) for t, c, v in literals if v in present.get((t, c), set())]
            if not wanted:
                continue
            matches = {
                (m.table.lower(), m.column.lower(), m.value) for m in index.search(item.question)
            }
            total += len(wanted)
            found += sum(w in matches for w in wanted)
    assert total > 100
    assert found / total >= 0.95
