"""Conversations: earlier turns, so a follow-up ("and in Tucson?") can edit the previous query.

A ``Conversation`` keeps the question, SQL and a compact view of each answered turn. What goes
into the prompt is bounded: the last few turns, a handful of rows each, a character budget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .context.fence import data_line
from .types import Answer, to_json_value

_ROWS_PER_TURN = 5
_CELL_CHARS = 40


@dataclass(frozen=True)
class Turn:
    """One answered question, reduced to what a follow-up needs."""

    question: str
    sql: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    row_count: int
    narrative: str
    error: str | None = None

    @classmethod
    def from_answer(cls, answer: Answer) -> Turn:
        return cls(
            question=answer.question,
            sql=answer.sql,
            columns=answer.columns,
            rows=answer.rows[:_ROWS_PER_TURN],
            row_count=answer.row_count,
            narrative=answer.narrative,
            error=answer.error.message if answer.error else None,
        )


def _cell(value: Any) -> str:
    return data_line(to_json_value(value), _CELL_CHARS)


class Conversation:
    """The turns of one conversation; safe to share between threads of one session.

    >>> conv = Conversation()
    >>> agent.ask("How many merchants are in Phoenix?", conversation=conv)  # doctest: +SKIP
    >>> agent.ask("and in Tucson?", conversation=conv)  # doctest: +SKIP
    """

    def __init__(self, *, max_turns: int = 4, max_chars: int = 4000) -> None:
        self.max_turns = max_turns
        self.max_chars = max_chars
        self._turns: list[Turn] = []
        self._lock = threading.Lock()

    def add(self, answer: Answer) -> None:
        """Remember an answer as the latest turn."""
        with self._lock:
            self._turns.append(Turn.from_answer(answer))

    def clear(self) -> None:
        with self._lock:
            self._turns.clear()

    def copy(self) -> Conversation:
        """A conversation with the same turns, to ask a question that may yet be abandoned
        (adopt the copy once it is answered)."""
        other = Conversation(max_turns=self.max_turns, max_chars=self.max_chars)
        with self._lock:
            other._turns = list(self._turns)
        return other

    @property
    def turns(self) -> tuple[Turn, ...]:
        with self._lock:
            return tuple(self._turns)

    def __len__(self) -> int:
        return len(self._turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def render(self) -> str:
        """The recent turns as prompt text, newest last, within ``max_chars``."""
        blocks: list[str] = []
        used = 0
        for turn in reversed(self.turns[-self.max_turns :]):
            # Every part may hold data (a value in the SQL, a cell, an error's quote).
            lines = [f"Question: {data_line(turn.question, 1000)}"]
            if turn.sql:
                lines.append("SQL:\n" + data_line(turn.sql, 2000))
            if turn.error:
                lines.append(f"That turn failed: {data_line(turn.error, 400)}")
            elif turn.columns:
                names = ", ".join(data_line(c, _CELL_CHARS) for c in turn.columns)
                lines.append(f"Result: {turn.row_count} rows; columns {names}")
                for row in turn.rows:
                    lines.append("  " + " | ".join(_cell(v) for v in row))
            block = "\n".join(lines)
            if used + len(block) > self.max_chars and blocks:
                break
            blocks.append(block[: self.max_chars])
            used += len(block)
        return "\n\n".join(reversed(blocks))
