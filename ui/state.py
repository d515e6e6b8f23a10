"""Per-session state: the turns shown, the conversation, and the next request to run.

Everything lives in ``st.session_state``, which Streamlit keeps per browser session, so two
people using the same server never see each other's conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import streamlit as st

from sqlagent.conversation import Conversation
from sqlagent.types import Answer

from .resources import ConnectionConfig, default_config

ASK_TAB = ":material/forum: Ask"
SCHEMA_TAB = ":material/schema: Schema"
SQL_TAB = ":material/edit_note: SQL editor"
TABS = (ASK_TAB, SCHEMA_TAB, SQL_TAB)
VIEW_KEY = "view"


@dataclass
class Turn:
    """One exchange on screen: what was asked (or run) and the answer."""

    answer: Answer
    label: str
    """The question, or a description of the SQL that was run."""
    rating: int | None = None
    """+1 / -1 once the user gave a thumb."""
    saved: bool = False
    """True once saved as a verified example."""


@dataclass(frozen=True)
class Request:
    """Something to run on this script run: a question, or SQL typed or edited by the user."""

    kind: Literal["ask", "sql", "verified"]
    text: str
    label: str
    sql: str | None = None
    """For ``verified``: the example's SQL."""


def config() -> ConnectionConfig:
    """The session's connection settings (from the environment at first)."""
    if "config" not in st.session_state:
        st.session_state["config"] = default_config()
    value: ConnectionConfig = st.session_state["config"]
    return value


def set_config(new: ConnectionConfig) -> None:
    """Switch the session's connection; a new database starts a new conversation."""
    old = config()
    st.session_state["config"] = new
    if new.target != old.target:
        reset()


def turns() -> list[Turn]:
    """The turns of this session, oldest first."""
    value: list[Turn] = st.session_state.setdefault("turns", [])
    return value


def conversation() -> Conversation:
    """The conversation follow-up questions build on (one per session)."""
    value: Conversation = st.session_state.setdefault("conversation", Conversation())
    return value


def reset() -> None:
    """Forget the turns and start a new conversation."""
    st.session_state["turns"] = []
    st.session_state["conversation"] = Conversation()


def request(
    kind: Literal["ask", "sql", "verified"],
    text: str,
    label: str | None = None,
    sql: str | None = None,
) -> None:
    """Queue something to run and show the chat (used by buttons' callbacks)."""
    st.session_state["pending"] = Request(kind, text, label or text, sql)
    st.session_state[VIEW_KEY] = ASK_TAB


def take_request() -> Request | None:
    """The queued request, removed from the queue."""
    value: Request | None = st.session_state.pop("pending", None)
    return value


def find_turn(answer_id: str) -> Turn | None:
    """The turn showing the answer with this id."""
    return next((t for t in turns() if t.answer.id == answer_id), None)
