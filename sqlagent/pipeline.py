"""The chain, read top to bottom like its diagram:

    question ─► context ─► generate ─► check ─► execute ─► narrate ─► Answer
                              ▲          │          │
                              └─ repair ◄┴──────────┘   (bounded, the error fed back)

Each step is a plain call with typed values. Nothing here knows about Streamlit, the command
line or environment variables: the LLM, the database and the settings are passed in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import prompts
from .context import build_context
from .db.base import bound_bytes, execute_within, timeout_message
from .errors import (
    ClarificationNeeded,
    ConfigError,
    ExecutionError,
    GuardError,
    LLMError,
    NotAnswerable,
    QueryTimeout,
    SqlAgentError,
    UsageError,
)
from .guard import check, visible_schema
from .outcome import Refusal, SQLReply, parse_reply
from .redact import scrub_values
from .settings import LLM_HELP, Policy
from .summarize import plain_narrative, result_summary
from .types import (
    Answer,
    Attempt,
    Clarification,
    Context,
    GuardedSQL,
    Message,
    QueryResult,
    SchemaInfo,
    Step,
    Trace,
    to_json_value,
)

if TYPE_CHECKING:
    from .conversation import Conversation
    from .db.base import Database
    from .knowledge import Knowledge
    from .llm import LLM
    from .profile import TableProfile
    from .settings import Settings
    from .valueindex import ValueIndex

DIALECT_NAMES = {
    "duckdb": "DuckDB",
    "postgres": "PostgreSQL",
    "mysql": "MySQL/MariaDB",
    "sqlite": "SQLite",
    "snowflake": "Snowflake",
    "bigquery": "BigQuery",
    "trino": "Trino",
    "presto": "Presto",
    "databricks": "Databricks SQL",
    "spark": "Spark SQL",
    "redshift": "Amazon Redshift",
    "tsql": "SQL Server (T-SQL)",
    "oracle": "Oracle",
}


@dataclass(frozen=True)
class Event:
    """Progress of the chain, for interfaces that show it (``kind`` names the step)."""

    kind: str
    """context, generate, check, execute, repair, narrate, token, done."""
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


EventHandler = Callable[[Event], None]


class _Recorder:
    """Collects trace steps and forwards progress events."""

    def __init__(self, on_event: EventHandler | None) -> None:
        self.steps: list[Step] = []
        self._on_event = on_event
        self._lock = threading.Lock()  # candidates record from several threads

    def emit(self, kind: str, message: str = "", **data: Any) -> None:
        if self._on_event is not None:
            with self._lock:
                self._on_event(Event(kind, message, data))

    @contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """Time a step; the body may add details (and ``usage``) to the yielded dict."""
        info: dict[str, Any] = dict(detail)
        start = time.perf_counter()
        try:
            yield info
        except SqlAgentError as exc:
            info["error"] = exc.info().to_dict()
            raise
        finally:
            usage = info.pop("usage", None)
            with self._lock:
                self.steps.append(Step(name, time.perf_counter() - start, usage, info))


def dialect_name(dialect: str) -> str:
    """A human name for a sqlglot dialect, as named to the model."""
    return DIALECT_NAMES.get(dialect, dialect)


def generation_messages(
    question: str, context: Context, dialect: str, conversation: Conversation | None = None
) -> list[Message]:
    """The first request to the model: rules, schema context, earlier turns, the question."""
    extra = "\n".join(context.notes)
    if conversation is not None and len(conversation):
        extra += (
            "\n<conversation>\nEarlier turns of this conversation (the question below may "
            "be a follow-up: then edit the latest query rather than starting over):\n"
            + conversation.render()
            + "\n</conversation>"
        )
    return [
        {
            "role": "system",
            "content": prompts.render("generate_system", dialect_name=dialect_name(dialect)),
        },
        {
            "role": "user",
            "content": prompts.render(
                "generate_user",
                dialect=dialect,
                schema=context.text,
                extra=("\n" + extra + "\n") if extra else "",
                question=question,
            ),
        },
    ]


def repair_messages(
    messages: Sequence[Message], reply: str, error: SqlAgentError, question: str
) -> list[Message]:
    """The conversation extended with the failed reply and the precise error."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": prompts.render(
                "repair_user",
                error_type=type(error).__name__,
                error_message=error.message + (f" Hint: {error.hint}" if error.hint else ""),
                question=question,
            ),
        },
    ]


