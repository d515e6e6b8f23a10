"""The sidebar: what to connect to (database, model) and this session's questions."""

from __future__ import annotations

import os

import streamlit as st

from sqlagent.settings import DEFAULT_MODEL

from . import state
from .format import escape_markdown
from .resources import ConnectionConfig

DB_HELP = (
    "A SQLAlchemy URL (postgresql+psycopg://user@host/db, mysql+pymysql://..., "
    "sqlite:///file.db), a DuckDB file, or a folder of CSV/Parquet files. "
    "Leave empty for the bundled sample database."
)
KEY_HELP = "Kept in this browser session only: never shown again, stored or logged."


def _apply_connection() -> None:
    """Form callback: runs before the page, so this very run uses the new connection."""
    current = state.config()
    entered_key = (st.session_state.get("cfg_api_key") or "").strip()
    state.set_config(
        ConnectionConfig(
            target=(st.session_state.get("cfg_target") or "").strip(),
            model=(st.session_state.get("cfg_model") or "").strip(),
            base_url=(st.session_state.get("cfg_base_url") or "").strip(),
            api_key=entered_key or current.api_key,
        )
    )
    # The key is not kept in the input (nor sent back to the browser with the page).
    st.session_state["cfg_api_key"] = ""


def render_connection(*, expanded: bool = False) -> None:
    """The connection form; submitting it switches this session's database or model."""
    current = state.config()
    for key, value in (
        ("cfg_target", current.target),
        ("cfg_model", current.model),
        ("cfg_base_url", current.base_url),
    ):
        st.session_state.setdefault(key, value)
    env_key = bool(os.environ.get("OPENAI_API_KEY"))
    if current.api_key:
        key_hint = "entered (type to replace)"
    else:
        key_hint = "from OPENAI_API_KEY" if env_key else "sk-…"
    with (
        st.sidebar,
        st.expander("Connection", icon=":material/settings:", expanded=expanded),
        st.form("connection", border=False),
    ):
        st.text_input(
            "Database",
            key="cfg_target",
            placeholder="Sample database (cards.duckdb)",
            help=DB_HELP,
        )
        st.markdown("**Language model** (any OpenAI-compatible endpoint)")
        st.text_input(
            "Endpoint",
            key="cfg_base_url",
            placeholder="https://api.openai.com/v1",
            help="e.g. http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM",
        )
        st.text_input("Model", key="cfg_model", placeholder=DEFAULT_MODEL)
        st.text_input(
            "API key", key="cfg_api_key", type="password", placeholder=key_hint, help=KEY_HELP
        )
        st.form_submit_button(
            "Connect", type="primary", width="stretch", on_click=_apply_connection
        )


def render_history() -> None:
    """This session's questions, newest first; a click asks one again."""
    turns = state.turns()
    with st.sidebar:
        st.markdown("#### This session")
        if not turns:
            st.caption("Your questions will be listed here.")
            return
        st.button(
            "New conversation",
            icon=":material/add_comment:",
            on_click=state.reset,
            width="stretch",
            help="Forget the earlier turns: the next question starts afresh.",
        )
        for i, turn in reversed(list(enumerate(turns))):
            answer = turn.answer
            icon = {
                "answer": ":material/check_circle:",
                "clarification": ":material/help:",
                "refusal": ":material/block:",
            }.get(answer.kind, ":material/error:")
            label = turn.label if len(turn.label) <= 70 else turn.label[:69] + "…"
            if answer.attempts and answer.attempts[-1].source == "user" and answer.sql:
                args: tuple[object, ...] = ("sql", answer.question, turn.label, answer.sql)
            else:
                args = ("ask", answer.question or turn.label)
            st.button(
                escape_markdown(label),  # a label renders Markdown, images too
                key=f"history_{i}",
                icon=icon,
                type="tertiary",
                help="Ask again",
                on_click=state.request,
                args=args,
            )
