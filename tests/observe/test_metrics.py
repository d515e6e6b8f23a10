"""Operators' metrics: counted for every answer, served in Prometheus' text format on the
opt-in endpoint, scraped over real HTTP from ``sqlagent mcp --http`` and the dashboard, and
parsed with the Prometheus client's own parser."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest

from sqlagent import Agent
from sqlagent.errors import ConfigError
from sqlagent.observe.metrics import BUCKETS, Metrics, MetricsServer, parse_address
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM

parser = pytest.importorskip(
    "prometheus_client.parser", reason="prometheus-client (the dev extra) is not installed"
)

EXE = str(Path(sys.executable).with_name("sqlagent"))
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``url`` scraped and parsed: (sample name, sorted labels) → value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_answers_are_counted_by_outcome_with_a_latency_histogram(sample_db) -> None:
    metrics = Metrics()
    settings = Settings(history=False, knowledge_path=os.devnull)
    llm = ScriptedLLM(["```sql\nSELECT count(*) AS n FROM merchants\n```", "Some merchants."])
    agent = Agent(sample_db, llm=llm, settings=settings, history=None)
    answers = [
        agent.ask("How many merchants?"),
        agent.sql("SELECT 1 AS one"),
        agent.sql("DELETE FROM merchants"),
        agent.sql("SELECT nosuch FROM merchants"),
    ]
    for answer, op, seconds in zip(
        answers, ["ask", "sql", "sql", "sql"], [0.02, 0.3, 0.001, 7], strict=True
    ):
        metrics.observe(answer, interface="api", operation=op, seconds=seconds)
    server = MetricsServer("127.0.0.1", 0, metrics)
    try:
        samples = scrape(server.address)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.address.replace("/metrics", "/other"), timeout=5)
    finally:
        server.close()
    api_sql = {"interface": "api", "operation": "sql"}
    assert value(samples, "sqlagent_requests_total", outcome="answer", **api_sql) == 1
    assert value(samples, "sqlagent_requests_total", outcome="error", **api_sql) == 2
    assert value(samples, "sqlagent_refusals_total", reason="UnsafeSQL", **api_sql) == 1
    assert value(samples, "sqlagent_refusals_total", reason="UnknownColumn", **api_sql) == 1
    assert value(samples, "sqlagent_llm_tokens_total", interface="api", direction="input") > 0
    # Buckets are cumulative; +Inf and _count hold every request; _sum adds the seconds.
    assert value(samples, "sqlagent_request_duration_seconds_count", **api_sql) == 3
    assert value(samples, "sqlagent_request_duration_seconds_sum", **api_sql) == pytest.approx(
        7.301
    )
    assert value(samples, "sqlagent_request_duration_seconds_bucket", le="0.005", **api_sql) == 1
    assert value(samples, "sqlagent_request_duration_seconds_bucket", le="0.5", **api_sql) == 2
    assert value(samples, "sqlagent_request_duration_seconds_bucket", le="+Inf", **api_sql) == 3
    assert len([k for k in samples if k[0].endswith("_bucket")]) == 2 * (len(BUCKETS) + 1)


def test_a_bad_address_is_a_clear_error() -> None:
    assert parse_address("9464") == ("127.0.0.1", 9464)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    for bad in ("nine", "127.0.0.1:99999"):
        with pytest.raises(ConfigError, match="SQLAGENT_METRICS"):
            parse_address(bad)


@pytest.fixture()
def slow_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(100000)")
    con.close()
    (tmp_path / "policy.yaml").write_text("statement_timeout: 1\n")
    return path


def test_the_mcp_http_server_serves_metrics(slow_db: Path) -> None:
    pytest.importorskip("mcp", reason="the mcp extra is not installed")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(
        SQLAGENT_HISTORY="off",
        SQLAGENT_HOME=os.environ["SQLAGENT_HOME"],
        SQLAGENT_METRICS=f"127.0.0.1:{metrics_port}",
    )
    cmd = [EXE, "mcp", "--http", "--port", str(port), "--db", str(slow_db),
           "--policy", str(slow_db.parent / "policy.yaml")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = ""
        deadline = time.monotonic() + 60
        while "metrics at" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert f"http://127.0.0.1:{metrics_port}/metrics" in seen, seen
        url = f"http://127.0.0.1:{port}/mcp"

        @contextlib.asynccontextmanager
        async def session() -> AsyncIterator[ClientSession]:
            async with (
                streamable_http_client(url) as (read, write, *_),
                ClientSession(read, write) as client,
            ):
                await client.initialize()
                yield client

        async def calls() -> None:
            for _ in range(20):  # the server may still be starting
                try:
                    async with session() as client:
                        await client.call_tool("run_sql", {"sql": "SELECT count(*) FROM t"})
                        await client.call_tool("run_sql", {"sql": "DROP TABLE t"})
                        slow = "SELECT sum(a.i * b.i) FROM t a, t b"
                        await client.call_tool("run_sql", {"sql": slow})
                        return
                except Exception:
                    await anyio.sleep(0.5)
            raise AssertionError("the MCP server did not answer")

        anyio.run(calls)
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    mcp_sql = {"interface": "mcp", "operation": "sql"}
    assert value(samples, "sqlagent_requests_total", outcome="answer", **mcp_sql) == 1
    assert value(samples, "sqlagent_refusals_total", reason="UnsafeSQL", **mcp_sql) == 1
    assert value(samples, "sqlagent_timeouts_total", **mcp_sql) == 1
    assert value(samples, "sqlagent_request_duration_seconds_count", **mcp_sql) == 3
    assert value(samples, "sqlagent_request_duration_seconds_bucket", le="0.5", **mcp_sql) >= 2
    assert value(samples, "sqlagent_request_duration_seconds_bucket", le="0.5", **mcp_sql) < 3


def test_the_dashboard_serves_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_db_path: Path
) -> None:
    from streamlit.testing.v1 import AppTest

    port = _free_port()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SQLAGENT_DB", "SQLAGENT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SQLAGENT_METRICS", f"127.0.0.1:{port}")
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SQLAGENT_KNOWLEDGE", os.devnull)
    url = f"http://127.0.0.1:{port}/metrics"
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=60)
    at.session_state["sqlagent_llm"] = ScriptedLLM(
        ["```sql\nSELECT count(*) AS n FROM merchants\n```", "There are some merchants."]
    )
    at.run()
    before = scrape(url)
    at.chat_input[0].set_value("How many merchants are there?").run()
    assert not at.exception
    after = scrape(url)
    ui_ask = {"interface": "ui", "operation": "ask"}
    counted = value(after, "sqlagent_requests_total", outcome="answer", **ui_ask)
    assert counted == value(before, "sqlagent_requests_total", outcome="answer", **ui_ask) + 1
    assert value(after, "sqlagent_request_duration_seconds_count", **ui_ask) >= 1