def narration_messages(
    question: str, sql: str, result: QueryResult, *, max_rows: int
) -> list[Message]:
    """The request that turns a bounded view of the result into a short answer."""
    return [
        {"role": "system", "content": prompts.render("narrate_system")},
        {
            "role": "user",
            "content": prompts.render(
                "narrate_user",
                question=question,
                sql=sql,
                result=result_summary(result, max_rows=max_rows),
            ),
        },
    ]


def _check_question(question: str) -> str:
    text = (question or "").strip()
    if not text:
        raise UsageError("The question is empty.", hint="Ask something about the data.")
    if len(text) > 4000:
        raise UsageError("The question is longer than 4,000 characters.")
    return text


def ask(
    question: str,
    *,
    llm: LLM | None,
    db: Database,
    settings: Settings,
    conversation: Conversation | None = None,
    on_event: EventHandler | None = None,
    knowledge: Knowledge | None = None,
    values: ValueIndex | None = None,
    profiles: Mapping[str, TableProfile] | None = None,
) -> Answer:
    """Answer ``question`` from ``db``: generate SQL, check it, run it, repair, narrate.

    ``knowledge`` adds descriptions, definitions and similar verified examples to the
    context; a question that asks the same as one of its verified examples is answered with
    that example's SQL (through the same guard) without a generation call. ``values`` finds
    the values the question names; ``profiles`` adds the columns' value ranges. With ``llm``
    None only verified questions can be answered (with a plain narrative); anything else
    raises ``ConfigError``.

    Failures inside the chain (the model's, the guard's, the database's) come back as an
    ``Answer`` whose ``error`` is set, with every attempt in ``attempts`` and the trace. A
    malformed request (an empty question) raises ``UsageError``.
    """
    question = _check_question(question)
    rec = _Recorder(on_event)
    attempts: list[Attempt] = []
    trace_meta = {"model": llm.model if llm else "", "prompt_version": prompts.version()}

    def finish(**fields: Any) -> Answer:
        answer = Answer(
            question=question,
            attempts=tuple(attempts),
            trace=Trace(tuple(rec.steps), **trace_meta),
            **fields,
        )
        rec.emit("done", "Answered" if answer.ok else "Failed", answer=answer)
        return answer

    rec.emit("context", "Reading the schema")
    try:
        with rec.step("schema") as info:
            full_schema = db.schema()
            shown = visible_schema(full_schema, settings.policy)
            info["tables"] = len(shown.tables)
        with rec.step("context") as info:
            context = build_context(
                shown,
                question,
                budget=settings.context_budget,
                knowledge=knowledge,
                values=values,
                profiles=profiles,
            )
            info.update(
                tokens=context.tokens,
                tables=list(context.tables),
                text=context.text,
                notes=list(context.notes),
            )
    except SqlAgentError as exc:
        return finish(sql=None, error=exc.info())

    example = knowledge.match_verified(question) if knowledge is not None else None
    if example is not None:
        rec.emit("verified", "Using a verified query", sql=example.sql)
        try:
            guarded, result = _check_and_run(example.sql, db, full_schema, settings, rec)
        except (GuardError, ExecutionError) as exc:
            # The schema moved on since it was verified: let the model write a fresh query.
            attempts.append(Attempt(example.sql, exc.info(), source="verified"))
        else:
            attempts.append(Attempt(guarded.sql, source="verified"))
            return finish(
                sql=guarded.sql,
                columns=result.columns,
                rows=result.rows,
                truncated=result.truncated,
                narrative=_narrate(question, guarded, result, llm, settings, rec),
                verified=True,
            )
    if llm is None:
        if attempts:  # the verified query failed, and no model can write another
            failed = attempts[-1]
            return finish(sql=failed.sql, error=failed.error)
        raise ConfigError("No language model is configured.", hint=LLM_HELP)

    messages = generation_messages(question, context, full_schema.dialect, conversation)
    if settings.candidates > 1:
        outcome, confidence = _vote(
            question, messages, llm, db, full_schema, settings, rec, attempts
        )
    else:
        outcome, confidence = (
            _generate_until_valid(
                question, messages, llm, db, full_schema, settings, rec, attempts
            ),
            None,
        )
    if isinstance(outcome, Clarification):
        return finish(
            sql=None,
            clarification=outcome,
            error=ClarificationNeeded(outcome.question).info(),
        )
    if isinstance(outcome, Refusal):
        return finish(sql=None, refusal=outcome.reason, error=NotAnswerable(outcome.reason).info())
    if isinstance(outcome, SqlAgentError):
        last_sql = next(
            (a.sql for a in reversed(attempts) if a.sql and a.source == "model"), None
        )
        return finish(sql=last_sql, error=outcome.info())
    guarded, result = outcome

    narrative = _narrate(question, guarded, result, llm, settings, rec)
    return finish(
        sql=guarded.sql,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        narrative=narrative,
        confidence=confidence,
    )


