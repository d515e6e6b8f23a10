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

import hmac
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from ..errors import ConfigError, SqlAgentError, UsageError
from ..settings import LLM_HELP

if TYPE_CHECKING:
    from ..api import Agent
    from ..types import Answer, SchemaInfo

__all__ = [
    "DEFAULT_ROWS",
    "MAX_QUESTION_CHARS",
    "MAX_SQL_CHARS",
    "AskResult",
    "build_server",
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


class Tools:
    """The tool bodies over one ``Agent``; each runs on a worker thread of the server."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._lock = threading.Lock()
        self._scrubber: tuple[SchemaInfo, Scrubber] | None = None
        self._scrub(None)  # built now, so that a broken database fails at start-up

    # ---- shaping

    def _current_scrubber(self) -> Scrubber:
        """The scrubber for the schema as it is now (rebuilt when the schema changes)."""
        try:
            full = self.agent.db.schema()  # the same object until the schema changes
        except SqlAgentError:
            if self._scrubber is None:
                raise
            return self._scrubber[1]  # the database is down: the last list still holds
        with self._lock:
            if self._scrubber is None or self._scrubber[0] is not full:
                self._scrubber = (full, Scrubber(full, self.agent.schema()))
            return self._scrubber[1]

    def _scrub(self, text: str | None) -> str | None:
        """``text`` with the names of denied columns removed."""
        return self._current_scrubber()(text)

    def _error(self, message: str) -> ToolError:
        return ToolError(self._scrub(message) or message)

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

    def _rows(self, max_rows: int | None) -> int:
        limit = self.agent.settings.max_rows
        return min(max_rows or DEFAULT_ROWS, limit)

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
            answer = self.agent.ask(text)
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
        return self._result(answer, self._rows(max_rows))

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
            answer = self.agent.sql(sql)
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        return self._result(answer, self._rows(max_rows))

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
            context = self.agent.context(question.strip())
            schema = self.agent.schema()
            verified = self.agent.knowledge().match_verified(question) if question.strip() else None
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
            knowledge = self.agent.knowledge()
            schema = self.agent.db.schema()
        except SqlAgentError as exc:
            raise self._error(exc.message) from None
        out: list[VerifiedOut] = []
        for example in knowledge.verified:
            try:
                check(example.sql, schema=schema, policy=self.agent.settings.policy)
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


def build_server(agent: Agent) -> MCPServer:
    """An MCP server whose tools answer from ``agent`` (its database, model and policy)."""
    from .. import __version__

    tools = Tools(agent)
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


class BearerAuth:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and not self._authorized(scope.get("headers", ())):
            body = b'{"error": "unauthorized: send Authorization: Bearer <SQLAGENT_MCP_TOKEN>"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="sqlagent"'),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorized(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        for name, value in headers:
            if name.lower() == b"authorization":
                return hmac.compare_digest(value.strip(), self._expected)
        return False


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    return host in LOOPBACK or host.startswith("127.")


def http_app(agent: Agent, *, host: str, token: str | None) -> ASGIApp:
    """The streamable-HTTP ASGI app at ``/mcp``, behind bearer auth when ``token`` is set."""
    from mcp.server.transport_security import TransportSecuritySettings

    server = build_server(agent)
    security = None
    if not is_loopback(host):
        # Clients reach a public bind under any host name; the bearer token is the gate.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app: ASGIApp = server.streamable_http_app(host=host, transport_security=security)
    return BearerAuth(app, token) if token else app


def run_http(agent: Agent, *, host: str, port: int, token: str | None) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted.

    A non-loopback ``host`` needs ``token`` (the caller checks); with a token every request
    must carry it, whatever the address.
    """
    import uvicorn

    app = http_app(agent, host=host, token=token)
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
