"""The Agent puts the context pieces together: knowledge file, value index, verified answers,
the on-disk schema cache, and the policy's denials applied to all of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sqlagent import Agent
from sqlagent.context.schema_cache import CachedSchemaDatabase
from sqlagent.db import connect
from sqlagent.errors import ConfigError, ConnectionFailed
from sqlagent.settings import Policy, Settings
from sqlagent.testing import ScriptedLLM

VERIFIED_Q = "How many unique merchants are there in Phoenix and what are their names?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


@pytest.fixture()
def cards(sample_db_path: Path, tmp_path: Path) -> Path:
    """A private copy of the sample database with its knowledge file beside it."""
    db = tmp_path / "cards.duckdb"
    shutil.copy(sample_db_path, db)
    shutil.copy(sample_db_path.with_name("cards.knowledge.yaml"), tmp_path)
    return db


def agent(db: Path, llm: ScriptedLLM | None = None, **changes: object) -> Agent:
    settings = Settings(model="scripted", history=False).with_(**changes)
    return Agent(connect(db), llm=llm, settings=settings)


def test_verified_question_runs_its_sql_without_a_generation_call(cards: Path) -> None:
    llm = ScriptedLLM(["There are 9 unique merchants in Phoenix."])
    with agent(cards, llm) as a:
        answer = a.ask(VERIFIED_Q)
    assert answer.ok and answer.verified
    assert answer.row_count == 9
    assert [at.source for at in answer.attempts] == ["verified"]
    assert len(llm.calls) == 1  # narration only
    assert answer.narrative == "There are 9 unique merchants in Phoenix."
    assert "generate" not in [s.name for s in answer.trace.steps]


def test_verified_question_is_answered_with_no_model_configured(cards: Path) -> None:
    with agent(cards) as a:
        answer = a.ask(VERIFIED_Q.lower().rstrip("?"))
        assert answer.verified and answer.row_count == 9
        assert "9" in answer.narrative
        with pytest.raises(ConfigError, match="No language model"):
            a.ask("Which merchants are in Tucson?")


def test_broken_verified_sql_falls_back_to_generation(cards: Path, tmp_path: Path) -> None:
    knowledge = tmp_path / "other.knowledge.yaml"
    knowledge.write_text(
        f"verified:\n  - question: {VERIFIED_Q}\n"
        "    sql: SELECT DISTINCT shop_name FROM merchants WHERE city = 'Phoenix'\n",
        encoding="utf-8",
    )
    llm = ScriptedLLM([fenced(PHOENIX_SQL), "Nine."])
    with agent(cards, llm, knowledge_path=str(knowledge)) as a:
        answer = a.ask(VERIFIED_Q)
    assert answer.ok and not answer.verified
    first, second = answer.attempts
    assert first.source == "verified" and first.error is not None
    assert first.error.type == "UnknownColumn"
    assert second.source == "model" and second.error is None
    # The example is still shown to the model as a similar verified question.
    assert "shop_name" in llm.calls[0].messages[1]["content"]


def test_knowledge_and_values_reach_the_prompt(cards: Path) -> None:
    llm = ScriptedLLM([fenced("SELECT COUNT(*) FROM merchants WHERE city = 'Tucson'"), "3."])
    with agent(cards, llm) as a:
        answer = a.ask("How many merchants are there in tucson")
    assert answer.ok, answer.error
    prompt = llm.calls[0].messages[1]["content"]
    assert "'Tucson'" in prompt  # the value index found the real spelling
    assert "merchants.city" in prompt or "city" in prompt
    assert "Verified questions" in prompt  # similar examples from the knowledge file
    context = next(s for s in answer.trace.steps if s.name == "context")
    assert any("Tucson" in note for note in context.detail["notes"])


def test_denied_columns_values_never_reach_the_index(cards: Path) -> None:
    policy = Policy(denied_columns=("merchants.city",))
    with agent(cards, policy=policy) as a:
        values = a.values()
        assert values is not None
        found = {(m.table, m.column) for m in values.search("Phoenix Tucson")}
        assert found and ("merchants", "city") not in found
        merchants = a.schema().table("merchants")
        assert merchants is not None and merchants.column("city") is None


def test_value_index_can_be_switched_off(cards: Path) -> None:
    with agent(cards, value_index=False) as a:
        assert a.values() is None


def test_value_index_is_built_once(cards: Path) -> None:
    with agent(cards) as a:
        assert a.values() is a.values()


def test_connect_caches_the_schema_on_disk(cards: Path, tmp_path: Path) -> None:
    settings = Settings(model="scripted", history=False)
    with Agent.connect(cards, settings=settings) as first:
        assert isinstance(first.db, CachedSchemaDatabase)
        tables = [t.name for t in first.schema().tables]
        assert not first.db.from_cache
    with Agent.connect(cards, settings=settings) as second:
        assert [t.name for t in second.schema().tables] == tables
        assert isinstance(second.db, CachedSchemaDatabase) and second.db.from_cache
    with Agent.connect(cards, settings=settings.with_(schema_cache=False)) as plain:
        assert not isinstance(plain.db, CachedSchemaDatabase)


def test_knowledge_path_defaults_beside_the_database(cards: Path, tmp_path: Path) -> None:
    with agent(cards) as a:
        assert a.knowledge_path == cards.with_name("cards.knowledge.yaml")
        assert a.knowledge().verified
    explicit = tmp_path / "mine.yaml"
    with agent(cards, knowledge_path=str(explicit)) as a:
        assert a.knowledge_path == explicit
        assert not a.knowledge()


def test_broken_knowledge_file_is_a_clear_error(cards: Path) -> None:
    cards.with_name("cards.knowledge.yaml").write_text("tables: [unclosed\n", encoding="utf-8")
    with agent(cards, ScriptedLLM([])) as a, pytest.raises(ConfigError, match="knowledge"):
        a.ask("How many merchants are there?")


def test_profiles_put_ranges_in_the_context(cards: Path) -> None:
    with agent(cards) as a:
        profiles = a.profiles()
        assert profiles is not None and profiles is a.profiles()  # built once
        text = a.context("What was the total approved spend in the last month?").text
    ts_line = next(ln for ln in text.splitlines() if ln.strip().startswith("transaction_ts"))
    assert "range 20" in ts_line  # the model sees which dates the data covers


def test_denied_columns_are_not_profiled(cards: Path) -> None:
    policy = Policy(denied_columns=("transactions.amount",))
    with agent(cards, policy=policy) as a:
        profiles = a.profiles()
        assert profiles is not None
        assert "amount" not in profiles["transactions"].columns
        assert "transaction_ts" in profiles["transactions"].columns
    with agent(cards, profiles=False) as a:
        assert a.profiles() is None


class _Down:
    """A database whose server went away after connecting."""

    dialect = "duckdb"
    display_url = "duckdb:///gone.duckdb"
    path = None

    def schema(self, *, refresh: bool = False) -> object:
        raise ConnectionFailed("The database cannot be reached: connection refused")

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> object:
        raise ConnectionFailed("The database cannot be reached: connection refused")

    def close(self) -> None:
        pass


def test_a_database_that_is_down_is_an_answer_error_not_a_crash() -> None:
    a = Agent(_Down(), llm=ScriptedLLM([]), settings=Settings(model="s", history=False))
    answer = a.ask("How many merchants are there?")
    assert not answer.ok
    assert answer.error is not None and answer.error.type == "ConnectionFailed"


def test_a_verified_example_the_policy_refuses_is_not_there_for_that_person(
    cards: Path,
) -> None:
    # Its question and SQL would show a table the person may not see: it is left out of
    # their knowledge, so without a model their question is one like any other.
    policy = Policy(denied_tables=("merchants",))
    with agent(cards, policy=policy) as a:
        assert a.knowledge().match_verified(VERIFIED_Q) is None
        with pytest.raises(ConfigError, match="No language model"):
            a.ask(VERIFIED_Q)
    with agent(cards) as a:
        assert a.knowledge().match_verified(VERIFIED_Q) is not None


def test_without_a_model_nothing_is_read_before_the_error(cards: Path) -> None:
    from sqlagent import api

    with agent(cards) as a:
        with pytest.raises(ConfigError):
            a.ask("Which merchants are in Tucson?")
        assert a.db not in api._DERIVED  # no value index or profiles were built for it


def test_agents_over_one_database_share_the_value_index(cards: Path) -> None:
    db = connect(cards)
    settings = Settings(model="scripted", history=False)
    first, second = Agent(db, settings=settings), Agent(db, settings=settings)
    assert first.values() is second.values()
    denied = Agent(db, settings=settings.with_(policy=Policy(denied_tables=("customers",))))
    assert denied.values() is not first.values()  # another policy, another index
    db.close()
