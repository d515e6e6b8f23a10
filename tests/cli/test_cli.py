"""The command line: the ``--json`` contract, exit codes, and no traceback for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqlagent.testing import FakeOpenAIServer, FakeReply

# Not one of the sample's verified questions, so the model is asked to write the SQL.
PHOENIX_Q = "Which merchants are based in Phoenix, and how many are there?"
VERIFIED_Q = "How many unique merchants are there in Phoenix and what are their names?"
PHOENIX_SQL = (
    "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
)
CONTRACT_KEYS = {
    "question",
    "sql",
    "columns",
    "rows",
    "row_count",
    "truncated",
    "narrative",
    "attempts",
    "error",
    "usage",
    "timings",
}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """Run the installed console script in a fresh process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    full_env["SQLAGENT_HISTORY"] = "off"
    full_env.update(env or {})
    exe = Path(sys.executable).with_name("sqlagent")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def no_traceback(proc) -> bool:
    return "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_ask_json_contract_through_a_local_endpoint(sample_db_path):
    script = [f"```sql\n{PHOENIX_SQL}\n```", "There are 9 unique merchants in Phoenix."]
    with FakeOpenAIServer(script) as server:
        proc = run_cli(
            "ask",
            PHOENIX_Q,
            "--db",
            str(sample_db_path),
            "--json",
            env={"OPENAI_BASE_URL": server.base_url, "SQLAGENT_MODEL": "fake-model"},
        )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)  # a single JSON object and nothing else
    assert set(payload) >= CONTRACT_KEYS
    assert payload["row_count"] == 9 and len(payload["rows"]) == 9
    assert payload["columns"] == ["merchant_name"]
    assert payload["error"] is None
    assert payload["narrative"] == "There are 9 unique merchants in Phoenix."
    assert payload["usage"]["prompt_tokens"] > 0
    assert {"generate", "execute", "narrate"} <= set(payload["timings"])


def test_ask_json_dates_and_decimals_are_plain_json(sample_db_path):
    sql = (
        "SELECT CAST(transaction_ts AS DATE) AS day, transaction_ts, amount FROM transactions "
        "ORDER BY transaction_id LIMIT 3"
    )
    with FakeOpenAIServer([f"```sql\n{sql}\n```", "Three transactions."]) as server:
        proc = run_cli(
            "ask",
            "first three transactions",
            "--db",
            str(sample_db_path),
            "--json",
            env={"OPENAI_BASE_URL": server.base_url},
        )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    day, ts, amount = rows[0]
    assert isinstance(day, str) and len(day) == 10 and day[4] == "-"
    assert isinstance(ts, str) and "T" in ts
    assert isinstance(amount, (int, float))


def test_refused_query_exits_1_with_error_object(sample_db_path):
    with FakeOpenAIServer(["```sql\nDROP TABLE merchants\n```"] * 3) as server:
        proc = run_cli(
            "ask",
            "drop it",
            "--db",
            str(sample_db_path),
            "--json",
            env={"OPENAI_BASE_URL": server.base_url},
        )
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["error"]["type"] == "UnsafeSQL"
    assert len(payload["attempts"]) == 3
    assert no_traceback(proc)


def test_a_statement_timeout_is_reported_and_the_process_exits(sample_db_path):
    # DuckDB goes on building these gigabytes for seconds after its interrupt: the process
    # must not wait for it at exit (the figure is in benchmarks/request_bound.py --cli).
    slow = "SELECT length(string_agg(repeat('x', 1000000), '')) AS n FROM range(100000)"
    proc = run_cli("sql", slow, "--db", str(sample_db_path), "--timeout", "1", timeout=15)
    assert proc.returncode == 1  # refused or failed
    assert "statement timeout of 1 s" in proc.stderr
    assert no_traceback(proc) and "terminate called" not in proc.stderr


