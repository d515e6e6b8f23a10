"""Run one request of the chain with live progress: a status box, the SQL and table once they
exist, and the streamed narrative.

The chain runs on a worker thread and reports through its ``on_event`` callback into a queue;
the script thread drains the queue and draws. Streamlit only allows drawing from the script
thread, and events may come from several threads at once (candidate voting), so nothing is
drawn from inside the callback itself.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import streamlit as st

from sqlagent.pipeline import Event, EventHandler
from sqlagent.streaming import (
    ChartReady,
    NarrationDelta,
    SQLReady,
    StreamEvent,
    StreamEvents,
    TableReady,
)
from sqlagent.types import Answer

from .format import display_frame, escape_markdown, format_seconds

ICONS = {
    "context": ":material/search:",
    "generate": ":material/edit:",
    "check": ":material/shield:",
    "execute": ":material/play_circle:",
    "repair": ":material/build:",
    "narrate": ":material/chat:",
}
_END = object()
_QUIET = ("token", "narration", "result", "done")
"""Events that are not steps: shown as the answer itself, not in the status box."""


@dataclass
class Outcome:
    """What the worker produced: an answer, or the exception it raised."""

    answer: Answer | None = None
    error: BaseException | None = None


def run_with_progress(
    call: Callable[[EventHandler], Answer],
    *,
    label: str = "Working on it…",
    timeout: float = 600.0,
) -> Outcome:
    """Run ``call(on_event)`` on a worker thread, showing its events as they arrive.

    Steps appear in an ``st.status`` box; the SQL, the table and the chart as soon as they
    exist; then the narration through ``st.write_stream``, a checked sentence at a time
    (``sqlagent.streaming``). All of it is cleared at the end: the caller draws the finished
    answer, whose narration replaces what was streamed. Exceptions are returned, not raised,
    so the page can show them as a message.
    """
    events: queue.Queue[object] = queue.Queue()
    outcome = Outcome()

    def work() -> None:
        try:
            outcome.answer = call(events.put)
        except BaseException as exc:  # shown to the user; the thread must not die silently
            outcome.error = exc
        finally:
            events.put(_END)

    start = time.perf_counter()
    worker = threading.Thread(target=work, name="sqlagent-request", daemon=True)
    worker.start()
    status = st.status(label, expanded=False)
    preview_slot = st.empty()
    narrative_slot = st.empty()
    preview = Preview(preview_slot)

    def narration() -> Iterator[str]:
        """The checked narration, escaped a piece at a time, while the other events are
        drawn as they pass (``st.write_stream`` drains this on the script thread)."""
        pieces: list[str] = []
        translate = StreamEvents(lambda e: preview.show(e, pieces))
        while True:
            try:
                item = events.get(timeout=0.1)
            except queue.Empty:
                if time.perf_counter() - start > timeout:
                    outcome.error = TimeoutError(
                        f"No answer after {timeout:.0f} seconds; the request was abandoned."
                    )
                    return
                continue
            if item is _END:
                return
            assert isinstance(item, Event)
            if item.kind not in _QUIET:
                icon = ICONS.get(item.kind, ":material/arrow_right:")
                status.update(label=f"{icon} {escape_markdown(item.message)}…")
                status.write(f"{icon} {escape_markdown(item.message)}")
            translate(item)
            if item.kind == "done" and isinstance(item.data.get("answer"), Answer):
                translate.finish(item.data["answer"])  # what the gate held to the end
            # Each piece is escaped on its own: pieces end at whitespace, so together they
            # are the escaped narration, without escaping the whole text again per piece.
            while pieces:
                yield escape_markdown(pieces.pop(0))

    with narrative_slot.container():
        st.write_stream(narration(), cursor=" ▌")
    elapsed = format_seconds(time.perf_counter() - start)
    answer = outcome.answer
    if answer is not None and outcome.error is None and answer.kind == "clarification":
        # A question back is not a failure: the answer below asks it.
        status.update(label=f"Needs a detail ({elapsed})", state="complete", expanded=False)
    elif outcome.error is not None or answer is None or not answer.ok:
        status.update(label=f"Stopped after {elapsed}", state="error", expanded=False)
    else:
        status.update(label=f"Answered in {elapsed}", state="complete", expanded=False)
    preview_slot.empty()
    narrative_slot.empty()
    return outcome


class Preview:
    """The SQL, table and chart of an answer still being narrated, drawn in one slot."""

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._box: Any = None

    def show(self, event: StreamEvent, pieces: list[str]) -> None:
        """Draw ``event`` (a narration piece goes to ``pieces``, for ``st.write_stream``)."""
        if isinstance(event, NarrationDelta):
            pieces.append(event.text)
        elif isinstance(event, SQLReady):
            self._box = self._slot.container()
            self._box.code(event.sql, language="sql", wrap_lines=True)
        elif isinstance(event, TableReady):
            self._box = self._slot.container()
            self._box.code(event.sql, language="sql", wrap_lines=True)
            frame, config = display_frame(event.columns, event.rows)
            self._box.dataframe(frame, column_config=config, hide_index=True)
        elif isinstance(event, ChartReady) and self._box is not None and event.kind != "metric":
            self._box.vega_lite_chart(dict(event.spec), width="stretch")
