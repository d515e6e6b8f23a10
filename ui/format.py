"""Plain helpers that turn answers into display text and tables (no Streamlit calls here)."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from sqlagent.answer.charts import column_roles
from sqlagent.answer.export import unique_names
from sqlagent.types import Answer, to_json_value

STEP_NAMES = {
    "schema": "schema",
    "context": "context",
    "setup": "model set-up",
    "generate": "writing SQL",
    "repair": "repairing",
    "check": "checking",
    "execute": "running",
    "narrate": "narrating",
    "vote": "voting",
    "history": "recording",
}


_INERT = str.maketrans(
    {
        "\\": "\\\\",
        "$": "\\$",  # would start LaTeX
        "[": "\\[",  # a link, an image (an image loads by itself), a colour directive
        "]": "\\]",
        "`": "\\`",  # a code span that would swallow the escapes
        "&": "&amp;",  # an entity that spells a tag
        "<": "&lt;",  # HTML, an autolink
        ":": "\\:",  # a directive (:red[...])
    }
)
# A bare address becomes a link whatever is escaped: a word joiner (invisible) after its
# scheme or ``www`` keeps it text. The scheme is bounded: an unbounded run made matching
# quadratic in the length of a value (a DoS by one long cell). An e-mail address may still
# become a ``mailto:`` link: it loads nothing by itself, and people's names are addresses.
_BARE_ADDRESS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}\\:|www)(?=//|\.)")
# A line that starts with ``#`` would be a heading, with ``>`` a quotation: a message from
# the data must not pose as the page's own structure.
_LINE_START = re.compile(r"(?m)^([ \t]{0,3})([#>])")


def escape_markdown(text: str) -> str:
    """Text from the model or the data, safe to show as Markdown: emphasis and line breaks
    still work, but no link, image, HTML, LaTeX, colour directive or heading forms; each
    shows as the characters it is made of.

    >>> escape_markdown("![x](https://e.example/?d=1) <b>$5</b> www.e.example")
    '!\\\\[x\\\\](https\\\\:\u2060//e.example/?d=1) &lt;b>\\\\$5&lt;/b> www\u2060.e.example'
    >>> escape_markdown("# Urgent: visit")
    '\\\\# Urgent\\\\: visit'
    """
    escaped = _BARE_ADDRESS.sub("\\1\u2060", (text or "").translate(_INERT))
    return _LINE_START.sub("\\1\\\\\\2", escaped)


_ESCAPED = re.compile(r"\\([\\$\[\]`:#>])")


def shown_text(markdown: str) -> str:
    r"""The characters a reader sees of ``escape_markdown``'s output (its inverse).

    >>> shown_text(escape_markdown("[a](b:c) <i>&amp; $1 \\ www.x"))
    '[a](b:c) <i>&amp; $1 \\ www.x'
    """
    text = _ESCAPED.sub(r"\1", markdown.replace("\u2060", ""))
    return text.replace("&lt;", "<").replace("&amp;", "&")


def format_number(value: Any) -> str:
    """A number for a metric: thousands separators, at most two decimals.

    >>> format_number(1234567.891), format_number(5000), format_number(None)
    ('1,234,567.89', '5,000', '—')
    """
    v = to_json_value(value)
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 0.01 else f"{v:.4g}"
    return str(v)


def _decimals(value: Any) -> int:
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        text = repr(value)
        return len(text.split(".", 1)[1]) if "." in text and "e" not in text else 4
    return 0


def number_format(values: Sequence[Any]) -> str:
    """A grid format for a column of numbers: separators, and one number of decimals.

    >>> number_format([1, 20]), number_format([1085750.71, 922726.5]), number_format([0.123456])
    ('%,d', '%,.2f', '%,.4f')
    """
    places = min(4, max((_decimals(v) for v in values), default=0))
    return f"%,.{places}f" if places else "%,d"


def _cell(value: Any) -> Any:
    """A value pandas and the grid can show: nested values as JSON, bytes as hex."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(to_json_value(value), ensure_ascii=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def display_frame(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The result as a DataFrame plus a Streamlit ``column_config`` that formats it.

    Measures get thousands separators, identifiers and years stay plain, dates and
    timestamps show in ISO order. Column names are made unique (the grid needs that).
    """
    names = unique_names([str(c) for c in columns])
    roles = column_roles(names, rows)
    data: dict[str, list[Any]] = {}
    config: dict[str, Any] = {}
    for i, (name, role) in enumerate(zip(names, roles, strict=True)):
        values = [_cell(row[i]) for row in rows]
        present = [v for v in values if v is not None]
        numeric = bool(present) and all(
            isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)
            for v in present
        )
        if numeric:
            if any(isinstance(v, decimal.Decimal) for v in present):
                # The grid has no decimal type; the exact value is in the downloads.
                values = [None if v is None else float(v) for v in values]
            fmt = number_format(present) if role == "quantitative" else "plain"
            config[name] = st.column_config.NumberColumn(name, format=fmt)
        elif present and all(isinstance(v, _dt.datetime) for v in present):
            config[name] = st.column_config.DatetimeColumn(name, format="YYYY-MM-DD HH:mm:ss")
        elif present and all(isinstance(v, _dt.date) for v in present):
            config[name] = st.column_config.DateColumn(name, format="YYYY-MM-DD")
        elif present and not all(isinstance(v, (str, bool)) for v in present):
            values = [None if v is None else str(to_json_value(v)) for v in values]
        data[name] = values
    frame = pd.DataFrame(data, columns=names) if names else pd.DataFrame()
    return frame, config


def row_count_text(answer: Answer) -> str:
    """``9 rows`` or a notice that the row limit cut the result."""
    n = answer.row_count
    if answer.truncated:
        return (
            f"Showing the first {n:,} rows: the result was cut at the row limit "
            "(raise SQLAGENT_MAX_ROWS, or aggregate in the question)."
        )
    return "1 row" if n == 1 else f"{n:,} rows"


def tables_read(sql: str | None, dialect: str) -> list[str]:
    """The tables a statement reads (CTE names left out), in order of appearance."""
    if not sql:
        return []
    try:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # a statement the guard refused may not even parse
        return []
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    out: list[str] = []
    for table in tree.find_all(exp.Table):
        name = ".".join(p for p in (table.db, table.name) if p)
        if name and table.name.lower() not in ctes and name not in out:
            out.append(name)
    return out


def pretty_sql(sql: str, dialect: str) -> str:
    """The statement laid out on several lines for reading (unchanged if it does not parse)."""
    if not sql.strip():
        return sql
    try:
        import sqlglot

        statements = sqlglot.transpile(sql, read=dialect, write=dialect, pretty=True)
    except Exception:  # display only: the statement itself is what it is
        return sql
    return statements[0] if len(statements) == 1 else sql


def sql_label(sql: str, limit: int = 60) -> str:
    r"""A one-line label for a hand-written query in the chat and the history.

    >>> sql_label("SELECT card_tier,\n  COUNT(*) FROM cards GROUP BY 1")
    'SQL: SELECT card_tier, COUNT(*) FROM cards GROUP BY 1'
    """
    text = " ".join(sql.split())
    return "SQL: " + (text if len(text) <= limit else text[: limit - 1] + "…")


def format_seconds(seconds: float) -> str:
    """``0.42 s`` / ``12 ms``."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def source_label(answer: Answer) -> str:
    """Where the SQL came from, in words."""
    if answer.verified:
        return "a verified example from the knowledge file"
    if answer.attempts and answer.attempts[-1].source == "user":
        return "your SQL"
    return f"the model ({answer.trace.model})" if answer.trace.model else "the model"


