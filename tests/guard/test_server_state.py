"""Statements that would change PostgreSQL's server-wide state are refused before the server.

Statistics resets persist (no rollback undoes them), log writes and consumed transaction ids
outlive the session, and replication origins are cluster objects: a read-only transaction
does not stop any of them. The guard's function allow-list must, so this test runs every
PostgreSQL case of the allow-list corpus through the guarded path and compares the server's
state before and after (every statistics reset time, the replication origins) and, with the
scratch database logging every statement it receives, shows from the server log that no
refused statement ever reached the server: a transaction id can only be consumed, or a log
line written, by a statement that arrives. (The cluster's transaction-id horizon itself moves
with autovacuum and other databases' work, so it is no evidence either way.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import pytest
from guard_corpus import CORPUS_DIR, load_cases

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.pipeline import run_sql
from sqlagent.settings import Policy, Settings

pytestmark = pytest.mark.postgres

CASES = [c for c in load_cases(CORPUS_DIR) if c.id.startswith("allowlist:")]
PG_CASES = [c for c in CASES if c.dialect == "postgres"]
LOG = Path("/var/log/postgresql")

RESET_TIMES = {
    "bgwriter": "SELECT stats_reset FROM pg_stat_bgwriter",
    "wal": "SELECT stats_reset FROM pg_stat_wal",
    "archiver": "SELECT stats_reset FROM pg_stat_archiver",
    "slru": "SELECT name, stats_reset FROM pg_stat_slru ORDER BY name",
    "database": "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()",
    "tables": "SELECT relname, n_live_tup, seq_scan FROM pg_stat_user_tables ORDER BY relname",
    "origins": "SELECT roname FROM pg_replication_origin ORDER BY roname",
}


@pytest.fixture
def people() -> Iterator[tuple[dbfixtures.Scratch, Database]]:
    for scratch in dbfixtures.scratch_postgres():
        scratch.run(
            "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "ssn TEXT, password TEXT, city TEXT, signup_date DATE)",
            "INSERT INTO customers VALUES (1, 'Ann', 'a@x', '111', 'pw', 'Paris', '2024-01-01')",
            "CREATE TABLE cards (card_id INTEGER, customer_id INTEGER, card_type TEXT, "
            "issued_at DATE, credit_limit NUMERIC(10,2))",
            f'ALTER DATABASE "{scratch.name}" SET log_statement = \'all\'',
        )
        db = connect(scratch.url, sample_values=False)
        yield scratch, db
        db.close()


def _state(scratch: dbfixtures.Scratch) -> dict[str, object]:
    return {k: scratch.rows(sql) for k, sql in RESET_TIMES.items()}


def _log_lines(name: str) -> list[str]:
    lines: list[str] = []
    for path in sorted(LOG.glob("postgresql-*.log")):
        with path.open(encoding="utf-8", errors="replace") as f:
            lines += [line for line in f if f"@{name} " in line]
    return lines


def test_corpus_has_the_server_state_cases() -> None:
    whys = " ".join(c.why for c in PG_CASES)
    for word in ("statistics", "log", "transaction id", "replication origin"):
        assert word in whys


def test_no_server_state_changes(people: tuple[dbfixtures.Scratch, Database]) -> None:
    scratch, db = people
    before = _state(scratch)
    log_before = _log_lines(scratch.name)
    refused_calls: set[str] = set()
    for case in PG_CASES:
        policy = Policy.from_mapping({"statement_timeout": 10, **case.policy})
        settings = Settings(model="scripted", api_key=None, base_url=None, policy=policy)
        answer = run_sql(case.sql, db=db, settings=settings)
        if case.expect == "refuse":
            assert answer.error is not None and answer.error.type == case.error_type, case.why
            refused_calls.update(re.findall(r"(\w+)\(", case.sql.lower()))
        else:
            assert answer.error is None, f"{case.why}: {answer.error}"
    assert _state(scratch) == before
    if not LOG.is_dir():
        pytest.skip(f"no server log at {LOG} to show that nothing arrived")
    arrived = [line.lower() for line in _log_lines(scratch.name)[len(log_before) :]]
    # The allowed cases did arrive: the log does record this database's statements.
    assert any("statement:" in line for line in arrived)
    harmless = {"lower", "max", "count", "min", "version", "cast", "made_up"}
    for name in sorted(refused_calls - harmless):
        assert not [line for line in arrived if f"{name}(" in line], f"{name} reached the server"
