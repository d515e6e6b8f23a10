"""While a policy hides columns, database errors reach nobody with the values they quote.

Engines repeat the offending value in their error text. With a policy that denies a column,
that text passes through one place that masks quoted values and numbers before it reaches the
user (the answer), the model (the repair prompt), the trace or the history; the error's kind
and position survive. Without such a policy the text is left as the engine wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import duckdb
import pytest

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.pipeline import ask, run_sql
from sqlagent.settings import Policy, Settings
from sqlagent.testing import ScriptedLLM

SECRET = "zq-4417-secret"
HIDING = {"denied_columns": ["people.ssn"]}

# A query over an allowed column whose error prints the value, per engine.
FAILING = {
    "duckdb": "SELECT CAST(nick AS INTEGER) AS n FROM people",
    "postgres": "SELECT CAST(nick AS INTEGER) AS n FROM people",
}


def _settings(policy: dict[str, object]) -> Settings:
    return Settings(
        model="scripted", api_key=None, base_url=None, max_repairs=1,
        policy=Policy.from_mapping({"statement_timeout": 10, **policy}),
    )  # fmt: skip


@pytest.fixture
def duckdb_people(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "p.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE people (id INTEGER, nick VARCHAR, ssn VARCHAR)")
    con.execute(f"INSERT INTO people VALUES (1, '{SECRET}', '111-22-3333')")
    con.close()
    db = connect(f"duckdb:///{path}", sample_values=False)
    yield db
    db.close()


@pytest.fixture
def postgres_people() -> Iterator[Database]:
    for scratch in dbfixtures.scratch_postgres():
        scratch.run(
            "CREATE TABLE people (id INTEGER, nick TEXT, ssn TEXT)",
            f"INSERT INTO people VALUES (1, '{SECRET}', '111-22-3333')",
        )
        db = connect(scratch.url, sample_values=False)
        yield db
        db.close()


ENGINES = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engine_prints_the_value_without_a_hiding_policy(
    engine: str, request: pytest.FixtureRequest
) -> None:
    """The premise: this error really carries the value, so the masking below is tested."""
    db: Database = request.getfixturevalue(f"{engine}_people")
    answer = run_sql(FAILING[engine], db=db, settings=_settings({}))
    assert answer.error is not None and SECRET in answer.error.message


@pytest.mark.parametrize("engine", ENGINES)
def test_no_value_reaches_answer_trace_or_model(
    engine: str, request: pytest.FixtureRequest
) -> None:
    db: Database = request.getfixturevalue(f"{engine}_people")
    settings = _settings(HIDING)
    answer = run_sql(FAILING[engine], db=db, settings=settings)
    assert answer.error is not None and answer.error.type == "ExecutionError"
    assert SECRET not in json.dumps(answer.to_dict(), default=str)
    assert "people" in answer.error.message.lower() or "integer" in answer.error.message.lower()

    # The model's repair request is built from the same error: no value in it either.
    llm = ScriptedLLM([FAILING[engine], "SELECT id FROM people", "One person."])
    answered = ask("How many?", llm=llm, db=db, settings=settings)
    assert answered.error is None
    repair_prompt = json.dumps([c.messages for c in llm.calls], default=str)
    assert "nick" in repair_prompt  # the failing SQL and the visible names are still there
    assert SECRET not in repair_prompt
    assert SECRET not in json.dumps(answered.to_dict(), default=str)
