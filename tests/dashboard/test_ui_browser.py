"""The dashboard in a real browser: served by ``streamlit run``, driven by headless Chromium.

The app runs as a subprocess on a free port with ``OPENAI_BASE_URL`` pointing at a local
``FakeOpenAIServer``, so the real ``openai`` client path (streaming included) is exercised.
Needs the Debian packages chromium and chromium-driver and the ``playwright`` package; the
browser is never downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlagent.testing import FakeOpenAIServer

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUESTION = "How many unique merchants are there in Phoenix and what are their names?"
SQL = "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
NARRATIVE = (
    "There are 9 unique merchants in Phoenix, from Camelback Coffee Roasters to "
    "Valley Fresh Market."
)
START_TIMEOUT = 60.0
ANSWER_TIMEOUT_MS = 60_000


@pytest.fixture()
def chromium() -> str:
    """The Chromium executable; skips when it or the playwright package is missing."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"streamlit did not become healthy in {START_TIMEOUT:.0f} s")


@pytest.fixture()
def served_app(
    chromium: str, tmp_path: Path, sample_db_path: Path
) -> Iterator[tuple[str, FakeOpenAIServer]]:
    """The dashboard on a free port, its model a scripted fake server; always stopped."""
    with FakeOpenAIServer([SQL, NARRATIVE]) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
        env.update(
            OPENAI_BASE_URL=fake.base_url,
            SQLAGENT_MODEL="fake-model",
            SQLAGENT_HOME=str(tmp_path / "home"),
            SQLAGENT_KNOWLEDGE=str(tmp_path / "empty.knowledge.yaml"),  # no verified shortcut
        )
        port = _free_port()
        log = tmp_path / "streamlit.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    str(APP),
                    "--server.port",
                    str(port),
                    "--server.address",
                    "127.0.0.1",
                    "--server.headless",
                    "true",
                    "--server.fileWatcherType",
                    "none",
                    "--browser.gatherUsageStats",
                    "false",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
            try:
                _wait_healthy(port, proc, log)
                yield f"http://127.0.0.1:{port}/", fake
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def test_question_answered_in_the_browser(
    chromium: str, served_app: tuple[str, FakeOpenAIServer]
) -> None:
    from playwright import sync_api

    url, fake = served_app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(ANSWER_TIMEOUT_MS)
            page.goto(url)
            box = page.locator('[data-testid="stChatInputTextArea"]')
            box.wait_for()
            assert page.get_by_text("fake-model").first.is_visible()
            box.fill(QUESTION)
            box.press("Enter")

            # The narrative (streamed through the real client), then the table and the SQL.
            page.get_by_text(NARRATIVE).wait_for()
            cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]')
            cells.first.wait_for(state="attached")  # the grid draws on a canvas; these mirror it
            names = cells.all_inner_texts()
            assert "Camelback Coffee Roasters" in names
            assert "Valley Fresh Market" in names
            assert page.get_by_text("9 rows").is_visible()
            page.get_by_text("SQL and how it was made").click()
            code = page.locator('[data-testid="stCode"]').first
            code.wait_for(state="visible")
            sql_shown = " ".join(code.inner_text().split())
            assert "FROM merchants WHERE city = 'Phoenix'" in sql_shown
            page.wait_for_timeout(500)  # let the expander finish opening
            page.screenshot(path=str(ARTIFACTS / "ui-phoenix.png"), full_page=True)
        finally:
            browser.close()
    # One request for the SQL, one streamed request for the narrative.
    assert len(fake.requests) == 2
    assert fake.requests[1].get("stream") is True
    assert QUESTION in fake.requests[0]["messages"][-1]["content"]
