"""The row bound written as text is exactly what generating the bounded tree gives.

``check`` appends ``LIMIT n`` to the statement's text instead of generating the bounded tree a
second time (a third of the check's cost). This holds the shortcut to the slow path on every
allowed corpus case and, when the Spider subset is present, every gold query in four
dialects.
"""

from __future__ import annotations

import pytest
import sqlglot
from guard_corpus import CORPUS_DIR, cards_schema, load_cases, spider_dir, spider_queries

from sqlagent import guard
from sqlagent.errors import PolicyViolation
from sqlagent.guard import bound
from sqlagent.settings import Policy

ALLOWED = [c for c in load_cases(CORPUS_DIR) if c.expect == "allow"]


def _same_both_ways(sql: str, dialect: str, max_rows: int = 50) -> None:
    tree = sqlglot.parse_one(sql, read=dialect)
    fast, added = bound._bounded_text(tree, sql, max_rows, dialect)
    slow_tree, slow_added = bound._bound(tree, max_rows)
    slow = bound._generate(slow_tree, dialect) if slow_added else sql
    assert (fast, added) == (slow, slow_added)


@pytest.mark.parametrize("case", ALLOWED, ids=[c.id for c in ALLOWED])
def test_corpus_bound_text(case: object) -> None:
    policy = Policy.from_mapping(dict(case.policy))  # type: ignore[attr-defined]
    guarded = guard.check(
        case.sql,  # type: ignore[attr-defined]
        schema=cards_schema(case.dialect),  # type: ignore[attr-defined]
        policy=policy,
        dialect=case.dialect,  # type: ignore[attr-defined]
    )
    _same_both_ways(guarded.sql, case.dialect)  # type: ignore[attr-defined]


def test_spider_bound_text() -> None:
    root = spider_dir()
    if not (root / "dev.json").exists():
        pytest.skip(f"the Spider dev subset is not at {root} (set SQLAGENT_SPIDER_DIR)")
    checked = 0
    for item in spider_queries(root):
        for dialect in ("sqlite", "duckdb", "postgres", "mysql"):
            text = sqlglot.transpile(item["query"], read="sqlite", write=dialect)[0]
            _same_both_ways(text, dialect)
            checked += 1
    assert checked == 4 * 523


def test_a_check_is_cached_per_schema_and_policy() -> None:
    schema = cards_schema("duckdb")
    first = guard.check("SELECT name FROM customers", schema=schema, policy=Policy())
    assert guard.check("SELECT name FROM customers", schema=schema, policy=Policy()) is first
    # Another policy, another schema object: checked again, with their own outcome.
    other = guard.check("SELECT name FROM customers", schema=schema, policy=Policy(max_rows=5))
    assert other is not first and other.executable.endswith("LIMIT 6")
    fresh = cards_schema("duckdb")
    assert guard.check("SELECT name FROM customers", schema=fresh, policy=Policy()) is not first
    denied = Policy(denied_columns=("customers.name",))
    with pytest.raises(PolicyViolation):
        guard.check("SELECT name FROM customers", schema=schema, policy=denied)
