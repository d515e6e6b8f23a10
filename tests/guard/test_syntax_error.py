"""A statement that does not parse is reported at the first token that cannot start or
continue it, where that token starts, with a caret under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqlagent.errors import SQLParseError
from sqlagent.guard import check
from sqlagent.settings import Policy
from sqlagent.types import ColumnInfo, SchemaInfo, TableInfo

SCHEMA = {
    dialect: SchemaInfo(
        dialect,
        (TableInfo("merchants", (ColumnInfo("city", "VARCHAR"), ColumnInfo("name", "VARCHAR"))),),
    )
    for dialect in ("duckdb", "postgres", "mysql", "sqlite")
}


def parse_error(sql: str, dialect: str = "duckdb") -> str:
    with pytest.raises(SQLParseError) as info:
        check(sql, schema=SCHEMA[dialect], policy=Policy())
    return info.value.message


def caret_column(message: str) -> int:
    """The 1-based column the caret line points at (under the excerpt's two-space indent)."""
    caret = message.splitlines()[-1]
    return len(caret) - len(caret.lstrip()) - 1


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "mysql", "sqlite"])
@pytest.mark.parametrize(
    ("sql", "token", "column"),
    [
        ("SELEC 1", "SELEC", 1),
        ("SELECTT city FROM merchants", "SELECTT", 1),
        ("WHERE city = 'x'", "WHERE", 1),
        ("SELECT city FROM merchants WHERE WHERE city = 'x'", "WHERE", 34),
        ("SELECT city FROM merchants WHERE city = = 'x'", "=", 41),
    ],
)
def test_the_first_token_that_cannot_start_or_continue(
    sql: str, token: str, column: int, dialect: str
) -> None:
    message = parse_error(sql, dialect)
    assert f"'{token}' cannot" in message
    assert f"(line 1, column {column})" in message
    assert sql in message.splitlines()[-2]
    assert caret_column(message) == column
    assert message.splitlines()[-1].strip() == "^" * len(token)


def test_a_statement_over_several_lines_points_into_its_line() -> None:
    sql = "SELECT city\nFROM merchants\nWHERE city = = 'x'"
    message = parse_error(sql)
    assert "'=' cannot continue the statement here" in message
    assert "(line 3, column 14)" in message
    excerpt = message.splitlines()[-2]
    assert excerpt.strip() == "WHERE city = = 'x'" and caret_column(message) == 14


def test_a_long_line_is_shown_around_the_token() -> None:
    sql = "SELECT " + ", ".join(["city"] * 60) + " FROM merchants WHERE WHERE city = 'x'"
    message = parse_error(sql)
    column = sql.index("WHERE WHERE") + len("WHERE ") + 1
    assert f"(line 1, column {column})" in message
    excerpt, caret = message.splitlines()[-2:]
    assert len(excerpt) < 100 and excerpt.lstrip().startswith("…")
    start = len(caret) - len(caret.lstrip())
    assert excerpt[start : start + 5] == "WHERE" and caret.strip() == "^^^^^"


def test_the_cli_shows_the_caret(sample_db_path: Path) -> None:
    exe = Path(sys.executable).with_name("sqlagent")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HISTORY="off", SQLAGENT_HOME=os.environ.get("SQLAGENT_HOME", ""))
    proc = subprocess.run(
        [str(exe), "sql", "SELEC 1", "--db", str(sample_db_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "'SELEC' cannot start a statement (line 1, column 1)" in proc.stderr
    assert "  SELEC 1\n  ^^^^^\n" in proc.stderr
    assert "Traceback" not in proc.stderr
