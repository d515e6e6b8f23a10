"""``sqlagent chat``: a conversation in the terminal, where follow-ups edit the previous query.

A line starting with ``:`` or ``/`` is a command, never a question (an unknown one is answered
with the list of commands). A question runs on a worker thread so that Ctrl-C cancels it and
returns to the prompt; Ctrl-C at the prompt, or Ctrl-D, leaves. A line ending with a backslash
continues on the next line, so a long question can be pasted in parts.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import SqlAgentError

if TYPE_CHECKING:
    from ..api import Agent
    from ..conversation import Conversation
    from ..pipeline import Event
    from ..types import Answer
    from .common import LivePrinter

COMMANDS: tuple[tuple[str, str], ...] = (
    (":help", "this list of commands"),
    (":sql", "show the SQL of the last answer"),
    (":reset", "forget the conversation: the next question starts afresh"),
    (":quit", "leave (also :q, :exit, Ctrl-D, or Ctrl-C at the prompt)"),
)

_COMMAND = re.compile(r"^[:/]([A-Za-z?][\w-]*)(?:\s|$)")


def command_of(text: str) -> str | None:
    """The command a line names (``:help`` and ``/help`` both give ``help``), or None for a
    question.

    >>> command_of(":help"), command_of("/quit now"), command_of("How many?"), command_of(":12")
    ('help', 'quit', None, None)
    """
    match = _COMMAND.match(text)
    return match.group(1).lower() if match else None


def help_text() -> str:
    """The commands and what they do."""
    width = max(len(name) for name, _ in COMMANDS)
    lines = [f"  {name.ljust(width)}  {what}" for name, what in COMMANDS]
    return (
        "Commands:\n"
        + "\n".join(lines)
        + "\nAnything else is a question; Ctrl-C cancels a question that is running, and a "
        "line ending with \\ continues on the next line.\n"
    )


class _Cancelled(Exception):
    """Raised on the worker thread, at the chain's next step, once a question is cancelled."""


class _Pending:
    """One question asked on a worker thread, with the way to cancel it."""

    def __init__(
        self,
        ask: Callable[[Callable[[Event], None]], Answer],
        forward: Callable[[Event], None] | None = None,
    ) -> None:
        self.cancelled = threading.Event()
        self._forward = forward
        self.answer: Answer | None = None
        self.error: BaseException | None = None
        self._ask = ask
        self.thread = threading.Thread(target=self._run, name="sqlagent-chat", daemon=True)

    def _on_event(self, event: Event) -> None:
        # The chain calls this at every step (and for every narrated token): the place where
        # a cancelled question stops, before anything is recorded.
        if self.cancelled.is_set():
            raise _Cancelled
        if self._forward is not None:
            self._forward(event)

    def _run(self) -> None:
        try:
            self.answer = self._ask(self._on_event)
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to the prompt's thread
            self.error = exc

    def wait(self) -> None:
        """Wait for the answer; a Ctrl-C here cancels the question and is raised again."""
        self.thread.start()
        try:
            while self.thread.is_alive():
                self.thread.join(0.1)
        except KeyboardInterrupt:
            self.cancelled.set()
            raise


def _read_question(out: TextIO, stdin: TextIO) -> str | None:
    """The next question or command (continuation lines joined); None at end of input."""
    parts: list[str] = []
    prompt = "\n> "
    while True:
        out.write(prompt)
        out.flush()
        line = stdin.readline()
        if not line:
            return " ".join(parts) if parts else None
        text = line.rstrip("\r\n")
        if text.endswith("\\"):
            parts.append(text[:-1].strip())
            prompt = "… "
            continue
        parts.append(text.strip())
        return " ".join(p for p in parts if p)


def run_chat(
    agent: Agent,
    *,
    llm_configured: bool,
    llm_help: str,
    out: TextIO,
    err: TextIO,
    print_answer: Callable[[Answer, TextIO], None],
    print_error: Callable[[Any, TextIO], None],
    stdin: TextIO | None = None,
    stream: bool = False,
) -> int:
    """Run the conversation until the user leaves; returns the exit code (0).

    ``stream`` prints each answer as it is made (the SQL and table, then the narration)."""
    from ..conversation import Conversation
    from .common import LivePrinter

    stdin = stdin or sys.stdin
    conversation = Conversation()
    pending: Answer | None = None
    out.write(
        f"Connected to {agent.db.display_url}. Ask a question; follow-ups build on the "
        "previous answer. :help lists the commands.\n"
    )
    if not llm_configured:
        err.write(
            "No language model is configured: only the verified questions of the "
            f"knowledge file can be answered. {llm_help}\n"
        )
    while True:
        try:
            text = _read_question(out, stdin)
        except KeyboardInterrupt:  # Ctrl-C at the prompt leaves
            out.write("\n")
            return 0
        if text is None:
            out.write("\n")
            return 0
        if not text:
            continue
        command = command_of(text)
        if command is not None:
            if command in ("quit", "q", "exit"):
                return 0
            if command == "reset":
                conversation.clear()
                out.write("(conversation cleared)\n")
            elif command == "sql":
                last = conversation.turns[-1].sql if len(conversation) else None
                out.write((last or "(no SQL yet)") + "\n")
            elif command in ("help", "h", "?"):
                out.write(help_text())
            else:
                out.write(f"Unknown command {text.split()[0]!r}.\n" + help_text())
            continue
        if pending is not None and pending.clarification is not None and text.isdigit():
            options = pending.clarification.options
            index = int(text) - 1
            if 0 <= index < len(options):
                text = f"{pending.question} (I mean: {options[index]})"
        live = LivePrinter(out) if stream else None
        asked = _ask(agent, text, conversation, out, err, print_error, live)
        if asked is None:
            continue
        answer, conversation = asked
        if live is not None:
            live.finish(answer)
        else:
            print_answer(answer, out)
        if answer.error is not None and answer.kind == "error":
            print_error(answer.error, err)
        pending = answer


def _ask(
    agent: Agent,
    text: str,
    conversation: Conversation,
    out: TextIO,
    err: TextIO,
    print_error: Callable[[Any, TextIO], None],
    live: LivePrinter | None = None,
) -> tuple[Answer, Conversation] | None:
    """Ask ``text`` on a worker thread; the answer and the conversation it extends, or None
    when it was cancelled or failed (then the conversation is unchanged)."""
    # The question extends a copy: a cancelled one must leave no turn behind.
    extended = conversation.copy()
    job = _Pending(
        lambda on_event: agent.ask(text, conversation=extended, on_event=on_event),
        live.events if live is not None else None,
    )
    try:
        job.wait()
    except KeyboardInterrupt:
        out.write("\n(cancelled; Ctrl-C again or Ctrl-D to leave)\n")
        return None
    if job.error is not None:
        if isinstance(job.error, SqlAgentError):  # an empty question, no model: say so, go on
            print_error(job.error, err)
            return None
        raise job.error
    assert job.answer is not None
    return job.answer, extended
