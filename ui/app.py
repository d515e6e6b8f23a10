"""sqlagent's browser dashboard: ask questions about a database, see SQL, table and chart.

Started by ``sqlagent ui`` (or ``streamlit run ui/app.py``). The database is the bundled
sample unless ``SQLAGENT_DB`` names another; the model comes from ``OPENAI_API_KEY`` /
``OPENAI_BASE_URL`` / ``SQLAGENT_MODEL`` or the sidebar. Everything shown here comes from the
``sqlagent`` package; this file only lays the page out.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ itself on the path; the page modules live in the `ui`
# package beside it, so the repository root is needed too.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from sqlagent.access.signin import SignIn  # noqa: E402
from sqlagent.api import LLM_HELP  # noqa: E402
from sqlagent.errors import SqlAgentError  # noqa: E402
from sqlagent.pipeline import dialect_name  # noqa: E402
from sqlagent.settings import Settings  # noqa: E402
from sqlagent.store.history import mask_url  # noqa: E402
from sqlagent.types import SchemaInfo  # noqa: E402
from ui import people, sidebar, state  # noqa: E402
from ui.answer_view import View, render_error, render_turn, show_flashes  # noqa: E402
from ui.audit_view import AUDIT_TAB, render_audit  # noqa: E402
from ui.format import escape_markdown, sql_label  # noqa: E402
from ui.resources import (  # noqa: E402
    build_agent,
    build_settings,
    is_sample,
    knowledge_file,
    metrics_endpoint,
    open_database,
    resolve_target,
    session_llm,
)
from ui.runner import run_request  # noqa: E402
from ui.schema_view import read_knowledge, render_schema  # noqa: E402

PAGE_CSS = """
<style>
.block-container { padding-top: 2.2rem; padding-bottom: 6rem; max-width: 1400px; }
h1 { margin-bottom: 0 !important; }
[data-testid="stChatMessage"] { padding: 0.6rem 0.4rem; }
[data-testid="stSidebar"] button[kind="tertiary"] p { text-align: left; font-size: 0.9rem; }
[data-testid="stAppDeployButton"] { display: none; }
[data-testid="stTextArea"] textarea { font-family: "Source Code Pro", monospace; }
</style>
"""


@st.cache_data(show_spinner=False)
def _sample_questions() -> list[str]:
    from sqlagent.sample import sample_questions

    return [str(q["question"]) for q in sample_questions()]


def _example_questions(view: View) -> list[str]:
    """Questions to offer: the sample's examples, else the knowledge file's verified ones.
    Without a model only the verified ones, the questions that can be answered."""
    if view.sample and view.llm_ready:
        try:
            return _sample_questions()
        except Exception:  # the examples are optional decoration
            return []
    try:
        knowledge = view.agent.knowledge()
    except SqlAgentError:
        knowledge, _ = read_knowledge(view.knowledge_path)
    return [ex.question for ex in knowledge.verified]


def render_header(view: View, schema: SchemaInfo) -> None:
    """Title, what is connected, and the model."""
    st.title(":material/query_stats: sqlagent", anchor=False)
    st.caption(
        "Ask questions about your data in plain language: checked, read-only SQL, "
        "a table, a chart and a short answer."
    )
    db = view.agent.db
    name = "Sample database · cards.duckdb" if view.sample else db.display_url
    with st.container(horizontal=True, gap="small"):
        st.badge(name, icon=":material/database:", color="blue")
        st.badge(dialect_name(view.dialect), icon=":material/dns:", color="gray")
        n = len(schema.tables)
        st.badge(f"{n} table{'' if n == 1 else 's'}", icon=":material/table:", color="gray")
        if view.llm_ready:
            model = getattr(view.agent.llm, "model", "") or view.agent.settings.model
            st.badge(model, icon=":material/neurology:", color="green")
        else:
            st.badge("no language model", icon=":material/warning:", color="orange")


def render_welcome(view: View) -> None:
    """The empty chat: what to ask, with examples to click."""
    examples = _example_questions(view)
    with st.chat_message("assistant"):
        st.markdown(
            "Ask a question about your data in plain language; follow-up questions build on "
            "the previous answer."
            + (
                " The sample database holds customers, their credit cards, merchants and "
                "card transactions."
                if view.sample
                else ""
            )
        )
        if examples:
            st.caption("Try one of these:")
            with st.container(horizontal=True, gap="small"):
                for i, question in enumerate(examples[:6]):
                    st.button(
                        escape_markdown(question),  # a label renders Markdown, images too
                        key=f"example_{i}",
                        on_click=state.request,
                        args=("ask", question),
                    )


def render_ask_tab(view: View) -> None:
    """The chat: banner, earlier turns, and the request of this run (live)."""
    if not view.llm_ready:
        st.warning(
            "**No language model is configured.** " + LLM_HELP + " You can also enter an "
            "endpoint, model and key under *Connection* in the sidebar. Meanwhile the "
            "schema, verified questions and your own SQL work.",
            icon=":material/power_off:",
        )
    pending = state.take_request()
    if not state.turns() and pending is None:
        render_welcome(view)
    for turn in state.turns():
        render_turn(turn, view)
    if pending is not None:
        try:  # the file's examples and those saved in the store by any process
            knowledge = view.agent.knowledge()
        except SqlAgentError:
            knowledge, _ = read_knowledge(view.knowledge_path)
        run_request(pending, view, knowledge)


def render_sql_tab() -> None:
    """Write SQL by hand; it runs through the same guard and shows up in the chat."""
    st.caption(
        "Your SQL runs through the same read-only guard as the model's: one SELECT, "
        "bounded rows, a statement timeout. The result appears in the Ask tab."
    )
    # Streamlit forgets a widget's value while its tab is not drawn: keep the text apart.
    if "sql_editor" not in st.session_state:
        st.session_state["sql_editor"] = st.session_state.get("sql_editor_text", "")

    def keep() -> None:
        st.session_state["sql_editor_text"] = st.session_state.get("sql_editor", "")

    st.text_area(
        "SQL",
        key="sql_editor",
        height=220,
        placeholder="SELECT ...",
        label_visibility="collapsed",
        on_change=keep,
    )

    def run() -> None:
        keep()
        sql = (st.session_state.get("sql_editor") or "").strip()
        if sql:
            state.request("sql", "", sql_label(sql), sql=sql)

    st.button("Run", type="primary", icon=":material/play_arrow:", on_click=run)


def _group_claim(signin: SignIn, settings: Settings) -> str:
    """The OIDC claim holding a person's groups: the policy file's ``group_claim``."""
    if signin.mode != "oidc" or not settings.policy_file:
        return "groups"
    from sqlagent.access.roles import AccessPolicy

    return AccessPolicy.from_file(settings.policy_file).group_claim


def render_page() -> None:
    """The whole page for one run of the script."""
    show_flashes()
    config = state.config()
    try:
        signin = people.sign_in_mode()
        settings = build_settings(config)
        group_claim = _group_claim(signin, settings)
    except SqlAgentError as exc:
        st.title(":material/query_stats: sqlagent", anchor=False)
        render_error(exc.info())
        return
    # Who asks comes first: nothing of the database is read for someone not signed in.
    identity = people.resolve_identity(signin, group_claim=group_claim)
    if identity is None:
        return
    # With people signing in, the database and model are the operator's to choose: a
    # visitor must not point the server at another database or endpoint.
    local = not signin.names_people
    try:
        target = resolve_target(config)
        db = open_database(target)
        llm = session_llm(settings)
    except SqlAgentError as exc:
        if local:
            sidebar.render_connection(expanded=True)
        st.title(":material/query_stats: sqlagent", anchor=False)
        render_error(exc.info())
        if local:
            st.caption("Change the database or the model under *Connection* in the sidebar.")
        return
    if local:
        sidebar.render_connection()
    try:  # the person's role and policy, row filters bound to their attributes
        agent = build_agent(db, settings, llm).for_user(identity)
    except SqlAgentError as exc:
        people.render_account(identity, None, signin)
        st.title(":material/query_stats: sqlagent", anchor=False)
        render_error(exc.info())
        return
    people.render_account(identity, agent.role, signin)
    view = View(
        agent=agent,
        target=target,
        dialect=db.dialect,
        knowledge_path=knowledge_file(agent, target),
        llm_ready=llm is not None,
        sample=is_sample(target),
    )
    try:
        schema = agent.schema()
    except SqlAgentError as exc:
        st.title(":material/query_stats: sqlagent", anchor=False)
        render_error(exc.info())
        return
    render_header(view, schema)
    placeholder = (
        "Ask a question about your data…"
        if view.llm_ready
        else "Ask a verified question (no language model configured)…"
    )
    question = st.chat_input(placeholder, key="chat")
    if question and question.strip():
        state.request("ask", question.strip())
    labels = [*state.TABS, AUDIT_TAB] if agent.admin else list(state.TABS)
    tabs = st.tabs(labels, key=state.VIEW_KEY, on_change="rerun")
    with tabs[0]:
        render_ask_tab(view)
    with tabs[1]:
        if tabs[1].open:
            knowledge, problem = read_knowledge(view.knowledge_path)
            if problem is None:  # with the verified examples saved in the store
                with contextlib.suppress(SqlAgentError):
                    knowledge = view.agent.knowledge()
            render_schema(schema, knowledge, problem)
    with tabs[2]:
        if tabs[2].open:
            render_sql_tab()
    if agent.admin:
        with tabs[3]:
            if tabs[3].open:
                render_audit(agent)
    sidebar.render_history()


def main() -> None:
    """Entry point: page setup, then the page, with unexpected errors shown briefly."""
    st.set_page_config(
        page_title="sqlagent · ask your data",
        page_icon=":material/query_stats:",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    st.html(PAGE_CSS)
    metrics_endpoint()
    try:
        render_page()
    except Exception as exc:  # never the traceback page: a short message instead
        # URLs in driver messages may carry a password: masked before showing or logging.
        message = mask_url(f"{type(exc).__name__}: {exc}")
        st.error(f"**Something went wrong.** {escape_markdown(message)}", icon=":material/error:")
        st.caption("Reload the page to start again.")
        logging.getLogger("sqlagent.ui").error("Unexpected error in the dashboard: %s", message)


main()
