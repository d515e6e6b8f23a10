"""``sqlagent ask``, ``sqlagent sql`` and ``sqlagent chat``: questions and the user's own SQL."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..errors import ConfigError, ConnectionFailed, UsageError
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    LivePrinter,
    _agent,
    _emit_json,
    _error_payload,
    _print_answer,
    _print_error,
    _settings,
    _streams,
)


def _cmd_answer(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ask`` and ``sql``: both end in an Answer and share output and exit codes."""
    text = args.question if args.command == "ask" else args.sql
    if text == "-":  # a long text is piped in: no argument length limit applies
        text = sys.stdin.read()
    try:
        if not text.strip():
            what = "question" if args.command == "ask" else "SQL"
            raise UsageError(f"The {what} is empty.")
        # An unknown suffix or a missing package is found before anything runs.
        from ..answer.export import exporter_for

        export = exporter_for(args.out) if args.out else None
        settings = _settings(args)
        live = LivePrinter(out) if args.command == "ask" and _streams(args, out) else None
        with _agent(args, settings) as agent:
            if live is not None:
                answer = agent.ask(text, on_event=live.events)
            else:
                answer = agent.ask(text) if args.command == "ask" else agent.sql(text)
        if export is not None and answer.ok:
            _write_out(args.out, export(answer.columns, answer.rows))
            rows = f"{answer.row_count} row" + ("" if answer.row_count == 1 else "s")
            err.write(f"{rows} written to {args.out}\n")
    except (UsageError, ConfigError, ConnectionFailed) as exc:
        if args.json:
            if args.command == "ask":
                _emit_json(_error_payload(text, exc), out)
            else:  # as the answer of `sql` has it: no question, the SQL as given
                _emit_json(_error_payload("", exc, sql=text), out)
        _print_error(exc, err)
        return EXIT_USAGE
    if args.json:
        _emit_json(answer.to_dict(), out)
    elif live is not None:
        live.finish(answer)
    else:
        _print_answer(answer, out)
    if answer.error is not None:
        if answer.kind == "error":
            _print_error(answer.error, err)
        return EXIT_FAILED
    return EXIT_OK


def _write_out(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise UsageError(f"Cannot write {path}: {exc.strerror or exc}") from None


def _cmd_chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """A conversation in the terminal: follow-ups edit the previous query."""
    from ..settings import LLM_HELP
    from .chat import run_chat

    settings = _settings(args)
    with _agent(args, settings) as agent:
        return run_chat(
            agent,
            stream=_streams(args, out),
            llm_configured=settings.llm_configured,
            llm_help=LLM_HELP,
            out=out,
            err=err,
            print_answer=_print_answer,
            print_error=_print_error,
        )
