"""``sqlagent mcp``: the agent as a Model Context Protocol server.

Built on the ``mcp`` SDK's server (``MCPServer``, FastMCP in earlier releases); this module is
imported only by the ``mcp`` command, so ``import sqlagent`` never needs the SDK.

Tools: ``ask`` (a question → SQL, rows and narrative), ``run_sql`` (the caller's own SQL),
``describe_schema`` (what the model is shown) and ``list_verified`` (the knowledge file's
checked questions); the resource ``schema://context`` is the schema context. Whatever the
calling agent sends is untrusted exactly like the model's output: the same guard, policy, row
and time limits apply, and names the policy denies are scrubbed from every text returned.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from ..access.signin import is_loopback
from ..errors import ConfigError, SqlAgentError, UsageError
from ..settings import LLM_HELP

if TYPE_CHECKING:
    from ..access.identity import Identity
    from ..api import Agent
    from ..store.tokens import TokenStore
    from ..types import Answer, SchemaInfo

__all__ = [
    "CALLER",
    "DEFAULT_ROWS",
    "MAX_QUESTION_CHARS",
    "MAX_SQL_CHARS",
    "AllowedHosts",
    "AskResult",
    "Authenticator",
    "RequestGate",
    "build_server",
    "is_loopback",
    "run_http",
    "run_stdio",
]

log = logging.getLogger("sqlagent.mcp")

MAX_QUESTION_CHARS = 4_000
"""Longer questions are refused before any work: no real question is this long."""
MAX_SQL_CHARS = 100_000
DEFAULT_ROWS = 50
"""Rows a tool returns unless the caller asks for more (up to the policy's row limit)."""
MAX_CELL_CHARS = 2_000
"""A longer text value is cut (with "…"): one huge cell must not flood the caller's context."""

DENIED = "[denied]"
_POLICY_MESSAGE = (
    "The query uses a table or column that the policy does not allow; only the tables and "
    "columns describe_schema lists can be queried."
)

INSTRUCTIONS = (
    "Answers questions about one SQL database, read-only. Call describe_schema first to see "
    "the tables and columns; then either ask (a question in plain language, answered by "
    "sqlagent's own model) or run_sql (a SELECT you write yourself). Every query is checked: "
    "one read-only statement, known tables and columns only, bounded rows and time."
)


# --------------------------------------------------------------------------- output types


class ErrorOut(BaseModel):
    """Why a query failed: the error class and a message to act on."""

    type: str
    message: str
    hint: str | None = None


class AskResult(BaseModel):
    """One answer of ``ask`` or ``run_sql``."""

    kind: Literal["result", "clarification", "refusal", "error"] = Field(
        description="result: rows answer the question; clarification: choose one of options and "
        "ask again; refusal: the data cannot answer it (see refusal_reason); error: see error"
    )
    question: str
    sql: str | None = Field(description="the checked SQL that ran (or was refused)")
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(
        default_factory=list, description="at most max_rows rows; dates as ISO strings"
    )
    row_count: int = Field(description="rows the query returned, within the server's row limit")
    truncated: bool = Field(description="true when more rows exist than are in rows")
    narrative: str = Field(default="", description="a short answer in words (ask only)")
    verified: bool = Field(default=False, description="the SQL is a person-checked example's")
    clarification: str | None = Field(default=None, description="the clarifying question")
    options: list[str] = Field(default_factory=list, description="interpretations to choose from")
    refusal_reason: str | None = None
    error: ErrorOut | None = None


class SchemaOut(BaseModel):
    """The schema context of ``describe_schema``."""

    dialect: str
    context: str = Field(description="CREATE TABLE statements with comments, as the model sees")
    tables: list[str] = Field(description="tables included in context")
    total_tables: int = Field(description="tables the caller may query in all")
    tokens: int = Field(description="approximate size of context in tokens")
    verified_sql: str | None = Field(
        default=None, description="the verified SQL the question would be answered with, if any"
    )


class VerifiedOut(BaseModel):
    """One verified question of the knowledge file."""

    question: str
    sql: str


class VerifiedList(BaseModel):
    """The knowledge file's verified questions."""

    verified: list[VerifiedOut]


# --------------------------------------------------------------------------- scrubbing


class Scrubber:
    """Removes the names of denied columns (and tables) from text returned to the caller.

    A qualified name (``customers.email``) always goes; a bare name (``email``) only when
    no visible table or column has it, so ordinary names are never mangled.
    """

    def __init__(self, full: SchemaInfo, visible: SchemaInfo) -> None:
        shown: dict[str, set[str]] = {
            t.qualified_name.lower(): {c.name.lower() for c in t.columns} for t in visible.tables
        }
        visible_names = {name for cols in shown.values() for name in cols}
        visible_names |= {t.name.lower() for t in visible.tables}
        qualified: set[str] = set()
        bare: set[str] = set()
        for table in full.tables:
            if table.qualified_name.lower() not in shown:  # a denied (or not allowed) table
                qualified.add(table.qualified_name.lower())
                if table.name.lower() not in visible_names:
                    bare.add(table.name.lower())
            kept = shown.get(table.qualified_name.lower(), set())
            for column in table.columns:
                low = column.name.lower()
                if low in kept:
                    continue
                qualified.add(f"{table.name.lower()}.{low}")
                qualified.add(f"{table.qualified_name.lower()}.{low}")
                if low not in visible_names:
                    bare.add(low)
        names = sorted(qualified | bare, key=len, reverse=True)
        self._pattern = (
            re.compile(
                r"(?<![\w.])[\"`\[]?(?:"
                + "|".join(re.escape(n) for n in names)
                + r")[\"`\]]?(?!\w)",
                re.IGNORECASE,
            )
            if names
            else None
        )

    def __call__(self, text: str | None) -> str | None:
        """``text`` with every denied name replaced by ``[denied]``."""
        if text is None or self._pattern is None:
            return text
        return self._pattern.sub(DENIED, text)


# --------------------------------------------------------------------------- the tools


Question = Annotated[
    str,
    Field(
        description="the question in plain language, any language",
        max_length=MAX_QUESTION_CHARS,
    ),
]
MaxRows = Annotated[
    int,
    Field(ge=1, description=f"rows to return at most (default {DEFAULT_ROWS})"),
]


CALLER: ContextVar[Identity | None] = ContextVar("sqlagent_mcp_caller", default=None)
"""Who sent the request being handled: set by the HTTP transport's ``RequestGate`` for each
request (the SDK runs the tool in a copy of that request's context, so two users' requests
never see each other's), unset on stdio, where the tools answer for the default identity."""

_SCRUBBERS = 256
"""Scrubbers kept (one per person recently served)."""


class Tools:
    """The tool bodies over one ``Agent``; each runs on a worker thread of the server, for
    the person calling (``CALLER``, else ``default``: the operating-system user)."""

    def __init__(self, agent: Agent, *, default: Identity | None = None) -> None:
        from ..access.identity import Identity

        self.agent = agent
        self.default = default or Identity.local()
        self._lock = threading.Lock()
        # Per person: the schema object it was built from, and the scrubber for what they see.
        self._scrubbers: dict[Identity, tuple[SchemaInfo, Scrubber]] = {}
        agent.db.schema()  # now, so that a broken database fails at start-up

    # ---- who is calling

    def _caller(self) -> Identity:
        return CALLER.get() or self.default

    def _view(self) -> Agent:
        """The agent answering for the caller: their role's policy, row filters bound."""
        return self.agent.for_user(self._caller())

    # ---- shaping

    def _current_scrubber(self) -> Scrubber:
        """The caller's scrubber for the schema as it is now (rebuilt when it changes)."""
        who = self._caller()
        with self._lock:
            kept = self._scrubbers.get(who)
        try:
            full = self.agent.db.schema()  # the same object until the schema changes
            if kept is not None and kept[0] is full:
                return kept[1]
            scrubber = Scrubber(full, self._view().schema())
        except SqlAgentError:
            if kept is None:
                raise
            return kept[1]  # the database is down: the last list still holds
        with self._lock:
            if len(self._scrubbers) >= _SCRUBBERS and who not in self._scrubbers:
                self._scrubbers.pop(next(iter(self._scrubbers)))
            self._scrubbers[who] = (full, scrubber)
        return scrubber

    def _scrub(self, text: str | None) -> str | None:
        """``text`` with the names of columns the caller may not see removed."""
        return self._current_scrubber()(text)

    def _error(self, message: str) -> ToolError:
        try:
            return ToolError(self._scrub(message) or message)
        except SqlAgentError as exc:  # nothing to scrub with: only what cannot name a column
            return ToolError(f"{type(exc).__name__}: the database or the policy is unavailable.")

    def _result(self, answer: Answer, max_rows: int) -> AskResult:
        from ..types import to_json_value

        scrub = self._current_scrubber()
        error = None
        if answer.error is not None and answer.kind == "error":
            message = answer.error.message
            if answer.error.type == "PolicyViolation":
                message = _POLICY_MESSAGE  # the refused name itself is never repeated
            error = ErrorOut(
                type=answer.error.type,
                message=scrub(message) or "",
                hint=scrub(answer.error.hint),
            )
        kind = {"answer": "result"}.get(answer.kind, answer.kind)
        shown = answer.rows[:max_rows] if answer.ok else ()
        return AskResult(
            kind=kind,  # type: ignore[arg-type]
            question=scrub(answer.question) or "",
            sql=scrub(answer.sql),
            columns=list(answer.columns) if answer.ok else [],
            rows=[[_cell(to_json_value(v)) for v in row] for row in shown],
            row_count=answer.row_count if answer.ok else 0,
            truncated=answer.ok and (answer.truncated or answer.row_count > len(shown)),
            narrative=scrub(answer.narrative) or "",
            verified=answer.verified,
            clarification=scrub(answer.clarification.question) if answer.clarification else None,
            options=[scrub(o) or "" for o in answer.clarification.options]
            if answer.clarification
            else [],
            refusal_reason=scrub(answer.refusal),
            error=error,
        )

    def _rows(self, agent: Agent, max_rows: int | None) -> int:
        return min(max_rows or DEFAULT_ROWS, agent.settings.max_rows)

    # ---- tools

    def ask(self, question: Question, max_rows: MaxRows = DEFAULT_ROWS) -> AskResult:
        """Answer a question about the database in plain language (any language).

        sqlagent's own model writes one read-only SQL query from the schema, it is checked
        and run, and the result is narrated. Returns kind (result, clarification, refusal or
        error), the checked sql, columns, at most max_rows rows (row_count and truncated say
        whether more exist), a short narrative, the clarification's options to choose from
        (ask again naming one), or the refusal's reason. Questions the knowledge file has
        verified are answered with their checked SQL, even when no model is configured; any
        other question then fails with a message saying how to configure one. Queries are
        read-only and bounded in rows and time.
        """
        text = question.strip()
        if not text:
            raise ToolError("The question is empty: pass the question in plain language.")
        try:
            agent = self._view()
            answer = agent.ask(text)
        except ConfigError as exc:
            if exc.hint != LLM_HELP:  # another configuration mistake: a malformed file, say
                raise self._error(f"{exc.message} {exc.hint or ''}".strip()) from None
            hint = exc.hint
            raise self._error(
                f"{exc.message} Without one, only the verified questions (list_verified) are "
                "answered; run_sql and describe_schema need none, so you can write the SQL "
                "yourself. To configure a model, add to the server's environment (the env of "
                f"its entry in the MCP client's configuration): {hint}"
            ) from None
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        return self._result(answer, self._rows(agent, max_rows))

    def run_sql(
        self,
        sql: Annotated[
            str,
            Field(
                description="one read-only SELECT (or WITH ... SELECT)", max_length=MAX_SQL_CHARS
            ),
        ],
        max_rows: MaxRows = DEFAULT_ROWS,
    ) -> AskResult:
        """Run your own SQL query, read-only, through the same checks as the model's queries.

        Exactly one SELECT / WITH / UNION / VALUES statement in the database's dialect (see
        describe_schema); writes, DDL, file access and unknown tables or columns are refused
        with an error saying why (kind "error"; the error names the closest real columns for
        a misspelt one). Returns the checked sql, columns, at most max_rows rows, row_count
        and truncated. Needs no model.
        """
        if not sql.strip():
            raise ToolError("The SQL is empty: pass one SELECT statement.")
        try:
            agent = self._view()
            answer = agent.sql(sql)
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        return self._result(answer, self._rows(agent, max_rows))

    def describe_schema(
        self,
        question: Annotated[
            str,
            Field(
                description="optional: show only the context this question would get",
                max_length=MAX_QUESTION_CHARS,
            ),
        ] = "",
    ) -> SchemaOut:
        """The database's schema as sqlagent's model sees it: CREATE TABLE statements with
        column comments, sample values, value ranges and business definitions, in the SQL
        dialect named. Tables and columns the policy denies are not included and cannot be
        queried. With a question, exactly the pruned context the model would be shown for
        it (large schemas are cut to the relevant tables), and the verified SQL it would be
        answered with, if any. Needs no model.
        """
        try:
            agent = self._view()
            context = agent.context(question.strip())
            schema = agent.schema()
            verified = agent.knowledge().match_verified(question) if question.strip() else None
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        return SchemaOut(
            dialect=schema.dialect,
            context=self._scrub(context.text) or "",
            tables=list(context.tables),
            total_tables=len(schema.tables),
            tokens=context.tokens,
            verified_sql=self._scrub(verified.sql) if verified else None,
        )

    def list_verified(self) -> VerifiedList:
        """The questions of the knowledge file that a person checked, with their SQL. ask
        answers these (and questions that say the same) with that SQL, without a model.
        Examples whose SQL the policy would refuse are left out."""
        from ..guard import check

        try:
            agent = self._view()
            knowledge = agent.knowledge()
            schema = agent.db.schema()
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        out: list[VerifiedOut] = []
        for example in knowledge.verified:
            try:
                check(example.sql, schema=schema, policy=agent.settings.policy)
            except SqlAgentError:
                continue  # it reads something denied (or no longer exists): not shown
            out.append(VerifiedOut(question=example.question, sql=example.sql))
        return VerifiedList(verified=out)

    def schema_resource(self) -> str:
        """The whole schema context, as describe_schema without a question."""
        return self.describe_schema("").context


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        return value[: MAX_CELL_CHARS - 1] + "…"
    return value


class _Server(MCPServer):
    """The SDK's server, with argument errors worded for the caller.

    The SDK reports a validation failure as pydantic's full text (a model name, the input
    echoed, a link); the caller needs the parameter and what is wrong with it, and the
    input is never repeated back.
    """

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Call a tool; unknown names and invalid arguments raise a ``ToolError`` that says
        what the tools and their parameters are."""
        known = sorted(t.name for t in self._tool_manager.list_tools())
        if name not in known:
            raise ToolError(f"Unknown tool {name[:100]!r}; the tools are {', '.join(known)}.")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(_arguments_message(name, cause)) from cause
            raise


def _arguments_message(tool: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return f"Invalid arguments for {tool}: " + "; ".join(problems) + "."


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)


def build_server(agent: Agent, *, default: Identity | None = None) -> MCPServer:
    """An MCP server whose tools answer from ``agent`` (its database, model and policy) for
    the caller of each request (``CALLER``), else for ``default`` (the operating-system
    user when None)."""
    from .. import __version__

    tools = Tools(agent, default=default)
    server = _Server(
        "sqlagent", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    for fn, title in (
        (tools.ask, "Ask a question about the data"),
        (tools.run_sql, "Run a read-only SQL query"),
        (tools.describe_schema, "Describe the database schema"),
        (tools.list_verified, "List verified questions"),
    ):
        server.add_tool(fn, title=title, annotations=READ_ONLY, structured_output=True)
    server.resource(
        "schema://context",
        name="schema",
        title="Database schema",
        description="The schema context the model sees: tables, columns, comments, samples.",
        mime_type="text/plain",
    )(tools.schema_resource)
    return server


# --------------------------------------------------------------------------- transports


def run_stdio(agent: Agent) -> None:
    """Serve over stdin/stdout until the client closes the stream."""
    import anyio

    server = build_server(agent)
    anyio.run(server.run_stdio_async)


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


# ---- who is calling, and from where


@dataclass(frozen=True)
class AllowedHosts:
    """The ``Host`` and ``Origin`` values the HTTP transport answers (against DNS rebinding).

    A web page on another site that resolves its own name to this machine reaches the server
    with that name in ``Host`` (answered 421) and its own site in ``Origin`` (answered 403).
    ``hosts`` are ``name:port`` values matched exactly; ``names`` are names matched with any
    port (or none); an origin is allowed when it is one of ``origins`` or its scheme is http(s)
    and its host part passes the ``Host`` check (the server's own origin).
    """

    hosts: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()

    @classmethod
    def for_bind(
        cls,
        host: str,
        port: int,
        *,
        extra_hosts: Iterable[str] = (),
        extra_origins: Iterable[str] = (),
    ) -> AllowedHosts:
        """The defaults for a bind, plus ``--allow-host`` and ``--allow-origin`` values.

        Loopback: ``localhost``, ``127.0.0.1`` and ``[::1]`` with the port. Another address:
        that address with the port. Every address (``0.0.0.0``, ``::``): the loopback names,
        this machine's host name, its full name and their addresses, with the port. A name
        given without a port matches any port. Raises ``UsageError`` for a malformed one.
        """
        bind = host.strip().strip("[]").lower()
        if is_loopback(bind):
            bases = {*_LOOPBACK_NAMES, bind}
        elif bind in ("", "0.0.0.0", "::"):
            bases = {*_LOOPBACK_NAMES, *_this_machine()}
        else:
            bases = {bind}
        hosts = {f"{_bracketed(b)}:{port}" for b in bases}
        if port == 80:  # the default port is left out of Host
            hosts |= {_bracketed(b) for b in bases}
        names: set[str] = set()
        for given in extra_hosts:
            value = _host_value(given)
            (hosts if _has_port(value) else names).add(value)
        origins = {_origin_value(o) for o in extra_origins}
        return cls(frozenset(hosts), frozenset(names), frozenset(origins))

    def host_ok(self, value: str | None) -> bool:
        """True when a request's ``Host`` header is one of this server's names."""
        if not value:
            return False  # HTTP/1.1 requires it; without one the name cannot be checked
        value = value.strip().lower()
        if value in self.hosts:
            return True
        return _without_port(value) in self.names

    def origin_ok(self, value: str) -> bool:
        """True when a request's ``Origin`` header (when sent) may call this server."""
        value = value.strip().lower().rstrip("/")
        if value in self.origins:
            return True
        scheme, sep, rest = value.partition("://")
        return bool(sep) and scheme in ("http", "https") and "/" not in rest and self.host_ok(rest)

    def sdk_settings(self) -> Any:
        """The same rules as the SDK's own transport security settings (checked again
        behind ``RequestGate``, so that no route is left unchecked)."""
        from mcp.server.transport_security import TransportSecuritySettings

        hosts = sorted(self.hosts | self.names | {f"{n}:*" for n in self.names})
        origins = sorted(
            self.origins | {f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")}
        )
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_HOST_VALUE = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?)(:[0-9]{1,5})?$")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _has_port(value: str) -> bool:
    return re.search(r":[0-9]+$", value) is not None and not value.endswith("]")


def _without_port(value: str) -> str:
    if value.startswith("["):
        return value[: value.index("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if _has_port(value) else value


def _host_value(given: str) -> str:
    value = given.strip().lower()
    if ":" in value and not value.startswith("[") and value.count(":") > 1:
        value = f"[{value}]"  # a bare IPv6 address
    if not _HOST_VALUE.match(value):
        raise UsageError(
            f"--allow-host takes a host name as clients send it in Host (mcp.example.com, "
            f"10.0.0.5:8765), not {given!r}"
        )
    return value


def _origin_value(given: str) -> str:
    value = given.strip().lower().rstrip("/")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("http", "https") or not _HOST_VALUE.match(rest):
        raise UsageError(
            f"--allow-origin takes an origin, scheme://host[:port] with no path "
            f"(https://app.example.com), not {given!r}"
        )
    return value


def _this_machine() -> set[str]:
    """This machine's names and their addresses (best effort: whatever resolves)."""
    import socket

    found: set[str] = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        if not name:
            continue
        found.add(name.lower())
        try:
            found.update(a.lower() for a in socket.gethostbyname_ex(name)[2])
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: the status, a message, and the headers to send."""

    status: int
    message: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


_UNAUTHORIZED = (b"www-authenticate", b'Bearer realm="sqlagent"')
_INVALID_TOKEN = (b"www-authenticate", b'Bearer realm="sqlagent", error="invalid_token"')


class Authenticator:
    """Who a request's ``Authorization`` header stands for.

    A per-user access token (``sqlagent users add``) found live in ``tokens`` is its user
    (``via="token"``); ``shared`` (``SQLAGENT_MCP_TOKEN``) is the operator running the server.
    Without a header the request is the operator's only on a loopback bind with no shared
    token and no access token in the store. A store that cannot be read refuses the request
    (503): nobody is let in unchecked.
    """

    def __init__(
        self,
        *,
        tokens: TokenStore | None,
        shared: str | None = None,
        loopback: bool = True,
        operator: Identity | None = None,
    ) -> None:
        from ..access.identity import Identity

        self.tokens = tokens
        self._shared = hashlib.sha256(shared.encode()).digest() if shared else None
        self.loopback = loopback
        self.operator = operator or Identity.local()

    def identify(self, authorization: str | None) -> Identity | Refusal:
        """The caller, or why they are refused (401 unknown, 503 store unreachable)."""
        from ..store.backends import StoreError

        if authorization is None:
            if self._shared is not None or not self.loopback:
                return Refusal(
                    401, "unauthorized: send Authorization: Bearer <token>", (_UNAUTHORIZED,)
                )
            try:
                closed = self.tokens is not None and self.tokens.has_tokens()
            except StoreError:
                return _unavailable()
            if closed:
                return Refusal(
                    401,
                    "unauthorized: this server has users; send Authorization: Bearer <your token>",
                    (_UNAUTHORIZED,),
                )
            return self.operator
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Refusal(
                401, "unauthorized: send Authorization: Bearer <token>", (_UNAUTHORIZED,)
            )
        if self._shared is not None and hmac.compare_digest(
            hashlib.sha256(token.encode()).digest(), self._shared
        ):
            return self.operator
        record = None
        if self.tokens is not None:
            try:
                record = self.tokens.identify(token)
            except StoreError:
                return _unavailable()
        if record is None:
            return Refusal(401, "unauthorized: the token is unknown or revoked", (_INVALID_TOKEN,))
        return record.identity()


def _unavailable() -> Refusal:
    return Refusal(
        503,
        "the store holding the access tokens cannot be reached; try again shortly",
        ((b"retry-after", b"5"),),
    )


class RequestGate:
    """ASGI middleware in front of the MCP app, for every HTTP request in this order: a
    ``Host`` not allowed gets 421, an ``Origin`` not allowed 403 (the SDK's statuses), a
    caller not identified 401 (503 when the tokens cannot be read); the rest runs with
    ``CALLER`` set to who sent it. A session is kept to the person who opened it."""

    def __init__(self, app: ASGIApp, *, hosts: AllowedHosts, auth: Authenticator) -> None:
        self.app = app
        self.hosts = hosts
        self.auth = auth
        self._sessions: dict[str, Identity] = {}
        self._sessions_lock = threading.Lock()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":  # the lifespan
            await self.app(scope, receive, send)
            return
        import anyio.to_thread

        headers = _headers(scope)
        if not self.hosts.host_ok(headers.get("host")):
            await _refuse(send, Refusal(421, "misdirected request: this Host is not served here"))
            return
        origin = headers.get("origin")
        if origin is not None and not self.hosts.origin_ok(origin):
            await _refuse(send, Refusal(403, "forbidden: requests from this Origin are refused"))
            return
        # The store is read on a worker thread: a slow one never holds up other requests.
        who = await anyio.to_thread.run_sync(self.auth.identify, headers.get("authorization"))
        if isinstance(who, Refusal):
            await _refuse(send, who)
            return
        session = headers.get("mcp-session-id")
        if session is not None:
            with self._sessions_lock:
                owner = self._sessions.get(session)
            if owner is not None and owner != who:
                await _refuse(send, Refusal(403, "forbidden: this session is another user's"))
                return

        async def send_noting_session(message: Any) -> None:
            if message.get("type") == "http.response.start":
                for name, value in message.get("headers", ()):
                    if name.lower() == b"mcp-session-id":
                        self._own(value.decode("latin-1"), who)
            await send(message)

        token = CALLER.set(who)
        try:
            await self.app(scope, receive, send_noting_session)
        finally:
            CALLER.reset(token)

    def _own(self, session: str, who: Identity) -> None:
        with self._sessions_lock:
            if session not in self._sessions:
                if len(self._sessions) >= _SESSIONS:
                    self._sessions.pop(next(iter(self._sessions)))
                self._sessions[session] = who


_SESSIONS = 10_000
"""Sessions whose owner is remembered (the SDK closes idle ones long before)."""


def _headers(scope: MutableMapping[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name (the first of a repeated one)."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


async def _refuse(send: Callable[[Any], Awaitable[None]], refusal: Refusal) -> None:
    import json

    body = json.dumps({"error": refusal.message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *refusal.headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_app(
    agent: Agent,
    *,
    host: str,
    port: int,
    auth: Authenticator,
    allow_hosts: Iterable[str] = (),
    allow_origins: Iterable[str] = (),
) -> ASGIApp:
    """The streamable-HTTP ASGI app at ``/mcp`` behind ``RequestGate``: the Host and Origin
    rules of ``AllowedHosts.for_bind`` on every bind, then ``auth`` for each request."""
    hosts = AllowedHosts.for_bind(host, port, extra_hosts=allow_hosts, extra_origins=allow_origins)
    server = build_server(agent, default=auth.operator)
    app: ASGIApp = server.streamable_http_app(host=host, transport_security=hosts.sdk_settings())
    return RequestGate(app, hosts=hosts, auth=auth)


def run_http(app: ASGIApp, *, host: str, port: int) -> None:
    """Serve ``app`` (``http_app``'s) at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        return
    except SystemExit as exc:  # uvicorn gives up this way when it cannot bind
        if exc.code:
            raise UsageError(
                f"Could not serve on {host}:{port} (see the message above: is the port in "
                "use, or the address not one of this machine's?)"
            ) from None


def log_to_stderr() -> None:
    """All logging to stderr: in stdio mode stdout is the protocol stream."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sqlagent mcp: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
