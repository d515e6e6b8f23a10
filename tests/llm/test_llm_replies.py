"""What real endpoints send back, through the real openai client over HTTP: cut-off replies,
tool calls, refusals, and servers that reject response_format or stream_options."""

from __future__ import annotations

import json

import pytest

from sqlagent.db import connect
from sqlagent.errors import LLMUnavailable
from sqlagent.llm.client import OpenAILLM
from sqlagent.llm.outcome import REPLY_SCHEMA
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.store.history import llm_call_count
from sqlagent.testing import FakeOpenAIServer, FakeReply

HI = [{"role": "user", "content": "hi"}]
PHOENIX_Q = "Which merchants are in Phoenix?"
PHOENIX_SQL = "SELECT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"


def llm_for(server: FakeOpenAIServer) -> OpenAILLM:
    return OpenAILLM("fake-model", base_url=server.base_url, timeout=5.0, max_retries=0)


def test_a_rejected_response_format_falls_back_to_plain_text_and_is_remembered():
    with FakeOpenAIServer(["plain one", "plain two"], rejects=("response_format",)) as server:
        llm = llm_for(server)
        assert llm.complete(HI, response_format=REPLY_SCHEMA).text == "plain one"
        assert llm.unsupported == {"json_schema", "response_format"}
        assert llm.complete(HI, response_format=REPLY_SCHEMA).text == "plain two"
        # The schema rejected, then a plain JSON object, then plain text: never asked again.
        sent = [(r.get("response_format") or {}).get("type") for r in server.requests]
        assert sent == ["json_schema", "json_object", None, None]
        # Another client of the same endpoint knows it too.
        assert llm_for(server).unsupported == {"json_schema", "response_format"}


def test_a_rejected_json_schema_falls_back_to_a_json_object():
    reply = '{"sql": "SELECT 1", "clarification": null, "refusal": null}'
    with FakeOpenAIServer([reply, reply], rejects=("response_format:json_schema",)) as server:
        llm = llm_for(server)
        assert llm.complete(HI, response_format=REPLY_SCHEMA).text == reply
        llm.complete(HI, response_format=REPLY_SCHEMA)
    sent = [(r.get("response_format") or {}).get("type") for r in server.requests]
    assert sent == ["json_schema", "json_object", "json_object"]


def test_response_format_is_sent_where_the_endpoint_accepts_it():
    with FakeOpenAIServer(['{"sql": "SELECT 1", "clarification": null, "refusal": null}']) as s:
        llm_for(s).complete(HI, response_format=REPLY_SCHEMA)
        assert s.requests[0]["response_format"]["type"] == "json_schema"
        assert llm_for(s).unsupported == frozenset()


def test_a_rejected_stream_options_falls_back_to_a_plain_stream():
    tokens: list[str] = []
    with FakeOpenAIServer(["streamed words here", "again"], rejects=("stream_options",)) as s:
        llm = llm_for(s)
        reply = llm.complete(HI, on_token=tokens.append)
        assert reply.text == "streamed words here" and "".join(tokens) == reply.text
        assert llm.unsupported == {"stream_options"}
        llm.complete(HI, on_token=tokens.append)
        assert ["stream_options" in r for r in s.requests] == [True, False, False]


def test_an_unrelated_bad_request_is_not_taken_for_an_unsupported_parameter():
    bad = FakeReply("maximum context length exceeded", status=400)
    with FakeOpenAIServer([bad, bad]) as server:
        llm = llm_for(server)
        with pytest.raises(LLMUnavailable, match="context length"):
            llm.complete(HI, response_format=REPLY_SCHEMA)
        # Tried once without the optional parameter; as that failed too, nothing is blamed.
        assert len(server.requests) == 2 and llm.unsupported == frozenset()


def test_an_unnamed_rejection_is_remembered_once_the_plain_request_works():
    with FakeOpenAIServer([FakeReply("Bad Request", status=400), "ok"]) as server:
        llm = llm_for(server)
        assert llm.complete(HI, response_format=REPLY_SCHEMA).text == "ok"
        assert llm.unsupported == {"response_format"}


@pytest.mark.parametrize("streamed", [False, True])
def test_finish_reason_length_reaches_the_completion(streamed):
    with FakeOpenAIServer([FakeReply("<think>still thinking", finish_reason="length")]) as s:
        reply = llm_for(s).complete(HI, on_token=(lambda t: None) if streamed else None)
    assert reply.finish_reason == "length"


def test_max_tokens_is_sent_when_given():
    with FakeOpenAIServer(["a", "b"]) as server:
        llm = llm_for(server)
        llm.complete(HI, max_tokens=321)
        llm.complete(HI)
    assert server.requests[0]["max_tokens"] == 321 and "max_tokens" not in server.requests[1]


