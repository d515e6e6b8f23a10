"""The ``mcp`` command of the command line: serve the agent over the Model Context Protocol.

    sqlagent mcp --db shop.duckdb                     # stdio, for desktop clients
    sqlagent mcp --http --port 8765                   # streamable HTTP on 127.0.0.1
    sqlagent users add alice --attr region=AZ         # a token per user (see `users`)
    sqlagent mcp --http --host 10.0.0.5 --allow-host mcp.example.com
    SQLAGENT_MCP_TOKEN=... sqlagent mcp --http --host 0.0.0.0   # one shared token

The SDK (``pip install 'sqlagent[mcp]'``) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ..settings import Settings

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]

__all__ = ["add_parsers"]

TOKEN_ENV = "SQLAGENT_MCP_TOKEN"
MIN_TOKEN_CHARS = 16


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``mcp`` to ``sub``; returns ``{command: handler}``."""
    from .common import _add_common, seconds

    p = sub.add_parser(
        "mcp",
        help="serve the agent to MCP clients (stdio, or streamable HTTP with --http)",
        description="A Model Context Protocol server with the tools ask, run_sql, "
        "describe_schema and list_verified. stdio by default (for desktop clients); --http "
        "serves http://HOST:PORT/mcp. Each request's bearer token names its user (`sqlagent "
        "users add`), whose role and row filters apply; once the store holds tokens every "
        f"request needs one. ${TOKEN_ENV} is one shared token for the operator. Binding an "
        "address other than loopback needs tokens. Requests whose Host is not this server's "
        "get 421, those from another Origin 403.",
    )
    _add_common(p, json_flag=False)
    p.add_argument("--model", help="model name for ask (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument(
        "--store",
        metavar="FILE|URL",
        help="store holding the users' access tokens (default: $SQLAGENT_STORE, else the "
        "user data dir); see `sqlagent users`",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="H",
        help="another Host clients may use (name or name:port; repeatable); others get 421",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="another Origin that may call (https://app.example.com; repeatable); others get 403",
    )
    return {"mcp": _cmd_mcp}


def _cmd_mcp(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .common import _agent, _settings

    try:
        from ..mcp import server as mcp_server
    except ImportError as exc:
        raise ConfigError(
            f"The MCP server needs the mcp package ({exc}).",
            hint="pip install 'sqlagent[mcp]'",
        ) from None
    mcp_server.log_to_stderr()
    settings = _settings(args)
    if args.store:  # the answers are recorded where the tokens are
        from ..store.backends import is_url

        url = is_url(args.store)
        settings = settings.with_(
            store_url=args.store if url else None, history_path=None if url else args.store
        )
    auth = _authenticator(args, settings, mcp_server) if args.http else None
    # Nothing before the server starts may write to stdout: in stdio mode it is the protocol
    # stream (building the sample database, for one, reports progress).
    with contextlib.redirect_stdout(sys.stderr):
        agent = _agent(args, settings)
    agent.source = "mcp"
    with agent:
        if args.http:
            err.write(f"sqlagent mcp: serving http://{args.host}:{args.port}/mcp\n")
            _serve_metrics(err)
            err.flush()
            assert auth is not None
            app = mcp_server.http_app(
                agent,
                host=args.host,
                port=args.port,
                auth=auth,
                allow_hosts=args.allow_host,
                allow_origins=args.allow_origin,
            )
            mcp_server.run_http(app, host=args.host, port=args.port)
        else:
            from ..access.identity import Identity

            # stdio serves the operating-system user: one the policy refuses is told now.
            agent.for_user(Identity.local())
            mcp_server.run_stdio(agent)
    return 0


def _authenticator(args: argparse.Namespace, settings: Settings, mcp_server: Any) -> Any:
    """Who may call the HTTP server: users with access tokens in the store, and the holder
    of the shared ``SQLAGENT_MCP_TOKEN`` (the operator). Checks the options first."""
    from ..store.backends import StoreError
    from ..store.tokens import TokenStore

    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"{TOKEN_ENV} is too short: use a random secret of at least {MIN_TOKEN_CHARS} "
            "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')."
        )
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, not {args.port}")
    # Checked now, so that a typo is a start-up error rather than every request refused.
    mcp_server.AllowedHosts.for_bind(
        args.host, args.port, extra_hosts=args.allow_host, extra_origins=args.allow_origin
    )
    tokens = TokenStore(settings.store_url or settings.history_path)
    loopback = mcp_server.is_loopback(args.host)
    if not loopback and token is None:
        try:
            has_users = tokens.has_tokens()
        except StoreError as exc:
            raise UsageError(
                f"Binding {args.host} needs the users' tokens, but the store cannot be read: "
                f"{exc.message}"
            ) from None
        if not has_users:
            raise UsageError(
                f"Binding {args.host} makes the server reachable from other machines: add "
                f"users with `sqlagent users add NAME` (each gets a token), or set {TOKEN_ENV} "
                "to one secret that clients send as 'Authorization: Bearer <token>'."
            )
    return mcp_server.Authenticator(tokens=tokens, shared=token, loopback=loopback)


def _serve_metrics(err: TextIO) -> None:
    """The opt-in ``/metrics`` endpoint (``SQLAGENT_METRICS``) beside the HTTP server."""
    from ..observe.metrics import serve_from_env

    server = serve_from_env()
    if server is not None:
        err.write(f"sqlagent mcp: metrics at {server.address}\n")
