"""Answers you can watch arrive: the SQL, the table, the chart, then the narration as it streams.

``Agent.ask_stream`` yields the events of this module, in this order (each at most once,
except ``SQLReady`` after a repair and ``NarrationDelta``)::

    SQLReady*  ->  TableReady  ->  ChartReady?  ->  NarrationDelta*  ->  Finished

``Finished`` carries the same ``Answer`` that ``Agent.ask`` returns (recorded and traced the
same way). The narration deltas are released a sentence at a time, each one checked first
(``NarrationGate``): a delta never holds a link, image or markup the result does not hold,
nor a number the result does not show. While the deltas are not replaced, they join to the
answer's ``narrative``; when the finished narrative is not what was shown (the model was asked
again for its numbers, or the plain listing replaced it), ``Finished.replaced`` is True and a
front end shows ``answer.narrative`` instead of what it showed.

For a callback instead of an iterator, pass a ``StreamEvents`` as ``on_event`` to
``Agent.ask`` and call its ``finish`` with the answer.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from .answer.markup import strip_ungrounded

if TYPE_CHECKING:
    from .pipeline import Event, EventHandler
    from .types import Answer

__all__ = [
    "ChartReady",
    "Finished",
    "NarrationDelta",
    "NarrationGate",
    "SQLReady",
    "StreamEvent",
    "StreamEvents",
    "TableReady",
    "stream_answer",
]


@dataclass(frozen=True)
class SQLReady:
    """A query passed the guard and is about to run (a repair may still replace it)."""

    sql: str


@dataclass(frozen=True)
class TableReady:
    """The result the answer is made of: its SQL and rows (narration comes next)."""

    sql: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False
    verified: bool = False

    @property
    def row_count(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class ChartReady:
    """The chart chosen for the result, as a self-contained Vega-Lite spec."""

    kind: str
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NarrationDelta:
    """The next piece of the narration, already checked: safe to show as it is."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The whole answer, as ``ask`` returns it.

    ``replaced`` is True when the narration shown so far is not the start of
    ``answer.narrative``: show the narrative in its place.
    """

    answer: Answer
    replaced: bool = False


StreamEvent: TypeAlias = SQLReady | TableReady | ChartReady | NarrationDelta | Finished

# --------------------------------------------------------------------------- the gate

# A piece ends after a sentence's punctuation once whitespace follows, or before a new line.
_BOUNDARY = re.compile(r"(?<=[.!?])(?=\s)|(?=\n)")
_LONG = 240
"""Characters after which a piece with no sentence end may end at any space (not after a
digit: "1.2 thousand" stays whole)."""
_SPACE = re.compile(r"(?<=[^\s\d])(?=\s)")
_OPEN_TAG = re.compile(r"<[A-Za-z/!?][^>]*$")
_OPEN_TARGET = re.compile(r"\]\([^)]*$")


def _unclosed(piece: str) -> bool:
    """True when ``piece`` ends inside a construct (a link, an image, a tag, a comment)."""
    if piece.count("[") > piece.count("]"):
        return True
    if _OPEN_TARGET.search(piece) or _OPEN_TAG.search(piece):
        return True
    comment = piece.rfind("<!--")
    return comment >= 0 and "-->" not in piece[comment:]


class NarrationGate:
    """Releases a streamed narration a checked piece at a time.

    Text is held until a sentence ends (or a line), and never cut inside a link, an image or a
    tag. Each piece is then checked as the whole narration is: ``strip_ungrounded`` against
    ``grounded``, and ``invented`` (the numbers it states that the result does not show).
    A piece with an invented number stops the release (the narration will be asked for
    again); markup is released stripped, and only if everything shown so far stays free of
    ungrounded markup as a whole.
    """

    def __init__(self, grounded: Sequence[str], invented: Callable[[str], Sequence[str]]) -> None:
        self._grounded = tuple(grounded)
        self._invented = invented
        self._raw: list[str] = []
        self._pending = ""
        self.shown = ""
        """Everything released so far."""
        self.blocked = False
        """A piece failed its check: nothing more is released."""

    def feed(self, token: str) -> str:
        """Take the next streamed ``token``; return the text that may be shown now (or "")."""
        if self.blocked or not token:
            return ""
        self._pending += token
        released: list[str] = []
        while not self.blocked:
            cut = self._cut(self._pending)
            if cut is None:
                break
            piece, self._pending = self._pending[:cut], self._pending[cut:]
            released.append(self._judge(piece))
        return "".join(released)

    def _cut(self, text: str) -> int | None:
        """Where the first releasable piece of ``text`` ends, if it holds one."""
        for m in _BOUNDARY.finditer(text):
            if m.start() and not _unclosed(text[: m.start()]):
                return m.start()
        if len(text) > _LONG:
            for m in _SPACE.finditer(text, _LONG // 2):
                if not _unclosed(text[: m.start()]):
                    return m.start()
        return None

    def _judge(self, piece: str) -> str:
        text = piece if self.shown else piece.lstrip()
        if not text.strip():
            return ""
        if self._invented(text):
            self.blocked = True
            return ""
        kept = strip_ungrounded(text, self._grounded).text
        if not self.shown:
            kept = kept.lstrip()
        candidate = self.shown + kept
        if strip_ungrounded(candidate, self._grounded).text != candidate:
            # Pieces that are harmless apart could form a construct together: hold all.
            self.blocked = True
            return ""
        self.shown = candidate
        return kept


# --------------------------------------------------------------------------- events


class StreamEvents:
    """The chain's progress (``on_event``) as the events of this module, handed to ``emit``.

    Pass it as ``on_event`` to ``Agent.ask``; then call ``finish`` with the answer: the rest
    of the narration (what the gate held back, or all of a narrative written without a
    model) comes as one more delta, then ``Finished``.
    """

    def __init__(self, emit: Callable[[StreamEvent], None]) -> None:
        self._emit = emit
        self.shown = ""

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.kind == "execute" and isinstance(data.get("sql"), str):
            self._emit(SQLReady(data["sql"]))
        elif event.kind == "result":
            self._result(data)
        elif event.kind == "narration" and event.message:
            self.shown += event.message
            self._emit(NarrationDelta(event.message))

    def _result(self, data: Mapping[str, Any]) -> None:
        from .answer.charts import choose_chart, vega_lite_spec

        result = data["result"]
        self._emit(
            TableReady(
                data["sql"],
                result.columns,
                result.rows,
                result.truncated,
                bool(data.get("verified")),
            )
        )
        chart = choose_chart(result.columns, result.rows)
        if chart is not None:
            self._emit(ChartReady(chart.kind, vega_lite_spec(chart, result.columns, result.rows)))

    def finish(self, answer: Answer) -> Finished:
        """Emit the rest of the narration and ``Finished`` for ``answer``; return the latter."""
        narrative = answer.narrative or ""
        replaced = not narrative.startswith(self.shown)
        if not replaced and len(narrative) > len(self.shown):
            rest = narrative[len(self.shown) :]
            self.shown = narrative
            self._emit(NarrationDelta(rest))
        done = Finished(answer, replaced)
        self._emit(done)
        return done


class _Abandoned(Exception):
    """Raised at the chain's next step once the iterator is closed."""


_END = object()


def stream_answer(call: Callable[[EventHandler], Answer]) -> Iterator[StreamEvent]:
    """Run ``call(on_event)`` (an ``Agent.ask``) on a worker thread, yielding its events.

    An exception of the call is raised from the iterator. Closing the iterator before the end
    abandons the question at the chain's next step (then nothing is recorded).
    """
    events: queue.Queue[object] = queue.Queue()
    closed = threading.Event()
    translate = StreamEvents(events.put)

    def on_event(event: Event) -> None:
        if closed.is_set():
            raise _Abandoned
        translate(event)

    def work() -> None:
        try:
            translate.finish(call(on_event))
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the iterating thread
            events.put(exc)
        finally:
            events.put(_END)

    worker = threading.Thread(target=work, name="sqlagent-stream", daemon=True)
    worker.start()
    try:
        while True:
            item = events.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast("StreamEvent", item)
    finally:
        closed.set()
