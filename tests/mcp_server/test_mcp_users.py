"""``sqlagent mcp --http`` with users: each bearer token is a person whose role and row filters
apply (real server process, real MCP client, real store), revoked and unknown tokens get 401
with nothing run, a store that is down 503, and the Host and Origin rules (421, 403) hold on
every bind."""

from __future__ import annotations

import getpass
import http.client
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import duckdb
import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

from test_mcp_server import (
    EXE,
    free_port,
    http_server,
    http_session,
    server_env,
    stdio_params,
    stdio_session,
    structured,
)

from sqlagent.cli import main
from sqlagent.errors import UsageError
from sqlagent.mcp.server import AllowedHosts
from sqlagent.store.history import HistoryStore
from sqlagent.testing import FakeOpenAIServer

POLICY = """\
roles:
  field:
    denied_columns: [orders.margin]
    row_filters:
      orders: "region = :user.region"
  finance: {}
groups:
  finance: finance
default_role: field
"""

BY_REGION = "SELECT region, COUNT(*) AS n FROM orders GROUP BY region ORDER BY region"
EAST = [["East", 4]]
ALL = [["East", 4], ["North", 3], ["West", 5]]


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """Orders in three regions, a margin column only finance may see, and the policy."""
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE orders (order_id INTEGER, region VARCHAR, amount INTEGER, margin INTEGER)"
    )
    regions = ["East"] * 4 + ["North"] * 3 + ["West"] * 5
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i, r, 10 * i, i) for i, r in enumerate(regions, 1)],
    )
    con.close()
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    return path


def add_user(store: Path | str, name: str, *options: str) -> str:
    """``sqlagent users add``; returns the token it prints."""
    out, err = io.StringIO(), io.StringIO()
    assert main(["users", "add", name, *options, "--store", str(store)], out=out, err=err) == 0, (
        err.getvalue()
    )
    match = re.search(r"^  (sqa_\S+)$", out.getvalue(), re.MULTILINE)
    assert match, out.getvalue()
    return match.group(1)


