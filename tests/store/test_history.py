"""The history store: what it records, feedback, listing, export, crashes and concurrency."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sqlagent.errors import UsageError
from sqlagent.store.history import HistoryStore, default_path, mask_url
from sqlagent.types import Answer, Attempt, ErrorInfo, Step, Trace, Usage


def make_answer(question: str = "How many?", *, model: str = "gpt-4.1-mini") -> Answer:
    return Answer(
        question=question,
        sql="SELECT count(*) FROM t",
        columns=("count",),
        rows=((3,),),
        attempts=(
            Attempt("SELECT count(*) FROM tt", ErrorInfo("UnknownTable", "no table tt")),
            Attempt("SELECT count(*) FROM t"),
        ),
        trace=Trace(
            (
                Step("schema", 0.01),
                Step("context", 0.02, None, {"tokens": 321, "text": "CREATE TABLE t (secret)"}),
                Step("generate", 0.5, Usage(1000, 40), {"reply": "SELECT ..."}),
                Step("check", 0.001),
                Step("repair", 0.4, Usage(1200, 30)),
                Step("execute", 0.003),
                Step("narrate", 0.3, Usage(500, 60)),
            ),
            model=model,
            prompt_version="abc123",
        ),
    )


@pytest.fixture()
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history.sqlite3")


def test_record_stores_everything_about_an_answer(store: HistoryStore) -> None:
    answer = make_answer()
    store.record(answer, database="postgresql://bob:hunter2@db/shop", source="cli")
    e = store.get(answer.id)
    assert e is not None
    assert (e.id, e.question, e.source, e.outcome) == (answer.id, "How many?", "cli", "answer")
    assert e.database == "postgresql://bob:***@db/shop"
    assert e.context_tokens == 321
    assert [a["sql"] for a in e.attempts] == ["SELECT count(*) FROM tt", "SELECT count(*) FROM t"]
    assert e.attempts[0]["error"] == {"type": "UnknownTable", "message": "no table tt"}
    assert e.attempts[1]["error"] is None
    assert e.timings["generate"] == 0.5 and e.timings["narrate"] == 0.3
    assert e.duration == pytest.approx(1.234)
    assert (e.prompt_tokens, e.completion_tokens, e.llm_calls) == (2700, 130, 3)
    # gpt-4.1-mini: $0.40 / $1.60 per million tokens.
    assert e.cost_usd == pytest.approx(2700 * 0.40 / 1e6 + 130 * 1.60 / 1e6)
    assert (e.model, e.prompt_version, e.row_count, e.sql) == (
        "gpt-4.1-mini",
        "abc123",
        1,
        "SELECT count(*) FROM t",
    )


def test_unknown_model_has_no_cost_and_errors_are_kept(store: HistoryStore) -> None:
    failed = Answer(
        question="Drop it",
        sql=None,
        error=ErrorInfo("UnsafeSQL", "only a single read-only query can run"),
        trace=Trace((Step("generate", 0.1, Usage(10, 5)),), model="my-local-llama"),
    )
    store.record(failed, database="sqlite:///x.sqlite")
    e = store.get(failed.id)
    assert e is not None
    assert e.cost_usd is None and e.outcome == "error"
    assert e.error == {"type": "UnsafeSQL", "message": "only a single read-only query can run"}
    assert e.context_tokens is None


def test_nothing_secret_reaches_the_file(store: HistoryStore, tmp_path: Path) -> None:
    store.record(make_answer(), database="mysql+pymysql://root:topsecretpw@127.0.0.1/test")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"topsecretpw" not in raw
    assert b"CREATE TABLE t (secret)" not in raw  # the schema context text is not kept
    assert mask_url("sqlite:///plain.db") == "sqlite:///plain.db"


def test_feedback_latest_wins_and_is_validated(store: HistoryStore) -> None:
    answer = make_answer()
    store.record(answer, database="db")
    store.feedback(answer.id, -1, "wrong table")
    store.feedback(answer.id, 1, "fixed by rephrasing")
    e = store.get(answer.id)
    assert e is not None and (e.rating, e.note) == (1, "fixed by rephrasing")
    with pytest.raises(UsageError, match="No answer"):
        store.feedback("does-not-exist", 1)
    with pytest.raises(UsageError, match="rating"):
        store.feedback(answer.id, 9)


def test_list_is_newest_first_with_paging(store: HistoryStore) -> None:
    answers = [make_answer(f"q{i}") for i in range(5)]
    for a in answers:
        store.record(a, database="db")
    listed = store.list(limit=3)
    assert [e.question for e in listed] == ["q4", "q3", "q2"]
    assert [e.question for e in store.list(limit=3, offset=3)] == ["q1", "q0"]
    assert store.get("nope") is None
    assert store.find(answers[0].id[:10]) == [answers[0].id]
    assert store.count() == 5


def test_export_jsonl_writes_every_answer(store: HistoryStore) -> None:
    for i in range(3):
        store.record(make_answer(f"q{i}"), database="db")
    buf = io.StringIO()
    assert store.export_jsonl(buf) == 3
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [d["question"] for d in lines] == ["q0", "q1", "q2"]
    assert lines[0]["attempts"][0]["error"]["type"] == "UnknownTable"


def test_records_a_real_pipeline_answer(tmp_path: Path) -> None:
    from sqlagent.db import connect
    from sqlagent.pipeline import ask
    from sqlagent.settings import Settings
    from sqlagent.testing import ScriptedLLM

    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE orders (id INTEGER, total REAL); INSERT INTO orders VALUES (1, 9.5);"
    )
    con.close()
    db = connect(str(path))
    llm = ScriptedLLM(["```sql\nSELECT sum(total) FROM orders\n```", "One order, 9.5."])
    answer = ask("Total sales?", llm=llm, db=db, settings=Settings(model="scripted"))
    db.close()
    store = HistoryStore(tmp_path / "h.sqlite3")
    store.record(answer, database=db.display_url)
    e = store.get(answer.id)
    assert e is not None and e.outcome == "answer" and e.llm_calls == 2
    assert e.context_tokens is not None and e.context_tokens > 0
    assert e.prompt_version == answer.trace.prompt_version != ""


def test_default_path_follows_the_environment(tmp_path: Path) -> None:
    assert default_path({"SQLAGENT_HOME": str(tmp_path)}) == tmp_path / "history.sqlite3"
    assert default_path({"XDG_DATA_HOME": str(tmp_path)}) == (
        tmp_path / "sqlagent" / "history.sqlite3"
    )
    assert default_path({}).parts[-3:] == ("share", "sqlagent", "history.sqlite3")


def test_uses_wal_mode(store: HistoryStore) -> None:
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_eight_threads_writing_at_once_lose_nothing(store: HistoryStore) -> None:
    per_thread = 40
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(per_thread):
                a = make_answer(f"t{n}-{i}")
                store.record(a, database="db")
                with lock:
                    ids.append(a.id)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 8 * per_thread
    assert {e.id for e in store.list(limit=1000)} == set(ids)


_WRITER = """
import sys
from sqlagent.store.history import HistoryStore
from sqlagent.types import Answer, Attempt, Step, Trace, Usage
store = HistoryStore(sys.argv[1])
n = 0
while True:
    a = Answer(
        question=f"q{n} " + "x" * 2000,
        sql="SELECT 1",
        attempts=tuple(Attempt("SELECT " + "y" * 500) for _ in range(20)),
        trace=Trace((Step("generate", 0.1, Usage(10, 5)),), model="gpt-4.1-mini"),
    )
    store.record(a, database="db")
    print(a.id, flush=True)
    n += 1
"""


def test_a_writer_killed_mid_run_leaves_earlier_answers_intact(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    HistoryStore(path)  # created before the writer starts
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    committed: list[str] = []
    deadline = time.monotonic() + 30
    try:
        assert proc.stdout is not None
        while len(committed) < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up, likely in the middle of a write
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(committed) >= 40, "the writer did not get going"

    store = HistoryStore(path)  # reopening recovers the WAL
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    stored = {e.id for e in store.list(limit=100_000)}
    assert set(committed) <= stored  # every answer reported committed survived
    for answer_id in committed[:5]:
        entry = store.get(answer_id)
        assert entry is not None and len(entry.attempts) == 20
    # And the store still takes writes.
    fresh = make_answer("after the crash")
    store.record(fresh, database="db")
    assert store.get(fresh.id) is not None
