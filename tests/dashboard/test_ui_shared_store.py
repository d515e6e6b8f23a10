"""The dashboard on a shared PostgreSQL store: several sessions at once, one history.

Each session is a Streamlit AppTest of the same app in one process, so they share what the
server shares (the database connection, the store) and nothing a session owns.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import dbfixtures
import pytest
from streamlit.testing.v1 import AppTest

from sqlagent.store.history import HistoryStore
from sqlagent.testing import ScriptedLLM
from ui.format import shown_text

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
LLM_STATE_KEY = "sqlagent_llm"
PHOENIX = "List the merchants located in Phoenix"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)
CATEGORY = "Count merchant locations by category"
CATEGORY_SQL = "SELECT category, COUNT(*) AS merchants FROM merchants GROUP BY category"


@pytest.fixture()
def shared_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_db_path: Path
) -> Iterator[tuple[dbfixtures.Scratch, Path]]:
    """The dashboard's environment: a scratch PostgreSQL store, no model, a private
    knowledge file (returned, to show it is not written to)."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLAGENT_MODEL", "SQLAGENT_DB"):
        monkeypatch.delenv(name, raising=False)
    knowledge = tmp_path / "cards.knowledge.yaml"
    shutil.copy(REPO / "sample_data" / "cards.knowledge.yaml", knowledge)
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", str(knowledge))
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path / "home"))
    for scratch in dbfixtures.scratch_postgres():
        monkeypatch.setenv("SQLAGENT_STORE", scratch.url)
        yield scratch, knowledge


def start(llm: ScriptedLLM | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if llm is not None:
        at.session_state[LLM_STATE_KEY] = llm
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def turns(at: AppTest) -> list[Any]:
    return list(at.session_state["turns"])


def conversation_block(prompt: str) -> str:
    """The earlier turns shown to the model in a prompt."""
    assert "<conversation>" in prompt
    return prompt.split("<conversation>", 1)[1].split("</conversation>", 1)[0]


@contextmanager
def app_tests_at_once() -> Iterator[None]:
    """Let AppTest runs overlap on threads.

    An AppTest run is made to be the only one: it switches streamlit's configuration to
    AppTest mode and sets the ``Runtime`` singleton for its duration, then puts back what it
    found. Two runs at once undo each other's: one that ends while the other is still
    running leaves it without AppTest mode (a segmented control's options then go
    unrecorded, and its next run fails with a ``KeyError`` on the control's id) or without a
    Runtime. Here both stay set until every run is over.
    """
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.testing.v1 import app_test
    from streamlit.testing.v1.util import build_mock_config_get_option

    class KeepsRuntime(type):
        def __setattr__(cls, name: str, value: Any) -> None:
            if name != "_instance":
                super().__setattr__(name, value)
            elif value is not None:  # a run's own, set as it starts; never taken away
                Runtime._instance = value

    class SharedRuntime(Runtime, metaclass=KeepsRuntime):
        pass

    app_test_mode = build_mock_config_get_option({"global.appTest": True})
    try:
        with (
            mock.patch.object(config, "get_option", new=app_test_mode),
            mock.patch.object(app_test, "Runtime", SharedRuntime),
        ):
            yield
    finally:
        Runtime._instance = None


def ask_together(*pairs: tuple[AppTest, str]) -> None:
    """Each session asks its question, all at the same time (one thread per session)."""
    errors: list[BaseException] = []

    def one(at: AppTest, question: str) -> None:
        try:
            at.chat_input[0].set_value(question).run()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=pair) for pair in pairs]
    with app_tests_at_once():
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    for at, _ in pairs:
        assert not at.exception, [e.value for e in at.exception]


def test_simultaneous_sessions_keep_their_own_conversation_and_share_the_history(
    shared_store: tuple[dbfixtures.Scratch, Path],
) -> None:
    url = shared_store[0].url
    # Both sessions' first calls of the model wait for each other: the questions are
    # answered at the same time, or not at all.
    both = threading.Barrier(2, timeout=30)

    def meet(sql: str) -> Any:
        return lambda messages: (both.wait(), sql)[1]

    llm_a = ScriptedLLM([meet(PHOENIX_SQL), "Nine merchants.", CATEGORY_SQL, "Restaurants."])
    llm_b = ScriptedLLM([meet(CATEGORY_SQL), "Restaurants.", PHOENIX_SQL, "Nine merchants."])
    a, b = start(llm_a), start(llm_b)
    ask_together((a, PHOENIX), (b, CATEGORY))
    ask_together((a, CATEGORY), (b, PHOENIX))

    assert [t.label for t in turns(a)] == [PHOENIX, CATEGORY]
    assert [t.label for t in turns(b)] == [CATEGORY, PHOENIX]
    assert turns(a)[0].answer.row_count == 9 and turns(b)[1].answer.row_count == 9
    assert all(t.answer.ok for t in turns(a) + turns(b))
    # Each follow-up was written with its own session's earlier turn only.
    assert PHOENIX in conversation_block(llm_a.calls[2].prompt)
    assert CATEGORY not in conversation_block(llm_a.calls[2].prompt)
    assert CATEGORY in conversation_block(llm_b.calls[2].prompt)
    assert PHOENIX not in conversation_block(llm_b.calls[2].prompt)
    assert len(a.session_state["conversation"]) == len(b.session_state["conversation"]) == 2
    # Both sessions' answers are in the one shared store.
    store = HistoryStore(url)
    ids = {t.answer.id for t in turns(a) + turns(b)}
    stored = {e.id: e for e in store.list(limit=10)}
    assert set(stored) == ids
    assert {e.source for e in stored.values()} == {"ui"}


