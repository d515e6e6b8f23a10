"""Answers you can watch arrive: the SQL, the table, the chart, then the narration as it streams.

``Agent.ask_stream`` yields the events of this module, in this order (each at most once,
except ``SQLReady`` after a repair and ``NarrationDelta``)::

    SQLReady*  ->  TableReady  ->  ChartReady?  ->  NarrationDelta*  ->  Finished

``Finished`` carries the same ``Answer`` that ``Agent.ask`` returns (recorded and traced the
same way). The narration deltas are released a sentence at a time, each one checked first
(``sqlagent.answer.gate``): a delta never holds a link, image or markup the result does not hold,
nor a number the result does not show. While the deltas are not replaced, they join to the
answer's ``narrative``; when the finished narrative is not what was shown (the model was asked
again for its numbers, or the plain listing replaced it), ``Finished.replaced`` is True and a
front end shows ``answer.narrative`` instead of what it showed.

For a callback instead of an iterator, pass a ``StreamEvents`` as ``on_event`` to
``Agent.ask`` and call its ``finish`` with the answer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from .answer.gate import NarrationGate

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
