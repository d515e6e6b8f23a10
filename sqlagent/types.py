"""Typed values that flow between the steps of the chain.

Everything here is a frozen dataclass: pure data, no I/O. Steps take these values in and give
new ones back, so every step can be tested, cached and traced on its own.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import gc
import itertools
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pandas is heavy: imported only when a DataFrame is asked for
    import pandas as pd

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a table as the database describes it."""

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    comment: str | None = None
    samples: tuple[str, ...] = ()
    """A few distinct values, for low-cardinality text columns only."""


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of the owning table reference ``ref_columns`` of ``ref_table``."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    ref_schema: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """A table or view, its columns and keys."""

    name: str
    columns: tuple[ColumnInfo, ...]
    schema: str | None = None
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str | None = None
    row_count: int | None = None
    kind: Literal["table", "view"] = "table"
    row_filter: str | None = None
    """In a schema as one person may see it: the condition (SQL in the schema's dialect, its
    columns qualified by ``_sqlagent_rows``) the rows they may read meet. Whatever is read
    from the table for them (samples, the value index, profiles) reads only those rows."""

    @property
    def qualified_name(self) -> str:
        """``schema.name`` when the table lives in a named schema, else ``name``."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def source(self, dialect: str, alias: str | None = None) -> Any:
        """A sqlglot FROM item that reads this table as ``row_filter`` permits: the table,
        or its permitted rows as a derived table. Context queries read tables through it."""
        from sqlglot import exp

        table = exp.table_(self.name, db=self.schema, quoted=True)
        if self.row_filter is None:
            return table.as_(alias) if alias else table
        inner = table.as_("_sqlagent_rows")
        condition: exp.Expr = exp.maybe_parse(self.row_filter, dialect=dialect)
        rows = exp.select(exp.Star()).from_(inner).where(condition)
        return rows.subquery(alias or "_sqlagent_rows_of")

    def column(self, name: str) -> ColumnInfo | None:
        """The column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        for col in self.columns:
            if col.name.lower() == low:
                return col
        return None


@dataclass(frozen=True)
class SchemaInfo:
    """What the database holds: the input to context building and to the guard."""

    dialect: str
    """sqlglot dialect name: duckdb, postgres, mysql, sqlite, snowflake, bigquery, trino..."""
    tables: tuple[TableInfo, ...]
    default_schema: str | None = None

    def table(self, name: str, schema: str | None = None) -> TableInfo | None:
        """Find a table by name (case-insensitive), optionally within ``schema``."""
        low = name.lower()
        candidates = [t for t in self.tables if t.name.lower() == low]
        if schema is not None:
            s = schema.lower()
            candidates = [t for t in candidates if (t.schema or "").lower() == s]
        elif len(candidates) > 1 and self.default_schema is not None:
            d = self.default_schema.lower()
            preferred = [t for t in candidates if (t.schema or "").lower() == d]
            candidates = preferred or candidates
        return candidates[0] if candidates else None

    def without(self, names: Sequence[str]) -> SchemaInfo:
        """A copy without the tables whose qualified names are in ``names``."""
        drop = {n.lower() for n in names}
        kept = tuple(t for t in self.tables if t.qualified_name.lower() not in drop)
        return SchemaInfo(self.dialect, kept, self.default_schema)


# --------------------------------------------------------------------------- LLM


@dataclass(frozen=True)
class Usage:
    """Token counts as reported by the API's ``usage`` field (zero when not reported)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class Completion:
    """One reply of a chat model."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None
    """Why the model stopped: "stop", "length" (it hit its token limit: the reply is cut
    off), "tool_calls", ... or None when the endpoint did not say."""
    refusal: str | None = None
    """The endpoint's own refusal field (structured outputs), when it sent one."""


# --------------------------------------------------------------------------- chain values


@dataclass(frozen=True)
class Context:
    """The schema and knowledge text the model is shown for one question."""

    text: str
    tokens: int
    tables: tuple[str, ...]
    """Qualified names of the tables included."""
    notes: tuple[str, ...] = ()
    """Extra lines (value matches, definitions) already included in ``text``."""


@dataclass(frozen=True)
class GuardedSQL:
    """A statement the guard accepted.

    ``sql`` is the statement as checked (normalised, in the target dialect), which is what an
    analyst sees and can re-run. ``executable`` is the same statement with the row bound the
    guard enforces (``LIMIT max_rows + 1`` so truncation can be detected); it is what runs.
    """

    sql: str
    executable: str
    tables: tuple[str, ...] = ()
    limit_added: bool = False
    stops_promptly: bool = False
    """An interrupt stops it within moments on an engine that runs in the process: only
    bounded steps, a small statement (``guard.promptness``). Such an engine may then run it
    on the caller's thread, with no hand-off to a worker."""