def test_a_session_that_finishes_first_leaves_the_other_one_whole(
    shared_store: tuple[dbfixtures.Scratch, Path],
) -> None:
    """One session's run ends while the other's is still writing its answer: the other's
    answer (its chart switch included) works on its next run. (Without
    ``app_tests_at_once`` the ending run takes AppTest mode away from the other, and that
    run fails with a KeyError on the chart switch's id.)"""
    a_running, b_waiting, a_done = threading.Event(), threading.Event(), threading.Event()

    def a_sql(messages: Any) -> str:
        a_running.set()
        assert b_waiting.wait(30)
        return PHOENIX_SQL

    def b_sql(messages: Any) -> str:
        b_waiting.set()
        assert a_done.wait(30)  # writes its answer after the other run has ended
        return CATEGORY_SQL

    a = start(ScriptedLLM([a_sql, "Nine merchants."]))
    b = start(ScriptedLLM([b_sql, "Restaurants.", PHOENIX_SQL, "Nine merchants."]))

    def run_a() -> None:
        try:
            a.chat_input[0].set_value(PHOENIX).run()
        finally:
            a_done.set()

    with app_tests_at_once():
        other = threading.Thread(target=run_a)
        other.start()
        assert a_running.wait(30)  # the run that started first is the one to end first
        b.chat_input[0].set_value(CATEGORY).run()
        other.join(timeout=60)
    b.chat_input[0].set_value(PHOENIX).run()
    assert not a.exception and not b.exception, [e.value for e in (*a.exception, *b.exception)]
    assert [t.label for t in turns(b)] == [CATEGORY, PHOENIX]
    assert turns(a)[0].answer.row_count == 9 and turns(b)[1].answer.row_count == 9


def test_a_verified_example_saved_in_one_session_answers_another_at_once(
    shared_store: tuple[dbfixtures.Scratch, Path],
) -> None:
    scratch, knowledge = shared_store
    url = scratch.url
    before = knowledge.read_text(encoding="utf-8")
    saver = start(ScriptedLLM([PHOENIX_SQL, "Nine merchants."]))
    other = start()  # no model: only verified questions can be answered here
    saver.chat_input[0].set_value(PHOENIX).run()
    answer_id = turns(saver)[0].answer.id
    saver.feedback[0].set_value(1).run()
    stored = HistoryStore(url).get(answer_id)
    assert stored is not None and stored.rating == 1
    saver.button(key=f"save_{answer_id}").click().run()
    assert not saver.exception and turns(saver)[0].saved
    assert scratch.rows("SELECT question, sql, source FROM verified_examples") == [
        (PHOENIX, turns(saver)[0].answer.sql, "ui")
    ]
    assert knowledge.read_text(encoding="utf-8") == before  # saved to the store, not the file

    other.chat_input[0].set_value("list the merchants located in phoenix").run()
    assert not other.exception
    [turn] = turns(other)
    assert turn.answer.ok and turn.answer.verified and turn.answer.row_count == 9
    assert turn.answer.sql == turns(saver)[0].answer.sql


def test_a_store_that_is_down_still_answers_and_says_it_was_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_db_path: Path
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLAGENT_MODEL", "SQLAGENT_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", str(tmp_path / "none.knowledge.yaml"))
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SQLAGENT_STORE", f"postgresql+psycopg://postgres@127.0.0.1:{port}/x")
    at = start(ScriptedLLM([PHOENIX_SQL, "Nine merchants."]))
    at.chat_input[0].set_value(PHOENIX).run()
    assert not at.exception
    [turn] = turns(at)
    assert turn.answer.ok and turn.answer.row_count == 9
    page = "\n".join(shown_text(str(e.value)) for e in at.markdown)
    assert "Nine merchants." in page
    [note] = [line for line in page.splitlines() if "Not recorded in the history" in line]
    assert f"127.0.0.1:{port}" in note and "Connection refused" in note


_OTHER_DASHBOARD = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=60)
at.run()  # the session is open before the example is saved elsewhere
print("ready", flush=True)
sys.stdin.readline()
at.chat_input[0].set_value(sys.argv[2]).run()
turn = at.session_state["turns"][-1]
print(json.dumps({"ok": turn.answer.ok, "verified": turn.answer.verified,
                  "rows": turn.answer.row_count, "sql": turn.answer.sql,
                  "exceptions": [str(e.value) for e in at.exception]}), flush=True)
"""


def test_a_dashboard_in_another_process_sees_a_saved_example_without_a_restart(
    shared_store: tuple[dbfixtures.Scratch, Path],
) -> None:
    scratch, _ = shared_store
    other = subprocess.Popen(  # the environment (store, no model) is this test's
        [
            sys.executable,
            "-c",
            _OTHER_DASHBOARD,
            str(APP),
            "list the merchants located in Phoenix?",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "ready"
        saver = start(ScriptedLLM([PHOENIX_SQL, "Nine merchants."]))
        saver.chat_input[0].set_value(PHOENIX).run()
        answer_id = turns(saver)[0].answer.id
        saver.feedback[0].set_value(1).run()
        saver.button(key=f"save_{answer_id}").click().run()
        assert turns(saver)[0].saved
        other.stdin.write("go\n")
        other.stdin.flush()
        result = json.loads(other.stdout.readline())
    finally:
        other.kill()
        other.wait(timeout=10)
    assert result["exceptions"] == []
    assert result["ok"] and result["verified"] and result["rows"] == 9
    assert result["sql"] == turns(saver)[0].answer.sql
    assert scratch.rows("SELECT count(*) FROM answers WHERE verified = 1") == [(1,)]