def test_a_tool_call_reply_carries_its_arguments_as_text():
    call = ("run_sql", '{"query": "SELECT 1 AS one"}')
    with FakeOpenAIServer([FakeReply(tool_calls=[call], finish_reason="tool_calls")]) as s:
        reply = llm_for(s).complete(HI)
    assert "SELECT 1 AS one" in reply.text and reply.finish_reason == "tool_calls"


@pytest.fixture()
def db(sample_db_path):
    database = connect(f"duckdb:///{sample_db_path}")
    yield database
    database.close()


def settings_for(server: FakeOpenAIServer, **changes) -> Settings:
    base = Settings(
        model="fake-model",
        base_url=server.base_url,
        llm_timeout=5.0,
        llm_retries=0,
        history=False,
        schema_cache=False,
        value_index=False,
        profiles=False,
    )
    return base.with_(**changes)


def test_structured_output_on_a_server_that_rejects_it_still_answers(db):
    script = [f"```sql\n{PHOENIX_SQL}\n```", "Nine merchants are in Phoenix."]
    with FakeOpenAIServer(script, rejects=("response_format",)) as server:
        answer = ask(
            PHOENIX_Q,
            llm=llm_for(server),
            db=db,
            settings=settings_for(server, structured_output=True),
        )
    assert answer.ok and len(answer.rows) == 9
    assert [("response_format" in r) for r in server.requests[:3]] == [True, True, False]


def test_structured_output_reply_is_read(db):
    reply = json.dumps({"sql": PHOENIX_SQL, "clarification": None, "refusal": None})
    with FakeOpenAIServer([reply, "Nine merchants."]) as server:
        answer = ask(
            PHOENIX_Q,
            llm=llm_for(server),
            db=db,
            settings=settings_for(server, structured_output=True),
        )
    assert answer.ok and len(answer.rows) == 9
    system = server.requests[0]["messages"][0]["content"]
    assert '"clarification"' in system  # the prompt describes the JSON asked for


def test_a_cut_off_reply_is_asked_again_with_a_higher_limit(db):
    script = [
        FakeReply("<think>\nThe merchants table has a city column, so I", finish_reason="length"),
        f"<think>\nFilter on city.\n</think>\n```sql\n{PHOENIX_SQL}\n```",
        "Nine merchants are in Phoenix.",
    ]
    with FakeOpenAIServer(script) as server:
        answer = ask(
            PHOENIX_Q, llm=llm_for(server), db=db, settings=settings_for(server, max_tokens=1000)
        )
    assert answer.ok and len(answer.rows) == 9
    assert server.requests[0]["max_tokens"] == 1000
    assert server.requests[1]["max_tokens"] >= 2000
    generate = next(s for s in answer.trace.steps if s.name == "generate")
    assert generate.detail["cut_off"] is True
    assert llm_call_count(answer.trace) == len(server.requests) == 3


def test_a_reply_cut_off_twice_says_so(db):
    cut = FakeReply("<think>\nLet me think about this very carefully", finish_reason="length")
    with FakeOpenAIServer([cut, cut]) as server:
        answer = ask(PHOENIX_Q, llm=llm_for(server), db=db, settings=settings_for(server))
    assert answer.error is not None and answer.error.type == "ReplyCutOff"
    assert "the model's reply was cut off" in answer.error.message.lower()
    assert len(server.requests) == 2


def test_the_endpoint_refusal_field_is_a_refusal(db):
    refused = FakeReply("", refusal="I can't help with that request.")
    with FakeOpenAIServer([refused]) as server:
        answer = ask(
            "Delete every customer", llm=llm_for(server), db=db, settings=settings_for(server)
        )
    assert answer.refusal == "I can't help with that request."
    assert len(server.requests) == 1


def test_a_tool_call_answer_is_run(db):
    call = ("execute_sql", json.dumps({"sql": PHOENIX_SQL}))
    script = [FakeReply(tool_calls=[call], finish_reason="tool_calls"), "Nine merchants."]
    with FakeOpenAIServer(script) as server:
        answer = ask(PHOENIX_Q, llm=llm_for(server), db=db, settings=settings_for(server))
    assert answer.ok and len(answer.rows) == 9


def test_max_tokens_is_renamed_where_the_model_wants_max_completion_tokens():
    refused = FakeReply(
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        status=400,
        headers={"x-should-retry": "false"},
    )
    with FakeOpenAIServer([refused, "one", "two"]) as server:
        llm = llm_for(server)
        assert llm.complete(HI, max_tokens=500).text == "one"
        assert llm.complete(HI, max_tokens=600).text == "two"
    bounds = [(r.get("max_tokens"), r.get("max_completion_tokens")) for r in server.requests]
    assert bounds == [(500, None), (None, 500), (None, 600)]
