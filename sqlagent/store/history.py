"""The history of answers: every question, its SQL attempts, timings, tokens and cost, on disk.

    store = HistoryStore()                       # the user's data directory (see default_path)
    store.record(answer, database=db.display_url)
    store.feedback(answer.id, 1, "right answer")
    store.list(limit=20)                         # newest first
    store.export_jsonl(open("history.jsonl", "w"))

By default the store is a SQLite file in the user's data directory (WAL mode; any number of
threads and processes can write at once, and a process killed mid-write leaves every committed
answer intact). ``HistoryStore("postgresql+psycopg://...")`` (``SQLAGENT_STORE``) puts it in a
shared database instead, so the dashboards and other processes of a team, on any machine,
share one history, its feedback and the verified examples saved from the dashboard. The
storage itself (both kinds, and the versioned schema) is ``sqlagent.store.backends``.

Nothing secret is stored: no API key, no schema context text or rows, and a password left in a
database URL is masked again before it is written.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from ..errors import UsageError
from ..types import Answer, Trace
from .backends import Backend, StoreError, is_url, mask_url, open_backend

_T = TypeVar("_T")
_log = logging.getLogger("sqlagent.history")

__all__ = [
    "HistoryEntry",
    "HistoryError",
    "HistoryStore",
    "context_tokens",
    "default_path",
    "llm_call_count",
    "mask_url",
]

LLM_STEPS = ("generate", "repair", "narrate")
"""Trace steps that are one call of the model each."""

_COLUMNS = (
    "id, created_at, source, database, question, outcome, sql, error, attempts, "
    "context_tokens, timings, duration, llm_calls, prompt_tokens, completion_tokens, "
    "cost_usd, model, prompt_version, row_count, truncated, verified, confidence, "
    "asked_by, role"
)
# The latest feedback of each answer rides along with it.
_SELECT = """
SELECT {columns},
       (SELECT rating FROM feedback f WHERE f.answer_id = a.id ORDER BY f.{seq} DESC LIMIT 1),
       (SELECT note FROM feedback f WHERE f.answer_id = a.id ORDER BY f.{seq} DESC LIMIT 1)
FROM answers a
"""


HistoryError = StoreError
"""The history could not be read or written (locked too long, disk full, server down)."""


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the history lives: ``$SQLAGENT_HOME/history.sqlite3``, else
    ``$XDG_DATA_HOME/sqlagent/history.sqlite3``, else ``~/.local/share/sqlagent/...``."""
    env = os.environ if environ is None else environ
    if env.get("SQLAGENT_HOME"):
        return Path(env["SQLAGENT_HOME"]).expanduser() / "history.sqlite3"
    base = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base).expanduser() / "sqlagent" / "history.sqlite3"


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
    asked_by: str | None = None
    """Who asked (None: nobody was named, as before people were told apart)."""
    role: str | None = None
    """The role their policy came from."""
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
        asked_by,
        role,
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
        asked_by=asked_by,
        role=role,
        rating=rating,
        note=note or "",
    )