def explain(answer: Answer, dialect: str) -> list[str]:
    """Markdown lines on how the answer was made: source, tables, tries, time, tokens."""
    lines = [f"**Source:** {source_label(answer)}"]
    tables = tables_read(answer.sql, dialect)
    if tables:
        # A name with a backtick would end the code span: it is shown escaped instead.
        lines.append(
            "**Tables:** "
            + ", ".join(f"`{t}`" if "`" not in t else escape_markdown(t) for t in tables)
        )
    tries = len([a for a in answer.attempts if a.sql is not None])
    failed = len([a for a in answer.attempts if a.error is not None])
    if failed and answer.ok:
        lines.append(f"**Attempts:** {tries}; {failed} rejected, then repaired")
    elif failed:
        lines.append(f"**Attempts:** {tries}; none accepted")
    elif tries > 1:
        lines.append(f"**Attempts:** {tries}")
    if answer.confidence is not None:
        lines.append(f"**Agreement:** {answer.confidence:.0%} of candidate queries")
    timings = answer.trace.timings()
    if timings:
        parts = [
            f"{STEP_NAMES.get(k, k)} {format_seconds(v)}"
            for k, v in timings.items()
            if v >= 0.0005  # steps that took no measurable time are noise
        ]
        lines.append(
            f"**Time:** {format_seconds(sum(timings.values()))}"
            + (f" ({' · '.join(parts)})" if parts else "")
        )
    usage = answer.trace.usage
    if usage.total_tokens:
        lines.append(
            f"**Tokens:** {usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion"
        )
    for step in answer.trace.steps:
        if step.name == "history" and step.detail.get("error"):
            lines.append(
                f"**Not recorded in the history:** {escape_markdown(step.detail['error'])}"
            )
    return lines
