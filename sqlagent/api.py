"""The Python API: an ``Agent`` holds a database, a model and settings, and answers questions.

from sqlagent import Agent
agent = Agent.connect("duckdb:///sample_data/cards.duckdb")
answer = agent.ask("How many unique merchants are there in Phoenix?")
answer.sql, answer.dataframe, answer.narrative, answer.trace
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .errors import ConfigError
from .settings import LLM_HELP, Settings

if TYPE_CHECKING:
    from .access.identity import Identity
    from .access.roles import AccessPolicy
    from .context.knowledge import Knowledge
    from .context.profile import TableProfile
    from .context.semantic_model import SemanticModel
    from .context.valueindex import ValueIndex
    from .conversation import Conversation
    from .db.base import Database
    from .llm.client import LLM
    from .observe.otel import AnswerSpans
    from .pipeline import EventHandler
    from .store.history import HistoryStore
    from .streaming import StreamEvent
    from .types import Answer, Context, SchemaInfo

__all__ = ["LLM_HELP", "Agent"]

_T = TypeVar("_T")

_VIEWS = 64
"""Per-person agents kept by an agent (the dashboard and the MCP server serve many people)."""

_UNSET: Any = object()
_SPANS: dict[str | None, AnswerSpans | None] = {}
_SPANS_LOCK = threading.Lock()


def _process_spans(base_url: str | None) -> AnswerSpans | None:
    """One trace exporter per process (per model endpoint named on its spans): a provider
    per agent would start a thread and a connection each."""
    with _SPANS_LOCK:
        if base_url not in _SPANS:
            from .observe.otel import from_env

            # Asked for by the settings, which may not come from this environment.
            _SPANS[base_url] = from_env({**os.environ, "SQLAGENT_OTEL": "on"}, base_url=base_url)
        return _SPANS[base_url]


class _Derived:
    """One value index or set of profiles, with the schema it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.schema: SchemaInfo | None = None
        self.value: Any = None


# Value indexes and profiles per open database: (name, policy) -> _Derived.
_DERIVED: weakref.WeakKeyDictionary[Any, dict[tuple[str, Any], _Derived]] = (
    weakref.WeakKeyDictionary()
)
_DERIVED_LOCK = threading.Lock()
_DERIVED_PER_DB = 128
"""Value indexes and profiles kept per database: one per kind and policy, and with row
filters a policy per set of attributes, so a server for many people keeps the most recent."""