class HistoryStore:
    """The answers recorded: a local SQLite file, or a shared database (see the module
    docstring and ``sqlagent.store.backends``).

    >>> store = HistoryStore(tmp_path / "history.sqlite3")  # doctest: +SKIP
    >>> store = HistoryStore("postgresql+psycopg://sqlagent@db/sqlagent")  # doctest: +SKIP
    >>> store.record(answer, database="duckdb:///shop.duckdb")  # doctest: +SKIP
    >>> store.get(answer.id).sql  # doctest: +SKIP
    'SELECT count(*) FROM orders'

    A file is opened (and migrated) at once; a URL on first use, so a server that is down
    fails the calls (``HistoryError``, logged once until it works again), not the start.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        location = path if path is not None else default_path()
        self.shared = is_url(location)
        """True for a store named by a URL (a team's): verified examples are saved to it."""
        self._backend: Backend = open_backend(location if self.shared else Path(location))
        self.path: Path | str = self._backend.location if self.shared else Path(location)
        """The file, or the URL with its password masked."""
        self._failing = False
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HistoryStore({self._backend.location!r})"

    @property
    def location(self) -> str:
        """The file or URL of the store (password masked)."""
        return self._backend.location

    # ------------------------------------------------------------------ failures

    def _call(self, work: Callable[[], _T]) -> _T:
        """``work()``, logging the first failure of a run of failures (not every one)."""
        try:
            result = work()
        except StoreError as exc:
            with self._state_lock:
                first, self._failing = not self._failing, True
            if first:
                _log.warning("%s (answers are not recorded until it works again)", exc.message)
            raise
        if self._failing:
            with self._state_lock:
                self._failing = False
            _log.warning("The history store %s works again.", self.location)
        return result

    def _write(self, sql: str, params: Mapping[str, Any]) -> None:
        def work() -> None:
            with self._backend.write() as run:
                run(sql, params)

        self._call(work)

    def _read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._call(lambda: self._backend.read(sql, params))

    def _select(self, tail: str) -> str:
        columns = ", ".join("a." + c.strip() for c in _COLUMNS.split(","))
        return _SELECT.format(columns=columns, seq=self._backend.seq) + tail

    # ------------------------------------------------------------------ API

    def record(
        self,
        answer: Answer,
        *,
        database: str,
        source: str = "api",
        user: str | None = None,
        role: str | None = None,
    ) -> None:
        """Store ``answer`` (recording the same id again replaces it).

        ``database`` is the display URL (password masked); ``source`` says where it was
        asked: api, cli, ui, http, eval, mcp; ``user`` and ``role`` who asked it (refusals
        and errors included, for the audit).
        """
        from ..evaluation.prices import cost_usd

        trace = answer.trace
        usage = trace.usage
        attempts = [
            {"sql": a.sql, "source": a.source, "error": a.error.to_dict() if a.error else None}
            for a in answer.attempts
        ]
        timings = {k: round(v, 6) for k, v in trace.timings().items()}
        values = {
            "id": answer.id,
            "created_at": _now(),
            "source": source,
            "database": mask_url(database),
            "question": answer.question,
            "outcome": answer.kind,
            "sql": answer.sql,
            "error": json.dumps(answer.error.to_dict()) if answer.error else None,
            "attempts": json.dumps(attempts, ensure_ascii=False),
            "context_tokens": context_tokens(trace),
            "timings": json.dumps(timings),
            "duration": round(sum(timings.values()), 6),
            "llm_calls": llm_call_count(trace),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": cost_usd(trace.model, usage) if trace.model else None,
            "model": trace.model,
            "prompt_version": trace.prompt_version,
            "row_count": answer.row_count,
            "truncated": int(answer.truncated),
            "verified": int(answer.verified),
            "confidence": answer.confidence,
            "asked_by": user,
            "role": role,
        }
        names = [c.strip() for c in _COLUMNS.split(",")]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "id")
        self._write(
            f"INSERT INTO answers ({_COLUMNS}) VALUES ({', '.join(':' + n for n in names)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            values,
        )

    def feedback(
        self,
        answer_id: str,
        rating: int,
        note: str = "",
        *,
        user: str | None = None,
        role: str | None = None,
    ) -> None:
        """Attach a rating (-1 bad … 5 great; +1/-1 for thumbs) and a note to an answer,
        given by ``user`` holding ``role``.

        The latest feedback is what ``get`` and ``list`` show. Raises ``UsageError`` for an
        unknown answer id or a rating outside -1..5.
        """
        if isinstance(rating, bool) or not isinstance(rating, int) or not -1 <= rating <= 5:
            raise UsageError(f"A rating is a whole number from -1 to 5, not {rating!r}")

        def work() -> None:
            with self._backend.write() as run:
                if not run("SELECT 1 FROM answers WHERE id = :id", {"id": answer_id}):
                    raise UsageError(f"No answer with id {answer_id!r} in the history")
                run(
                    "INSERT INTO feedback (answer_id, rating, note, created_at, given_by, role) "
                    "VALUES (:answer_id, :rating, :note, :created_at, :user, :role)",
                    {
                        "answer_id": answer_id,
                        "rating": rating,
                        "note": note,
                        "created_at": _now(),
                        "user": user,
                        "role": role,
                    },
                )

        self._call(work)

    def list(
        self, limit: int = 20, offset: int = 0, *, user: str | None = None
    ) -> builtins.list[HistoryEntry]:
        """Recorded answers, newest first; only those ``user`` asked when named."""
        seq = self._backend.seq
        where = " WHERE a.asked_by = :user" if user is not None else ""
        rows = self._read(
            self._select(
                f"{where} ORDER BY a.created_at DESC, a.{seq} DESC LIMIT :limit OFFSET :offset"
            ),
            {"limit": max(0, limit), "offset": max(0, offset), "user": user},
        )
        return [_entry(r) for r in rows]

    def get(self, answer_id: str) -> HistoryEntry | None:
        """The answer with this id, or None."""
        rows = self._read(self._select(" WHERE a.id = :id"), {"id": answer_id})
        return _entry(rows[0]) if rows else None

    def find(self, prefix: str) -> builtins.list[str]:
        """Ids starting with ``prefix`` (at most 10), so a short id can be typed."""
        if not prefix:
            return []
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read(
            "SELECT id FROM answers WHERE id LIKE :p ESCAPE '\\' ORDER BY id LIMIT 10",
            {"p": escaped + "%"},
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
        seq = self._backend.seq
        while True:
            rows = self._read(
                self._select(f" ORDER BY a.created_at, a.{seq} LIMIT :limit OFFSET :offset"),
                {"limit": batch, "offset": offset},
            )
            for row in rows:
                out.write(json.dumps(_entry(row).to_dict(), ensure_ascii=False) + "\n")
                written += 1
            if len(rows) < batch:
                return written
            offset += batch

    # ------------------------------------------------------------------ verified examples

    def add_verified(
        self,
        database: str,
        question: str,
        sql: str,
        *,
        source: str = "ui",
        user: str | None = None,
    ) -> bool:
        """Save a verified question and its SQL for ``database`` (its display URL).

        Every process using this store sees it on its next question. A question already
        saved for the database (same words, case and punctuation aside) is kept as it was;
        returns False then.
        """
        from ..context.textmatch import fold, words

        question = " ".join((question or "").split())
        sql = (sql or "").strip()
        if not question:
            raise UsageError("A verified example needs a question.")
        if not sql:
            raise UsageError("A verified example needs SQL.")
        params = {
            "database": mask_url(database),
            "key": " ".join(words(fold(question))),
            "question": question,
            "sql": sql,
            "source": source,
            "created_at": _now(),
            "user": user,
        }

        def work() -> bool:
            with self._backend.write() as run:
                # RETURNING tells a new row from a kept one on both SQLite and PostgreSQL.
                return bool(
                    run(
                        "INSERT INTO verified_examples "
                        "(database, question_key, question, sql, source, created_at, saved_by) "
                        "VALUES (:database, :key, :question, :sql, :source, :created_at, :user) "
                        "ON CONFLICT (database, question_key) DO NOTHING RETURNING 1",
                        params,
                    )
                )

        return self._call(work)

    def verified(self, database: str) -> tuple[tuple[str, str], ...]:
        """The verified ``(question, sql)`` pairs saved for ``database``, oldest first."""
        rows = self._read(
            "SELECT question, sql FROM verified_examples WHERE database = :database "
            "ORDER BY created_at, question_key",
            {"database": mask_url(database)},
        )
        return tuple((str(q), str(s)) for q, s in rows)