Outcome = tuple[GuardedSQL, QueryResult] | Clarification | Refusal | SqlAgentError


def _generate_until_valid(
    question: str,
    messages: list[Message],
    llm: LLM,
    db: Database,
    schema: SchemaInfo,
    settings: Settings,
    rec: _Recorder,
    attempts: list[Attempt],
    *,
    temperature: float = 0.0,
    candidate: int | None = None,
    db_lock: threading.Lock | None = None,
) -> Outcome:
    """Generate, check and run; feed errors back at most ``settings.max_repairs`` times."""
    last_error: SqlAgentError | None = None
    tag = {} if candidate is None else {"candidate": candidate}
    for attempt in range(settings.max_repairs + 1):
        step_name = "generate" if attempt == 0 else "repair"
        rec.emit(step_name, "Writing SQL" if attempt == 0 else f"Repairing (try {attempt})", **tag)
        try:
            with rec.step(step_name, attempt=attempt, **tag) as info:
                completion = llm.complete(messages, temperature=temperature)
                info["usage"] = completion.usage
                info["reply"] = completion.text
                reply = parse_reply(completion.text)
        except LLMError as exc:
            # The model can't be reached or wrote no SQL: repeating the same request to a
            # broken endpoint or a refusing model only adds cost.
            attempts.append(Attempt(None, exc.info()))
            return exc
        if not isinstance(reply, SQLReply):
            return reply

        try:
            if db_lock is None:
                guarded, result = _check_and_run(reply.sql, db, schema, settings, rec)
            else:
                with db_lock:
                    guarded, result = _check_and_run(reply.sql, db, schema, settings, rec)
        except (GuardError, ExecutionError) as exc:
            attempts.append(Attempt(reply.sql, exc.info()))
            last_error = exc
            messages = repair_messages(messages, completion.text, exc, question)
            continue
        attempts.append(Attempt(guarded.sql))
        return guarded, result
    assert last_error is not None
    return last_error


def result_signature(result: QueryResult) -> str:
    """Rows as an order-free multiset, so candidates that agree on the data group together."""
    rows = sorted(json.dumps([to_json_value(v) for v in r], default=str) for r in result.rows)
    return f"{len(result.columns)}|{result.truncated}|" + "\n".join(rows)


def _vote(
    question: str,
    messages: list[Message],
    llm: LLM,
    db: Database,
    schema: SchemaInfo,
    settings: Settings,
    rec: _Recorder,
    attempts: list[Attempt],
) -> tuple[Outcome, float | None]:
    """Self-consistency: several candidates, grouped by result; the largest group wins.

    Candidates are generated in parallel at varied temperatures; the database work is
    serialised (one connection). In adaptive mode two candidates run first and more are
    sampled only when they disagree.
    """
    n = settings.candidates
    temperatures = [0.0] + [round(min(1.0, 0.4 + 0.2 * i), 2) for i in range(n - 1)]
    db_lock = threading.Lock()
    outcomes: dict[int, Outcome] = {}
    per_candidate: dict[int, list[Attempt]] = {}

    def run(i: int) -> None:
        per_candidate[i] = []
        outcomes[i] = _generate_until_valid(
            question,
            list(messages),
            llm,
            db,
            schema,
            settings,
            rec,
            per_candidate[i],
            temperature=temperatures[i],
            candidate=i,
            db_lock=db_lock,
        )

    def sample(indices: Sequence[int]) -> None:
        with ThreadPoolExecutor(max_workers=min(len(indices), 8)) as pool:
            list(pool.map(run, indices))

    first = [0, 1] if settings.adaptive else list(range(n))
    sample(first)
    if settings.adaptive and n > 2:
        a, b = outcomes[0], outcomes[1]
        agree = (
            isinstance(a, tuple)
            and isinstance(b, tuple)
            and result_signature(a[1]) == result_signature(b[1])
        )
        if not agree:
            sample(list(range(2, n)))

    for i in sorted(per_candidate):
        attempts.extend(per_candidate[i])
    groups: dict[str, list[int]] = {}
    for i in sorted(outcomes):
        outcome = outcomes[i]
        if isinstance(outcome, tuple):
            groups.setdefault(result_signature(outcome[1]), []).append(i)
    asked = len(outcomes)
    rec.steps.append(
        Step("vote", 0.0, None, {"candidates": asked, "groups": [len(g) for g in groups.values()]})
    )
    if not groups:
        # No candidate produced a result: report the first candidate's outcome.
        return outcomes[0], None
    # Largest group first; on a tie, the group holding the lowest-temperature candidate.
    best = max(groups.values(), key=lambda g: (len(g), -g[0]))
    return outcomes[best[0]], len(best) / asked


