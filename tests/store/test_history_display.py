"""``sqlagent history`` shows what an entry of one's own SQL ran, where a question would be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HOME=str(home), SQLAGENT_HISTORY="on")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=60)


def test_own_sql_is_shown_and_labelled(sample_db_path: Path, tmp_path: Path) -> None:
    sql = (
        "SELECT merchant_name, city FROM merchants WHERE city IN ('Phoenix', 'Tucson') "
        "ORDER BY merchant_name"
    )
    done = run("sql", sql, "--db", str(sample_db_path), "--json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    answer_id = json.loads(done.stdout)["id"]

    listing = run("history", home=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(answer_id[:12]))
    # The question column holds the SQL, shortened, marked as SQL.
    assert "sql: SELECT merchant_name, city FROM" in row and row.rstrip().endswith("…")

    shown = run("history", "show", answer_id[:8], home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert not any(line.rstrip() == "question:" for line in lines)
    assert f"sql:            {sql}" in lines
    assert "source:         own SQL, run from the command line (no question)" in lines
