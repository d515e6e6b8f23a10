"""End to end through the real ``openai`` client against a local OpenAI-compatible server."""

from __future__ import annotations

import time

from sqlagent import Agent
from sqlagent.db import connect
from sqlagent.settings import Settings
from sqlagent.testing import FakeOpenAIServer, FakeReply

# Not one of the sample's verified questions, so the model is asked to write the SQL.
PHOENIX_Q = "Which merchants are based in Phoenix, and how many are there?"
VERIFIED_Q = "How many unique merchants are there in Phoenix and what are their names?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)


def agent_for(server: FakeOpenAIServer, db_path, **settings) -> Agent:
    base = Settings(model="fake-model", base_url=server.base_url, llm_timeout=5.0)
    return Agent(connect(db_path), settings=base.with_(**settings))


def test_wrong_column_is_repaired_on_the_next_attempt(sample_db_path):
    script = [
        "```sql\nSELECT DISTINCT name FROM merchants WHERE city = 'Phoenix'\n```",
        f"```sql\n{PHOENIX_SQL}\n```",
        "There are 9 unique merchants in Phoenix.",
    ]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        answer = agent.ask(PHOENIX_Q)
    assert answer.ok, answer.error
    assert answer.row_count == 9
    assert answer.narrative == "There are 9 unique merchants in Phoenix."
    assert answer.attempts[0].error is not None
    assert answer.attempts[0].error.type == "UnknownColumn"
    # The repair request carries the failed reply and the error naming the real column.
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant"
    assert "merchant_name" in repair[-1]["content"]
    assert server.requests[0]["model"] == "fake-model"
    assert server.requests[0]["temperature"] == 0
    assert answer.trace.usage.prompt_tokens > 0


def test_server_error_then_success_still_answers(sample_db_path):
    script = [
        FakeReply("overloaded", status=500),
        f"```sql\n{PHOENIX_SQL}\n```",
        "Nine merchants.",
    ]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        answer = agent.ask(PHOENIX_Q)
    assert answer.ok
    assert answer.row_count == 9
    assert len(server.requests) == 3


def test_hanging_endpoint_times_out_cleanly(sample_db_path):
    with (
        FakeOpenAIServer([FakeReply("late", delay=10)]) as server,
        agent_for(server, sample_db_path, llm_timeout=0.5, llm_retries=0) as agent,
    ):
        start = time.perf_counter()
        answer = agent.ask(PHOENIX_Q)
        elapsed = time.perf_counter() - start
    assert answer.error is not None and answer.error.type == "LLMTimeout"
    assert "0.5" in answer.error.message
    assert elapsed < 5


def test_reply_without_sql_fails_cleanly(sample_db_path):
    with (
        FakeOpenAIServer(["I don't know which table holds that.", "Still no idea."]) as server,
        agent_for(server, sample_db_path) as agent,
    ):
        answer = agent.ask("What is the weather in Phoenix?")
    assert answer.error is not None and answer.error.type == "NoSQLInReply"
    assert answer.rows == ()
    # Asked once more for the query only, then given up.
    assert len(server.requests) == 2


def test_narration_is_streamed_through_the_real_client(sample_db_path):
    tokens: list[str] = []
    script = [f"```sql\n{PHOENIX_SQL}\n```", "There are 9 unique merchants in Phoenix."]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        answer = agent.ask(
            PHOENIX_Q, on_event=lambda e: tokens.append(e.message) if e.kind == "token" else None
        )
    assert answer.ok
    assert len(tokens) > 1
    assert "".join(tokens) == answer.narrative
    assert server.requests[1].get("stream") is True


def test_the_client_is_built_in_its_own_step_not_in_generate(sample_db_path):
    from sqlagent.pipeline import Event

    script = [f"```sql\n{PHOENIX_SQL}\n```", "Nine merchants."]
    built_before_generate: list[bool] = []
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        llm = agent.llm

        def on_event(event: Event) -> None:
            if event.kind == "generate":
                built_before_generate.append(llm._client is not None)

        answer = agent.ask(PHOENIX_Q, on_event=on_event)
    assert answer.ok, answer.error
    # openai is imported and the client made in "setup": "generate" times the request only.
    assert built_before_generate == [True]
    names = [step.name for step in answer.trace.steps]
    assert names.index("setup") < names.index("generate")
    assert "setup" in answer.trace.timings()
