"""The history of answers: every question, its SQL attempts, timings, tokens and cost, on disk.

    store = HistoryStore()                       # the user's data directory (see default_path)
    store.record(answer, database=db.display_url)
    store.feedback(answer.id, 1, "right answer")
    store.list(limit=20)                         # newest first
    store.export_jsonl(open("history.jsonl", "w"))

The store is a SQLite file in WAL mode. Every call opens its own connection and runs one short
transaction (``BEGIN IMMEDIATE`` for writes, with a busy timeout), so any number of threads and
processes can write at once, and a process killed mid-write leaves every committed answer
intact: SQLite rolls an unfinished transaction back when the file is next opened.

Nothing secret is stored: no API key, no schema context text or rows, and a password left in a
database URL is masked again before it is written.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import SqlAgentError, UsageError
from .types import Answer, Trace

__all__ = [
    "HistoryEntry",
    "HistoryError",
    "HistoryStore",
    "context_tokens",
    "default_path",
    "llm_call_count",
    "mask_url",
]

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0
"""Seconds a writer waits for another writer's transaction before giving up."""
LLM_STEPS = ("generate", "repair", "narrate")
"""Trace steps that are one call of the model each."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    database TEXT NOT NULL,
    question TEXT NOT NULL,
    outcome TEXT NOT NULL,
    sql TEXT,
    error TEXT,
    attempts TEXT NOT NULL,
    context_tokens INTEGER,
    timings TEXT NOT NULL,
    duration REAL NOT NULL,
    llm_calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    confidence REAL
);
CREATE INDEX IF NOT EXISTS answers_by_time ON answers (created_at);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_answer ON feedback (answer_id);
"""

_COLUMNS = (
    "id, created_at, source, database, question, outcome, sql, error, attempts, "
    "context_tokens, timings, duration, llm_calls, prompt_tokens, completion_tokens, "
    "cost_usd, model, prompt_version, row_count, truncated, verified, confidence"
)
# The latest feedback of each answer rides along with it.
_SELECT = f"""
SELECT {", ".join("a." + c.strip() for c in _COLUMNS.split(","))},
       (SELECT rating FROM feedback f WHERE f.answer_id = a.id ORDER BY f.rowid DESC LIMIT 1),
       (SELECT note FROM feedback f WHERE f.answer_id = a.id ORDER BY f.rowid DESC LIMIT 1)
FROM answers a
"""


class HistoryError(SqlAgentError):
    """The history file could not be read or written (locked too long, disk full, corrupt)."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the history lives: ``$SQLAGENT_HOME/history.sqlite3``, else
    ``$XDG_DATA_HOME/sqlagent/history.sqlite3``, else ``~/.local/share/sqlagent/...``."""
    env = os.environ if environ is None else environ
    if env.get("SQLAGENT_HOME"):
        return Path(env["SQLAGENT_HOME"]).expanduser() / "history.sqlite3"
    base = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base).expanduser() / "sqlagent" / "history.sqlite3"


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^@\s]+@")


def mask_url(text: str) -> str:
    """Replace a password in a URL by ``***``.

    >>> mask_url("postgresql://bob:s3cret@db:5432/shop")
    'postgresql://bob:***@db:5432/shop'
    """
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", text)


def context_tokens(trace: Trace) -> int | None:
    """Size of the schema context shown to the model, from the trace's ``context`` step."""
    for step in trace.steps:
        if step.name == "context" and isinstance(step.detail.get("tokens"), int):
            return int(step.detail["tokens"])
    return None


