"""Sample values a column's comment already states are not repeated after it."""

from __future__ import annotations

from pathlib import Path

from sqlagent import Agent
from sqlagent.context import render_table
from sqlagent.db import connect
from sqlagent.settings import Settings
from sqlagent.types import ColumnInfo, TableInfo


def line_of(text: str, column: str) -> str:
    return next(ln for ln in text.splitlines() if ln.strip().startswith(column + " "))


def test_a_comment_listing_the_values_is_not_followed_by_them() -> None:
    table = TableInfo(
        "cards",
        (
            ColumnInfo(
                "card_type",
                "VARCHAR",
                comment="Card network: 'visa', 'mastercard', 'amex' or 'discover'.",
                samples=("visa", "mastercard", "amex", "discover"),
            ),
            ColumnInfo(
                "tier",
                "VARCHAR",
                comment="Product tier: Standard, gold or platinum",
                samples=("standard", "gold", "platinum", "black"),
            ),
            ColumnInfo("city", "VARCHAR", comment="Home city", samples=("Phoenix", "Mesa")),
            ColumnInfo(
                "state",
                "VARCHAR",
                comment="State code, in the US",
                samples=("IN", "AZ"),  # "in" is a word of the comment, not the value 'IN'
            ),
        ),
    )
    text = render_table(table, "duckdb")
    card_type = line_of(text, "card_type")
    assert "e.g." not in card_type and card_type.count("'visa'") == 1
    # Only the value the comment does not name is given as an example (case aside).
    assert line_of(text, "tier").endswith(
        "-- Product tier: Standard, gold or platinum; e.g. 'black'"
    )
    assert line_of(text, "city").endswith("e.g. 'Phoenix', 'Mesa'")
    assert line_of(text, "state").endswith("e.g. 'IN', 'AZ'")


def test_the_sample_database_saves_tokens(sample_db_path: Path) -> None:
    settings = Settings(history=False, value_index=False, profiles=False, schema_cache=False)
    with Agent(connect(sample_db_path), settings=settings) as agent:
        context = agent.context("")
    lines = context.text.splitlines()
    for column in ("card_type", "card_tier", "segment", "category", "status", "channel"):
        shown = [ln for ln in lines if ln.strip().startswith(column + " ")]
        assert shown and all("e.g." not in ln for ln in shown), shown
    # Columns whose comment names no values keep their examples.
    assert "e.g. 'New York'" in context.text
