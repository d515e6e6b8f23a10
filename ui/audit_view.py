"""The audit tab, for people whose role is marked ``admin: true``: recent answers of everyone
(who asked, their role, the question, the SQL and how it ended), newest first."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sqlagent.api import Agent
from sqlagent.store.history import HistoryEntry, HistoryError

from .format import escape_markdown

AUDIT_TAB = ":material/policy: Audit"
LIMITS = (50, 200, 1000)


def audit_frame(entries: list[HistoryEntry]) -> pd.DataFrame:
    """The entries as the table the tab shows, one row per answer."""
    rows = [
        {
            "time (UTC)": e.created_at[:19].replace("T", " "),
            "user": e.asked_by or "",
            "role": e.role or "",
            "question": e.question,
            "sql": e.sql or "",
            "outcome": e.outcome,
            "error": (e.error or {}).get("message", ""),
            "rows": e.row_count,
            "from": e.source,
            "database": e.database,
        }
        for e in entries
    ]
    columns = ["time (UTC)", "user", "role", "question", "sql", "outcome", "error", "rows"]
    return pd.DataFrame(rows, columns=[*columns, "from", "database"])


def render_audit(agent: Agent) -> None:
    """The recent answers of the store this dashboard writes to; only for admins."""
    if not agent.admin:  # the tab is not offered otherwise: this is the second lock
        st.error("The audit is for administrators.", icon=":material/lock:")
        return
    history = agent.history
    if history is None:
        st.info("No history is kept (SQLAGENT_HISTORY=off), so there is nothing to audit.")
        return
    with st.container(horizontal=True, gap="small"):
        who = st.text_input("User", key="audit_user", placeholder="everyone")
        limit = st.selectbox("Answers", LIMITS, key="audit_limit")
    try:
        entries = history.list(limit=int(limit or LIMITS[0]), user=who.strip() or None)
    except HistoryError as exc:
        st.error(
            f"The history cannot be read: {escape_markdown(exc.message)}", icon=":material/error:"
        )
        return
    st.caption(f"{len(entries)} most recent answers in {history.location}, newest first.")
    if not entries:
        return
    st.dataframe(
        audit_frame(entries),
        key="audit_table",
        hide_index=True,
        width="stretch",
        column_config={
            "question": st.column_config.TextColumn(width="large"),
            "sql": st.column_config.TextColumn(width="large"),
        },
    )
