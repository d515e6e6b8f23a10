"""The history store on every backend: the local file, a SQLite URL and a real PostgreSQL
server; its migrations, old files, concurrent writer processes, crashes and outages."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dbfixtures
import pytest
from test_history import make_answer

from sqlagent.api import Agent
from sqlagent.errors import ConfigError, UsageError
from sqlagent.settings import Settings
from sqlagent.store.backends import LATEST, MIGRATIONS
from sqlagent.store.history import HistoryError, HistoryStore
from sqlagent.testing import ScriptedLLM
from sqlagent.types import Answer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

OLD_FILE_IDS = (
    "2abe7fb9e418462bbea378ef14307620",
    "dc2c11199c564d64ae296a342d80c925",
    "69d5aff8fde54ff58264fa551d3be139",
)
"""The answers in fixtures/history_v1.sqlite3, written by sqlagent before migrations."""


@pytest.fixture()
def pg() -> Iterator[dbfixtures.Scratch]:
    yield from dbfixtures.scratch_postgres()


@pytest.fixture(params=["file", "sqlite-url", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a store lives, once per backend."""
    if request.param == "file":
        yield str(tmp_path / "history.sqlite3")
    elif request.param == "sqlite-url":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    else:
        yield from (s.url for s in dbfixtures.scratch_postgres())


# --------------------------------------------------------------------------- the contract


def test_record_replace_feedback_and_read_back(location: str) -> None:
    store = HistoryStore(location)
    first = make_answer("How many?")
    store.record(first, database="postgresql://bob:hunter2@db/shop", source="cli")
    store.record(first, database="postgresql://bob:hunter2@db/shop", source="ui")  # replaces
    assert store.count() == 1
    e = store.get(first.id)
    assert e is not None and e.source == "ui" and e.database == "postgresql://bob:***@db/shop"
    assert (e.prompt_tokens, e.completion_tokens, e.llm_calls, e.context_tokens) == (
        2700,
        130,
        3,
        321,
    )
    assert e.attempts[0]["error"] == {"type": "UnknownTable", "message": "no table tt"}
    assert e.timings["generate"] == 0.5 and not e.truncated
    store.feedback(first.id, 1, "good")
    store.feedback(first.id, -1, "on second thought")
    e = store.get(first.id)
    assert e is not None and (e.rating, e.note) == (-1, "on second thought")
    with pytest.raises(UsageError):
        store.feedback("no-such-id", 1)
    with pytest.raises(UsageError):
        store.feedback(first.id, 9)


def test_list_find_and_export(location: str) -> None:
    store = HistoryStore(location)
    answers = [make_answer(f"q{i}") for i in range(5)]
    for a in answers:
        store.record(a, database="db")
    assert [e.question for e in store.list(limit=2)] == ["q4", "q3"]
    assert [e.question for e in store.list(limit=2, offset=3)] == ["q1", "q0"]
    assert store.find(answers[2].id[:10]) == [answers[2].id]
    assert store.find("_") == [] and store.find("%") == []  # LIKE wildcards are literal
    out = io.StringIO()
    assert store.export_jsonl(out) == 5
    assert [json.loads(line)["question"] for line in out.getvalue().splitlines()] == [
        f"q{i}" for i in range(5)
    ]


def test_verified_examples_are_per_database_and_not_repeated(location: str) -> None:
    store = HistoryStore(location)
    assert store.add_verified("duckdb:///shop.duckdb", "How many orders?", "SELECT 1")
    assert not store.add_verified("duckdb:///shop.duckdb", "how many  ORDERS", "SELECT 2")
    assert store.add_verified("duckdb:///other.duckdb", "How many orders?", "SELECT 3")
    assert store.verified("duckdb:///shop.duckdb") == (("How many orders?", "SELECT 1"),)
    assert store.verified("duckdb:///other.duckdb") == (("How many orders?", "SELECT 3"),)
    with pytest.raises(UsageError):
        store.add_verified("db", " ", "SELECT 1")
    # Another process (another store object) sees them at once.
    assert HistoryStore(location).verified("duckdb:///shop.duckdb") == (
        ("How many orders?", "SELECT 1"),
    )


