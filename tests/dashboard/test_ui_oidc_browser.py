"""Signing in to the dashboard with OpenID Connect, in a real browser.

A real provider process (``oidc-provider-mock``, see ``tests/oidc_provider.py``) and the
dashboard started by ``sqlagent ui --auth secrets.toml --policy policy.yaml`` (Streamlit's own
``st.login``, Authlib underneath); headless Chromium signs in as different people, each
asking the same verified question (no model needed) and seeing the rows their role's row
filter permits. An admin sees everyone's answers in the Audit tab. With the provider stopped,
the page says signing in is unavailable and shows nothing else. Behind a (simulated) proxy,
the trusted header names the person, and a request without it is let in as nobody.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oidc_provider import OIDCProvider, free_port

pytestmark = pytest.mark.browser
for _package in ("oidc_provider_mock", "authlib"):  # run in their own processes: not imported
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"{_package} is not installed (.[dev])", allow_module_level=True)

from test_ui_browser import CHROMIUM_ARGS, chromium  # noqa: E402, F401 - the fixture

REPO = Path(__file__).resolve().parents[2]
QUESTION = "Which merchants are in Arizona?"
SQL = "SELECT merchant_name, city FROM merchants WHERE state = 'AZ' ORDER BY city, merchant_name"
POLICY = """\
roles:
  phoenix:
    row_filters: {merchants: "city = 'Phoenix'"}
  regional:
    row_filters: {merchants: "city = :user.city"}   # the provider's city claim
  auditor:
    admin: true
groups:
  phoenix-team: phoenix                             # the provider's groups claim
users:
  bob@example.com: regional
  carol@example.com: auditor
"""
USERS = [
    {"sub": "alice", "email": "alice@example.com", "groups": ["phoenix-team"]},
    {"sub": "bob", "email": "bob@example.com", "city": "Tucson"},
    {"sub": "carol", "email": "carol@example.com"},
]
TIMEOUT_MS = 60_000


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/_stcore/health", timeout=1
            ) as reply:
                if reply.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the dashboard did not become healthy in 60 s")


@pytest.fixture()
def signed_in_app(
    chromium: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    sample_db_path: Path,
) -> Iterator[tuple[str, OIDCProvider]]:
    """The provider and the dashboard (signing in with it), both real processes."""
    provider = OIDCProvider(USERS, tmp_path / "provider.log").start()
    port = free_port()
    # The dashboard is opened as localhost, the provider as 127.0.0.1: browsers keep
    # cookies per host (not per port), so the two sessions' cookies stay apart.
    url = f"http://localhost:{port}/"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        'cookie_secret = "a-long-random-test-cookie-secret-0123456789"\n'
        'client_id = "sqlagent-dashboard"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    knowledge = tmp_path / "cards.knowledge.yaml"
    knowledge.write_text(
        f"verified:\n  - question: {QUESTION}\n    sql: {SQL}\n",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HOME=str(tmp_path / "home"), SQLAGENT_KNOWLEDGE=str(knowledge))
    log = tmp_path / "dashboard.log"
    command = [sys.executable, "-m", "sqlagent", "ui", "--headless", "--port", str(port)]
    command += ["--db", str(sample_db_path), "--auth", str(secrets), "--policy", str(policy)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        _wait_healthy(port, proc, log)
        yield url, provider
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        provider.stop()


def _sign_in(browser: Any, url: str, sub: str) -> Any:
    """A fresh browser context (no cookies) signed in as ``sub`` through the provider."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    # The provider's authorize page: one button per predefined user.
    page.get_by_role("button", name=sub, exact=True).click()
    page.locator('[data-testid="stChatInputTextArea"]').wait_for()
    return page


def _ask(page: Any, question: str, rows: int) -> list[str]:
    box = page.locator('[data-testid="stChatInputTextArea"]')
    box.fill(question)
    box.press("Enter")
    page.get_by_text(f"{rows} rows").first.wait_for()
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]')
    cells.first.wait_for(state="attached")
    return [str(c) for c in cells.all_inner_texts()]


