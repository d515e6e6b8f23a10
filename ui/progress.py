"""Run one request of the chain with live progress: a status box and the streamed narrative.

The chain runs on a worker thread and reports through its ``on_event`` callback into a queue;
the script thread drains the queue and draws. Streamlit only allows drawing from the script
thread, and events may come from several threads at once (candidate voting), so nothing is
drawn from inside the callback itself.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from sqlagent.pipeline import Event, EventHandler
from sqlagent.types import Answer

from .format import escape_markdown, format_seconds

ICONS = {
    "context": ":material/search:",
    "generate": ":material/edit:",
    "check": ":material/shield:",
    "execute": ":material/play_circle:",
    "repair": ":material/build:",
    "narrate": ":material/chat:",
}
_END = object()


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

    Steps appear in an ``st.status`` box; narration tokens are written below it as they
    stream (and cleared at the end: the caller draws the finished answer). Exceptions are
    returned, not raised, so the page can show them as a message.
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
    narrative = ""
    status = st.status(label, expanded=False)
    narrative_slot = st.empty()
    while True:
        try:
            item = events.get(timeout=0.1)
        except queue.Empty:
            if time.perf_counter() - start > timeout:
                outcome.error = TimeoutError(
                    f"No answer after {timeout:.0f} seconds; the request was abandoned."
                )
                break
            continue
        if item is _END:
            break
        assert isinstance(item, Event)
        if item.kind == "token":
            narrative += item.message
            narrative_slot.markdown(escape_markdown(narrative) + " ▌")
        elif item.kind != "done":
            icon = ICONS.get(item.kind, ":material/arrow_right:")
            status.update(label=f"{icon} {escape_markdown(item.message)}…")
            status.write(f"{icon} {escape_markdown(item.message)}")
    elapsed = format_seconds(time.perf_counter() - start)
    answer = outcome.answer
    if answer is not None and outcome.error is None and answer.kind == "clarification":
        # A question back is not a failure: the answer below asks it.
        status.update(label=f"Needs a detail ({elapsed})", state="complete", expanded=False)
    elif outcome.error is not None or answer is None or not answer.ok:
        status.update(label=f"Stopped after {elapsed}", state="error", expanded=False)
    else:
        status.update(label=f"Answered in {elapsed}", state="complete", expanded=False)
    narrative_slot.empty()
    return outcome
