"""The chain, read top to bottom like its diagram:

    question ─► context ─► generate ─► check ─► execute ─► narrate ─► Answer
                              ▲          │          │
                              └─ repair ◄┴──────────┘   (bounded, the error fed back)

Each step is a plain call with typed values. Nothing here knows about Streamlit, the command
line or environment variables: the LLM, the database and the settings are passed in.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .answer.summarize import plain_narrative, result_summary
from .context.fence import data_line
from .db.base import call_within, execute_within, timeout_message
from .errors import (
    ClarificationNeeded,
    ConfigError,
    ExecutionError,
    GuardError,
    LLMError,
    NoSQLInReply,
    NotAnswerable,
    QueryTimeout,
    ReplyCutOff,
    SqlAgentError,
    UsageError,
)
from .guard import cached_check, check, visible_schema
from .guard.redact import scrub_values
from .llm import prompts
from .llm.repair import empty_result_hint, repair_detail
from .settings import LLM_HELP, Policy
from .types import (
    Answer,
    Attempt,
    Clarification,
    Completion,
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
    # The model's side (reading replies, checking a narrative's numbers and markup) is
    # imported where it is used: ``run_sql``, a cold ``sqlagent sql``, needs none of it.
    from .context.knowledge import Knowledge
    from .context.profile import TableProfile
    from .context.valueindex import ValueIndex
    from .conversation import Conversation
    from .db.base import Database
    from .llm.client import LLM
    from .llm.outcome import Refusal, SQLReply
    from .settings import Settings

    Outcome = tuple[GuardedSQL, QueryResult] | Clarification | Refusal | SqlAgentError

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
    """context, generate, check, execute, repair, result, narrate, token, narration, done.

    ``token`` is a raw piece of the narration as the model streams it, unchecked; ``narration``
    is a checked piece, safe to show (see ``sqlagent.streaming``). ``result`` carries the
    ``sql`` and ``result`` the answer is made of, before it is narrated."""
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


EventHandler = Callable[[Event], None]


class _Recorder:
    """Collects trace steps and forwards progress events."""

    def __init__(self, on_event: EventHandler | None) -> None:
        self.steps: list[Step] = []
        self._on_event = on_event
        self._lock = threading.Lock()  # candidates record from several threads

    @property
    def listening(self) -> bool:
        """True when someone receives the events (streamed narration is then checked)."""
        return self._on_event is not None

    def emit(self, kind: str, message: str = "", **data: Any) -> None:
        if self._on_event is not None:
            with self._lock:
                self._on_event(Event(kind, message, data))

    @contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """Time a step; the body may add details (and ``usage``) to the yielded dict."""
        info: dict[str, Any] = dict(detail)
        wall = time.time()
        start = time.perf_counter()
        try:
            yield info
        except SqlAgentError as exc:
            info["error"] = exc.info().to_dict()
            raise
        finally:
            usage = info.pop("usage", None)
            with self._lock:
                self.steps.append(Step(name, time.perf_counter() - start, usage, info, wall))


def dialect_name(dialect: str) -> str:
    """A human name for a sqlglot dialect, as named to the model."""
    return DIALECT_NAMES.get(dialect, dialect)


def generation_messages(
    question: str,
    context: Context,
    dialect: str,
    conversation: Conversation | None = None,
    *,
    structured: bool = False,
) -> list[Message]:
    """The first request to the model: rules, schema context, earlier turns, the question.

    ``structured`` adds the JSON reply format asked for through ``response_format``.
    """
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
            "content": prompts.render("generate_system", dialect_name=dialect_name(dialect))
            + ("\n\n" + prompts.render("generate_json_system") if structured else ""),
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
    messages: Sequence[Message],
    reply: str,
    error: SqlAgentError,
    question: str,
    detail: str = "",
) -> list[Message]:
    """The conversation extended with the failed reply and the precise error.

    ``detail`` (see ``repair.repair_detail``) says where the error is, which real names are
    closest and which part of the schema the query uses.
    """
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": prompts.render(
                "repair_user",
                error_type=type(error).__name__,
                # A database's error can quote data: it goes in as one inert line.
                error_message=data_line(
                    error.message + (f" Hint: {error.hint}" if error.hint else ""), 1500
                ),
                detail=(detail.strip() + "\n") if detail.strip() else "",
                question=question,
            ),
        },
    ]


def no_sql_messages(
    messages: Sequence[Message], reply: str, error: NoSQLInReply, question: str
) -> list[Message]:
    """The conversation extended with a reply that held no query, asking for the query only."""
    why = " (your reply was empty)" if not reply.strip() else ""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": prompts.render("no_sql_user", why=why, question=question)},
    ]


def narration_messages(
    question: str, sql: str, result: QueryResult, *, max_rows: int, summary: str | None = None
) -> list[Message]:
    """The request that turns a bounded view of the result into a short answer.

    ``summary`` is ``result_summary(result, max_rows=max_rows)`` when the caller has it.
    """
    return [
        {"role": "system", "content": prompts.render("narrate_system")},
        {
            "role": "user",
            "content": prompts.render(
                "narrate_user",
                question=question,
                sql=data_line(sql, 4000),  # its literals can be values from the data
                result=result_summary(result, max_rows=max_rows) if summary is None else summary,
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

    from .context import build_context  # not needed by run_sql: `sqlagent sql` skips it

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
            rec.emit("result", "Result ready", sql=guarded.sql, result=result, verified=True)
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

    prepare = getattr(llm, "prepare", None)
    if callable(prepare):
        # The client's start-up (importing openai takes a second on a cold start) is its own
        # step, so that ``generate`` measures the model.
        with rec.step("setup"):
            prepare()
    messages = generation_messages(
        question,
        context,
        full_schema.dialect,
        conversation,
        structured=settings.structured_output,
    )
    if settings.candidates > 1:
        outcome, confidence = _vote(
            question, messages, llm, db, full_schema, settings, rec, attempts, values
        )
    else:
        outcome, confidence = (
            _generate_until_valid(
                question, messages, llm, db, full_schema, settings, rec, attempts, values
            ),
            None,
        )
    if isinstance(outcome, Clarification):
        outcome = Clarification(
            _plain(outcome.question, question), tuple(_plain(o, question) for o in outcome.options)
        )
        return finish(
            sql=None,
            clarification=outcome,
            error=ClarificationNeeded(outcome.question).info(),
        )
    from .llm.outcome import Refusal

    if isinstance(outcome, Refusal):
        reason = _plain(outcome.reason, question)
        return finish(sql=None, refusal=reason, error=NotAnswerable(reason).info())
    if isinstance(outcome, SqlAgentError):
        last_sql = next((a.sql for a in reversed(attempts) if a.sql and a.source == "model"), None)
        return finish(sql=last_sql, error=outcome.info())
    guarded, result = outcome

    rec.emit("result", "Result ready", sql=guarded.sql, result=result, verified=False)
    narrative = _narrate(question, guarded, result, llm, settings, rec)
    return finish(
        sql=guarded.sql,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        narrative=narrative,
        confidence=confidence,
    )


def _generate_until_valid(
    question: str,
    messages: list[Message],
    llm: LLM,
    db: Database,
    schema: SchemaInfo,
    settings: Settings,
    rec: _Recorder,
    attempts: list[Attempt],
    values: ValueIndex | None = None,
    *,
    temperature: float = 0.0,
    candidate: int | None = None,
    db_lock: threading.Lock | None = None,
) -> Outcome:
    """Generate, check and run; feed errors back at most ``settings.max_repairs`` times.

    A malformed query (it does not parse) is repaired like any other error. A reply with no
    query at all is asked once more for the query only, which counts as a repair. A query
    that matches no rows while its literals look misspelled against the value index is sent
    back once with the closest values.
    """
    from .llm.outcome import SQLReply

    last_error: SqlAgentError | None = None
    tag = {} if candidate is None else {"candidate": candidate}
    asked_for_sql = hinted_values = False
    last_success: Outcome | None = None
    # The query being repaired: most of the repaired one repeats it, so it goes along as the
    # predicted output (an endpoint that supports it returns the repeated part much faster).
    previous_sql: str | None = None
    for attempt in range(settings.max_repairs + 1):
        step_name = "generate" if attempt == 0 else "repair"
        rec.emit(step_name, "Writing SQL" if attempt == 0 else f"Repairing (try {attempt})", **tag)
        completion: Completion | None = None
        try:
            with rec.step(step_name, attempt=attempt, **tag) as info:
                completion = _generation_call(
                    llm, messages, settings, temperature, info, prediction=previous_sql
                )
                reply = _read_reply(completion)
        except NoSQLInReply as exc:
            attempts.append(Attempt(None, exc.info()))
            if asked_for_sql or attempt >= settings.max_repairs or completion is None:
                return exc
            # Asked once for the query alone: a model that answered in prose often complies.
            asked_for_sql = True
            last_error = exc
            previous_sql = None
            messages = no_sql_messages(messages, completion.text, exc, question)
            continue
        except LLMError as exc:
            # The model can't be reached or its reply was cut off twice: repeating the same
            # request only adds cost.
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
            previous_sql = reply.sql
            detail = repair_detail(exc, reply.sql, schema)
            messages = repair_messages(messages, completion.text, exc, question, detail)
            continue
        if result.row_count == 0 and not hinted_values and attempt < settings.max_repairs:
            hint = empty_result_hint(guarded.sql, values)
            if hint:
                hinted_values = True
                empty = ExecutionError("The query matched no rows.", sql=guarded.sql)
                attempts.append(Attempt(guarded.sql, empty.info()))
                with rec.step("check_values") as info:
                    info["hint"] = hint
                messages = repair_messages(messages, completion.text, empty, question, hint)
                previous_sql = reply.sql
                last_success = (guarded, result)
                continue
        attempts.append(Attempt(guarded.sql))
        return guarded, result
    if last_success is not None:
        # The value hint did not lead to rows: the empty result stands.
        return last_success
    assert last_error is not None
    return last_error


def _generation_call(
    llm: LLM,
    messages: list[Message],
    settings: Settings,
    temperature: float,
    info: dict[str, Any],
    *,
    prediction: str | None = None,
) -> Completion:
    """One generation call; a reply cut off at the token limit is asked for once more with a
    higher limit, unless the query itself came through whole.

    ``prediction`` (the query a repair starts from) is passed to a model that takes it."""
    options: dict[str, Any] = {}
    if settings.max_tokens is not None:
        options["max_tokens"] = settings.max_tokens
    if settings.structured_output:
        from .llm.outcome import REPLY_SCHEMA

        options["response_format"] = REPLY_SCHEMA
    if prediction and _takes(llm, "prediction"):
        options["prediction"] = prediction
    completion = llm.complete(messages, temperature=temperature, **options)
    info["usage"] = completion.usage
    info["reply"] = completion.text
    if completion.finish_reason != "length" or _whole_query(completion.text):
        return completion
    limit = max(2 * (settings.max_tokens or completion.usage.completion_tokens or 0), 4096)
    info.update(cut_off=True, retry_max_tokens=limit, calls=2)
    first = completion
    completion = llm.complete(messages, temperature=temperature, **{**options, "max_tokens": limit})
    info["usage"] = first.usage + completion.usage
    info["reply"] = completion.text
    if completion.finish_reason == "length" and not _whole_query(completion.text):
        raise ReplyCutOff(
            f"The model's reply was cut off: it reached its token limit ({limit} tokens) "
            "before the query was complete, twice.",
            hint="Raise SQLAGENT_MAX_TOKENS, or use a model that reasons less before answering.",
        )
    return completion


def _takes(llm: LLM, keyword: str) -> bool:
    """True when ``llm.complete`` accepts ``keyword`` (an optional one of the protocol)."""
    import inspect

    try:
        parameters = inspect.signature(llm.complete).parameters
    except (TypeError, ValueError):
        return False
    return keyword in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _whole_query(text: str) -> bool:
    """True when a cut-off reply still holds a complete query (a closed block, say)."""
    from .llm.extract import extract

    try:
        return extract(text).closed
    except NoSQLInReply:
        return False


def _read_reply(completion: Completion) -> SQLReply | Clarification | Refusal:
    """What a completion means; the endpoint's own refusal field wins."""
    from .llm.outcome import Refusal, parse_reply

    if completion.refusal and not completion.text.strip():
        return Refusal(completion.refusal)
    return parse_reply(completion.text)


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
    values: ValueIndex | None = None,
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
            values,
            temperature=temperatures[i],
            candidate=i,
            db_lock=db_lock,
        )

    def sample(indices: Sequence[int]) -> None:
        from concurrent.futures import ThreadPoolExecutor  # only voting needs it

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
        guarded = cached_check(sql, schema=schema, policy=policy) or call_within(
            # A check cannot be interrupted: on a worker, the request still ends on time.
            lambda: check(sql, schema=schema, policy=policy),
            settings.statement_timeout,
            lambda: QueryTimeout(
                f"The query took longer than the statement timeout of "
                f"{settings.statement_timeout:g} s to check",
                sql=sql,
                hint="Write it more simply: fewer parts, less nesting.",
            ),
        )
        info.update(
            sql=guarded.sql, executable=guarded.executable, stops_promptly=guarded.stops_promptly
        )
    rec.emit("execute", "Running the query", sql=guarded.sql)
    remaining = max(settings.statement_timeout - (time.monotonic() - started), _MIN_STATEMENT)
    with rec.step("execute") as info:
        try:
            result = execute_within(
                db,
                guarded.executable,
                max_rows=settings.max_rows,
                timeout=remaining,
                max_bytes=policy.max_result_bytes,
                stops_promptly=guarded.stops_promptly,
            )
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
    # Row filters too: an engine may evaluate an expression on a row before the filter drops
    # it, and its error text would then quote a value from outside the person's rows.
    return bool(
        policy.denied_columns or policy.denied_tables or policy.allowed_tables
        or policy.row_filters
    )  # fmt: skip


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
    """The model's answer in words, with every number it states checked against the summary.

    A narrative stating numbers the summary does not show is asked for once more with those
    numbers named; if it still does, the plain listing replaces it. Links, images and markup
    that the result does not hold are taken out (``answer.markup``). The trace says which.
    """
    if not settings.narrate or llm is None:
        return plain_narrative(result)
    from .answer.markup import forged_fragments, grounding_texts, strip_ungrounded

    rec.emit("narrate", "Writing the answer")
    try:
        # The summary and the checks it feeds are part of the step, as is the call.
        with rec.step("narrate") as info:
            # One summary for the request and for checking the numbers of the reply against it.
            summary = result_summary(result, max_rows=settings.narrate_rows)
            messages = narration_messages(
                question, guarded.sql, result, max_rows=settings.narrate_rows, summary=summary
            )
            forged = forged_fragments(guarded.sql)
            made: list[tuple[str, ...]] = []

            def grounded() -> tuple[str, ...]:
                # Made on first need only: the cells of a thousand rows as text, which the markup
                # check reads only when the narrative holds a link, image or tag.
                if not made:
                    made.append(grounding_texts(result.rows, also=(question,)))
                return made[0]

            def lazily(texts: Callable[[], tuple[str, ...]]) -> Iterator[str]:
                yield from texts()

            def on_token(token: str) -> None:
                rec.emit("token", token)
                if gate is not None:
                    shown = gate.feed(token)
                    if shown:
                        rec.emit("narration", shown)

            # Only a listener gets the narration as it streams, each piece checked before it goes.
            from .answer.gate import NarrationGate

            gate = (
                NarrationGate(
                    grounded(),
                    lambda t: _invented(t, summary, question, guarded.sql, result),
                    forged=forged,
                )
                if rec.listening
                else None
            )
            completion = llm.complete(messages, temperature=0.0, on_token=on_token)
            info["usage"] = completion.usage
            text = completion.text.strip()
            invented = _invented(text, summary, question, guarded.sql, result)
            if invented:
                info["ungrounded"] = invented
                rec.emit("narrate", "Rewriting the answer from the result's numbers")
                retry = [
                    *messages,
                    {"role": "assistant", "content": completion.text},
                    {
                        "role": "user",
                        "content": prompts.render(
                            "narrate_retry_user", numbers=", ".join(invented)
                        ),
                    },
                ]
                again = llm.complete(retry, temperature=0.0)
                info["usage"] = completion.usage + again.usage
                text = again.text.strip()
                still = _invented(text, summary, question, guarded.sql, result)
                info["regenerated"] = True
                info["calls"] = 2
                if still:
                    info["replaced_by_listing"] = True
                    info["still_ungrounded"] = still
                    return plain_narrative(result)
            # Links, images and markup the result does not hold are a way out for data (an
            # image is fetched by the front end that shows it): only their words stay.
            stripped = strip_ungrounded(text, lazily(grounded), forged=forged)
            if stripped.removed:
                info["removed_markup"] = [data_line(r, 200) for r in stripped.removed[:20]]
                text = stripped.text.strip()
    except LLMError:
        # The data is already there and correct; a failed narration must not hide it.
        return plain_narrative(result)
    return text or plain_narrative(result)


def _plain(text: str, question: str) -> str:
    """A clarification or refusal of the model's, without links, images or markup that the
    question does not hold (it was written after reading the data too)."""
    from .answer.markup import strip_ungrounded

    return strip_ungrounded(text, (question,)).text.strip()


def _invented(
    narrative: str, summary: str, question: str, sql: str, result: QueryResult
) -> list[str]:
    """Numbers of ``narrative`` that the summary (nor the question, nor the SQL) shows.

    This year and last year count as shown: a narrative may name the period a relative
    question ("this month", "last year") was read as. (Not today's month or day: small
    numbers would then always pass.)
    """
    from .answer.grounding import ungrounded_numbers

    today = datetime.date.today()
    return ungrounded_numbers(
        narrative,
        summary,
        also=(question, sql, str(len(result.columns)), str(today.year), str(today.year - 1)),
        row_count=result.row_count,
    )


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
    "no_sql_messages",
    "repair_messages",
    "run_sql",
]