def test_timeout_of_the_llm_gives_up_cleanly(sample_db_path):
    with FakeOpenAIServer([FakeReply("late", delay=10)] * 3) as server:
        proc = run_cli(
            "ask",
            PHOENIX_Q,
            "--db",
            str(sample_db_path),
            "--json",
            env={"OPENAI_BASE_URL": server.base_url, "SQLAGENT_LLM_TIMEOUT": "0.5"},
            timeout=30,
        )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["type"] == "LLMTimeout"
    assert no_traceback(proc)


def test_no_llm_configured_fails_fast_with_instructions(sample_db_path):
    proc = run_cli("ask", PHOENIX_Q, "--db", str(sample_db_path))
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr and "OPENAI_BASE_URL" in proc.stderr
    assert "Ollama" in proc.stderr
    assert no_traceback(proc)


def test_verified_question_is_answered_without_any_llm(sample_db_path):
    proc = run_cli("ask", VERIFIED_Q, "--db", str(sample_db_path), "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["verified"] is True
    assert payload["row_count"] == 9
    assert [a["source"] for a in payload["attempts"]] == ["verified"]
    assert "9 rows" in payload["narrative"] or "9" in payload["narrative"]


def test_empty_question_is_a_usage_error(sample_db_path):
    proc = run_cli("ask", "  ", "--db", str(sample_db_path), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["type"] == "UsageError"


def test_missing_database_file_is_an_error_and_not_created(tmp_path):
    missing = tmp_path / "nope.duckdb"
    proc = run_cli("sql", "SELECT 1", "--db", str(missing), "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["type"] == "ConnectionFailed"
    assert not missing.exists()
    assert no_traceback(proc)
    proc = run_cli("schema", "--db", f"duckdb:///{missing}")
    assert proc.returncode == 2 and not missing.exists()


def test_sql_command_runs_users_sql_through_the_guard(sample_db_path):
    proc = run_cli(
        "sql",
        "SELECT count(*) AS n FROM merchants WHERE city = 'Phoenix'",
        "--db",
        str(sample_db_path),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == [[9]]

    proc = run_cli("sql", "DELETE FROM merchants", "--db", str(sample_db_path))
    assert proc.returncode == 1
    assert "error:" in proc.stderr and no_traceback(proc)


def test_sql_human_output_shows_table_and_truncation(sample_db_path):
    proc = run_cli(
        "sql",
        "SELECT merchant_id FROM merchants ORDER BY merchant_id",
        "--db",
        str(sample_db_path),
        "--max-rows",
        "5",
    )
    assert proc.returncode == 0
    assert "merchant_id" in proc.stdout
    assert "(5 rows (truncated" in proc.stdout


def test_schema_shows_what_the_agent_sees(sample_db_path):
    proc = run_cli("schema", "--db", str(sample_db_path))
    assert proc.returncode == 0
    assert "CREATE TABLE merchants" in proc.stdout
    assert "tokens" in proc.stdout


def test_default_database_is_the_sample(sample_db_path):
    proc = run_cli(
        "sql",
        "SELECT count(DISTINCT merchant_name) FROM merchants WHERE city = 'Phoenix'",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == [[9]]


@pytest.mark.parametrize("bad", [["--max-rows", "0"], ["--timeout", "-1"]])
def test_bad_option_values_are_usage_errors(sample_db_path, bad):
    proc = run_cli("sql", "SELECT 1", "--db", str(sample_db_path), *bad)
    assert proc.returncode == 2 and no_traceback(proc)


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("ask", "sql", "schema", "ui"):
        assert command in proc.stdout


def test_chat_keeps_the_conversation_and_resolves_clarifications(sample_db_path):
    tucson = PHOENIX_SQL.replace("Phoenix", "Tucson")
    script = [
        f"```sql\n{PHOENIX_SQL}\n```",
        "There are 9 unique merchants in Phoenix.",
        f"```sql\n{tucson}\n```",
        "Tucson has its own merchants.",
        "CLARIFY: Which amount?\n- single transaction amount\n- total spend",
        "```sql\nSELECT max(amount) AS biggest FROM transactions\n```",
        "The biggest transaction was large.",
    ]
    lines = f"{PHOENIX_Q}\nand in Tucson?\nwhat is the biggest?\n1\n:quit\n"
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    with FakeOpenAIServer(script) as server:
        env.update(OPENAI_BASE_URL=server.base_url, SQLAGENT_HISTORY="off")
        proc = subprocess.run(
            [str(exe), "chat", "--db", str(sample_db_path)],
            input=lines,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        requests = server.requests
    assert proc.returncode == 0, proc.stderr
    assert "There are 9 unique merchants in Phoenix." in proc.stdout
    assert "1. single transaction amount" in proc.stdout
    assert "The biggest transaction was large." in proc.stdout
    # The follow-up's prompt carries the first turn's question and SQL.
    follow_up = requests[2]["messages"][1]["content"]
    assert "<conversation>" in follow_up and "Phoenix" in follow_up
    # Choosing option 1 re-asks the original question with the chosen meaning.
    assert "(I mean: single transaction amount)" in requests[5]["messages"][1]["content"]
    assert no_traceback(proc)


def test_chat_without_a_model_answers_verified_questions_and_explains_the_rest(sample_db_path):
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env["SQLAGENT_HISTORY"] = "off"
    proc = subprocess.run(
        [str(exe), "chat", "--db", str(sample_db_path)],
        input=f"{VERIFIED_Q}\nand in Tucson?\n:quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "SQL (verified):" in proc.stdout and "(9 rows)" in proc.stdout
    assert "only the verified questions" in proc.stderr
    assert proc.stderr.count("No language model is configured") == 2  # the note, the follow-up
    assert no_traceback(proc)


def test_every_ask_is_recorded_in_the_history(sample_db_path, tmp_path):
    script = [f"```sql\n{PHOENIX_SQL}\n```", "There are 9 unique merchants in Phoenix."]
    home = {"SQLAGENT_HOME": str(tmp_path), "SQLAGENT_HISTORY": "on"}
    with FakeOpenAIServer(script) as server:
        proc = run_cli(
            "ask",
            PHOENIX_Q,
            "--db",
            f"duckdb:///{sample_db_path}",
            "--json",
            env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-secret-key", **home},
        )
    assert proc.returncode == 0, proc.stderr
    answer_id = json.loads(proc.stdout)["id"]
    listing = run_cli("history", "list", env=home)
    assert listing.returncode == 0, listing.stderr
    assert PHOENIX_Q[:30] in listing.stdout
    shown = run_cli("history", "show", answer_id[:8], env=home)
    assert shown.returncode == 0 and PHOENIX_SQL.split()[0] in shown.stdout
    assert b"sk-secret-key" not in (tmp_path / "history.sqlite3").read_bytes()

    off = run_cli(
        "sql",
        "SELECT 1 AS x",
        "--db",
        str(sample_db_path),
        env={"SQLAGENT_HOME": str(tmp_path / "off"), "SQLAGENT_HISTORY": "off"},
    )
    assert off.returncode == 0
    assert not (tmp_path / "off" / "history.sqlite3").exists()


def test_schema_for_a_question_shows_its_context_and_the_verified_sql(sample_db_path):
    proc = run_cli("schema", "--db", str(sample_db_path), "--question", VERIFIED_Q, "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert "merchants" in payload["tables"]
    assert payload["verified_sql"].startswith("SELECT DISTINCT merchant_name")
    assert any("merchants.city contains 'Phoenix'" in note for note in payload["notes"])
    other = run_cli("schema", "--db", str(sample_db_path), "--question", "Which cities?")
    assert other.returncode == 0 and "verified one" not in other.stdout
    assert "tokens, dialect duckdb" in other.stdout


def test_a_policy_file_is_a_ceiling_for_the_row_limit(sample_db_path, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_rows: 5\n")
    sql = "SELECT customer_id FROM customers"
    by_flag = run_cli("sql", sql, "--db", str(sample_db_path), "--policy", str(policy),
                      "--max-rows", "50", "--json")  # fmt: skip
    by_env = run_cli("sql", sql, "--db", str(sample_db_path), "--json",
                     env={"SQLAGENT_POLICY": str(policy), "SQLAGENT_MAX_ROWS": "50"})  # fmt: skip
    lower = run_cli("sql", sql, "--db", str(sample_db_path), "--policy", str(policy),
                    "--max-rows", "3", "--json")  # fmt: skip
    for proc, rows in ((by_flag, 5), (by_env, 5), (lower, 3)):
        payload = json.loads(proc.stdout)
        assert payload["row_count"] == rows and payload["truncated"], proc.stderr


def test_sql_json_error_keeps_the_sql_in_its_field(tmp_path):
    missing = tmp_path / "nope.duckdb"
    payload = json.loads(run_cli("sql", "SELECT 1", "--db", str(missing), "--json").stdout)
    assert payload["question"] == "" and payload["sql"] == "SELECT 1"


def test_ui_reports_a_missing_database_before_starting(tmp_path):
    missing = tmp_path / "nope.duckdb"
    proc = run_cli("ui", "--db", str(missing), "--headless")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and no_traceback(proc)
    assert not missing.exists()
    for args in (("--db", "nosuch://x"), ("--max-rows", "-5")):
        proc = run_cli("ui", *args, "--headless")
        assert proc.returncode == 2 and no_traceback(proc), args


def test_json_of_an_early_failure_has_the_shape_of_an_answer(sample_db_path, tmp_path):
    ok = json.loads(run_cli("sql", "SELECT 1 AS one", "--db", str(sample_db_path), "--json").stdout)
    failed = run_cli("sql", "SELECT 1", "--db", str(tmp_path / "nope.duckdb"), "--json")
    assert set(json.loads(failed.stdout)) == set(ok)


def test_ask_and_sql_read_a_dash_from_standard_input(sample_db_path, tmp_path):
    # Longer than one argument may be on Linux (128 KiB): only stdin can carry it.
    long_sql = "SELECT 1 AS one\n" + "-- padding\n" * 13_000
    assert len(long_sql) > 131_072
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HISTORY="off", SQLAGENT_HOME=str(tmp_path))
    proc = subprocess.run(
        [str(exe), "sql", "-", "--db", str(sample_db_path), "--json"],
        input=long_sql,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == [[1]]

    question = "Which merchants are based in Phoenix,\nand how many are there?\n"
    script = [f"```sql\n{PHOENIX_SQL}\n```", "Nine merchants."]
    with FakeOpenAIServer(script) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        proc = subprocess.run(
            [str(exe), "ask", "-", "--db", str(sample_db_path)],
            input=question,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        asked = server.requests[0]["messages"][-1]["content"]
    assert proc.returncode == 0, proc.stderr
    assert "and how many are there?" in asked and "Nine merchants." in proc.stdout
    empty = subprocess.run(
        [str(exe), "ask", "-", "--db", str(sample_db_path)],
        input="  \n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert empty.returncode == 2 and "The question is empty" in empty.stderr


def test_ui_starts_the_dashboard_the_readme_opens(sample_db_path, tmp_path):
    """`sqlagent ui` (the Quick start's command) serves the dashboard: the app is found from
    the installed package and Streamlit answers on the port."""
    import socket
    import urllib.request

    from sqlagent.cli.ui import dashboard_app

    assert dashboard_app().is_file()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HISTORY="off", SQLAGENT_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [str(exe), "ui", "--headless", "--port", str(port), "--db", str(sample_db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    status = reply.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, proc.stdout.read().decode() if proc.poll() is not None else status
    finally:
        proc.terminate()
        proc.wait(timeout=20)
