"""Who the dashboard answers for, through Streamlit's AppTest: the person at this machine in
single-user mode (said on the page, named in the history), their role's rows, the audit tab
for admins only, and nobody let in when the trusted header is missing or no role is held.

OpenID Connect needs a real provider and a browser: see ``test_ui_oidc_browser.py``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sqlagent.store.history import HistoryStore, default_path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
QUESTION = "Which merchants are in Arizona?"
SQL = "SELECT merchant_name, city FROM merchants WHERE state = 'AZ' ORDER BY city, merchant_name"
ME = getpass.getuser()
ENV_NAMES = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLAGENT_MODEL", "SQLAGENT_DB", "SQLAGENT_POLICY",
    "SQLAGENT_STORE", "SQLAGENT_TRUSTED_HEADER", "SQLAGENT_TRUSTED_GROUPS_HEADER",
)  # fmt: skip


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_db_path: Path) -> Iterator[Path]:
    """No model, a knowledge file with one verified question, a private history."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    knowledge = tmp_path / "cards.knowledge.yaml"
    knowledge.write_text(f"verified:\n  - question: {QUESTION}\n    sql: {SQL}\n")
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", str(knowledge))
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path / "home"))
    yield tmp_path


def _policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    monkeypatch.setenv("SQLAGENT_POLICY", str(path))


def start() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "title"):
        parts.extend(str(getattr(e, "value", "")) for e in at.get(kind))
    return "\n".join(parts)


def test_single_user_mode_says_so_and_records_who_asked(home: Path) -> None:
    at = ask(start(), QUESTION)
    assert "Single-user mode on this machine" in page_text(at)
    assert ME in "\n".join(str(c.value) for c in at.sidebar.caption)
    assert at.session_state["turns"][-1].answer.row_count == 27  # Phoenix 9 + Tucson 18
    [entry] = HistoryStore(default_path({"SQLAGENT_HOME": str(home / "home")})).list()
    assert entry.asked_by == ME and entry.question == QUESTION
    assert [t.label for t in at.tabs][-1] != ":material/policy: Audit"


def test_the_role_of_the_person_at_this_machine_filters_rows_and_hides_the_audit(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(
        home,
        monkeypatch,
        "roles:\n  phoenix:\n    row_filters: {merchants: \"city = 'Phoenix'\"}\n"
        f"users:\n  {ME}: phoenix\n",
    )
    at = ask(start(), QUESTION)
    answer = at.session_state["turns"][-1].answer
    assert answer.row_count == 9 and {row[1] for row in answer.rows} == {"Phoenix"}
    assert "Audit" not in " ".join(t.label for t in at.tabs)
    [entry] = HistoryStore(default_path({"SQLAGENT_HOME": str(home / "home")})).list()
    assert (entry.asked_by, entry.role) == (ME, "phoenix")


def test_an_admin_sees_everyones_answers_in_the_audit_tab(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = HistoryStore(default_path({"SQLAGENT_HOME": str(home / "home")}))
    _policy(home, monkeypatch, f"roles:\n  sales: {{}}\n  auditor:\n    admin: true\n"
            f"users:\n  {ME}: auditor\n  dana: sales\n")  # fmt: skip
    from sqlagent.api import Agent
    from sqlagent.settings import Settings

    # Someone else asked earlier, through the Python API, on the same store.
    settings = Settings.from_env()
    with Agent.connect(settings=settings) as agent:
        agent.history = store
        agent.sql("SELECT count(*) AS n FROM merchants", question="How many?", user="dana")
    at = start()
    labels = [t.label for t in at.tabs]
    assert labels[-1] == ":material/policy: Audit"
    at.session_state["view"] = labels[-1]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[0].value
    assert list(frame.columns[:6]) == ["time (UTC)", "user", "role", "question", "sql", "outcome"]
    row = frame.iloc[0]
    assert (row["user"], row["role"], row["question"], row["outcome"]) == (
        "dana",
        "sales",
        "How many?",
        "answer",
    )
    assert "FROM merchants" in row["sql"]
    at.text_input(key="audit_user").set_value("nobody").run()
    assert not at.dataframe and "0 most recent answers" in page_text(at)


def test_a_person_with_no_role_sees_no_data(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(home, monkeypatch, "roles:\n  sales: {}\nusers:\n  somebody-else: sales\n")
    at = start()
    assert f"{ME} holds no role" in page_text(at)
    assert not at.chat_input and not at.dataframe and not at.tabs


def test_a_missing_proxy_header_lets_nobody_in(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQLAGENT_TRUSTED_HEADER", "X-Forwarded-User")
    at = start()  # AppTest sends no headers: as a request that bypassed the proxy
    text = page_text(at)
    assert "You are not signed in" in text and "X-Forwarded-User" in text
    assert not at.chat_input and not at.tabs and "Single-user" not in text
    assert "Connection" not in " ".join(e.label for e in at.sidebar.expander)


def test_a_half_configured_sign_in_is_an_error_not_an_open_door(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQLAGENT_TRUSTED_GROUPS_HEADER", "X-Forwarded-Groups")
    at = start()
    assert "SQLAGENT_TRUSTED_GROUPS_HEADER is set without" in page_text(at)
    assert not at.chat_input and not at.tabs


def test_single_user_mode_on_a_public_address_shows_nothing(home: Path) -> None:
    from streamlit import config

    # As `streamlit run ui/app.py --server.address 0.0.0.0` would, past `sqlagent ui`.
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = start()
    finally:
        config.set_option("server.address", before)
    assert "Refusing to serve the dashboard on 0.0.0.0" in page_text(at)
    assert not at.chat_input and not at.tabs