@dataclass(frozen=True)
class QueryResult:
    """Rows fetched from the database, bounded by ``max_rows``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False
    elapsed: float = 0.0
    declared: tuple[type | None, ...] = field(default=(), compare=False, repr=False)
    """The Python type of each column's non-NULL values, as the engine declares it (``None``
    for a column it does not vouch for; empty when it declares none). Readers of a declared
    column skip looking at every value's type: a size bound passes over a column declared
    numeric without reading it."""

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @cached_property
    def by_column(self) -> tuple[tuple[Any, ...], ...]:
        """The values column by column, transposed once (in C) for every reader of the
        result: the size bound, the statistics of the summary. A short row reads as NULLs."""
        if not self.rows:
            return tuple(() for _ in self.columns)
        # zip(*rows) makes an iterator per row: a thousand short-lived objects, which would set
        # the cyclic collector off on every answer; with it paused, this is the quickest way
        # (a third faster than a pass per column on rows just fetched).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return tuple(zip(*self.rows, strict=True))
        except ValueError:  # rows of different lengths
            return tuple(itertools.zip_longest(*self.rows))
        finally:
            if enabled:
                gc.enable()

    def declared_kind(self, index: int) -> type | None:
        """The declared type of column ``index`` (``None`` when the engine does not say)."""
        return self.declared[index] if len(self.declared) == len(self.columns) else None

    @cached_property
    def column_types(self) -> tuple[frozenset[type], ...]:
        """The Python types each column holds (``NoneType`` for NULL)."""
        return tuple(frozenset(map(type, column)) for column in self.by_column)


@dataclass(frozen=True)
class ErrorInfo:
    """A failure as plain data: the error class name and its message."""

    type: str
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, str]:
        d = {"type": self.type, "message": self.message}
        if self.hint:
            d["hint"] = self.hint
        return d


@dataclass(frozen=True)
class Clarification:
    """The model asks the analyst to choose before it writes a query."""

    question: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attempt:
    """One try at producing a query: the SQL (if any) and why it failed (if it did)."""

    sql: str | None
    error: ErrorInfo | None = None
    source: Literal["model", "user", "verified"] = "model"


@dataclass(frozen=True)
class Step:
    """One step of the chain in the trace."""

    name: str
    duration: float
    usage: Usage | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    started: float | None = None
    """When the step began (seconds since the epoch), for traces sent elsewhere."""


@dataclass(frozen=True)
class Trace:
    """Every step of one answer, with timings, tokens, model and prompt version."""

    steps: tuple[Step, ...] = ()
    model: str = ""
    prompt_version: str = ""

    @property
    def usage(self) -> Usage:
        total = Usage()
        for step in self.steps:
            if step.usage is not None:
                total = total + step.usage
        return total

    def timings(self) -> dict[str, float]:
        """Seconds per step name (summed when a step ran more than once)."""
        out: dict[str, float] = {}
        for step in self.steps:
            out[step.name] = out.get(step.name, 0.0) + step.duration
        return out

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)


@dataclass(frozen=True)
class Answer:
    """The result of one question: SQL, rows, narrative and the trace of how they were made."""

    question: str
    sql: str | None
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    truncated: bool = False
    narrative: str = ""
    attempts: tuple[Attempt, ...] = ()
    trace: Trace = field(default_factory=Trace)
    error: ErrorInfo | None = None
    verified: bool = False
    """True when the SQL came from a verified example rather than a generation call."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """A unique id, used to record feedback about this answer."""
    clarification: Clarification | None = None
    """Set when the model needs the analyst to choose an interpretation first."""
    refusal: str | None = None
    """Set (with the reason) when the data cannot answer the question."""
    confidence: float | None = None
    """With several candidates: the share of them that agreed on the chosen result."""

    @property
    def kind(self) -> Literal["answer", "clarification", "refusal", "error"]:
        """What this answer is: a result, a clarifying question, a refusal, or a failure."""
        if self.clarification is not None:
            return "clarification"
        if self.refusal is not None:
            return "refusal"
        return "error" if self.error is not None else "answer"

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def dataframe(self) -> pd.DataFrame:
        """The result as a pandas DataFrame (pandas is imported on first use)."""
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``sqlagent ask --json``: plain JSON-able values only."""
        usage = self.trace.usage
        return {
            "id": self.id,
            "question": self.question,
            "sql": self.sql,
            "columns": list(self.columns),
            "rows": [[to_json_value(v) for v in row] for row in self.rows],
            "row_count": self.row_count,
            "truncated": self.truncated,
            "narrative": self.narrative,
            "attempts": [
                {
                    "sql": a.sql,
                    "source": a.source,
                    "error": a.error.to_dict() if a.error else None,
                }
                for a in self.attempts
            ],
            "error": self.error.to_dict() if self.error else None,
            "verified": self.verified,
            "kind": self.kind,
            "clarification": (
                {
                    "question": self.clarification.question,
                    "options": list(self.clarification.options),
                }
                if self.clarification
                else None
            ),
            "refusal": self.refusal,
            "confidence": self.confidence,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
            "timings": {k: round(v, 6) for k, v in self.trace.timings().items()},
            "model": self.trace.model,
            "prompt_version": self.trace.prompt_version,
        }


def to_json_value(value: Any) -> Any:
    """Normalise one database value for JSON, identically for every dialect.

    Dates and timestamps become ISO strings, decimals become numbers, UUIDs strings, bytes
    hex strings; NaN and infinities become None because JSON has no spelling for them.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_json_value(v) for v in value]
    return str(value)