def users(store: Path | str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["users", *args, "--store", str(store)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def request(
    url: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> tuple[int, dict[str, str], str]:
    """One raw POST (the Host header as given, when given); status, headers, body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    payload = json.dumps(body or initialize()).encode()
    all_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        **headers,
    }
    try:
        conn.putrequest("POST", parts.path, skip_host="Host" in all_headers)
        for name, value in all_headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders(payload)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


def initialize() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }


def call_sql(sql: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "run_sql", "arguments": {"sql": sql}},
    }


def recording_env(model_url: str | None = None) -> dict[str, str]:
    env = server_env(model_url)
    env["SQLAGENT_HISTORY"] = "on"
    return env


def model_reply(request: dict[str, Any]) -> str:
    if request["messages"][0]["content"].startswith("You explain"):
        return "Orders per region."
    return f"```sql\n{BY_REGION}\n```"


# --------------------------------------------------------------------------- who asks


def test_two_tokens_two_people_their_own_rows_schema_and_history(
    shop: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite3"
    alice = add_user(store, "alice", "--attr", "region=East")
    bob = add_user(store, "bob", "--group", "finance")
    with (
        FakeOpenAIServer([model_reply] * 20) as model,
        http_server(shop, "--store", str(store), env=recording_env(model.base_url)) as url,
    ):

        async def as_user(token: str) -> dict[str, Any]:
            async with http_session(url, token) as s:
                sql = structured(await s.call_tool("run_sql", {"sql": BY_REGION}))
                asked = structured(await s.call_tool("ask", {"question": "Orders per region?"}))
                schema = structured(await s.call_tool("describe_schema", {}))
                return {"sql": sql, "ask": asked, "schema": schema}

        async def run() -> dict[str, dict[str, Any]]:
            return {"alice": await as_user(alice), "bob": await as_user(bob)}

        seen = anyio.run(run)
    assert seen["alice"]["sql"]["rows"] == EAST and seen["bob"]["sql"]["rows"] == ALL
    assert seen["alice"]["ask"]["rows"] == EAST and seen["bob"]["ask"]["rows"] == ALL
    # The row filter is in the checked SQL alice's query ran with, not in bob's.
    assert "East" in (seen["alice"]["sql"]["sql"] or "")
    assert "East" not in (seen["bob"]["sql"]["sql"] or "")
    assert "margin" not in seen["alice"]["schema"]["context"]
    assert "margin" in seen["bob"]["schema"]["context"]
    history = HistoryStore(store)
    mine = history.list(user="alice")
    assert {(e.asked_by, e.role, e.source) for e in mine} == {("alice", "field", "mcp")}
    assert len(mine) == 2  # run_sql and ask
    assert {(e.asked_by, e.role) for e in history.list(user="bob")} == {("bob", "finance")}
    listed = {t["user"]: t for t in map(json.loads, users(store, "list", "--json")[1].splitlines())}
    assert listed["alice"]["last_used_at"] and listed["bob"]["last_used_at"]


def test_concurrent_requests_of_two_people_never_mix(shop: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    tokens = {
        "alice": add_user(store, "alice", "--attr", "region=East"),
        "wes": add_user(store, "wes", "--attr", "region=West"),
        "bob": add_user(store, "bob", "--group", "finance"),
    }
    expected = {"alice": EAST, "wes": [["West", 5]], "bob": ALL}
    calls = 15
    with http_server(shop, "--store", str(store)) as url:
        wrong: list[tuple[str, Any]] = []
        done: list[str] = []

        async def client(name: str) -> None:
            async with http_session(url, tokens[name]) as s:
                for _ in range(calls):
                    out = structured(await s.call_tool("run_sql", {"sql": BY_REGION}))
                    if out["rows"] != expected[name]:
                        wrong.append((name, out["rows"]))
                    done.append(name)

        async def run() -> None:
            async with anyio.create_task_group() as tg:
                for name in tokens:
                    for _ in range(2):  # two sessions each, all at once
                        tg.start_soon(client, name)

        anyio.run(run)
    assert wrong == []
    assert len(done) == len(tokens) * 2 * calls


def test_revoked_and_unknown_tokens_get_401_and_nothing_runs(shop: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    alice = add_user(store, "alice", "--attr", "region=East")
    gone = add_user(store, "gone", "--attr", "region=West")
    code, out, _ = users(store, "revoke", "gone")
    assert code == 0 and "Revoked token" in out
    with http_server(shop, "--store", str(store), env=recording_env()) as url:
        status, headers, _ = request(url, {"Authorization": f"Bearer {alice}"})
        assert status == 200
        session = headers["mcp-session-id"]
        unknown = "sqa_000000000000_" + "A" * 43
        for header in (f"Bearer {gone}", f"Bearer {unknown}", "Bearer nonsense", gone):
            for body in (initialize(), call_sql("SELECT 1 AS one")):
                status, headers, text = request(
                    url, {"Authorization": header, "Mcp-Session-Id": session}, body
                )
                assert status == 401, (header, text)
                assert headers["www-authenticate"].startswith("Bearer")
        # On loopback too: once the store has tokens, a request without one is refused.
        status, headers, _ = request(url, {})
        assert status == 401 and "www-authenticate" in headers
        # A token revoked while the server runs is refused from the next request on.
        assert users(store, "revoke", "alice")[0] == 0
        status, _, _ = request(
            url,
            {"Authorization": f"Bearer {alice}", "Mcp-Session-Id": session},
            call_sql("SELECT 2 AS two"),
        )
        assert status == 401
    assert HistoryStore(store).count() == 0  # nothing ran, nothing was recorded


def test_a_session_stays_with_the_person_who_opened_it(shop: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    alice = add_user(store, "alice", "--attr", "region=East")
    bob = add_user(store, "bob", "--group", "finance")
    with http_server(shop, "--store", str(store)) as url:
        status, headers, _ = request(url, {"Authorization": f"Bearer {alice}"})
        assert status == 200
        status, _, text = request(
            url,
            {"Authorization": f"Bearer {bob}", "Mcp-Session-Id": headers["mcp-session-id"]},
            call_sql(BY_REGION),
        )
        assert status == 403 and "another user" in text


def test_a_store_that_cannot_be_read_is_503_never_anonymous(shop: Path) -> None:
    port = free_port()  # nothing listens there
    store = f"postgresql+psycopg://postgres@127.0.0.1:{port}/sqlagent"
    with http_server(shop, "--store", store) as url:
        status, headers, text = request(url, {})
        assert status == 503 and "cannot be reached" in text
        assert headers.get("retry-after") == "5"
        token = "sqa_0123456789ab_" + "A" * 43
        assert request(url, {"Authorization": f"Bearer {token}"})[0] == 503


def test_the_shared_token_is_the_operator_beside_per_user_tokens(
    shop: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite3"
    alice = add_user(store, "alice", "--attr", "region=East")
    shared = "shared-operator-secret-123"
    env = recording_env()
    env["SQLAGENT_MCP_TOKEN"] = shared
    # The policy's default role applies to the operator, who has no region: only the row
    # filter's attribute is missing, so give the operator the finance role by name.
    (shop.parent / "policy.yaml").write_text(
        POLICY + f"users:\n  {getpass.getuser()}: finance\n", encoding="utf-8"
    )
    with http_server(shop, "--store", str(store), env=env) as url:

        async def run() -> tuple[Any, Any]:
            async with http_session(url, shared) as s:
                operator = structured(await s.call_tool("run_sql", {"sql": BY_REGION}))["rows"]
            async with http_session(url, alice) as s:
                mine = structured(await s.call_tool("run_sql", {"sql": BY_REGION}))["rows"]
            return operator, mine

        operator, mine = anyio.run(run)
        assert request(url, {})[0] == 401
    assert operator == ALL and mine == EAST
    asked = {e.asked_by for e in HistoryStore(store).list()}
    assert asked == {getpass.getuser(), "alice"}


# --------------------------------------------------------------------------- Host and Origin


def test_foreign_host_421_foreign_origin_403_on_loopback(shop: Path) -> None:
    extra = ("--allow-host", "mcp.example.com", "--allow-origin", "https://app.example.com")
    with http_server(shop, *extra) as url:
        port = urlsplit(url).port
        assert request(url, {"Host": f"evil.example:{port}"})[0] == 421
        assert request(url, {"Host": f"127.0.0.1:{port + 1}"})[0] == 421
        assert request(url, {"Origin": "http://evil.example"})[0] == 403
        assert request(url, {"Origin": f"http://evil.example:{port}"})[0] == 403
        assert request(url, {"Origin": "null"})[0] == 403
        # The server's own names and origins, and those allowed by option.
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "mcp.example.com"):
            assert request(url, {"Host": host})[0] == 200, host
        for origin in (f"http://localhost:{port}", "https://app.example.com"):
            assert request(url, {"Origin": origin})[0] == 200, origin
        # Checked before the token: a rebinding page learns nothing about the auth.
        status, _, text = request(url, {"Host": "evil.example", "Authorization": "Bearer x"})
        assert status == 421 and "Host" in text


def test_host_and_origin_are_checked_on_a_public_bind_too(shop: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    alice = add_user(store, "alice", "--attr", "region=East")
    # A public bind with users in the store needs no shared token.
    with http_server(shop, "--host", "0.0.0.0", "--store", str(store)) as url:
        port = urlsplit(url).port
        auth = {"Authorization": f"Bearer {alice}"}
        assert request(url, {**auth, "Host": f"127.0.0.1:{port}"})[0] == 200
        assert request(url, {**auth, "Host": f"attacker.example:{port}"})[0] == 421
        assert request(url, {**auth, "Origin": "https://attacker.example"})[0] == 403
        assert request(url, {"Host": f"127.0.0.1:{port}"})[0] == 401


def test_allowed_hosts_defaults_and_options() -> None:
    loop = AllowedHosts.for_bind("127.0.0.1", 8765)
    assert {h for h in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765") if loop.host_ok(h)} == {
        "localhost:8765",
        "127.0.0.1:8765",
        "[::1]:8765",
    }
    assert not loop.host_ok("localhost:8766") and not loop.host_ok("localhost")
    assert not loop.host_ok(None) and not loop.host_ok("evil.com:8765")
    assert loop.origin_ok("http://localhost:8765") and loop.origin_ok("HTTP://LocalHost:8765/")
    assert not loop.origin_ok("http://localhost:9999") and not loop.origin_ok("file://")
    bound = AllowedHosts.for_bind(
        "10.1.2.3", 80, extra_hosts=["MCP.example.com", "::1"], extra_origins=["https://a.b:444"]
    )
    assert bound.host_ok("10.1.2.3") and bound.host_ok("10.1.2.3:80")
    assert not bound.host_ok("localhost:80")
    assert bound.host_ok("mcp.example.com") and bound.host_ok("mcp.example.com:8443")
    assert bound.host_ok("[::1]:80") and bound.origin_ok("https://a.b:444")
    assert not bound.origin_ok("https://a.b")
    v6 = AllowedHosts.for_bind("::1", 9000)
    assert v6.host_ok("[::1]:9000") and v6.host_ok("localhost:9000")
    for bad in ("http://x.com", "x.com/path", "a b", ""):
        with pytest.raises(UsageError, match="--allow-host"):
            AllowedHosts.for_bind("127.0.0.1", 1, extra_hosts=[bad])
    for bad in ("app.example.com", "https://a.com/path", "ftp://a.com"):
        with pytest.raises(UsageError, match="--allow-origin"):
            AllowedHosts.for_bind("127.0.0.1", 1, extra_origins=[bad])
    # The SDK's own check is given the same rules.
    sdk = loop.sdk_settings()
    assert sdk.enable_dns_rebinding_protection and "127.0.0.1:8765" in sdk.allowed_hosts


def run_mcp(*args: str) -> subprocess.CompletedProcess[str]:
    """``sqlagent mcp ARGS`` to its end (a start-up error), stdin closed."""
    return subprocess.run(
        [EXE, "mcp", *args],
        capture_output=True,
        text=True,
        env=server_env(),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_bad_allow_options_are_a_startup_error(shop: Path) -> None:
    proc = run_mcp("--db", str(shop), "--http", "--allow-origin", "app.example.com")
    assert proc.returncode == 2 and "--allow-origin takes an origin" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stdio_answers_as_the_operating_system_user(shop: Path, tmp_path: Path) -> None:

    store = tmp_path / "store.sqlite3"
    (shop.parent / "policy.yaml").write_text(
        POLICY + f"users:\n  {getpass.getuser()}: {{role: field, region: North}}\n",
        encoding="utf-8",
    )

    async def run() -> Any:
        params = stdio_params(shop, "--store", str(store), env=recording_env())
        async with stdio_session(params) as s:
            return structured(await s.call_tool("run_sql", {"sql": BY_REGION}))["rows"]

    assert anyio.run(run) == [["North", 3]]
    [entry] = HistoryStore(store).list()
    assert (entry.asked_by, entry.role) == (getpass.getuser(), "field")


def test_stdio_refuses_at_start_an_operating_system_user_without_a_role(shop: Path) -> None:
    (shop.parent / "policy.yaml").write_text(POLICY.replace("default_role: field\n", ""))
    proc = run_mcp("--db", str(shop), "--policy", str(shop.parent / "policy.yaml"))
    assert proc.returncode == 1 and "holds no role" in proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
