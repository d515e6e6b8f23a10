"""Answers as OpenTelemetry traces: their shape (in-memory exporter), what they never carry,
nothing imported when off, and a real OTLP receiver process fed by the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from sqlagent import Agent
from sqlagent.errors import ConfigError
from sqlagent.observe.otel import AnswerSpans, from_env
from sqlagent.settings import Policy, Settings
from sqlagent.testing import FakeOpenAIServer, ScriptedLLM

REPO = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("sqlagent"))
PHOENIX_Q = "How many unique merchants are there in Phoenix and what are their names?"
PHOENIX_SQL = "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix'"


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


@pytest.fixture()
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def agent_with(exporter: InMemorySpanExporter, llm: Any, settings: Settings, db: Any) -> Agent:
    # No knowledge file: the sample's verified Phoenix question would skip the model.
    settings = settings.with_(knowledge_path=os.devnull)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = AnswerSpans(provider, base_url="http://127.0.0.1:9/v1")
    return Agent(db, llm=llm, settings=settings, history=None, spans=spans)


def test_an_answer_is_one_trace_of_steps_with_genai_model_calls(
    sample_db, settings, exporter
) -> None:
    llm = ScriptedLLM(
        [fenced("SELECT nosuch FROM merchants"), fenced(PHOENIX_SQL), "There are 9 merchants."]
    )
    answer = agent_with(exporter, llm, settings, sample_db).ask(PHOENIX_Q)
    assert answer.ok and answer.row_count == 9
    spans = exporter.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1
    root = next(s for s in spans if s.name == "sqlagent ask")
    assert root.parent is None
    assert root.attributes["db.response.returned_rows"] == 9
    assert "Phoenix" in root.attributes["db.query.text"]
    assert root.attributes["db.system.name"] == "duckdb"
    steps = [s for s in spans if s.name.startswith("sqlagent.")]
    names = [s.name for s in sorted(steps, key=lambda s: s.start_time)]
    for step in ("context", "generate", "check", "repair", "execute", "narrate"):
        assert f"sqlagent.{step}" in names, names
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in steps)
    assert all(root.start_time <= s.start_time <= s.end_time <= root.end_time for s in steps)
    refused = [s for s in steps if s.attributes.get("sqlagent.outcome") == "error"]
    assert refused and refused[0].status.status_code == StatusCode.ERROR
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 3  # generate, repair, narrate
    by_id = {s.context.span_id: s for s in spans}
    for chat in chats:
        assert chat.kind == SpanKind.CLIENT
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "openai"
        assert chat.attributes["gen_ai.request.model"] == "scripted"
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert chat.attributes["server.address"] == "127.0.0.1"
        assert by_id[chat.parent.span_id].name in ("sqlagent.generate", "sqlagent.repair",
                                                   "sqlagent.narrate")  # fmt: skip
    total_in = sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    assert total_in == answer.trace.usage.prompt_tokens
    assert root.attributes["gen_ai.usage.input_tokens"] == total_in


def test_spans_never_carry_a_denied_name_or_a_value(sample_db, exporter) -> None:
    settings = Settings(history=False, policy=Policy(denied_columns=("cards.card_number",)))
    llm = ScriptedLLM(
        [
            fenced("SELECT card_number FROM cards WHERE card_number = '4111-1111'"),
            fenced("SELECT CAST(merchant_name AS INTEGER) FROM merchants"),
            fenced("SELECT count(*) AS n FROM merchants"),
            "There are some merchants.",
        ]
    )
    answer = agent_with(exporter, llm, settings, sample_db).ask("Card numbers?")
    assert answer.ok
    text = json.dumps([dict(s.attributes) for s in exporter.get_finished_spans()]) + json.dumps(
        [s.status.description for s in exporter.get_finished_spans()]
    )
    assert "card_number" not in text and "4111" not in text
    first_merchant = (
        answer.rows
        and sample_db.execute(
            "SELECT min(merchant_name) FROM merchants", max_rows=1, timeout=10
        ).rows[0][0]
    )
    assert first_merchant and str(first_merchant) not in text  # the cast error quoted it


def test_a_refused_sql_is_an_error_trace_without_the_sql(sample_db, settings, exporter) -> None:
    answer = agent_with(exporter, None, settings, sample_db).sql("DELETE FROM merchants")
    assert not answer.ok
    root = next(s for s in exporter.get_finished_spans() if s.name == "sqlagent sql")
    assert root.status.status_code == StatusCode.ERROR
    assert "db.query.text" not in root.attributes
    assert root.attributes["error.type"] == answer.error.type


def test_otel_off_imports_nothing_and_on_without_sdk_says_how(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sqlagent import Agent\n"
        "a = Agent.connect()\n"
        "assert a.sql('SELECT 1 AS one').ok\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLAGENT_", "OTEL_"))}
    env["SQLAGENT_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        from_env({"SQLAGENT_OTEL": "on", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"})
    assert from_env({"SQLAGENT_OTEL": "off"}) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spans_in(path: Path, names: set[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            spans = [json.loads(line) for line in path.read_text().splitlines() if line]
            if names <= {s["name"] for s in spans}:
                return spans
        time.sleep(0.2)
    pytest.fail(f"the receiver did not get {names}: {path.read_text() if path.exists() else ''}")


def _attr(span: dict[str, Any], key: str) -> Any:
    for a in span.get("attributes", []):
        if a["key"] == key:
            value = a["value"]
            return next(iter(value.values())) if value else None
    return None


def test_the_cli_sends_traces_to_a_real_otlp_receiver(tmp_path: Path) -> None:
    pytest.importorskip("oteltest", reason="oteltest (the receiver) is not installed")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="no OTLP exporter")
    port = _free_port()
    received = tmp_path / "spans.jsonl"
    receiver = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "otlp_receiver.py"), str(port), str(received)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "READY"
        with FakeOpenAIServer([fenced(PHOENIX_SQL), "There are 9 merchants."]) as model:
            own = ("SQLAGENT_", "OTEL_", "OPENAI_")
            env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
            env.update(
                SQLAGENT_HOME=str(tmp_path / "home"),
                SQLAGENT_HISTORY="off",
                SQLAGENT_OTEL="on",
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
                OTEL_SERVICE_NAME="sqlagent-test",
                OPENAI_BASE_URL=model.base_url,
                SQLAGENT_MODEL="fake-model",
                SQLAGENT_KNOWLEDGE=str(tmp_path / "none.knowledge.yaml"),
            )
            run = subprocess.run(
                [EXE, "ask", PHOENIX_Q], env=env, capture_output=True, text=True, timeout=120
            )
            assert run.returncode == 0, run.stderr
            sql = subprocess.run(
                [EXE, "sql", "SELECT count(*) AS n FROM merchants"],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert sql.returncode == 0, sql.stderr
        spans = _spans_in(received, {"sqlagent ask", "sqlagent sql", "chat fake-model"})
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    ask_root = next(s for s in spans if s["name"] == "sqlagent ask")
    assert _attr(ask_root, "db.response.returned_rows") in (9, "9")
    service = {"key": "service.name", "value": {"stringValue": "sqlagent-test"}}
    assert service in ask_root["resource"]
    chats = [s for s in spans if s["name"] == "chat fake-model"]
    assert len(chats) == 2
    assert all(int(_attr(c, "gen_ai.usage.input_tokens")) > 0 for c in chats)
    steps = {s["name"] for s in spans if s["traceId"] == ask_root["traceId"]}
    assert {"sqlagent.generate", "sqlagent.check", "sqlagent.execute", "sqlagent.narrate"} <= steps
