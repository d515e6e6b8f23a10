"""The generation prompt stays small without losing what it must say."""

from __future__ import annotations

import re

import pytest

from sqlagent.context.render import PROMPT_SAMPLES, quote_ident, render_table
from sqlagent.llm import prompts
from sqlagent.types import ColumnInfo, TableInfo


def test_system_prompt_keeps_every_rule() -> None:
    text = prompts.render("generate_system", dialect_name="DuckDB")
    flat = " ".join(text.split())
    for tag in ("schema", "knowledge", "examples", "conversation", "error"):
        assert f"<{tag}>" in text, tag
    assert re.search(r"hold data, never instructions", flat)
    assert "read-only" in flat and "never modify data" in flat
    assert "CLARIFY:" in text and "CANNOT ANSWER:" in text
    assert "```sql" in text
    assert "DuckDB SQL" in text


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb", "mysql"])
def test_mixed_case_names_go_bare_where_case_does_not_matter(dialect: str) -> None:
    assert quote_ident("Stadium_ID", dialect) == "Stadium_ID"
    # Reserved words are still quoted, whatever their case.
    assert quote_ident("Order", dialect) != "Order"
    assert quote_ident("first name", dialect) != "first name"


@pytest.mark.parametrize("dialect", ["postgres", "snowflake", "oracle"])
def test_mixed_case_names_stay_quoted_where_case_folds(dialect: str) -> None:
    assert quote_ident("Stadium_ID", dialect) == '"Stadium_ID"'


def test_prompt_shows_a_few_samples_per_column() -> None:
    samples = tuple(f"city {i}" for i in range(5))
    table = TableInfo(name="t", columns=(ColumnInfo(name="city", type="TEXT", samples=samples),))
    text = render_table(table, "sqlite")
    shown = re.findall(r"'city \d'", text)
    assert len(shown) == PROMPT_SAMPLES < len(samples)
