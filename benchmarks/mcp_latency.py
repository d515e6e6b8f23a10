"""What the MCP server adds to a question: ``ask`` through the SDK client vs ``Agent.ask``.

The same question on the sample database, answered by the same scripted model (a local
OpenAI-compatible server from ``sqlagent.testing``, reached through the real ``openai``
client in both cases): once in-process with ``Agent.ask``, once through ``sqlagent mcp`` over
stdio and over streamable HTTP, each a separate server process driven by the SDK's
``ClientSession``, and in process through the SDK's memory transport (the server's own
cost without a transport). Reports the median per question and the ratio to ``Agent.ask``, for a
question the model answers and for a verified one (no model call). Then a burst: N clients
at once, M calls each, over HTTP.

    python benchmarks/mcp_latency.py [--rounds 30] [--clients 8] [--calls 25]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import ClientSession
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from sqlagent import Agent
from sqlagent.mcp.server import build_server
from sqlagent.sample import ensure_sample_database
from sqlagent.testing import FakeOpenAIServer

QUESTION = "Which merchants are based in Phoenix, and how many are there?"
VERIFIED = "How many unique merchants are there in Phoenix and what are their names?"
SQL = "SELECT DISTINCT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY merchant_name"
EXE = str(Path(sys.executable).with_name("sqlagent"))


def reply(request: dict[str, Any]) -> str:
    """The scripted model: the SQL for a generation call, a sentence for a narration."""
    if request["messages"][0]["content"].startswith("You explain"):
        return "There are 9 merchants in Phoenix."
    return f"```sql\n{SQL}\n```"


def env_for(model_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(OPENAI_BASE_URL=model_url, SQLAGENT_MODEL="fake-model", SQLAGENT_HISTORY="off")
    return env


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


Call = Callable[[str], Awaitable[None]]


def agent_call(agent: Agent) -> Call:
    async def call(question: str) -> None:
        answer = agent.ask(question)  # blocking on purpose: nothing else runs meanwhile
        assert answer.ok and answer.row_count == 9, answer.error

    return call


def session_call(session: ClientSession) -> Call:
    async def call(question: str) -> None:
        result = await session.call_tool("ask", {"question": question})
        content = result.structured_content or {}
        assert not result.is_error and content.get("row_count") == 9, result.content

    return call


async def interleaved(paths: dict[str, Call], question: str, rounds: int) -> dict[str, list[float]]:
    """Each round calls every path once, in turn, so the machine's load (shared, noisy)
    weighs on all of them alike. The first round warms up (value index, profiles) and is
    not counted."""
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for index in range(rounds + 1):
        for name, call in paths.items():
            start = time.perf_counter()
            await call(question)
            if index:
                samples[name].append(time.perf_counter() - start)
    return samples


@contextlib.asynccontextmanager
async def stdio_session(db: Path, env: dict[str, str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=EXE, args=["mcp", "--db", str(db)], env=env)
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(timeout=120) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@contextlib.contextmanager
def http_server(db: Path, env: dict[str, str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [EXE, "mcp", "--db", str(db), "--http", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the HTTP server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def burst(url: str, clients: int, calls: int) -> tuple[float, list[float], int]:
    """``clients`` sessions at once, ``calls`` calls each, alternating the four kinds of call."""
    latencies: list[float] = []
    errors = 0

    async def client(index: int) -> None:
        nonlocal errors
        async with http_session(url) as session:
            for i in range(calls):
                kind = (index + i) % 4
                start = time.perf_counter()
                if kind == 0:
                    result = await session.call_tool("ask", {"question": QUESTION})
                elif kind == 1:
                    result = await session.call_tool("ask", {"question": VERIFIED})
                elif kind == 2:
                    result = await session.call_tool("run_sql", {"sql": SQL})
                else:
                    result = await session.call_tool("describe_schema", {"question": QUESTION})
                latencies.append(time.perf_counter() - start)
                errors += bool(result.is_error)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(client, index)
    return time.perf_counter() - start, latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--calls", type=int, default=25)
    args = parser.parse_args()

    db = ensure_sample_database()
    rows: list[tuple[str, str, list[float]]] = []
    with FakeOpenAIServer([reply] * 100_000) as model:
        env = env_for(model.base_url)
        os.environ.update({k: env[k] for k in ("OPENAI_BASE_URL", "SQLAGENT_MODEL")})
        os.environ["SQLAGENT_HISTORY"] = "off"

        async def measure(url: str) -> None:
            with Agent.connect(db) as agent, Agent.connect(db) as served:
                async with (
                    Client(build_server(served)) as memory,
                    stdio_session(db, env) as stdio,
                    http_session(url) as http,
                ):
                    paths = {
                        "Agent.ask (in process)": agent_call(agent),
                        "MCP ask, memory transport": session_call(memory.session),
                        "MCP ask over stdio": session_call(stdio),
                        "MCP ask over HTTP": session_call(http),
                    }
                    for label, question in (("model", QUESTION), ("verified", VERIFIED)):
                        samples = await interleaved(paths, question, args.rounds)
                        rows.extend((label, name, values) for name, values in samples.items())

        with http_server(db, env) as url:
            anyio.run(measure, url)
            wall, latencies, errors = anyio.run(burst, url, args.clients, args.calls)

    print(f"ask latency on the sample database, {args.rounds} rounds each, interleaved (warm)")
    print(f"{'question':<9} {'path':<27} {'median ms':>10} {'p95 ms':>8} {'ratio':>6}")
    base_median = 0.0
    for label, path, samples in rows:
        if path.startswith("Agent"):
            base_median = median_ms(samples)
        ratio = median_ms(samples) / base_median
        print(
            f"{label:<9} {path:<27} {median_ms(samples):>10.2f} {p95_ms(samples):>8.2f} "
            f"{ratio:>6.2f}"
        )
    total = args.clients * args.calls
    print(
        f"\nburst over HTTP: {args.clients} clients x {args.calls} calls = {total} calls "
        f"(ask, verified ask, run_sql, describe_schema in turn) in {wall:.2f} s = "
        f"{total / wall:.0f} calls/s; per call median {median_ms(latencies):.1f} ms, "
        f"p95 {p95_ms(latencies):.1f} ms; {errors} errors"
    )


if __name__ == "__main__":
    main()