def _check_and_run(
    sql: str, db: Database, schema: SchemaInfo, settings: Settings, rec: _Recorder
) -> tuple[GuardedSQL, QueryResult]:
    rec.emit("check", "Checking the query", sql=sql)
    # One deadline for the whole request: the check's time comes out of the statement's.
    started = time.monotonic()
    policy = settings.policy
    with rec.step("check") as info:
        guarded = check(sql, schema=schema, policy=policy)
        info.update(sql=guarded.sql, executable=guarded.executable)
    rec.emit("execute", "Running the query", sql=guarded.sql)
    remaining = max(settings.statement_timeout - (time.monotonic() - started), _MIN_STATEMENT)
    with rec.step("execute") as info:
        try:
            result = execute_within(
                db, guarded.executable, max_rows=settings.max_rows, timeout=remaining
            )
            result = bound_bytes(result, policy.max_result_bytes)
        except QueryTimeout as exc:
            # The statement had what was left of the request's time; the limit is the setting.
            exc.message = timeout_message(settings.statement_timeout)
            exc.args = (exc.message,)
            raise
        except ExecutionError as exc:
            if _hides_data(policy):
                _scrub(exc, schema, policy)
            raise
        info.update(rows=result.row_count, truncated=result.truncated, db_seconds=result.elapsed)
    return guarded, result


_MIN_STATEMENT = 0.05
"""Seconds a statement gets at least, however long its check took."""


def _hides_data(policy: Policy) -> bool:
    return bool(policy.denied_columns or policy.denied_tables or policy.allowed_tables)


def _scrub(exc: ExecutionError, schema: SchemaInfo, policy: Policy) -> None:
    """Mask the values a database error quotes, before the text goes anywhere."""
    visible = visible_schema(schema, policy)
    names = {t.name for t in visible.tables} | {c.name for t in visible.tables for c in t.columns}
    exc.message = scrub_values(exc.message, names=names)
    exc.args = (exc.message,)
    if exc.hint:
        exc.hint = scrub_values(exc.hint, names=names)


def _narrate(
    question: str,
    guarded: GuardedSQL,
    result: QueryResult,
    llm: LLM | None,
    settings: Settings,
    rec: _Recorder,
) -> str:
    if not settings.narrate or llm is None:
        return plain_narrative(result)
    rec.emit("narrate", "Writing the answer")
    messages = narration_messages(question, guarded.sql, result, max_rows=settings.narrate_rows)
    try:
        with rec.step("narrate") as info:
            completion = llm.complete(
                messages,
                temperature=0.0,
                on_token=lambda t: rec.emit("token", t),
            )
            info["usage"] = completion.usage
    except LLMError:
        # The data is already there and correct; a failed narration must not hide it.
        return plain_narrative(result)
    return completion.text.strip() or plain_narrative(result)


def run_sql(
    sql: str,
    *,
    db: Database,
    settings: Settings,
    question: str = "",
    on_event: EventHandler | None = None,
) -> Answer:
    """Run the user's own ``sql`` through the same guard as the model's, without any LLM."""
    if not (sql or "").strip():
        raise UsageError("The SQL is empty.")
    rec = _Recorder(on_event)
    try:
        with rec.step("schema"):
            schema = db.schema()
        guarded, result = _check_and_run(sql, db, schema, settings, rec)
    except SqlAgentError as exc:
        answer = Answer(
            question=question,
            sql=sql,
            attempts=(Attempt(sql, exc.info(), source="user"),),
            trace=Trace(tuple(rec.steps), prompt_version=prompts.version()),
            error=exc.info(),
        )
        rec.emit("done", "Failed", answer=answer)
        return answer
    answer = Answer(
        question=question,
        sql=guarded.sql,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        narrative=plain_narrative(result),
        attempts=(Attempt(guarded.sql, source="user"),),
        trace=Trace(tuple(rec.steps), prompt_version=prompts.version()),
    )
    rec.emit("done", "Answered", answer=answer)
    return answer


__all__ = [
    "Event",
    "EventHandler",
    "ask",
    "dialect_name",
    "generation_messages",
    "narration_messages",
    "repair_messages",
    "run_sql",
]