def llm_call_count(trace: Trace) -> int:
    """How many times the model was called for this answer (a step may record ``calls``)."""
    return sum(int(step.detail.get("calls", 1)) for step in trace.steps if step.name in LLM_STEPS)


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded answer, as stored."""

    id: str
    created_at: str
    """UTC, ISO 8601."""
    source: str
    database: str
    question: str
    outcome: str
    """answer, clarification, refusal or error (``Answer.kind``)."""
    sql: str | None
    error: dict[str, str] | None
    attempts: tuple[dict[str, Any], ...]
    """Each try: ``{"sql", "source", "error"}``."""
    context_tokens: int | None
    timings: dict[str, float]
    duration: float
    """Seconds spent in the chain's steps, added up."""
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    model: str
    prompt_version: str
    row_count: int
    truncated: bool
    verified: bool
    confidence: float | None
    rating: int | None = None
    """The latest feedback, if any."""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the format of ``export_jsonl``)."""
        data = asdict(self)
        data["attempts"] = list(self.attempts)
        return data


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    (
        id_,
        created_at,
        source,
        database,
        question,
        outcome,
        sql,
        error,
        attempts,
        ctx,
        timings,
        duration,
        llm_calls,
        prompt_tokens,
        completion_tokens,
        cost,
        model,
        prompt_version,
        row_count,
        truncated,
        verified,
        confidence,
        rating,
        note,
    ) = row
    return HistoryEntry(
        id=id_,
        created_at=created_at,
        source=source,
        database=database,
        question=question,
        outcome=outcome,
        sql=sql,
        error=json.loads(error) if error else None,
        attempts=tuple(json.loads(attempts)),
        context_tokens=ctx,
        timings=json.loads(timings),
        duration=duration,
        llm_calls=llm_calls,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        model=model,
        prompt_version=prompt_version,
        row_count=row_count,
        truncated=bool(truncated),
        verified=bool(verified),
        confidence=confidence,
        rating=rating,
        note=note or "",
    )


class HistoryStore:
    """The answers recorded on this machine (see the module docstring).

    >>> store = HistoryStore(tmp_path / "history.sqlite3")  # doctest: +SKIP
    >>> store.record(answer, database="duckdb:///shop.duckdb")  # doctest: +SKIP
    >>> store.get(answer.id).sql  # doctest: +SKIP
    'SELECT count(*) FROM orders'
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connection() as con:
                mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # e.g. a file system without shared memory
                    con.execute("PRAGMA journal_mode = DELETE")
                with self._transaction(con):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            con.execute(statement)
                    version = con.execute("PRAGMA user_version").fetchone()[0]
                    if version == 0:
                        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    elif version > SCHEMA_VERSION:
                        raise HistoryError(
                            f"The history file {self.path} was written by a newer sqlagent "
                            f"(format {version}; this one reads {SCHEMA_VERSION})."
                        )
        except (sqlite3.Error, OSError) as exc:
            raise HistoryError(
                f"Cannot open the history file {self.path}: {exc}",
                hint="Set SQLAGENT_HOME to a writable folder, or turn the history off.",
            ) from None

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connections

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # One connection per call: nothing is shared between threads or kept open.
        con = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            # In WAL mode NORMAL loses no committed transaction when a process dies; only a
            # power cut can drop the last few, which a history can afford.
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self, con: sqlite3.Connection) -> Iterator[None]:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        try:
            with self._connection() as con, self._transaction(con):
                return con.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot write to the history file {self.path}: {exc}") from None

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._connection() as con:
                return con.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot read the history file {self.path}: {exc}") from None

    # ------------------------------------------------------------------ API

    def record(self, answer: Answer, *, database: str, source: str = "api") -> None:
        """Store ``answer`` (recording the same id again replaces it).

        ``database`` is the display URL (password masked); ``source`` says who asked: api,
        cli, ui, http, eval.
        """
        from .evaluation.prices import cost_usd

        trace = answer.trace
        usage = trace.usage
        attempts = [
            {"sql": a.sql, "source": a.source, "error": a.error.to_dict() if a.error else None}
            for a in answer.attempts
        ]
        timings = {k: round(v, 6) for k, v in trace.timings().items()}
        self._write(
            f"INSERT OR REPLACE INTO answers ({_COLUMNS}) VALUES "
            f"({', '.join('?' * len(_COLUMNS.split(',')))})",
            (
                answer.id,
                _now(),
                source,
                mask_url(database),
                answer.question,
                answer.kind,
                answer.sql,
                json.dumps(answer.error.to_dict()) if answer.error else None,
                json.dumps(attempts, ensure_ascii=False),
                context_tokens(trace),
                json.dumps(timings),
                round(sum(timings.values()), 6),
                llm_call_count(trace),
                usage.prompt_tokens,
                usage.completion_tokens,
                cost_usd(trace.model, usage) if trace.model else None,
                trace.model,
                trace.prompt_version,
                answer.row_count,
                int(answer.truncated),
                int(answer.verified),
                answer.confidence,
            ),
        )

    def feedback(self, answer_id: str, rating: int, note: str = "") -> None:
        """Attach a rating (-1 bad … 5 great; +1/-1 for thumbs) and a note to an answer.

        The latest feedback is what ``get`` and ``list`` show. Raises ``UsageError`` for an
        unknown answer id or a rating outside -1..5.
        """
        if isinstance(rating, bool) or not isinstance(rating, int) or not -1 <= rating <= 5:
            raise UsageError(f"A rating is a whole number from -1 to 5, not {rating!r}")
        try:
            with self._connection() as con, self._transaction(con):
                known = con.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,))
                if known.fetchone() is None:
                    raise UsageError(f"No answer with id {answer_id!r} in the history")
                con.execute(
                    "INSERT INTO feedback (answer_id, rating, note, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (answer_id, rating, note, _now()),
                )
        except sqlite3.Error as exc:
            raise HistoryError(f"Cannot write to the history file {self.path}: {exc}") from None

    def list(self, limit: int = 20, offset: int = 0) -> list[HistoryEntry]:
        """Recorded answers, newest first."""
        rows = self._read(
            _SELECT + " ORDER BY a.created_at DESC, a.rowid DESC LIMIT ? OFFSET ?",
            (max(0, limit), max(0, offset)),
        )
        return [_entry(r) for r in rows]

    def get(self, answer_id: str) -> HistoryEntry | None:
        """The answer with this id, or None."""
        rows = self._read(_SELECT + " WHERE a.id = ?", (answer_id,))
        return _entry(rows[0]) if rows else None

    def find(self, prefix: str) -> builtins.list[str]:
        """Ids starting with ``prefix`` (at most 10), so a short id can be typed."""
        if not prefix:
            return []
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT id FROM answers WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 10",
            (escaped + "%",),
        )
        return [r[0] for r in rows]

    def count(self) -> int:
        """How many answers are recorded."""
        return int(self._read("SELECT count(*) FROM answers")[0][0])

    def export_jsonl(self, out: TextIO) -> int:
        """Write every answer as one JSON object a line, oldest first; returns how many."""
        written = 0
        batch = 500
        offset = 0
        while True:
            rows = self._read(
                _SELECT + " ORDER BY a.created_at, a.rowid LIMIT ? OFFSET ?", (batch, offset)
            )
            for row in rows:
                out.write(json.dumps(_entry(row).to_dict(), ensure_ascii=False) + "\n")
                written += 1
            if len(rows) < batch:
                return written
            offset += batch
