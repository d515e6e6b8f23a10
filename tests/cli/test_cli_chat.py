"""``sqlagent chat`` as a user drives it: commands are never questions, Ctrl-C cancels the
question that is running and a second one leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlagent.cli.chat import command_of
from sqlagent.testing import FakeOpenAIServer, FakeReply

PHOENIX_Q = "Which merchants are based in Phoenix, and how many are there?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)


def chat_env(server: FakeOpenAIServer | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env["SQLAGENT_HISTORY"] = "off"
    env["SQLAGENT_HOME"] = os.environ.get("SQLAGENT_HOME", "")
    if server is not None:
        env["OPENAI_BASE_URL"] = server.base_url
    return env


def chat(db: Path, lines: str, server: FakeOpenAIServer | None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("sqlagent")
    return subprocess.run(
        [str(exe), "chat", "--db", str(db)],
        input=lines,
        capture_output=True,
        text=True,
        env=chat_env(server),
        timeout=60,
    )


def test_help_and_unknown_commands_are_answered_without_the_model(sample_db_path):
    with FakeOpenAIServer([]) as server:
        proc = chat(sample_db_path, ":help\n/help\n:frobnicate\n/sql\n:quit\n", server)
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    assert requests == []  # not one of them went to the model as a question
    assert proc.stdout.count("Commands:") == 3  # :help, /help, and after the unknown one
    assert "Unknown command ':frobnicate'" in proc.stdout
    for command in (":sql", ":reset", ":quit", ":help"):
        assert command in proc.stdout
    assert "(no SQL yet)" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_question_can_continue_over_several_lines(sample_db_path):
    script = [f"```sql\n{PHOENIX_SQL}\n```", "Nine merchants."]
    with FakeOpenAIServer(script) as server:
        proc = chat(sample_db_path, "Which merchants are based in \\\nPhoenix?\n:quit\n", server)
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    assert (
        requests[0]["messages"][-1]["content"]
        .rstrip()
        .endswith("Which merchants are based in Phoenix?")
    )
    assert "Nine merchants." in proc.stdout


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_ctrl_c_cancels_the_pending_question_and_a_second_one_leaves(sample_db_path):
    script = [
        # The first question hangs in the model: Ctrl-C must not wait for it.
        FakeReply(f"```sql\n{PHOENIX_SQL}\n```", delay=20),
        f"```sql\n{PHOENIX_SQL.replace('Phoenix', 'Tucson')}\n```",
        "Tucson has merchants too.",
    ]
    exe = Path(sys.executable).with_name("sqlagent")
    with FakeOpenAIServer(script) as server:
        proc = subprocess.Popen(
            [str(exe), "chat", "--db", str(sample_db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=chat_env(server),
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(PHOENIX_Q + "\n")
            proc.stdin.flush()
            wait_for(lambda: len(server.requests) == 1)  # the question is pending
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.stdin.write("Which merchants are based in Tucson?\n")
            proc.stdin.flush()
            wait_for(lambda: len(server.requests) == 3)  # asked and narrated
            answered = time.monotonic() - started
            time.sleep(0.5)  # the answer is printed, the prompt is back
            proc.send_signal(signal.SIGINT)  # at the prompt: leave
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert answered < 15  # the hanging first question was not waited for
    assert "(cancelled" in out
    assert "Tucson has merchants too." in out
    assert "There are 9" not in out and "Traceback" not in err
    # The cancelled question left no turn behind: the second one is not a follow-up of it.
    assert "<conversation>" not in server.requests[1]["messages"][-1]["content"]


def test_command_syntax() -> None:
    assert command_of(":HELP") == "help" and command_of("/?") == "?"
    assert command_of(":frobnicate the data") == "frobnicate"  # still not a question
    assert command_of(":) thanks") is None
    assert command_of("3") is None and command_of("") is None
