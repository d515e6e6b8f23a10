"""What the repair request tells the model: where the error is, the closest real names, the
tables the query uses, and for an empty result the values its literals were meant to be."""

from __future__ import annotations

from sqlagent.context.valueindex import ValueIndex
from sqlagent.errors import SQLParseError
from sqlagent.llm.repair import empty_result_hint, repair_detail, string_literals
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM

PHOENIX_Q = "Which merchants are in Phoenix?"
PHOENIX_SQL = "SELECT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def settings() -> Settings:
    return Settings(
        model="scripted",
        narrate=False,
        history=False,
        schema_cache=False,
        value_index=False,
        profiles=False,
    )


def test_a_parse_error_is_repaired_with_its_position_and_the_tables_used(sample_db):
    typo = "SELECT merchant_name\nFORM merchants\nWHERE city = 'Phoenix'"
    llm = ScriptedLLM([fenced(typo), fenced(PHOENIX_SQL)])
    answer = ask(PHOENIX_Q, llm=llm, db=sample_db, settings=settings())
    assert answer.ok and len(answer.rows) == 9
    assert answer.attempts[0].error.type == "SQLParseError"
    prompt = llm.calls[1].prompt
    assert "SQLParseError" in prompt and "line 2" in prompt
    assert "  FORM merchants\n" in prompt  # the line the parser stopped at, with a caret
    assert "merchants(merchant_id INTEGER, merchant_name VARCHAR" in prompt


def test_an_unclosed_quote_is_pointed_at():
    detail = repair_detail(
        SQLParseError("The query does not parse: Error tokenizing"),
        "SELECT a\nFROM t\nWHERE b = 'x",
        sample_schema(),
    )
    assert "quote opened at line 3, column 11 is never closed" in detail


def sample_schema():
    from sqlagent.types import ColumnInfo, SchemaInfo, TableInfo

    return SchemaInfo(
        "duckdb", (TableInfo("t", (ColumnInfo("a", "INTEGER"), ColumnInfo("b", "VARCHAR"))),)
    )


def test_an_unknown_column_is_repaired_with_the_closest_names(sample_db):
    llm = ScriptedLLM(
        [fenced("SELECT merchant FROM merchants WHERE city = 'Phoenix'"), fenced(PHOENIX_SQL)]
    )
    answer = ask(PHOENIX_Q, llm=llm, db=sample_db, settings=settings())
    assert answer.ok
    prompt = llm.calls[1].prompt
    # Named once, in the error's "did you mean" or in the detail.
    assert "merchant_name" in prompt.split("The tables your query uses")[0]


def test_closest_names_are_added_when_the_message_lacks_them():
    from sqlagent.errors import UnknownColumn

    error = UnknownColumn("Unknown column 'nme'", name="nme", suggestions=("name",))
    assert "Closest real names: name" in repair_detail(error, "SELECT nme FROM t", sample_schema())


def test_an_empty_result_with_a_misspelled_literal_is_sent_back_with_the_real_values(sample_db):
    values = ValueIndex.from_values(
        [("merchants", "city", c) for c in ("Phoenix", "Tucson", "Mesa", "Tempe")]
    )
    wrong = "SELECT merchant_name FROM merchants WHERE city = 'phoenix' ORDER BY merchant_name"
    llm = ScriptedLLM([fenced(wrong), fenced(PHOENIX_SQL)])
    answer = ask(PHOENIX_Q, llm=llm, db=sample_db, settings=settings(), values=values)
    assert answer.ok and len(answer.rows) == 9
    prompt = llm.calls[1].prompt
    assert "matched no rows" in prompt
    assert "'phoenix' is not a value in the data" in prompt and "'Phoenix'" in prompt
    assert any(s.name == "check_values" for s in answer.trace.steps)


def test_an_empty_result_that_stays_empty_is_the_answer(sample_db):
    values = ValueIndex.from_values([("merchants", "city", "Phoenix")])
    wrong = "SELECT merchant_name FROM merchants WHERE city = 'phoenix'"
    still = "SELECT merchant_name FROM merchants WHERE city = 'Phoenix' AND state = 'ZZ'"
    llm = ScriptedLLM([fenced(wrong), fenced(still)])
    answer = ask(PHOENIX_Q, llm=llm, db=sample_db, settings=settings(), values=values)
    assert answer.ok and answer.rows == () and len(llm.calls) == 2


def test_an_empty_result_with_real_values_is_not_repaired(sample_db):
    values = ValueIndex.from_values([("merchants", "city", "Phoenix")])
    sql = "SELECT merchant_name FROM merchants WHERE city = 'Phoenix' AND state = 'ZZ'"
    llm = ScriptedLLM([fenced(sql)])
    answer = ask(PHOENIX_Q, llm=llm, db=sample_db, settings=settings(), values=values)
    assert answer.ok and answer.rows == () and len(llm.calls) == 1


def test_literals_and_hints():
    assert string_literals("SELECT 1 WHERE a = 'x' AND d > '2024-01-01' AND b = 'x'") == ["x"]
    assert empty_result_hint("SELECT 1 WHERE a = 'x'", None) == ""