def test_a_store_is_migrated_once_to_the_latest_version(location: str) -> None:
    HistoryStore(location).count()
    HistoryStore(location).count()
    store = HistoryStore(location)
    rows = store._read("SELECT version FROM sqlagent_migrations ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


RELEASED_MIGRATIONS = {1: "df0683af2f7fa3ab", 2: "5364a4fea2bc668a", 3: "32b284c695818cad"}
"""Fingerprints of the migrations already released: stores in the field have run them."""


def test_migrations_are_append_only() -> None:
    import hashlib

    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for migration in MIGRATIONS:
        if migration.version in RELEASED_MIGRATIONS:
            text = "\n".join((*migration.sqlite, "--", *migration.postgresql))
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            assert digest == RELEASED_MIGRATIONS[migration.version], (
                f"migration {migration.version} was changed after its release: add a new one"
            )


def test_an_unsupported_or_malformed_store_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL or SQLite"):
        HistoryStore("mysql+pymysql://root@127.0.0.1/test")
    with pytest.raises(ConfigError, match="not a valid"):
        HistoryStore("postgresql+psycopg://host:notaport/x")


# --------------------------------------------------------------------------- old stores


def test_a_file_written_before_migrations_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    shutil.copy(FIXTURES / "history_v1.sqlite3", path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    before = con.execute("SELECT * FROM answers ORDER BY id").fetchall()
    con.close()

    store = HistoryStore(path)
    assert store.count() == 3
    entries = {e.id: e for e in store.list(limit=10)}
    assert set(entries) == set(OLD_FILE_IDS)
    first = entries[OLD_FILE_IDS[0]]
    assert first.database == "postgresql://bob:***@db/shop" and first.source == "ui"
    assert (first.rating, first.note) == (-1, "note 0")
    assert first.attempts[0]["error"]["type"] == "UnknownTable"
    # The new parts work on it, and the old rows are untouched.
    store.feedback(OLD_FILE_IDS[1], 5, "still here")
    assert store.add_verified("db", "How many orders?", "SELECT 1")
    store.record(make_answer("new"), database="db")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST
    rows = con.execute(
        "SELECT * FROM answers WHERE id IN (?, ?, ?) ORDER BY id", OLD_FILE_IDS
    ).fetchall()
    # The old columns unchanged; the columns added later (who asked) empty on old rows.
    width = len(before[0])
    assert [r[:width] for r in rows] == before
    assert {r[width:] for r in rows} == {(None, None)}
    con.close()
    assert HistoryStore(path).count() == 4


def test_the_same_old_file_opens_through_a_sqlite_url(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    shutil.copy(FIXTURES / "history_v1.sqlite3", path)
    store = HistoryStore(f"sqlite:///{path}")
    assert {e.id for e in store.list()} == set(OLD_FILE_IDS)
    assert store.get(OLD_FILE_IDS[2]) is not None
    assert store.add_verified("db", "q", "SELECT 1")


def test_a_postgresql_store_at_version_1_gets_the_newer_migrations(
    pg: dbfixtures.Scratch,
) -> None:
    first = MIGRATIONS[0]
    pg.run(
        *first.postgresql,
        "CREATE TABLE sqlagent_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL)",
        "INSERT INTO sqlagent_migrations VALUES (1, 'answers', '2026-01-01T00:00:00+00:00')",
    )
    store = HistoryStore(pg.url)
    store.record(make_answer("kept"), database="db")
    assert store.add_verified("db", "q", "SELECT 1")
    versions = pg.rows("SELECT version FROM sqlagent_migrations ORDER BY version")
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path, pg: dbfixtures.Scratch) -> None:
    path = tmp_path / "history.sqlite3"
    HistoryStore(path)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO sqlagent_migrations VALUES (99, 'future', 'x')")
    con.commit()
    con.close()
    with pytest.raises(HistoryError, match="newer sqlagent"):
        HistoryStore(path)
    HistoryStore(pg.url).count()
    pg.run("INSERT INTO sqlagent_migrations VALUES (99, 'future', 'x')")
    with pytest.raises(HistoryError, match="newer sqlagent"):
        HistoryStore(pg.url).count()


def test_processes_starting_together_migrate_a_new_store_once(pg: dbfixtures.Scratch) -> None:
    code = (
        "import sys; from sqlagent.store.history import HistoryStore; "
        "print(HistoryStore(sys.argv[1]).count())"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    assert pg.rows("SELECT count(*) FROM sqlagent_migrations") == [(len(MIGRATIONS),)]


# --------------------------------------------------------------------------- many writers

_WRITER = """
import sys
from sqlagent.store.history import HistoryStore
from sqlagent.types import Answer, Attempt, Step, Trace, Usage
store = HistoryStore(sys.argv[1])
count = int(sys.argv[2])
n = 0
while count == 0 or n < count:
    a = Answer(
        question=f"{sys.argv[3]}-{n} " + "x" * 2000,
        sql="SELECT 1",
        attempts=tuple(Attempt("SELECT " + "y" * 500) for _ in range(20)),
        trace=Trace((Step("generate", 0.1, Usage(10, 5)),), model="gpt-4.1-mini"),
    )
    store.record(a, database="db")
    print(a.id, flush=True)
    n += 1
"""


def test_eight_writer_processes_lose_and_duplicate_nothing(pg: dbfixtures.Scratch) -> None:
    HistoryStore(pg.url).count()  # migrated before the writers start
    per_writer = 200
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, pg.url, str(per_writer), f"w{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    reported: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reported.extend(out.split())
    assert len(reported) == len(set(reported)) == 8 * per_writer
    rows = pg.rows("SELECT id, count(*) FROM answers GROUP BY id")
    assert len(rows) == 8 * per_writer and all(n == 1 for _, n in rows)
    assert {r[0] for r in rows} == set(reported)
    questions = pg.rows("SELECT split_part(question, ' ', 1) FROM answers")
    assert {q for (q,) in questions} == {f"w{n}-{i}" for n in range(8) for i in range(per_writer)}


def test_a_writer_killed_mid_run_loses_at_most_its_answer_in_flight(
    pg: dbfixtures.Scratch,
) -> None:
    HistoryStore(pg.url).count()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, pg.url, "0", "k"], stdout=subprocess.PIPE, text=True
    )
    committed: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(committed) < 60 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)  # likely in the middle of a write
        proc.wait(timeout=10)
    assert len(committed) >= 60, "the writer did not get going"
    stored = {r[0] for r in pg.rows("SELECT id FROM answers")}
    assert set(committed) <= stored
    # At most one answer beyond those reported: the one committed just before the kill.
    assert len(stored - set(committed)) <= 1
    store = HistoryStore(pg.url)
    entry = store.get(committed[0])
    assert entry is not None and len(entry.attempts) == 20
    store.record(make_answer("after the kill"), database="db")
    assert store.count() == len(stored) + 1


