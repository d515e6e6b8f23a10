"""Running a request (a question, a verified example, the user's SQL) and showing it live."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from sqlagent.api import LLM_HELP
from sqlagent.context.knowledge import Knowledge
from sqlagent.errors import SqlAgentError
from sqlagent.pipeline import EventHandler
from sqlagent.types import Answer, ErrorInfo

from . import state
from .answer_view import View, render_answer
from .format import escape_markdown
from .progress import run_with_progress

NO_LLM = (
    "This question is not one of the verified examples, so a language model is needed to "
    "write its SQL."
)


def _call(
    request: state.Request, view: View, knowledge: Knowledge
) -> Callable[[EventHandler], Answer]:
    """The function that produces the answer, given an event handler."""
    agent = view.agent
    conversation = state.conversation()

    def run_sql(sql: str, question: str, on_event: EventHandler) -> Answer:
        answer = agent.sql(sql, question=question, on_event=on_event)
        # A query the user ran is a turn too: a follow-up question builds on it.
        conversation.add(answer)
        return answer

    if request.kind == "sql" and request.sql:
        sql = request.sql
        return lambda on_event: run_sql(sql, request.text, on_event)
    # The agent answers a verified question with its SQL, with or without a model.
    if view.llm_ready or request.kind == "verified" or knowledge.match_verified(request.text):
        return lambda on_event: agent.ask(
            request.text, conversation=conversation, on_event=on_event
        )
    failure = Answer(
        question=request.text, sql=None, error=ErrorInfo("ConfigError", NO_LLM, LLM_HELP)
    )
    return lambda on_event: failure


def _failure(question: str, exc: BaseException) -> Answer:
    if isinstance(exc, SqlAgentError):
        info = exc.info()
    else:
        info = ErrorInfo(
            type(exc).__name__,
            f"Something went wrong: {exc}",
            "Try again; if it keeps happening, check the server's log.",
        )
    return Answer(question=question, sql=None, error=info)


def run_request(request: state.Request, view: View, knowledge: Knowledge) -> None:
    """Draw the request, run it with live progress, then draw and remember the answer.

    The worker thread stores the turn itself, so an answer that arrives after the page was
    left (another click reruns the script) still shows up on the next run.
    """
    with st.chat_message("user"):
        st.markdown(escape_markdown(request.label))
    with st.chat_message("assistant"):
        call = _call(request, view, knowledge)
        turns = state.turns()
        done: list[state.Turn] = []

        def produce(on_event: EventHandler) -> Answer:
            try:
                answer = call(on_event)
            except Exception as exc:
                answer = _failure(request.text, exc)
            turn = state.Turn(answer=answer, label=request.label)
            turns.append(turn)
            done.append(turn)
            return answer

        outcome = run_with_progress(produce)
        if done:
            turn = done[0]
        else:  # abandoned (timed out): say so, without keeping it
            failure = _failure(request.text, outcome.error or RuntimeError("no answer"))
            turn = state.Turn(answer=failure, label=request.label)
        render_answer(turn, view)
