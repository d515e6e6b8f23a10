"""Drawing one turn of the chat: narrative, chart, table, SQL, downloads, feedback."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import streamlit as st

from sqlagent.answer.charts import ChartKind, applicable_kinds, choose_chart, vega_lite_spec
from sqlagent.answer.export import (
    excel_available,
    file_stem,
    to_csv_bytes,
    to_parquet_bytes,
    to_xlsx_bytes,
)
from sqlagent.api import Agent
from sqlagent.types import Answer, Attempt, ErrorInfo

from . import state
from .format import (
    display_frame,
    escape_markdown,
    explain,
    format_number,
    pretty_sql,
    row_count_text,
)

CHART_LABELS: dict[str, str] = {
    "line": ":material/show_chart: Line",
    "bar": ":material/bar_chart: Bar",
    "scatter": ":material/scatter_plot: Scatter",
    "metric": ":material/looks_one: Number",
    "table": ":material/table_rows: Table",
}

ERROR_TITLES = {
    "UnsafeSQL": "The query was refused: it is not a single read-only SELECT.",
    "PolicyViolation": "The query was refused: it reads data the policy does not allow.",
    "UnknownTable": "The query names a table that does not exist.",
    "UnknownColumn": "The query names a column that does not exist.",
    "SQLParseError": "The query is not valid SQL for this database.",
    "GuardError": "The query was refused by the guard.",
    "ExecutionError": "The database could not run the query.",
    "QueryTimeout": "The query took too long and was cancelled.",
    "ReadOnlyViolation": "The database refused a write: connections are read-only.",
    "ConfigError": "No language model is configured.",
    "LLMTimeout": "The language model did not answer in time.",
    "LLMUnavailable": "The language model could not be reached.",
    "NoSQLInReply": "The model's reply contained no SQL.",
    "LLMError": "The language model gave no usable answer.",
    "UsageError": "The request could not be run.",
    "ConnectionFailed": "Could not connect to the database.",
}

ERROR_ADVICE = {
    "UnsafeSQL": "Ask a question that only reads data; changes to the data are never run.",
    "PolicyViolation": "Ask about the tables and columns you are allowed to read.",
    "QueryTimeout": "Narrow the question (a period, a category) or edit the SQL to filter earlier.",
    "LLMTimeout": "Try again, or use a faster model.",
    "LLMUnavailable": "Check the endpoint, model name and API key in the sidebar.",
}
GENERIC_ADVICE = (
    "Rephrase the question with the table or column names from the Schema tab, or edit the "
    "SQL below and run it again."
)


@dataclass(frozen=True)
class View:
    """What every part of the page needs to draw and act."""

    agent: Agent
    target: str
    dialect: str
    knowledge_path: Path | None
    llm_ready: bool
    sample: bool


# --------------------------------------------------------------------------- callbacks


def _flash(message: str, icon: str = ":material/info:") -> None:
    """Show a toast on the next run (callbacks run before the page is drawn)."""
    st.session_state.setdefault("flash", []).append((message, icon))


def show_flashes() -> None:
    """Show the toasts queued by callbacks."""
    for message, icon in st.session_state.pop("flash", []):
        st.toast(message, icon=icon)


def _on_feedback(answer_id: str, key: str, agent: Agent) -> None:
    turn = state.find_turn(answer_id)
    value = st.session_state.get(key)
    if turn is None:
        return
    turn.rating = None if value is None else (1 if value == 1 else -1)
    if turn.rating is None:
        return
    record = getattr(agent, "feedback", None)
    if record is None:
        return
    try:
        record(turn.answer, turn.rating)
    except Exception as exc:  # feedback is a courtesy: it must never break the page
        _flash(f"The feedback could not be stored: {exc}", ":material/warning:")
    else:
        icon = ":material/thumb_up:" if turn.rating > 0 else ":material/thumb_down:"
        _flash("Thanks, feedback recorded.", icon)


def _on_save_verified(answer_id: str, agent: Agent) -> None:
    turn = state.find_turn(answer_id)
    if turn is None or not turn.answer.sql:
        return
    try:
        where = agent.save_verified(turn.answer.question, turn.answer.sql)
    except Exception as exc:
        _flash(f"Could not save the example: {exc}", ":material/warning:")
        return
    turn.saved = True
    name = where if agent.saves_verified_to_store else Path(where).name
    _flash(f"Saved as a verified example in {name}.", ":material/check_circle:")


def _on_rerun(answer_id: str, key: str) -> None:
    turn = state.find_turn(answer_id)
    sql = (st.session_state.get(key) or "").strip()
    if turn is None or not sql:
        _flash("There is no SQL to run.", ":material/warning:")
        return
    question = turn.answer.question
    label = f"Edited SQL for: {question}" if question else "Edited SQL"
    state.request("sql", question, label, sql=sql)


def _on_clarify(question: str, option: str) -> None:
    text = f"{question} ({option})" if question else option
    state.request("ask", text)


# --------------------------------------------------------------------------- drawing


def render_turn(turn: state.Turn, view: View) -> None:
    """The question and its answer as two chat messages."""
    with st.chat_message("user"):
        st.markdown(escape_markdown(turn.label))
    with st.chat_message("assistant"):
        render_answer(turn, view)


def render_answer(turn: state.Turn, view: View) -> None:
    """The body of an answer, whatever its kind."""
    answer = turn.answer
    if answer.kind == "clarification" and answer.clarification is not None:
        st.markdown(":material/help: " + escape_markdown(answer.clarification.question))
        if answer.clarification.options:
            with st.container(horizontal=True):
                for i, option in enumerate(answer.clarification.options):
                    st.button(
                        escape_markdown(option),  # a label renders Markdown, images too
                        key=f"clarify_{answer.id}_{i}",
                        on_click=_on_clarify,
                        args=(answer.question, option),
                    )
    elif answer.kind == "refusal":
        st.info(f"**The data cannot answer this.** {escape_markdown(answer.refusal or '')}")
    elif not answer.ok:
        render_error(answer.error)
    else:
        if answer.verified:
            st.badge("Verified example", icon=":material/verified:", color="green")
        if answer.narrative:
            st.markdown(escape_markdown(answer.narrative))
        render_result(answer)
    render_sql(answer, view)
    if answer.ok and answer.sql:
        render_actions(turn, view)


def render_error(error: ErrorInfo | None) -> None:
    """A failure as a readable message with what to try."""
    if error is None:
        return
    title = ERROR_TITLES.get(error.type, "The question could not be answered.")
    body = f"**{title}**\n\n{escape_markdown(error.message)}"
    st.error(body, icon=":material/error:")
    advice = error.hint or ERROR_ADVICE.get(error.type) or GENERIC_ADVICE
    st.caption(f":material/lightbulb: {escape_markdown(advice)}")


def render_result(answer: Answer) -> None:
    """The rows: chart (switchable), table, row count and downloads."""
    columns, rows = answer.columns, answer.rows
    if not columns:
        return
    if not rows:
        st.caption("The query returned no rows.")
        return
    default = choose_chart(columns, rows)
    kinds: list[str] = [*applicable_kinds(columns, rows), "table"]
    chosen: str = default.kind if default else "table"
    measure: str | None = None
    if len(kinds) > 1:
        with st.container(horizontal=True, vertical_alignment="center"):
            picked = st.segmented_control(
                "Chart",
                kinds,
                default=chosen,
                format_func=lambda k: CHART_LABELS.get(k, k),
                key=f"chart_{answer.id}",
                required=True,
                label_visibility="collapsed",
            )
            chosen = picked if picked in kinds else chosen
            probe = (
                choose_chart(columns, rows, kind=cast(ChartKind, chosen))
                if chosen != "table"
                else None
            )
            measures = probe.measures if probe else ()
            if chosen in ("line", "bar", "scatter") and len(measures) > 1:
                measure = st.selectbox(
                    "Measure",
                    measures,
                    key=f"measure_{answer.id}",
                    label_visibility="collapsed",
                    width=220,
                )
    chart = (
        None
        if chosen == "table"
        else choose_chart(columns, rows, kind=cast(ChartKind, chosen), measure=measure)
    )
    frame, config = display_frame(columns, rows)
    if chart is not None and chart.kind == "metric":
        _metrics(answer, chart.measures)
        if len(columns) > 1:
            st.dataframe(frame, column_config=config, hide_index=True, width="content")
    elif chart is not None:
        left, right = st.columns([5, 7], gap="medium")
        with left:
            st.dataframe(frame, column_config=config, hide_index=True, height=_height(rows))
        with right:
            spec = vega_lite_spec(chart, columns, rows)
            if isinstance(spec.get("height"), dict):  # bars sized per category
                st.vega_lite_chart(spec, width="stretch")
            else:  # as tall as the table beside it
                st.vega_lite_chart(spec, width="stretch", height=max(300, _height(rows)))
    else:
        st.dataframe(frame, column_config=config, hide_index=True, height=_height(rows))
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(row_count_text(answer))
        stem = file_stem(answer.question)
        for label, suffix, mime, write in _DOWNLOADS:
            if suffix == "xlsx" and not excel_available():
                continue  # the optional sqlagent[excel] extra is not installed
            st.download_button(
                label,
                data=functools.partial(write, columns, rows),
                file_name=f"{stem}.{suffix}",
                mime=mime,
                icon=":material/download:",
                key=f"{suffix}_{answer.id}",
                on_click="ignore",
                type="tertiary",
            )


_DOWNLOADS = (
    ("CSV", "csv", "text/csv", to_csv_bytes),
    ("Excel", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     to_xlsx_bytes),
    ("Parquet", "parquet", "application/vnd.apache.parquet", to_parquet_bytes),
)  # fmt: skip
"""The result downloads: label, file suffix, MIME type, writer (made only when clicked)."""


def _height(rows: Any) -> int:
    # Every row visible up to 15 (the grid's own default stops at 10), then it scrolls.
    return 35 * (min(len(rows), 15) + 1) + 3


def _metrics(answer: Answer, measures: tuple[str, ...]) -> None:
    row = answer.rows[0]
    index = {c: i for i, c in reversed(list(enumerate(answer.columns)))}
    with st.container(horizontal=True):
        for name in measures:
            # A label is Markdown: a column name (an alias the model wrote) shows as text.
            label = escape_markdown(name.replace("_", " "))
            st.metric(label, format_number(row[index[name]]), border=True, width=240)


def render_sql(answer: Answer, view: View) -> None:
    """The SQL (copyable), how it was made, failed attempts, and edit-and-re-run."""
    failed = [a for a in answer.attempts if a.error is not None and a.sql]
    if not answer.sql and not failed:
        return
    title = "SQL and how it was made" if answer.ok else "SQL that was tried"
    with st.expander(title, icon=":material/code:", expanded=not answer.ok):
        if answer.ok and answer.sql:
            st.code(pretty_sql(answer.sql, view.dialect), language="sql", wrap_lines=True)
        st.markdown("  \n".join(explain(answer, view.dialect)))
        for first, last, attempt in rejected_attempts(answer):
            numbers = f"Attempt {first}" if first == last else f"Attempts {first}–{last}"
            assert attempt.error is not None and attempt.sql is not None
            st.markdown(
                f"**{numbers} rejected** ({attempt.error.type}): "
                f"{escape_markdown(attempt.error.message)}"
            )
            st.code(attempt.sql, language="sql", wrap_lines=True)
        if not answer.ok and answer.sql and not failed:
            st.code(answer.sql, language="sql", wrap_lines=True)
        edit_key = f"edit_{answer.id}"
        editable = (
            pretty_sql(answer.sql, view.dialect)
            if answer.ok and answer.sql
            else answer.sql or (failed[-1].sql if failed else "") or ""
        )
        st.text_area(
            "Edit the SQL and run it again (the same read-only guard applies)",
            value=editable,
            key=edit_key,
            height=min(360, max(110, 24 * (editable.count("\n") + 1) + 40)),
        )
        st.button(
            "Run edited SQL",
            key=f"rerun_{answer.id}",
            icon=":material/play_arrow:",
            on_click=_on_rerun,
            args=(answer.id, edit_key),
        )


def rejected_attempts(answer: Answer) -> list[tuple[int, int, Attempt]]:
    """Rejected attempts with their numbers; repeats of the same SQL and error are merged."""
    groups: list[tuple[int, int, Attempt]] = []
    for n, attempt in enumerate(answer.attempts, start=1):
        if attempt.error is None or not attempt.sql:
            continue
        if groups:
            first, last, previous = groups[-1]
            if last == n - 1 and (previous.sql, previous.error) == (attempt.sql, attempt.error):
                groups[-1] = (first, n, previous)
                continue
        groups.append((n, n, attempt))
    return groups


def render_actions(turn: state.Turn, view: View) -> None:
    """Thumbs up/down and, after a thumbs up, saving the answer as a verified example."""
    answer = turn.answer
    key = f"feedback_{answer.id}"
    with st.container(horizontal=True, vertical_alignment="center"):
        st.feedback("thumbs", key=key, on_change=_on_feedback, args=(answer.id, key, view.agent))
        if turn.rating == 1 and not answer.verified:
            if turn.saved:
                st.caption(":material/check_circle: Saved as a verified example")
            elif view.knowledge_path is None and not view.agent.saves_verified_to_store:
                st.caption("Set SQLAGENT_KNOWLEDGE to save verified examples for this database.")
            elif not answer.question:
                st.caption("Ask it as a question to save it as a verified example.")
            else:
                where = (
                    "the shared store"
                    if view.agent.saves_verified_to_store or view.knowledge_path is None
                    else view.knowledge_path.name
                )
                st.button(
                    "Save as verified example",
                    key=f"save_{answer.id}",
                    icon=":material/bookmark_add:",
                    help=f"Adds the question and this SQL to {where}; "
                    "the same question is then answered with this SQL.",
                    on_click=_on_save_verified,
                    args=(answer.id, view.agent),
                )


__all__ = ["View", "render_answer", "render_error", "render_turn", "show_flashes"]