def test_two_people_see_their_own_rows_and_an_admin_sees_both(
    chromium: str,  # noqa: F811
    signed_in_app: tuple[str, OIDCProvider],
) -> None:
    from playwright import sync_api

    url, _ = signed_in_app
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            alice = _sign_in(browser, url, "alice")
            sidebar = alice.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("alice@example.com").wait_for()
            assert "phoenix" in sidebar.inner_text()  # the role the groups claim gave
            assert alice.get_by_role("button", name="Sign out").is_visible()
            assert alice.get_by_role("tab", name="Audit").count() == 0
            # The database and model are the operator's: no Connection form to change them.
            assert sidebar.get_by_text("Connection").count() == 0
            cells = _ask(alice, QUESTION, 9)
            assert "Phoenix" in cells and "Tucson" not in cells

            bob = _sign_in(browser, url, "bob")
            bob.locator('[data-testid="stSidebar"]').get_by_text("bob@example.com").wait_for()
            cells = _ask(bob, QUESTION, 18)  # city = :user.city, the claim's Tucson
            assert "Tucson" in cells and "Phoenix" not in cells

            carol = _sign_in(browser, url, "carol")
            carol.get_by_role("tab", name="Audit").click()
            table = carol.locator('[data-testid="stDataFrame"]').first
            table.wait_for()
            audit = carol.locator('[data-testid="stDataFrame"] [role="gridcell"]')
            audit.first.wait_for(state="attached")
            seen = audit.all_inner_texts()
            assert "alice@example.com" in seen and "bob@example.com" in seen
            assert "phoenix" in seen and "regional" in seen and QUESTION in seen

            # Signing out forgets the person: the sign-in page again, no data.
            alice.get_by_role("button", name="Sign out").click()
            # Streamlit ends the session at the provider too (its end_session_endpoint).
            alice.get_by_role("button", name="End session").click()
            alice.get_by_role("button", name="Sign in").wait_for()
            assert alice.locator('[data-testid="stChatInputTextArea"]').count() == 0
        finally:
            browser.close()


def test_a_provider_that_is_down_gives_a_sign_in_error_and_no_data(
    chromium: str,  # noqa: F811
    signed_in_app: tuple[str, OIDCProvider],
) -> None:
    from playwright import sync_api

    url, provider = signed_in_app
    provider.stop()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.get_by_text("Signing in is unavailable").wait_for()
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert f"127.0.0.1:{provider.port}" in text and "cannot be reached" in text
            assert page.get_by_role("button", name="Sign in").count() == 0
            assert page.locator('[data-testid="stChatInputTextArea"]').count() == 0
            assert page.locator('[data-testid="stDataFrame"]').count() == 0
            assert "merchants" not in page.content()  # not even the schema
        finally:
            browser.close()


@pytest.fixture()
def proxied_app(
    chromium: str,  # noqa: F811
    tmp_path: Path,
    sample_db_path: Path,
) -> Iterator[str]:
    """The dashboard trusting a proxy's X-Forwarded-User and X-Forwarded-Groups headers."""
    port = free_port()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    knowledge = tmp_path / "cards.knowledge.yaml"
    knowledge.write_text(f"verified:\n  - question: {QUESTION}\n    sql: {SQL}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(
        SQLAGENT_HOME=str(tmp_path / "home"),
        SQLAGENT_KNOWLEDGE=str(knowledge),
        SQLAGENT_TRUSTED_GROUPS_HEADER="X-Forwarded-Groups",
    )
    log = tmp_path / "dashboard.log"
    command = [sys.executable, "-m", "sqlagent", "ui", "--headless", "--port", str(port)]
    command += ["--db", str(sample_db_path), "--policy", str(policy)]
    command += ["--trusted-header", "X-Forwarded-User"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        _wait_healthy(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_trusted_proxy_header_names_the_person(
    chromium: str,  # noqa: F811
    proxied_app: str,
) -> None:
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # What the proxy adds to every request, the page's websocket included.
            context = browser.new_context(
                extra_http_headers={
                    "X-Forwarded-User": "erin@example.com",
                    "X-Forwarded-Groups": "staff, phoenix-team",
                }
            )
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(proxied_app)
            sidebar = page.locator('[data-testid="stSidebar"]')
            sidebar.get_by_text("erin@example.com").wait_for()
            assert "phoenix" in sidebar.inner_text()  # the group's role
            assert page.get_by_role("button", name="Sign out").count() == 0
            assert sidebar.get_by_text("Connection").count() == 0
            cells = _ask(page, QUESTION, 9)
            assert "Phoenix" in cells and "Tucson" not in cells

            bare = browser.new_page()  # straight to the dashboard, past the proxy
            bare.set_default_timeout(TIMEOUT_MS)
            bare.goto(proxied_app)
            bare.get_by_text("You are not signed in").wait_for()
            assert bare.locator('[data-testid="stChatInputTextArea"]').count() == 0
        finally:
            browser.close()
