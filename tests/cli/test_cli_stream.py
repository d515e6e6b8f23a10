"""``sqlagent ask`` and ``chat`` print the SQL and table first, then the narration as it
streams (``--stream``; by default only on a terminal), over real HTTP to the fake endpoint."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sqlagent import Agent
from sqlagent.cli import main
from sqlagent.cli.chat import run_chat
from sqlagent.cli.common import _print_answer, _print_error
from sqlagent.db import connect
from sqlagent.settings import Settings
from sqlagent.testing import FakeOpenAIServer

PHOENIX_Q = "Which merchants are based in Phoenix, and how many are there?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)
NARRATION = (
    "There are 9 unique merchants in Phoenix. They are listed in the table, by name. "
    "The first one is Camelback Coffee Roasters."
)
SCRIPT = [f"```sql\n{PHOENIX_SQL}\n```", NARRATION]


class Writes(io.StringIO):
    """An output that remembers each write, to see what was printed when."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.writes: list[str] = []
        self._tty = tty

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def isatty(self) -> bool:
        return self._tty


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OPENAI_API_KEY", "SQLAGENT_MODEL", "SQLAGENT_DB", "SQLAGENT_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQLAGENT_HISTORY", "off")
    monkeypatch.setenv("SQLAGENT_MODEL", "fake-model")
    return monkeypatch


def ask(env: pytest.MonkeyPatch, db: Path, *flags: str, tty: bool = False) -> Writes:
    out, err = Writes(tty), io.StringIO()
    with FakeOpenAIServer(SCRIPT) as server:
        env.setenv("OPENAI_BASE_URL", server.base_url)
        code = main(["ask", PHOENIX_Q, "--db", str(db), *flags], out=out, err=err)
    assert code == 0, err.getvalue()
    return out


def narration_writes(out: Writes) -> list[str]:
    """The writes after the row count, before the final line break."""
    start = next(i for i, w in enumerate(out.writes) if "9 rows" in w) + 1
    return [w for w in out.writes[start:] if w.strip()]


def test_ask_streams_the_narration_after_the_sql_and_table(
    env: pytest.MonkeyPatch, sample_db_path: Path
) -> None:
    out = ask(env, sample_db_path, "--stream")
    sql_at = next(i for i, w in enumerate(out.writes) if PHOENIX_SQL[:30] in w)
    table_at = next(i for i, w in enumerate(out.writes) if "Camelback Coffee Roasters" in w)
    pieces = narration_writes(out)
    assert sql_at < table_at < out.writes.index(pieces[0])
    assert len(pieces) >= 3  # sentence by sentence, not in one go
    assert "".join(pieces) == NARRATION
    assert out.getvalue().endswith(NARRATION + "\n")


def test_no_stream_prints_the_same_answer_at_once(
    env: pytest.MonkeyPatch, sample_db_path: Path
) -> None:
    streamed = ask(env, sample_db_path, "--stream").getvalue()
    out = ask(env, sample_db_path, "--no-stream", tty=True)
    assert narration_writes(out) == [NARRATION + "\n"]
    assert out.getvalue() == streamed


def test_streaming_is_the_default_on_a_terminal_only(
    env: pytest.MonkeyPatch, sample_db_path: Path
) -> None:
    assert len(narration_writes(ask(env, sample_db_path, tty=True))) >= 3
    assert narration_writes(ask(env, sample_db_path)) == [NARRATION + "\n"]


def test_json_never_streams(env: pytest.MonkeyPatch, sample_db_path: Path) -> None:
    out = ask(env, sample_db_path, "--json", "--stream", tty=True)
    [line] = out.writes
    assert json.loads(line)["narrative"] == NARRATION


def test_chat_streams_the_narration(sample_db_path: Path) -> None:
    out, err = Writes(), io.StringIO()
    with FakeOpenAIServer(SCRIPT) as server:
        settings = Settings(model="fake-model", base_url=server.base_url, history=False)
        with Agent(connect(sample_db_path), settings=settings) as agent:
            code = run_chat(
                agent,
                llm_configured=True,
                llm_help="",
                out=out,
                err=err,
                print_answer=_print_answer,
                print_error=_print_error,
                stdin=io.StringIO(PHOENIX_Q + "\n:quit\n"),
                stream=True,
            )
    assert code == 0, err.getvalue()
    pieces = narration_writes(out)
    assert len(pieces) >= 3
    assert "".join(pieces).startswith(NARRATION)
