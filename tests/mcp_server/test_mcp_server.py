"""``sqlagent mcp`` through the real MCP SDK client: stdio and streamable HTTP, every tool, bad
input, the policy, bearer auth and a concurrent burst. The server always runs as a separate
``sqlagent mcp`` process, as an MCP client would start it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest

mcp = pytest.importorskip("mcp", reason="the mcp extra is not installed")

from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from sqlagent.testing import FakeOpenAIServer  # noqa: E402

EXE = str(Path(sys.executable).with_name("sqlagent"))
VERIFIED_Q = "How many customers live in Phoenix?"
VERIFIED_SQL = "SELECT COUNT(*) AS customers FROM customers WHERE city = 'Phoenix'"
TOOLS = {"ask", "run_sql", "describe_schema", "list_verified"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """A small DuckDB file with a column the policy will deny, and its knowledge file."""
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR, "
        "city VARCHAR, ssn_secret VARCHAR)"
    )
    con.execute(
        "INSERT INTO customers SELECT i, 'name ' || i, CASE WHEN i % 3 = 0 THEN 'Phoenix' "
        "ELSE 'Tucson' END, 'SSN-' || i FROM range(1, 301) t(i)"
    )
    con.execute("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, amount DOUBLE)")
    con.execute("INSERT INTO orders SELECT i, 1 + i % 300, i * 1.5 FROM range(1, 1001) t(i)")
    con.close()
    (tmp_path / "shop.knowledge.yaml").write_text(
        "verified:\n"
        f"  - question: {VERIFIED_Q}\n"
        f'    sql: "{VERIFIED_SQL}"\n'
        "  - question: Which customer has the secret SSN-3?\n"
        "    sql: \"SELECT name FROM customers WHERE ssn_secret = 'SSN-3'\"\n"
    )
    (tmp_path / "policy.yaml").write_text("denied_columns: [customers.ssn_secret]\nmax_rows: 200\n")
    return path


def server_env(model_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env["SQLAGENT_HISTORY"] = "off"
    env["SQLAGENT_HOME"] = os.environ["SQLAGENT_HOME"]
    if model_url:
        env["OPENAI_BASE_URL"] = model_url
        env["SQLAGENT_MODEL"] = "fake-model"
    env.update(extra)
    return env


def stdio_params(db: Path, *args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=EXE,
        args=["mcp", "--db", str(db), "--policy", str(db.parent / "policy.yaml"), *args],
        env=env or server_env(),
    )


@contextlib.asynccontextmanager
async def stdio_session(params: StdioServerParameters) -> AsyncIterator[ClientSession]:
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(getattr(c, "text", "") for c in result.content)


def checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_reply(request: dict[str, Any]) -> str:
    """The fake model: SQL for a generation call, a sentence for a narration call, chosen by
    the question, so any number of concurrent calls get the right reply in any order."""
    messages = request["messages"]
    system = messages[0]["content"]
    prompt = messages[-1]["content"]
    if system.startswith("You explain"):
        return "Narrated: the result is shown."
    if "secret" in prompt:
        return "```sql\nSELECT ssn_secret FROM customers\n```"
    if "biggest" in prompt:
        return "CLARIFY: Biggest by what?\n- by order count\n- by total amount"
    if "weather" in prompt:
        return "CANNOT ANSWER: the database has no weather data."
    return "```sql\nSELECT city, COUNT(*) AS n FROM customers GROUP BY city ORDER BY city\n```"


@pytest.fixture()
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer([model_reply] * 2000) as server:
        yield server


# --------------------------------------------------------------------------- stdio


def test_stdio_lists_tools_with_output_schemas_and_calls_each(shop: Path) -> None:
    async def main() -> None:
        async with stdio_session(stdio_params(shop)) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert tool.output_schema and tool.output_schema.get("properties"), tool.name
                assert len(tool.description or "") > 100, tool.name
            assert tools["ask"].output_schema["properties"]["kind"]["enum"] == [
                "result",
                "clarification",
                "refusal",
                "error",
            ]

            out = structured(
                await s.call_tool(
                    "run_sql",
                    {"sql": "SELECT order_id FROM orders ORDER BY order_id", "max_rows": 5},
                )
            )
            assert out["kind"] == "result" and out["columns"] == ["order_id"]
            assert out["rows"] == [[1], [2], [3], [4], [5]]
            # The policy's max_rows (200) bounds the query; max_rows what comes back.
            assert out["row_count"] == 200 and out["truncated"] is True

            out = structured(await s.call_tool("ask", {"question": VERIFIED_Q}))
            assert out["kind"] == "result" and out["verified"] is True
            assert out["rows"] == [[100]] and out["truncated"] is False

            out = structured(await s.call_tool("describe_schema", {}))
            assert out["dialect"] == "duckdb" and out["total_tables"] == 2
            assert "CREATE TABLE orders" in out["context"]
            out = structured(await s.call_tool("describe_schema", {"question": VERIFIED_Q}))
            assert out["verified_sql"] == VERIFIED_SQL

            out = structured(await s.call_tool("list_verified", {}))
            # The example reading the denied column is left out.
            assert out["verified"] == [{"question": VERIFIED_Q, "sql": VERIFIED_SQL}]

            resources = (await s.list_resources()).resources
            assert [str(r.uri) for r in resources] == ["schema://context"]
            content = (await s.read_resource("schema://context")).contents[0]
            assert "CREATE TABLE customers" in content.text

    anyio.run(main)


def test_stdio_without_a_model_answers_verified_and_says_how_to_configure(shop: Path) -> None:
    async def main() -> None:
        async with stdio_session(stdio_params(shop)) as s:
            text = error_text(await s.call_tool("ask", {"question": "Total order amount?"}))
            assert "No language model is configured" in text and "OPENAI_BASE_URL" in text
            # The server is still there, and needs no model for the rest.
            assert structured(await s.call_tool("ask", {"question": VERIFIED_Q}))["rows"] == [[100]]
            out = structured(await s.call_tool("run_sql", {"sql": "SELECT 1 AS one"}))
            assert out["rows"] == [[1]]

    anyio.run(main)


def test_stdio_ask_with_a_model_result_clarification_refusal(shop: Path, model) -> None:
    async def main() -> None:
        params = stdio_params(shop, env=server_env(model.base_url))
        async with stdio_session(params) as s:
            out = structured(await s.call_tool("ask", {"question": "Customers per city?"}))
            assert out["kind"] == "result" and out["verified"] is False
            assert out["rows"] == [["Phoenix", 100], ["Tucson", 200]]
            assert out["narrative"] == "Narrated: the result is shown."
            assert out["sql"].startswith("SELECT city, COUNT(*)")

            out = structured(await s.call_tool("ask", {"question": "Who is the biggest customer?"}))
            assert out["kind"] == "clarification" and out["clarification"] == "Biggest by what?"
            assert out["options"] == ["by order count", "by total amount"]

            out = structured(await s.call_tool("ask", {"question": "What was the weather?"}))
            assert out["kind"] == "refusal"
            assert out["refusal_reason"] == "the database has no weather data."

    anyio.run(main)


def test_bad_input_is_a_tool_error_and_the_server_lives_on(shop: Path) -> None:
    async def main() -> None:
        async with stdio_session(stdio_params(shop)) as s:
            text = error_text(await s.call_tool("ask", {}))
            assert text == "Invalid arguments for ask: question: Field required."
            text = error_text(await s.call_tool("run_sql", {"sql": 42}))
            assert text == "Invalid arguments for run_sql: sql: Input should be a valid string."
            text = error_text(await s.call_tool("ask", {"question": "x" * 1_000_000}))
            assert "question: String should have at most 4000 characters" in text
            assert "xxx" not in text  # the input is not echoed back
            text = error_text(await s.call_tool("run_sql", {"sql": "   "}))
            assert "empty" in text
            text = error_text(await s.call_tool("run_sql", {"sql": "SELECT 1", "max_rows": 0}))
            assert "max_rows: Input should be greater than or equal to 1" in text
            text = error_text(await s.call_tool("drop_everything", {}))
            assert "Unknown tool 'drop_everything'" in text and "run_sql" in text
            out = structured(await s.call_tool("run_sql", {"sql": "SELECT 2 AS two"}))
            assert out["rows"] == [[2]]

    anyio.run(main)


def test_stdout_is_only_json_rpc_even_for_bad_messages(shop: Path) -> None:
    """Raw bytes on the wire: every stdout line is a JSON-RPC message, nothing else."""
    lines: list[Any] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "run_sql", "arguments": {"sql": "SELECT * FROM nowhere"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "ask", "arguments": {"question": ["not", "text"]}},
        },
        {"jsonrpc": "2.0", "id": 4, "method": "no/such/method", "params": {}},
        {
            "jsonrpc": "2.0",
            "id": 6,
            "method": "tools/call",
            "params": {"name": "run_sql", "arguments": [1, 2]},
        },
        "this line is not JSON",
        {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": "run_sql", "arguments": {"sql": "SELECT 5 AS five"}},
        },
    ]
    text = "\n".join(m if isinstance(m, str) else json.dumps(m) for m in lines) + "\n"
    params = stdio_params(shop)
    proc = subprocess.Popen(
        [params.command, *params.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=params.env,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(text)
        proc.stdin.flush()
        replies: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while not {2, 3, 4, 5, 6} <= set(replies) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the server closed stdout"
            message = json.loads(line)  # raises on anything that is not JSON
            assert message["jsonrpc"] == "2.0"
            if "id" in message:
                replies[message["id"]] = message
        assert replies[5]["result"]["structuredContent"]["rows"] == [[5]]
        assert replies[2]["result"]["structuredContent"]["error"]["type"] == "UnknownTable"
        assert replies[3]["result"]["isError"] is True
        assert "error" in replies[4]
        assert "error" in replies[6] or replies[6]["result"]["isError"] is True
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=20)
        stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr


def test_denied_column_never_appears_in_any_output(shop: Path, model) -> None:
    async def main() -> None:
        params = stdio_params(shop, env=server_env(model.base_url))
        seen: list[str] = []
        async with stdio_session(params) as s:
            calls = [
                ("run_sql", {"sql": "SELECT ssn_secret FROM customers"}),
                ("run_sql", {"sql": "SELECT name FROM customers WHERE ssn_secret = 'SSN-3'"}),
                ("run_sql", {"sql": "SELECT ssn_secre FROM customers"}),
                ("run_sql", {"sql": "SELECT * FROM customers"}),
                ("ask", {"question": "Show the secret of every customer"}),
                ("ask", {"question": "List customers.ssn_secret, the secret"}),
                ("describe_schema", {}),
                ("describe_schema", {"question": "customer ssn_secret"}),
                ("list_verified", {}),
            ]
            for name, args in calls:
                result = await s.call_tool(name, args)
                seen.append(json.dumps(result.structured_content) + error_or_empty(result))
            content = (await s.read_resource("schema://context")).contents[0]
            seen.append(content.text)
        for text in seen:
            # Not even in the echoed SQL of a refused query, the caller's or the model's.
            assert "ssn_secret" not in text.lower(), text
            # No value of it either ('SSN-3' is the caller's own literal).
            assert "SSN-1" not in text and "SSN-2" not in text, text

    anyio.run(main)


def error_or_empty(result: Any) -> str:
    return error_text(result) if result.is_error else ""


def test_destructive_statements_are_refused_and_the_file_is_unchanged(shop: Path) -> None:
    before = checksum(shop)

    async def main() -> None:
        async with stdio_session(stdio_params(shop)) as s:
            for sql in (
                "DROP TABLE customers",
                "DELETE FROM orders",
                "UPDATE customers SET name = 'x'",
                "INSERT INTO orders VALUES (1, 1, 1)",
                "CREATE TABLE t AS SELECT 1",
                "SELECT 1; DROP TABLE orders",
                "COPY orders TO '/tmp/x.csv'",
                "ATTACH 'other.duckdb'",
            ):
                out = structured(await s.call_tool("run_sql", {"sql": sql}))
                assert out["kind"] == "error" and out["rows"] == [], sql
                assert out["error"]["type"] in {"UnsafeSQL", "SQLParseError"}, out
            out = structured(await s.call_tool("run_sql", {"sql": "SELECT COUNT(*) FROM orders"}))
            assert out["rows"] == [[1000]]

    anyio.run(main)
    assert checksum(shop) == before


def test_the_statement_timeout_applies_to_the_callers_sql(shop: Path) -> None:
    async def main() -> None:
        async with stdio_session(stdio_params(shop, "--timeout", "0.5")) as s:
            started = time.monotonic()
            sql = "SELECT COUNT(*) FROM orders a, orders b, orders c, orders d"
            out = structured(await s.call_tool("run_sql", {"sql": sql}))
            assert time.monotonic() - started < 15
            assert out["kind"] == "error" and out["error"]["type"] == "QueryTimeout", out
            out = structured(await s.call_tool("run_sql", {"sql": "SELECT 6 AS six"}))
            assert out["rows"] == [[6]]

    anyio.run(main)


def test_a_missing_database_is_a_clear_startup_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [EXE, "mcp", "--db", str(tmp_path / "nope.duckdb")],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_server(db: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``sqlagent mcp --http`` in a subprocess; yields its URL on 127.0.0.1."""
    port = free_port()
    params = stdio_params(db, "--http", "--port", str(port), *args, env=env)
    proc = subprocess.Popen(
        [params.command, *params.args],
        env=params.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {proc.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr, stderr


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    import httpx2

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def test_http_serves_the_same_tools(shop: Path) -> None:
    with http_server(shop) as url:

        async def main() -> None:
            async with http_session(url) as s:
                assert {t.name for t in (await s.list_tools()).tools} == TOOLS
                out = structured(await s.call_tool("ask", {"question": VERIFIED_Q}))
                assert out["rows"] == [[100]]
                text = error_text(await s.call_tool("ask", {"question": "y" * 1_000_000}))
                assert "at most 4000 characters" in text
                out = structured(await s.call_tool("run_sql", {"sql": "SELECT 3 AS three"}))
                assert out["rows"] == [[3]]

        anyio.run(main)


def post_initialize(url: str, headers: dict[str, str]) -> int:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_public_bind_needs_a_token(shop: Path) -> None:
    proc = subprocess.run(
        [EXE, "mcp", "--db", str(shop), "--http", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and "SQLAGENT_MCP_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_port_in_use_is_a_clear_error(shop: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [EXE, "mcp", "--db", str(shop), "--http", "--port", str(port)],
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=60,
        )
    assert proc.returncode == 2 and "Could not serve on 127.0.0.1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_short_token_is_refused(shop: Path) -> None:
    proc = subprocess.run(
        [EXE, "mcp", "--db", str(shop), "--http", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=server_env(SQLAGENT_MCP_TOKEN="short"),
        timeout=60,
    )
    assert proc.returncode == 2 and "too short" in proc.stderr


def test_with_a_token_requests_without_it_get_401(shop: Path) -> None:
    token = "s3cret-token-for-tests"
    env = server_env(SQLAGENT_MCP_TOKEN=token)
    # Bound on every address, but only ever reached through 127.0.0.1.
    with http_server(shop, "--host", "0.0.0.0", env=env) as url:
        assert post_initialize(url, {}) == 401
        assert post_initialize(url, {"Authorization": "Bearer wrong"}) == 401
        assert post_initialize(url, {"Authorization": token}) == 401
        assert post_initialize(url, {"Authorization": f"Bearer {token}"}) == 200

        async def main() -> None:
            async with http_session(url, token) as s:
                out = structured(await s.call_tool("run_sql", {"sql": "SELECT 4 AS four"}))
                assert out["rows"] == [[4]]

        anyio.run(main)


def test_concurrent_burst_of_clients(shop: Path, model) -> None:
    """8 clients × 25 calls at once over HTTP: every call answered correctly."""
    clients, calls = 8, 25
    env = server_env(model.base_url)
    with http_server(shop, env=env) as url:
        results: list[tuple[str, dict[str, Any]]] = []
        failures: list[str] = []

        async def client(index: int) -> None:
            async with http_session(url) as s:
                for i in range(calls):
                    which = (index + i) % 4
                    if which == 0:
                        r = await s.call_tool("ask", {"question": "Customers per city?"})
                        name = "ask"
                    elif which == 1:
                        r = await s.call_tool("ask", {"question": VERIFIED_Q})
                        name = "verified"
                    elif which == 2:
                        r = await s.call_tool(
                            "run_sql",
                            {"sql": f"SELECT COUNT(*) FROM orders WHERE order_id <= {i + 1}"},
                        )
                        name = f"sql{i + 1}"
                    else:
                        r = await s.call_tool("describe_schema", {"question": "orders"})
                        name = "schema"
                    if r.is_error:
                        failures.append(error_text(r))
                    else:
                        results.append((name, r.structured_content))

        async def main() -> None:
            async with anyio.create_task_group() as tg:
                for index in range(clients):
                    tg.start_soon(client, index)

        started = time.monotonic()
        anyio.run(main)
        elapsed = time.monotonic() - started
    assert failures == []
    assert len(results) == clients * calls
    for name, out in results:
        if name == "ask":
            assert out["rows"] == [["Phoenix", 100], ["Tucson", 200]]
        elif name == "verified":
            assert out["rows"] == [[100]] and out["verified"]
        elif name.startswith("sql"):
            assert out["rows"] == [[int(name[3:])]]
        else:
            assert "CREATE TABLE orders" in out["context"]
    print(f"burst: {clients} clients x {calls} calls in {elapsed:.2f} s")


def test_the_sdk_is_imported_only_by_the_mcp_command() -> None:
    code = (
        "import sys, sqlagent, sqlagent.cli, sqlagent.cli.mcp\n"
        "sqlagent.cli.build_parser()\n"
        "assert not any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules), 'mcp imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_scrubber_removes_denied_names_but_not_visible_ones() -> None:
    from sqlagent.mcp.server import Scrubber
    from sqlagent.types import ColumnInfo, SchemaInfo, TableInfo

    def table(name: str, *columns: str) -> TableInfo:
        return TableInfo(name, tuple(ColumnInfo(c, "VARCHAR") for c in columns))

    full = SchemaInfo(
        "duckdb",
        (
            table("users", "id", "email", "salary"),
            table("leads", "email"),
            table("payroll_audit", "id", "amount_paid"),
        ),
    )
    # users.email, users.salary and the table payroll_audit denied; leads.email visible.
    visible = SchemaInfo("duckdb", (table("users", "id"), table("leads", "email")))
    scrub = Scrubber(full, visible)
    assert scrub('Column users.email and "SALARY" are hidden') == (
        "Column [denied] and [denied] are hidden"
    )
    assert scrub("leads.email and email stay; salary_band stays") == (
        "leads.email and email stay; salary_band stays"
    )
    assert scrub("payroll_audit.amount_paid, amount_paid, payroll_audit.id") == (
        "[denied], [denied], [denied]"
    )
    assert scrub("FROM payroll_audit WHERE id = 1") == "FROM [denied] WHERE id = 1"
    assert scrub(None) is None
    assert Scrubber(full, full)("users.email") == "users.email"
