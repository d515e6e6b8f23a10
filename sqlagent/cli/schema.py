"""``sqlagent schema``: what the agent sees of the database, optionally for one question."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..errors import ConfigError, ConnectionFailed, UsageError
from .common import EXIT_OK, EXIT_USAGE, _agent, _emit_json, _print_error, _settings


def _cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        settings = _settings(args)
        with _agent(args, settings) as agent:
            context = agent.context(args.question or "")
            schema = agent.schema()
            verified = agent.knowledge().match_verified(args.question or "")
    except (UsageError, ConfigError, ConnectionFailed) as exc:
        _print_error(exc, err)
        return EXIT_USAGE
    if args.json:
        _emit_json(
            {
                "dialect": schema.dialect,
                "tables": list(context.tables),
                "tokens": context.tokens,
                "context": context.text,
                "notes": list(context.notes),
                "verified_sql": verified.sql if verified else None,
            },
            out,
        )
    else:
        out.write(context.text + "\n")
        for note in context.notes:
            out.write(note + "\n")
        if verified is not None:
            out.write(
                "\n-- The question matches a verified one: it is answered with this SQL, "
                "without a generation call:\n"
                + "".join(f"--   {line}\n" for line in verified.sql.splitlines())
            )
        out.write(
            f"\n-- {len(context.tables)} of {len(schema.tables)} tables, "
            f"~{context.tokens:,} tokens, dialect {schema.dialect}\n"
        )
    return EXIT_OK
