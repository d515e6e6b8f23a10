"""One error hierarchy for the whole package.

Every failure a user can cause or meet is a ``SqlAgentError`` carrying a message, and where it
helps the SQL involved and a hint on what to try. Each interface (CLI, UI, JSON) turns these into
a message in exactly one place; no error is ever passed around as a string.
"""

from __future__ import annotations

from .types import ErrorInfo


class SqlAgentError(Exception):
    """Base of every error sqlagent raises on purpose."""

    def __init__(self, message: str, *, sql: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sql = sql
        self.hint = hint

    def info(self) -> ErrorInfo:
        """The error as plain data, for answers, traces and JSON output."""
        return ErrorInfo(type(self).__name__, self.message, self.hint)

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- configuration


class ConfigError(SqlAgentError):
    """The settings are incomplete or contradictory (e.g. no LLM endpoint configured)."""


class UsageError(SqlAgentError):
    """The request itself is malformed: an empty question, an unknown option value."""


class AccessDenied(SqlAgentError):
    """The person asking is not known, holds no role, or their token is unknown or revoked:
    nothing is run for them."""


class SignInUnavailable(AccessDenied):
    """Signing in cannot be done now (the identity provider is down or misconfigured):
    nothing is shown, and nobody is let in unnamed."""


class ConnectionFailed(SqlAgentError):
    """The database could not be opened: wrong URL, missing file, server down, missing driver."""


# --------------------------------------------------------------------------- LLM


class LLMError(SqlAgentError):
    """The language model could not be reached or gave an unusable reply."""


class LLMTimeout(LLMError):
    """The model did not answer within the configured time."""


class LLMUnavailable(LLMError):
    """The endpoint refused, failed or could not be reached (after the client's retries)."""


class NoSQLInReply(LLMError):
    """The model replied, but the reply contains no SQL statement."""

    def __init__(self, message: str, *, reply: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reply = reply


class ReplyCutOff(LLMError):
    """The model's reply was cut off at its token limit before the query was complete."""


class ClarificationNeeded(SqlAgentError):
    """The question is ambiguous against this schema; the answer carries the options."""


class NotAnswerable(SqlAgentError):
    """The data cannot answer the question (no such data, or not a question about data)."""


class ScriptExhausted(LLMError):
    """A scripted fake model was called more often than it was scripted for (tests only)."""


# --------------------------------------------------------------------------- guard


class GuardError(SqlAgentError):
    """The guard refused a statement before it could run."""


class SQLParseError(GuardError):
    """The statement does not parse in the target dialect (or parses only partially)."""


class UnsafeSQL(GuardError):
    """The statement is not a single read: DDL, DML, several statements, file access..."""


class PolicyViolation(GuardError):
    """The statement reads a table or column that the policy denies."""


class UnknownTable(GuardError):
    """The statement names a table that does not exist."""

    def __init__(
        self, message: str, *, name: str, suggestions: tuple[str, ...] = (), sql: str | None = None
    ) -> None:
        super().__init__(message, sql=sql)
        self.name = name
        self.suggestions = suggestions


class UnknownColumn(GuardError):
    """The statement names a column that does not exist."""

    def __init__(
        self, message: str, *, name: str, suggestions: tuple[str, ...] = (), sql: str | None = None
    ) -> None:
        super().__init__(message, sql=sql)
        self.name = name
        self.suggestions = suggestions


# --------------------------------------------------------------------------- execution


MAX_MESSAGE_CHARS = 2_000
"""The longest database message kept: a driver's message can quote a value of any size, and
the message is shown on every screen and sent back to the model for a repair."""


class ExecutionError(SqlAgentError):
    """The database rejected the statement or failed while running it.

    >>> len(ExecutionError("Conversion Error: " + "x" * 10_000).message) < 2_100
    True
    """

    def __init__(self, message: str, *, sql: str | None = None, hint: str | None = None) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            cut = len(message) - MAX_MESSAGE_CHARS
            message = f"{message[:MAX_MESSAGE_CHARS]}… ({cut:,} more characters)"
        super().__init__(message, sql=sql, hint=hint)


class QueryTimeout(ExecutionError):
    """The statement ran longer than the statement timeout and was cancelled."""


class ReadOnlyViolation(ExecutionError):
    """The database refused a write on the read-only connection (the second layer held)."""