# --------------------------------------------------------------------------- outages


def _sqlite_shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE orders (id INTEGER, total REAL); INSERT INTO orders VALUES (1, 9.5);"
    )
    con.close()
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_store_that_is_down_does_not_stop_answering(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/sqlagent"
    settings = Settings(model="scripted", store_url=url, schema_cache=False)
    llm = ScriptedLLM(
        ["SELECT sum(total) FROM orders", "9.5.", "SELECT count(*) FROM orders", "1."]
    )
    caplog.set_level(logging.WARNING, logger="sqlagent.history")
    with Agent.connect(str(_sqlite_shop(tmp_path)), llm=llm, settings=settings) as agent:
        first = agent.ask("Total sales?")
        second = agent.ask("How many orders?")
        own = agent.sql("SELECT 1 AS one")
    for answer in (first, second, own):
        assert answer.ok, answer.error
        [step] = [s for s in answer.trace.steps if s.name == "history"]
        assert url.split("@")[1] in step.detail["store"]
        assert "history store" in step.detail["error"]
    assert first.rows == ((9.5,),) and second.rows == ((1,),)
    assert "retrying in" in second.trace.steps[-1].detail["error"]  # no new connection wait
    warnings = [r for r in caplog.records if r.name == "sqlagent.history"]
    assert len(warnings) == 1 and "not recorded" in warnings[0].getMessage()


def test_a_server_that_never_answers_is_given_up_on_after_the_connect_timeout(
    tmp_path: Path,
) -> None:
    # A socket that accepts connections (the kernel's backlog) but never speaks.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/sqlagent"
        settings = Settings(model="scripted", store_url=url, schema_cache=False)
        llm = ScriptedLLM(["SELECT count(*) FROM orders", "1."])
        result: list[Answer] = []
        with Agent.connect(str(_sqlite_shop(tmp_path)), llm=llm, settings=settings) as agent:
            worker = threading.Thread(target=lambda: result.append(agent.ask("How many?")))
            worker.start()
            worker.join(timeout=60)  # bounded: the connect timeout is 3 s
            assert not worker.is_alive(), "answering waited on the store"
    finally:
        silent.close()
    [answer] = result
    assert answer.ok
    assert answer.trace.steps[-1].name == "history"


def test_the_agent_answers_with_verified_examples_another_process_saved(
    tmp_path: Path, pg: dbfixtures.Scratch
) -> None:
    shop = _sqlite_shop(tmp_path)
    settings = Settings(model="scripted", store_url=pg.url, schema_cache=False)
    with Agent.connect(str(shop), settings=settings) as reader:
        with pytest.raises(ConfigError):  # no model and nothing verified yet
            reader.ask("What is the total of all orders?")
        code = (
            "import sys; from sqlagent.api import Agent; from sqlagent.settings import Settings; "
            "a = Agent.connect(sys.argv[1], settings=Settings(store_url=sys.argv[2])); "
            "print(a.save_verified('What is the total of all orders?', "
            "'SELECT sum(total) AS total FROM orders'))"
        )
        subprocess.run([sys.executable, "-c", code, str(shop), pg.url], check=True, timeout=120)
        answer = reader.ask("what is the total of all orders")  # same process, no restart
    assert answer.ok and answer.verified and answer.rows == ((9.5,),)
    stored = HistoryStore(pg.url).get(answer.id)
    assert stored is not None and stored.verified


def test_the_store_url_comes_from_the_environment_and_its_password_is_never_shown(
    tmp_path: Path,
) -> None:
    url = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{_closed_port()}/sqlagent"
    settings = Settings.from_env({"SQLAGENT_STORE": url})
    assert settings.store_url == url
    assert Settings.from_env({}).store_url is None
    with Agent.connect(
        str(_sqlite_shop(tmp_path)), settings=settings.with_(schema_cache=False)
    ) as agent:
        assert agent.history is not None and agent.history.shared
        assert agent.saves_verified_to_store
        answer = agent.sql("SELECT count(*) AS n FROM orders")
        with pytest.raises(HistoryError) as failure:
            agent.history.count()
    shown = [repr(agent.history), str(agent.history.path), agent.history.location]
    shown += [str(s.detail) for s in answer.trace.steps] + [failure.value.message]
    assert all("s3cret" not in text for text in shown), shown
    assert all("bob:***@" in text for text in shown[:3])


def test_sqlagent_history_reads_a_shared_store(pg: dbfixtures.Scratch) -> None:
    from sqlagent.cli import main

    store = HistoryStore(pg.url)
    answer = make_answer("Which shared question?")
    store.record(answer, database="db", source="ui")
    out, err = io.StringIO(), io.StringIO()
    assert main(["history", "--store", pg.url, "list"], out=out, err=err) == 0, err.getvalue()
    assert "Which shared question?" in out.getvalue()
    out = io.StringIO()
    assert main(["history", "--store", pg.url, "show", answer.id[:8]], out=out, err=err) == 0
    assert answer.id in out.getvalue()


class _Proxy:
    """A TCP proxy to the PostgreSQL server that can be taken down and brought back, to
    stand for a store server that goes away (its open connections are cut too)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _closed_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the accepting thread (Linux)
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def test_answers_go_on_while_the_store_is_down_and_are_recorded_again_after(
    tmp_path: Path,
    pg: dbfixtures.Scratch,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import sqlalchemy as sa

    from sqlagent.store import backends as store_module

    monkeypatch.setattr(store_module, "RETRY_SECONDS", 0.5)
    real = sa.make_url(pg.url)
    proxy = _Proxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.up()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(model="scripted", store_url=url, schema_cache=False)
    caplog.set_level(logging.WARNING, logger="sqlagent.history")
    try:
        with Agent.connect(str(_sqlite_shop(tmp_path)), settings=settings) as agent:
            before = agent.sql("SELECT 1 AS n")
            proxy.down()  # the server goes away, pooled connections with it
            during = [agent.sql(f"SELECT {n} AS n") for n in range(2, 5)]
            proxy.up()
            time.sleep(0.6)  # past the retry window
            after = agent.sql("SELECT 5 AS n")
    finally:
        proxy.down()
    assert all(a.ok for a in (before, *during, after))
    assert [a.rows for a in during] == [((2,),), ((3,),), ((4,),)]
    assert all(any(s.name == "history" for s in a.trace.steps) for a in during)
    assert not any(s.name == "history" for s in (*before.trace.steps, *after.trace.steps))
    stored = {r[0] for r in pg.rows("SELECT id FROM answers")}
    assert stored == {before.id, after.id}
    messages = [r.getMessage() for r in caplog.records if r.name == "sqlagent.history"]
    assert len(messages) == 2, messages  # the failure once, then that it works again
    assert "not recorded" in messages[0] and "works again" in messages[1]