class Agent:
    """Answers questions about one database. Dependencies are passed in; see ``connect``."""

    def __init__(
        self,
        db: Database,
        *,
        llm: LLM | None = None,
        settings: Settings | None = None,
        history: HistoryStore | None = _UNSET,
        source: str = "api",
        identity: Identity | None = None,
        role: str | None = None,
        admin: bool = False,
        access: AccessPolicy | None = _UNSET,
        spans: AnswerSpans | None = _UNSET,
    ) -> None:
        """``history`` overrides the store the settings name; ``source`` labels its records.

        ``identity`` is who this agent answers for (``for_user`` makes such agents, with the
        ``role`` and the policy the policy file gives that person); ``access`` overrides the
        roles read from ``settings.policy_file``; ``spans`` sends each answer as a trace
        (by default as ``settings.otel`` says, see ``sqlagent.observe.otel``).
        """
        self.db = db
        self.settings = settings or Settings(history=False)
        self._llm = llm
        self.source = source
        self.history = history if history is not _UNSET else self._open_history()
        self.identity = identity
        self.role = role
        self.admin = admin
        self._access = access
        self._spans = spans
        self._base_policy = self.settings.policy
        self._owns_db = True
        self._views: dict[Identity, Agent] = {}
        self._views_lock = threading.Lock()
        self._checked_filters: tuple[int, Any] | None = None
        self._access_stamp: tuple[int, int] | None = None

    def _open_history(self) -> HistoryStore | None:
        if not self.settings.history:
            return None
        from .store.history import HistoryError, HistoryStore

        try:
            return HistoryStore(self.settings.store_url or self.settings.history_path)
        except HistoryError:
            return None  # an unwritable data directory must not stop anyone asking questions

    def _record(self, answer: Answer) -> Answer:
        """Record ``answer``; a store that fails is noted in the returned answer's trace."""
        if self.history is None:
            return answer
        from .store.history import HistoryError

        started = time.perf_counter()
        try:
            self.history.record(
                answer,
                database=self.db.display_url,
                source=self.source,
                **self._audit(),
            )
        except HistoryError as exc:
            # Losing one history record is better than losing the answer the user is waiting
            # for; the store logs the failure (once), the trace says this answer is missing.
            from .types import Step

            step = Step(
                "history",
                time.perf_counter() - started,
                None,
                {"error": exc.message, "store": self.history.location},
            )
            trace = dataclasses.replace(answer.trace, steps=(*answer.trace.steps, step))
            return dataclasses.replace(answer, trace=trace)
        return answer

    @property
    def spans(self) -> AnswerSpans | None:
        """Where answers go as traces: None unless ``settings.otel`` (or ``spans=``)."""
        if self._spans is _UNSET:
            self._spans = _process_spans(self.settings.base_url) if self.settings.otel else None
        return self._spans

    def _finish(self, answer: Answer, operation: str, started: float) -> Answer:
        """Record ``answer`` in the history, count it, and send it as a trace."""
        from .observe.metrics import METRICS

        answer = self._record(answer)
        METRICS.observe(
            answer,
            interface=self.source,
            operation=operation,
            seconds=time.perf_counter() - started,
        )
        spans = self.spans
        if spans is not None:
            try:
                spans.export(
                    answer,
                    operation=operation,
                    database=self.db.display_url,
                    dialect=self.db.dialect,
                    user=self.identity.name if self.identity else None,
                    role=self.role,
                )
            except Exception:  # telemetry must never cost the answer
                logging.getLogger(__name__).warning("could not write the trace", exc_info=True)
        return answer

    def _audit(self) -> dict[str, Any]:
        """Who asked, for the store's records (nothing when nobody is named)."""
        if self.identity is None:
            return {}
        return {"user": self.identity.name, "role": self.role}

    # ------------------------------------------------------------------ who is asking

    @property
    def access(self) -> AccessPolicy | None:
        """The roles of the policy file (``settings.policy_file``), read on first use;
        None when there is no file."""
        path = self.settings.policy_file
        if self._access is _UNSET or (path and self._access_stamp != _stamp(path)):
            # Read again when the file changes: a long-running server (MCP, the dashboard)
            # follows an edited role or a removed user without a restart.
            if path:
                from .access.roles import AccessPolicy

                stamp = _stamp(path)
                self._access = AccessPolicy.from_file(path)
                self._access_stamp = stamp
                with self._views_lock:
                    self._views.clear()
            else:
                self._access = None
        return cast("AccessPolicy | None", self._access)

    @property
    def names_people(self) -> bool:
        """True when what may be seen depends on who asks: the policy file defines roles,
        or a row filter reads a user attribute."""
        access = self.access
        if access is not None and access.has_roles:
            return True
        return any(rf.parameters for rf in self._base_policy.row_filters)

    def for_user(self, user: Identity | str | Mapping[str, Any]) -> Agent:
        """An agent that answers for ``user``: the policy their role gives them (row filters
        bound to their attributes), their own value index and profiles, and their name and
        role on every record in the history. Shares this agent's database, model and store.

        Raises ``AccessDenied`` when the policy file's roles give the person none, and
        ``ConfigError`` when a row filter needs an attribute they do not have.
        """
        from .access.identity import coerce_identity
        from .access.roles import AccessPolicy, Grant

        identity = coerce_identity(user)
        access = self.access or AccessPolicy()  # first: an edited file drops the views
        with self._views_lock:
            view = self._views.get(identity)
        if view is not None:
            return view
        grant: Grant = access.grant(identity, self._base_policy)
        view = Agent(
            self.db,
            llm=self._llm,
            settings=dataclasses.replace(self.settings, policy=grant.policy),
            history=self.history,
            source=self.source,
            spans=self.spans,
            identity=grant.identity,
            role=grant.role,
            admin=grant.admin,
            access=self.access,
        )
        view._base_policy = self._base_policy
        view._access_stamp = self._access_stamp
        view._owns_db = False
        with self._views_lock:
            if len(self._views) >= _VIEWS:
                self._views.pop(next(iter(self._views)))
            self._views[identity] = view
        return view

    def _scoped(self, user: Identity | str | Mapping[str, Any] | None) -> Agent:
        """The agent that answers for ``user``; with none named, for the person this agent
        stands for, and where what may be seen depends on who asks and nobody is named, for
        the operating-system user running this process."""
        if user is not None:
            return self.for_user(user)
        if self.identity is None and self.names_people:
            from .access.identity import Identity

            return self.for_user(Identity.local())
        self._check_row_filters()
        return self

    def _check_row_filters(self) -> None:
        """A row filter that names a table or column this database lacks is a mistake in
        the policy file: say where, once per schema, before anything runs."""
        if not self.settings.policy.row_filters:
            return
        full = self.db.schema()
        key = (id(full), self.settings.policy)
        if self._checked_filters == key:
            return
        from .guard.policy import check_row_filters

        check_row_filters(full, self.settings.policy)
        self._checked_filters = key

    def feedback(self, answer: Answer | str, rating: int, note: str = "") -> None:
        """Record a rating (+1 thumbs up, -1 thumbs down) for an answer in the history."""
        if self.history is not None:
            answer_id = answer if isinstance(answer, str) else answer.id
            self.history.feedback(answer_id, rating, note, **self._audit())

    @classmethod
    def connect(
        cls,
        target: str | os.PathLike[str] | None = None,
        *,
        llm: LLM | None = None,
        settings: Settings | None = None,
        source: str = "api",
    ) -> Agent:
        """Open ``target`` (a SQLAlchemy URL, a DuckDB/SQLite file or a folder of data files).

        With no target the bundled sample database is used (built on first use). With no
        ``settings`` they are read from the environment, as the CLI does.
        """
        from .db import connect as connect_db
        from .sample import ensure_sample_database, is_sample_target

        if target is None:
            target = ensure_sample_database()
        elif is_sample_target(target):
            ensure_sample_database()  # named rather than defaulted to: built all the same
        settings = settings or Settings.from_env()
        db: Database = connect_db(target)
        if settings.schema_cache:
            from .context.schema_cache import with_schema_cache

            db = with_schema_cache(db)
        return cls(db, llm=llm, settings=settings, source=source)

    @property
    def llm(self) -> LLM:
        """The model; created from the settings on first use."""
        if self._llm is None:
            if not self.settings.llm_configured:
                raise ConfigError("No language model is configured.", hint=LLM_HELP)
            from .llm.client import OpenAILLM

            self._llm = OpenAILLM.from_settings(self.settings)
        return self._llm

    @property
    def knowledge_path(self) -> Path | None:
        """The knowledge file: the setting, else ``<database>.knowledge.yaml`` beside a
        database file (it may not exist yet), else None."""
        if self.settings.knowledge_path:
            return Path(self.settings.knowledge_path).expanduser()
        from .context.knowledge import default_knowledge_path

        return default_knowledge_path(self.db.path)

    def knowledge(self) -> Knowledge:
        """The knowledge file's content (empty without one); re-read when the file changes.

        The verified examples saved in the history store for this database are added (read
        on every call, so one saved by another process counts at once); a store that cannot
        be read leaves just the file's. Raises ``ConfigError`` naming the file and the
        problem when it is malformed.
        """
        from .context.knowledge import load_knowledge, with_verified

        knowledge = self._with_semantic(load_knowledge(self.knowledge_path))
        if self.history is None:
            return self._permitted(knowledge)
        from .store.history import HistoryError

        try:
            saved = self.history.verified(self.db.display_url)
        except HistoryError:
            return self._permitted(knowledge)  # logged by the store; the file's still work
        return self._permitted(with_verified(knowledge, saved))

    def semantic_paths(self) -> tuple[str, ...]:
        """The semantic model files and folders read beside the knowledge file: the setting's
        (``SQLAGENT_SEMANTIC``), then those the knowledge file names (``semantic:``)."""
        from .context.knowledge import load_knowledge

        named = load_knowledge(self.knowledge_path).semantic_paths
        return tuple(dict.fromkeys((*self.settings.semantic_paths, *named)))

    def semantic_model(self) -> SemanticModel:
        """What the semantic model files say that this database can use (entries over
        tables or columns it lacks, or that it cannot run, are in ``skipped``). Raises
        ``ConfigError`` for a missing file or invalid YAML."""
        from .context.semantic import load_semantic
        from .context.semantic_check import check_against, probe
        from .context.semantic_model import SemanticModel

        paths = self.semantic_paths()
        if not paths:
            return SemanticModel()
        return probe(check_against(load_semantic(paths), self.db.schema()), self.db)

    def _with_semantic(self, knowledge: Knowledge) -> Knowledge:
        paths = [*self.settings.semantic_paths, *knowledge.semantic_paths]
        if not paths:
            return knowledge
        from .context.semantic import with_semantic

        return with_semantic(knowledge, self.semantic_model())

    def _permitted(self, knowledge: Knowledge) -> Knowledge:
        """``knowledge`` without the verified examples whose SQL this agent's policy
        refuses: their text would show tables and columns the person may not see."""
        policy = self.settings.policy
        if not (knowledge.verified or knowledge.expressions) or not (
            policy.allowed_tables or policy.denied_tables or policy.denied_columns
        ):
            return knowledge
        from .errors import SqlAgentError
        from .guard import check

        try:
            full = self.db.schema()
        except SqlAgentError:
            return dataclasses.replace(knowledge, verified=(), expressions=())
        kept = []
        for example in knowledge.verified:
            try:
                check(example.sql, schema=full, policy=policy)
            except SqlAgentError:
                continue
            kept.append(example)
        named = []
        for expr in knowledge.expressions:
            # Checked as the query it stands for: a metric over a denied table or column
            # would show the model what the person may not see.
            where = f" WHERE {expr.filter}" if expr.filter else ""
            sql = f"SELECT {expr.sql} FROM {', '.join(expr.tables or (expr.table,))}{where}"
            try:
                check(sql, schema=full, policy=policy)
            except SqlAgentError:
                continue
            named.append(expr)
        return dataclasses.replace(knowledge, verified=tuple(kept), expressions=tuple(named))

    @property
    def saves_verified_to_store(self) -> bool:
        """True when verified examples are saved to a shared store rather than to the
        knowledge file (``SQLAGENT_STORE`` is set)."""
        return self.history is not None and self.history.shared

    def save_verified(self, question: str, sql: str) -> str:
        """Save ``question`` with ``sql`` as a verified example; returns where it went.

        With a shared store every process using it answers the question with this SQL from
        its next question on; otherwise it is appended to the knowledge file. Raises
        ``UsageError`` when there is nowhere to save it or the question or SQL is empty.
        """
        if self.history is not None and self.history.shared:
            self.history.add_verified(
                self.db.display_url,
                question,
                sql,
                source=self.source,
                user=self.identity.name if self.identity else None,
            )
            return self.history.location
        path = self.knowledge_path
        if path is None:
            from .errors import UsageError

            raise UsageError(
                "There is no knowledge file for this database to save the example in.",
                hint="Set SQLAGENT_KNOWLEDGE, or SQLAGENT_STORE for a shared store.",
            )
        from .context.knowledge import add_verified

        add_verified(path, question, sql)
        return str(path)

    def _per_schema(
        self,
        name: str,
        build: Callable[[SchemaInfo], _T],
        encode: Callable[[_T], Any],
        decode: Callable[[Any], _T],
    ) -> _T:
        """``build(visible schema)``, computed once per database, schema and policy.

        Kept with the database object, so every Agent over the same connection (the
        dashboard makes one per page run) shares it; built again when the schema changes.
        With the schema cache on, it is also kept on disk beside the cached schema
        (``encode`` / ``decode`` to and from JSON-able data), so a new process reads it
        rather than the data. Built from the visible schema only, so a denied column's values
        or range never reach a prompt. Concurrent callers wait for one build rather than
        each starting one.
        """
        full = self.db.schema()  # the same object until the schema changes
        key = (name, self.settings.policy)
        with _DERIVED_LOCK:  # held only to find the entry, never while building
            per_db = _DERIVED.setdefault(self.db, {})
            entry = per_db.pop(key, None) or _Derived()
            per_db[key] = entry  # most recent last
            while len(per_db) > _DERIVED_PER_DB:
                per_db.pop(next(iter(per_db)))
        with entry.lock:  # one build per database, kind and policy; others go on
            if entry.value is None or entry.schema is not full:
                from .context.derived_cache import load_derived, store_derived
                from .guard import visible_schema

                visible = visible_schema(full, self.settings.policy)
                value = load_derived(self.db, name, visible, decode)
                if value is None:
                    value = build(visible)
                    store_derived(self.db, name, visible, encode(value))
                entry.value = value
                entry.schema = full
            return cast("_T", entry.value)

    def values(self) -> ValueIndex | None:
        """The index of text values of the tables the model may see (built on first use,
        within ``settings.value_index_seconds``), or None when switched off."""
        if not self.settings.value_index:
            return None
        from .context.valueindex import ValueIndex

        return self._per_schema(
            "values",
            lambda schema: ValueIndex.build(
                self.db,
                schema,
                timeout=min(self.settings.statement_timeout, 10.0),
                time_budget=self.settings.value_index_seconds,
            ),
            ValueIndex.to_data,
            ValueIndex.from_data,
        )

    def profiles(self) -> Mapping[str, TableProfile] | None:
        """Column profiles (null share, distinct count, ranges, top values) of the tables the
        model may see, built on first use within ``settings.profile_seconds``; None when
        switched off. Their ranges appear in the context ("range 2025-01-01 .. 2025-12-31")."""
        if not self.settings.profiles:
            return None
        from .context.profile import profile_schema, profiles_from_data, profiles_to_data

        return self._per_schema(
            "profiles",
            lambda schema: profile_schema(
                self.db,
                schema,
                time_budget=self.settings.profile_seconds,
                timeout=min(self.settings.statement_timeout, 5.0),
            ),
            profiles_to_data,
            profiles_from_data,
        )

    def _llm_if_configured(self) -> LLM | None:
        if self._llm is None and not self.settings.llm_configured:
            return None
        return self.llm

    def ask(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        on_event: EventHandler | None = None,
        user: Identity | str | Mapping[str, Any] | None = None,
    ) -> Answer:
        """Answer a question in plain language (any language) about the database.

        Pass a ``Conversation`` to make follow-ups ("and in Tucson?") build on earlier turns;
        the answer is added to it. ``user`` names who asks (see ``for_user``).
        """
        scoped = self._scoped(user)
        if scoped is not self:
            return scoped.ask(question, conversation=conversation, on_event=on_event)
        from .pipeline import ask

        started = time.perf_counter()
        llm = self._llm_if_configured()
        knowledge = self.knowledge()
        if llm is None and knowledge.match_verified(question) is None:
            # Before any work: without a model only verified questions can be answered.
            raise ConfigError("No language model is configured.", hint=LLM_HELP)
        answer = ask(
            question,
            llm=llm,
            db=self.db,
            settings=self.settings,
            conversation=conversation,
            on_event=on_event,
            knowledge=knowledge,
            values=_helpful(self.values),
            profiles=_helpful(self.profiles),
        )
        answer = self._finish(answer, "ask", started)
        if conversation is not None:
            conversation.add(answer)
        return answer

    def ask_stream(
        self,
        question: str,
        *,
        conversation: Conversation | None = None,
        user: Identity | str | Mapping[str, Any] | None = None,
    ) -> Iterator[StreamEvent]:
        """``ask``, as events that arrive while it runs (see ``sqlagent.streaming``).

        The SQL once it passes the guard, the table, the chart, the narration a checked
        sentence at a time, then ``Finished`` with the same answer ``ask`` returns (recorded
        the same way). Errors ``ask`` raises are raised by the iterator::

            for event in agent.ask_stream("Total spend by city?"):
                if isinstance(event, NarrationDelta):
                    print(event.text, end="", flush=True)
        """
        from .streaming import stream_answer

        return stream_answer(
            lambda on_event: self.ask(
                question, conversation=conversation, on_event=on_event, user=user
            )
        )

    def sql(
        self,
        sql: str,
        *,
        question: str = "",
        on_event: EventHandler | None = None,
        user: Identity | str | Mapping[str, Any] | None = None,
    ) -> Answer:
        """Run your own SQL through the same guard as the model's (read-only, bounded).

        ``question`` labels the answer (and its history record) with what the SQL answers;
        ``user`` names who runs it (their role's policy applies, row filters included).
        """
        scoped = self._scoped(user)
        if scoped is not self:
            return scoped.sql(sql, question=question, on_event=on_event)
        from .pipeline import run_sql

        started = time.perf_counter()
        answer = run_sql(
            sql, db=self.db, settings=self.settings, question=question, on_event=on_event
        )
        return self._finish(answer, "sql", started)

    def schema(self, *, user: Identity | str | Mapping[str, Any] | None = None) -> SchemaInfo:
        """The schema as the model is allowed to see it (the policy's denials removed), for
        ``user`` when named."""
        scoped = self._scoped(user)
        if scoped is not self:
            return scoped.schema()
        from .guard import visible_schema

        return visible_schema(self.db.schema(), self.settings.policy)

    def context(
        self, question: str, *, user: Identity | str | Mapping[str, Any] | None = None
    ) -> Context:
        """Exactly the schema context the model would be shown for ``question`` (asked by
        ``user`` when named)."""
        scoped = self._scoped(user)
        if scoped is not self:
            return scoped.context(question)
        from .context import build_context

        return build_context(
            self.schema(),
            question,
            budget=self.settings.context_budget,
            knowledge=self.knowledge(),
            values=_helpful(self.values) if question.strip() else None,
            profiles=_helpful(self.profiles),
        )

    def close(self) -> None:
        """Release the database connection (an agent made by ``for_user`` shares it and
        leaves it open)."""
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _stamp(path: str) -> tuple[int, int] | None:
    """The file's modification time and size (None when it cannot be read)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _helpful(read: Callable[[], _T | None]) -> _T | None:
    """What ``read`` returns, or None when it fails: the value index and the profiles help
    the model but are never needed, so a database that cannot give them still gets asked
    (and a database that is down is reported by the chain, as an answer's error)."""
    try:
        return read()
    except Exception:
        return None
