"""The ``mcp`` command of the command line: serve the agent over the Model Context Protocol.

    sqlagent mcp --db shop.duckdb                     # stdio, for desktop clients
    sqlagent mcp --http --port 8765                   # streamable HTTP on 127.0.0.1
    SQLAGENT_MCP_TOKEN=... sqlagent mcp --http --host 0.0.0.0

The SDK (``pip install 'sqlagent[mcp]'``) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from typing import TextIO

from ..errors import ConfigError, UsageError

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
        "serves http://HOST:PORT/mcp. Binding an address other than loopback needs a bearer "
        f"token in ${TOKEN_ENV}, which every request must then send.",
    )
    _add_common(p, json_flag=False)
    p.add_argument("--model", help="model name for ask (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
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
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if args.http:  # stdio has no network side: the token is for HTTP only
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise UsageError(
                f"{TOKEN_ENV} is too short: use a random secret of at least {MIN_TOKEN_CHARS} "
                "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')."
            )
        if not 0 < args.port < 65536:
            raise UsageError(f"--port must be between 1 and 65535, not {args.port}")
        if not mcp_server.is_loopback(args.host) and token is None:
            raise UsageError(
                f"Binding {args.host} makes the server reachable from other machines: set "
                f"{TOKEN_ENV} to a secret that clients send as 'Authorization: Bearer <token>'."
            )
    settings = _settings(args)
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
            mcp_server.run_http(agent, host=args.host, port=args.port, token=token)
        else:
            mcp_server.run_stdio(agent)
    return 0


def _serve_metrics(err: TextIO) -> None:
    """The opt-in ``/metrics`` endpoint (``SQLAGENT_METRICS``) beside the HTTP server."""
    from ..observe.metrics import serve_from_env

    server = serve_from_env()
    if server is not None:
        err.write(f"sqlagent mcp: metrics at {server.address}\n")
