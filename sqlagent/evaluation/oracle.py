"""An offline model that knows the answers: it replies to each question with its gold SQL.

With it, an evaluation measures everything but the model (schema reading, context, guard,
execution, scoring): on a faithful pipeline and scorer, every question must score.

    oracle = OracleLLM({"How many singers are there?": "SELECT count(*) FROM singer"})
    ask("How many singers are there?", llm=oracle, db=db, settings=settings)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence

from ..errors import LLMError
from ..llm import prompts
from ..types import Completion, Message, Usage

__all__ = ["NARRATION", "OracleLLM", "sqlite_columns", "transpile"]

NARRATION = "Here is the result of the query."
"""What the oracle says whenever it is asked to narrate a result."""


class OracleLLM:
    """A model (``sqlagent.llm.client.LLM``) answering each known question with its gold SQL.

    The generation prompt ends with ``Question: <question>``; the oracle finds which known
    question it ends with (the longest, should one end another) and replies with that SQL in a
    fenced block. A repair request quotes the original question and gets the same SQL again.
    Narration requests get ``narration``. A question it does not know raises ``LLMError``.
    It is no model: its replies use no tokens (their usage is zero), and an evaluation counts
    them as oracle answers, not model calls (``oracle`` is True).
    """

    oracle = True
    """Marks replies that no model wrote: reports count them apart from model calls."""

    def __init__(
        self,
        answers: Mapping[str, str],
        *,
        model: str = "oracle",
        narration: str = NARRATION,
    ) -> None:
        self.model = model
        self.narration = narration
        self._answers = {q.strip(): sql for q, sql in answers.items()}
        self._by_length = sorted(self._answers, key=len, reverse=True)
        self._lock = threading.Lock()
        self.calls = 0

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion:
        """The gold SQL for the question in ``messages``, or the fixed narration."""
        with self._lock:
            self.calls += 1
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        if system == prompts.render("narrate_system"):
            text = self.narration
        else:
            text = f"```sql\n{self._sql_for(messages)}\n```"
        if on_token is not None:
            on_token(text)
        return Completion(text, Usage(), self.model)

    def _sql_for(self, messages: Sequence[Message]) -> str:
        users = [m.get("content", "") for m in messages if m.get("role") == "user"]
        if not users:
            raise LLMError("The oracle was asked nothing: the request has no user message.")
        first = users[0].rstrip()  # the generation request; repairs come after it
        for question in self._by_length:
            if first.endswith(question):
                return self._answers[question]
        last = users[-1]
        for question in self._by_length:
            if f'"{question}"' in last:
                return self._answers[question]
        raise LLMError(
            "The oracle knows no answer to this request; it ends with: " + repr(first[-200:])
        )


def transpile(sql: str, *, read: str, write: str, columns: Collection[str] = ()) -> str:
    """``sql`` rewritten from dialect ``read`` into ``write`` by sqlglot (unchanged if equal).

    From SQLite, a double-quoted name that is neither one of ``columns`` (the database's
    column names) nor an alias of the query is made a string literal first, because that is
    how SQLite reads it (Spider's gold SQL writes ``WHERE city = "Aberdeen"``), while sqlglot
    keeps it a name. Only unqualified names are touched.

    >>> transpile('SELECT a FROM t WHERE b = "x"', read="sqlite", write="duckdb", columns={"b"})
    "SELECT a FROM t WHERE b = 'x'"
    """
    if read == write:
        return sql
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read=read)
    if read == "sqlite":
        known = {c.lower() for c in columns}
        known |= {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
        for column in list(tree.find_all(exp.Column)):
            ident = column.this
            if (
                not column.table
                and isinstance(ident, exp.Identifier)
                and ident.quoted
                and ident.name.lower() not in known
            ):
                column.replace(exp.Literal.string(ident.name))
    return tree.sql(dialect=write)


def sqlite_columns(path: str) -> frozenset[str]:
    """Every column name of every table in the SQLite file ``path``."""
    import sqlite3
    from pathlib import Path

    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        names: set[str] = set()
        tables = con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        for (table,) in tables.fetchall():
            quoted = '"' + str(table).replace('"', '""') + '"'
            names.update(str(r[1]) for r in con.execute(f"PRAGMA table_info({quoted})"))
        return frozenset(names)
    finally:
        con.close()
