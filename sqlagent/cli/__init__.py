"""The command line: ``sqlagent ask | sql | schema | ui | mcp | knowledge | users``.

A thin shell over the Python API. It is the one place where errors become messages and exit
codes: 0 answered, 1 refused or failed, 2 a usage or configuration error, 130 interrupted.
Heavy modules (duckdb, sqlalchemy, openai, pandas) are imported only by the command that needs
them, so ``sqlagent --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from ..errors import ConfigError, ConnectionFailed, SqlAgentError, UsageError
from .ask import _cmd_answer, _cmd_chat
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _add_common,
    _add_out,
    _add_stream,
    _add_voting,
    _print_error,
    _version,
    seconds,
)
from .schema import _cmd_schema
from .terminal import terminal_stream
from .ui import _cmd_ui


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="sqlagent",
        description="Ask questions about your data in plain language.",
        epilog="LLM: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any OpenAI-compatible "
        "server: Ollama, vLLM, llama.cpp) and SQLAGENT_MODEL.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ask", help="answer a question with SQL, a table and a narrative")
    p.add_argument(
        "question", help="the question, in any language ('-' reads it from standard input)"
    )
    _add_common(p)
    p.add_argument("--model", help="model name (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    p.add_argument("--no-narrate", action="store_true", help="skip the narration call")
    _add_stream(p)
    _add_voting(p)
    _add_out(p)

    p = sub.add_parser("chat", help="an interactive conversation with follow-up questions")
    _add_common(p, json_flag=False)
    p.add_argument("--model", help="model name (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    _add_stream(p)
    _add_voting(p)

    p = sub.add_parser("sql", help="run your own SQL through the same read-only guard")
    p.add_argument("sql", help="one SELECT statement ('-' reads it from standard input)")
    _add_common(p)
    _add_out(p)

    p = sub.add_parser("schema", help="show what the agent sees of the database")
    _add_common(p)
    p.add_argument("--question", help="show the context that would be sent for this question")

    from .eval import add_parsers

    COMMANDS.update(add_parsers(sub))
    from .mcp import add_parsers as add_mcp_parser

    COMMANDS.update(add_mcp_parser(sub))
    from .knowledge import add_parsers as add_knowledge_parser

    COMMANDS.update(add_knowledge_parser(sub))
    from .users import add_parsers as add_users_parser

    COMMANDS.update(add_users_parser(sub))

    p = sub.add_parser("ui", help="start the browser dashboard")
    _add_common(p, json_flag=False)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default 127.0.0.1; another needs --auth or --trusted-header)",
    )
    p.add_argument(
        "--auth",
        metavar="FILE",
        help="secrets file (TOML) whose [auth] section signs people in with OpenID Connect",
    )
    p.add_argument(
        "--trusted-header",
        metavar="NAME",
        help="header a reverse proxy sets to the signed-in person's name (X-Forwarded-User)",
    )
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "ask": _cmd_answer,
    "sql": _cmd_answer,
    "schema": _cmd_schema,
    "ui": _cmd_ui,
    "chat": _cmd_chat,
}


ONE_SHOT = frozenset({"ask", "sql", "schema"})


"""Commands that answer once and exit: they run with the cyclic garbage collector paused."""


@contextlib.contextmanager
def _collector_paused(paused: bool) -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a command that answers once and exits.

    Importing openai, sqlglot and duckdb fills the heap with a million objects, and every
    full collection walks all of them: about a tenth of a cold ``ask``. What one answer
    leaves in reference cycles is small and freed at exit (the state is restored after, for
    callers of ``main`` in a longer-lived process).
    """
    if not paused:
        yield
        return
    from ..context.gcpause import gc_paused

    with gc_paused():
        yield


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code (the console script exits with it).

    Without ``argv`` it is the process's own command line: a command that answers once then
    ends the process as soon as its answer is out (see ``_exit_now``)."""
    code = _main(argv, out=out, err=err)
    if argv is None:
        _end_process(sys.argv[1:], code)
    return code


def _main(argv: Sequence[str] | None, *, out: TextIO | None, err: TextIO | None) -> int:
    # Everything written from here on may carry data: terminal escapes in it are shown, not run.
    out = terminal_stream(out or sys.stdout)
    err = terminal_stream(err or sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(out)
        return EXIT_USAGE
    try:
        with _collector_paused(args.command in ONE_SHOT):
            return COMMANDS[args.command](args, out, err)
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`sqlagent schema | head`): stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit flush quiet
        return EXIT_OK
    except (UsageError, ConfigError, ConnectionFailed) as exc:
        _print_error(exc, err)
        return EXIT_USAGE
    except SqlAgentError as exc:
        _print_error(exc, err)
        return EXIT_FAILED


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


def _end_process(argv: Sequence[str], code: int) -> None:
    """Exit now when nothing is left to wait for but the interpreter's teardown."""
    base = sys.modules.get("sqlagent.db.base")  # not imported: no statement ever ran
    winding_down = base is not None and base.winding_down() > 0
    if (winding_down or _one_shot(argv)) and _only_daemon_threads():
        _exit_now(code)


def _one_shot(argv: Sequence[str]) -> bool:
    """True when ``argv`` ran a command that answers once (``ask``, ``sql``, ``schema``):
    the command comes first, as the only options before it (``--help``, ``--version``)
    end the process inside ``main``."""
    return bool(argv) and argv[0] in ONE_SHOT


def _only_daemon_threads() -> bool:
    import threading

    main_thread = threading.main_thread()
    return all(t.daemon or t is main_thread for t in threading.enumerate())


def _exit_now(code: int) -> None:
    """End the process once its answer is out, without the interpreter's teardown.

    Tearing down the million objects that importing openai, sqlglot and duckdb leaves takes
    a good part of a cold ``sql`` or ``ask``, and with a statement still winding down from
    its timeout the teardown would wait for the engine (closing a DuckDB connection waits
    for its statement) or abort in it. Everything a normal exit does for the user still
    happens: the answer is printed, the connections are closed or read-only, the history is
    committed; the exit handlers run (logging, traces) and the output is flushed. Only used
    when no other thread that the interpreter would wait for is running.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
