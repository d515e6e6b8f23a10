"""The ``users`` command: access tokens for the MCP server's HTTP transport.

    sqlagent users add alice@example.com --group sales --attr region=AZ
    sqlagent users list
    sqlagent users revoke alice@example.com        # or a token's id

Tokens live in the store (``--store``, else ``$SQLAGENT_STORE``, else the local history file),
as hashes: ``add`` prints a token once. ``sqlagent mcp --http`` reading the same store maps each
request's bearer token to its user, whose role and row filters the policy file gives.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..store.tokens import TokenStore

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]

__all__ = ["add_parsers", "store_location"]

EXIT_OK = 0


def store_location(args: argparse.Namespace) -> str | None:
    """``--store``, else ``$SQLAGENT_STORE``, else None (the local history file)."""
    return getattr(args, "store", None) or os.environ.get("SQLAGENT_STORE") or None


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``users`` to ``sub``; returns ``{command: handler}``."""
    p = sub.add_parser(
        "users",
        help="access tokens of the MCP server's users: add, list, revoke",
        description="Each user of `sqlagent mcp --http` gets an access token; the policy "
        "file's roles and row filters apply to them by name, groups and attributes. Tokens "
        "are kept hashed in the store: add prints one once.",
    )
    store_help = "store file or URL (default: $SQLAGENT_STORE, else the user data dir)"
    p.add_argument("--store", metavar="FILE|URL", help=store_help)
    actions = p.add_subparsers(dest="users_command", metavar="ACTION")
    add = actions.add_parser("add", help="make a token for a user (printed once)")
    add.add_argument("name", help="the user's name, as the policy file's users section knows it")
    add.add_argument(
        "--group", action="append", default=[], metavar="G", help="a group (repeatable)"
    )
    add.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="K=V",
        help="an attribute row filters read as :user.K (repeatable)",
    )
    add.add_argument("--store", metavar="FILE|URL", default=argparse.SUPPRESS, help=store_help)
    ls = actions.add_parser("list", help="the tokens (no secrets), oldest first")
    ls.add_argument("--json", action="store_true", help="one JSON object a line")
    ls.add_argument("--store", metavar="FILE|URL", default=argparse.SUPPRESS, help=store_help)
    rv = actions.add_parser("revoke", help="revoke a token by id, or every token of a user")
    rv.add_argument("key", metavar="ID|NAME", help="a token id, or a user name")
    rv.add_argument("--store", metavar="FILE|URL", default=argparse.SUPPRESS, help=store_help)
    return {"users": _cmd_users}


def _cmd_users(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..store.tokens import TokenStore

    action = args.users_command or "list"
    tokens = TokenStore(store_location(args))
    # Errors (bad input, a store that cannot be reached) go up to main, which prints them.
    if action == "add":
        return _add(tokens, args, out)
    if action == "revoke":
        return _revoke(tokens, args, out)
    return _list(tokens, args, out)


def _add(tokens: TokenStore, args: argparse.Namespace, out: TextIO) -> int:
    from ..store.tokens import parse_attributes

    attributes = parse_attributes(args.attr)
    record, token = tokens.add(args.name, groups=args.group, attributes=attributes)
    out.write(
        f"Access token for {record.user} (id {record.id}), shown only this once:\n\n"
        f"  {token}\n\n"
        "MCP clients send it to `sqlagent mcp --http` as the header\n"
        "  Authorization: Bearer <token>\n"
        f"Revoke it with `sqlagent users revoke {record.id}`. Store: {tokens.location}\n"
    )
    return EXIT_OK


def _list(tokens: TokenStore, args: argparse.Namespace, out: TextIO) -> int:
    from .common import format_table
    from .eval import _local_time

    records = tokens.list()
    if getattr(args, "json", False):
        for record in records:
            out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK
    if not records:
        out.write(
            f"No access tokens in {tokens.location}. Add one with `sqlagent users add NAME`.\n"
        )
        return EXIT_OK
    rows = [
        (
            r.id,
            r.user,
            ", ".join(r.groups),
            ", ".join(f"{k}={v}" for k, v in r.attributes.items()),
            _local_time(r.created_at),
            _local_time(r.last_used_at) if r.last_used_at else "",
            _local_time(r.revoked_at) if r.revoked_at else "",
        )
        for r in records
    ]
    columns = ("id", "user", "groups", "attributes", "created", "last used", "revoked")
    out.write(format_table(columns, rows, limit=len(rows)) + "\n")
    return EXIT_OK


def _revoke(tokens: TokenStore, args: argparse.Namespace, out: TextIO) -> int:
    revoked = tokens.revoke(args.key)
    if not revoked:
        out.write(f"Nothing to revoke: {args.key}'s tokens are revoked already.\n")
        return EXIT_OK
    for record in revoked:
        out.write(f"Revoked token {record.id} of {record.user}.\n")
    return EXIT_OK
