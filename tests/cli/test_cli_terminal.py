"""Hostile values reach the terminal as visible text: no escape sequence, C1 control, overwrite
trick or bidi override the database holds is written raw by the command line.

The command line runs for real against a DuckDB file of hostile values: in this process
(``main`` with captured streams) and as a separate process whose output bytes are read.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from clirun import run_main as run
from hostile_corpus import by_category

from sqlagent.cli.terminal import visible
from sqlagent.testing import FakeOpenAIServer

REPO = Path(__file__).resolve().parents[2]

HOSTILE = [
    *by_category("terminal", "bidi_control"),
    "\x1b]52;c;ZWNobyBwd25lZA==\x07clipboard",  # OSC 52: writes the clipboard
    "\x9b2J",  # one-byte C1 CSI: clears the screen
    "\x1bP+q\x1b\\dcs",  # device control string
    "100%\rDONE",
    "\u202aembed\u202b\u202c\u202d\u202e",
]
ORDINARY = ["Zürich", "北京市 朝阳区", "emoji 🙂👍🏽", "naïve café", "tab\there"]

UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\r(?!\n)"
)
UNSAFE_BYTES = [b"\x1b", b"\x07", b"\x08", b"\xc2\x9b", b"\xe2\x80\xae", b"\xe2\x81\xa6"]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("terminal") / "hostile.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (id INTEGER, v VARCHAR)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?)", [(i, v) for i, v in enumerate(HOSTILE + ORDINARY)]
    )
    con.execute('CREATE TABLE "evil\x1b[2Jname" ("col\u202eumn" INTEGER)')
    con.execute('INSERT INTO "evil\x1b[2Jname" VALUES (1)')
    con.close()
    return path


def assert_clean(*texts: str) -> None:
    for text in texts:
        found = UNSAFE.search(text)
        assert found is None, f"raw {found.group()!r} written: {text[:200]!r}"


def shown(value: str) -> str:
    """What a table cell shows of ``value``: visible, whitespace folded, cut at 40."""
    text = visible(" ".join(value.split()))
    return text if len(text) <= 40 else text[:39]


def test_sql_table_shows_every_value_visibly(hostile_db: Path) -> None:
    code, out, err = run("sql", "SELECT id, v FROM t ORDER BY id", "--db", str(hostile_db))
    assert code == 0, err
    assert_clean(out, err)
    for value in HOSTILE + ORDINARY:
        assert shown(value) in out, value
    assert "\\u001b[2J\\u001b[Hcleared" in out
    assert "\\u009b2J" in out
    assert "user\\u202egnp.exe" in out
    assert "100% DONE" in out  # a table cell folds line breaks and returns to spaces
    assert "北京市 朝阳区" in out and "emoji 🙂👍🏽" in out and "naïve café" in out


def test_table_columns_line_up_with_the_visible_text(hostile_db: Path) -> None:
    code, out, _ = run(
        "sql", "SELECT v, id FROM t WHERE id < 3 ORDER BY id", "--db", str(hostile_db)
    )
    assert code == 0
    lines = out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("v "))
    header, rule, rows = lines[at], lines[at + 1], lines[at + 2 : at + 5]
    assert [ln[-1] for ln in rows] == ["0", "1", "2"]
    # Every row ends where the header's last column ends: widths measured on shown text.
    assert {len(ln) for ln in rows} == {len(header)} == {len(rule)}


def test_json_output_keeps_the_values_and_escapes_them(hostile_db: Path) -> None:
    code, out, err = run(
        "sql", "SELECT id, v FROM t ORDER BY id", "--db", str(hostile_db), "--json"
    )
    assert code == 0, err
    assert_clean(out, err)
    payload = json.loads(out)
    assert [r[1] for r in payload["rows"]] == HOSTILE + ORDINARY  # the exact values
    assert "\\u001b" in out and "\\u009b" in out and "\\u202e" in out
    assert "北京市" in out  # ordinary text is not escaped


def test_names_in_sql_and_errors_are_visible(hostile_db: Path) -> None:
    sql = 'SELECT "col\u202eumn" FROM "evil\x1b[2Jname"'
    code, out, err = run("sql", sql, "--db", str(hostile_db))
    assert code == 0, err
    assert_clean(out, err)
    assert "col\\u202eumn" in out and "evil\\u001b[2Jname" in out
    code, out, err = run(
        "sql", 'SELECT "\x1b]8;;https://attacker.example\x07x" FROM t', "--db", str(hostile_db)
    )
    assert code == 1
    assert_clean(out, err)
    assert "error: Unknown column" in err and "\\u001b]8;;https://attacker.example\\u0007x" in err


def test_ask_narrative_and_sql_from_the_model_are_visible(
    hostile_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "SELECT id, v FROM t WHERE v LIKE '%\x1b[%' ORDER BY id"
    # No digits: a number the result does not show would have the narrative replaced.
    narrative = "Found \x1b[H\x1b[J the \u202ecleared\u202c rows.\rHIDDEN \x9bK\x08gone"
    with FakeOpenAIServer([f"```sql\n{sql}\n```", narrative]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SQLAGENT_MODEL", "fake-model")
        monkeypatch.setenv("SQLAGENT_HISTORY", "off")
        code, out, err = run(
            "ask", "Which values clear \x1b[2J the screen?", "--db", str(hostile_db)
        )
    assert code == 0, err
    assert_clean(out, err)
    assert "LIKE '%\\u001b[%'" in out  # the SQL
    assert "\\u001b[2J\\u001b[Hcleared" in out  # a cell
    assert (
        "Found \\u001b[H\\u001b[J the \\u202ecleared\\u202c rows.\\u000dHIDDEN \\u009bK\\u0008gone"
        in out
    )


def test_chat_writes_visible_text(hostile_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "SELECT id, v FROM t WHERE id IN (1, 2) ORDER BY id"
    monkeypatch.setenv("SQLAGENT_HISTORY", "off")
    with FakeOpenAIServer([f"```sql\n{sql}\n```", "It is \x9bKred\x1b[m."]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("SQLAGENT_MODEL", "fake-model")
        monkeypatch.setattr(sys, "stdin", io.StringIO("Show value one\n:sql\n:quit\n"))
        code, out, err = run("chat", "--db", str(hostile_db))
    assert code == 0, err
    assert_clean(out, err)
    assert "It is \\u009bKred\\u001b[m." in out
    assert shown(HOSTILE[1]) in out and shown(HOSTILE[2]) in out
    assert "\n> " + sql in out  # :sql shows the last statement


def test_the_real_process_writes_no_raw_escape_bytes(hostile_db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HISTORY="off", PYTHONPATH=str(REPO))
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "sqlagent", "sql", "SELECT id, v FROM t ORDER BY id",
             "--db", str(hostile_db), *extra],
            capture_output=True, env=env, timeout=60, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        for raw in UNSAFE_BYTES:
            assert raw not in proc.stdout and raw not in proc.stderr, (raw, extra)
        text = proc.stdout.decode("utf-8")
        assert "北京市 朝阳区" in text and "🙂" in text
    assert json.loads(proc.stdout)["rows"][0][1] == HOSTILE[0]
