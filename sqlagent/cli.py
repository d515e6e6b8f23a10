"""The command line: ``sqlagent ask | sql | schema | ui``.

A thin shell over the Python API. It is the one place where errors become messages and exit
codes: 0 answered, 1 refused or failed, 2 a usage or configuration error, 130 interrupted.
Heavy modules (duckdb, sqlalchemy, openai, pandas) are imported only by the command that needs
them, so ``sqlagent --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .errors import ConfigError, ConnectionFailed, SqlAgentError, UsageError

if TYPE_CHECKING:
    from .api import Agent
    from .settings import Settings
    from .types import Answer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than zero (not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above zero, not {text!r}")
    return value


def _add_common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database: SQLAlchemy URL, DuckDB/SQLite file, or folder of CSV/Parquet files "
        "(default: the bundled sample database)",
    )
    p.add_argument("--max-rows", type=int, metavar="N", help="rows returned at most")
    p.add_argument("--timeout", type=seconds, metavar="S", help="statement timeout in seconds")
    p.add_argument("--policy", metavar="FILE", help="policy file (YAML) for the SQL guard")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_voting(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--candidates", type=int, metavar="N", help="generate N candidate queries and vote"
    )
    p.add_argument(
        "--adaptive", action="store_true", help="with --candidates: sample more only on doubt"
    )


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
    _add_voting(p)

    p = sub.add_parser("chat", help="an interactive conversation with follow-up questions")
    _add_common(p, json_flag=False)
    p.add_argument("--model", help="model name (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    _add_voting(p)

    p = sub.add_parser("sql", help="run your own SQL through the same read-only guard")
    p.add_argument("sql", help="one SELECT statement ('-' reads it from standard input)")
    _add_common(p)

    p = sub.add_parser("schema", help="show what the agent sees of the database")
    _add_common(p)
    p.add_argument("--question", help="show the context that would be sent for this question")

    from .cli_eval import add_parsers

    COMMANDS.update(add_parsers(sub))

    p = sub.add_parser("ui", help="start the browser dashboard")
    _add_common(p, json_flag=False)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    return parser


def _version() -> str:
    from . import __version__

    return f"sqlagent {__version__}"


def _settings(args: argparse.Namespace) -> Settings:
    from .settings import Settings

    settings = Settings.from_env(policy_file=getattr(args, "policy", None))
    if getattr(args, "max_rows", None) is not None and args.max_rows < 1:
        raise UsageError("--max-rows must be at least 1")
    # A limit the policy file sets is a ceiling: the command line may ask for less only.
    policy = settings.policy.limited(
        max_rows=getattr(args, "max_rows", None),
        statement_timeout=getattr(args, "timeout", None),
    )
    settings = settings.with_(policy=policy)
    changes: dict[str, Any] = {}
    if getattr(args, "model", None):
        changes["model"] = args.model
    if getattr(args, "llm_timeout", None) is not None:
        if args.llm_timeout <= 0:
            raise UsageError("--llm-timeout must be greater than zero")
        changes["llm_timeout"] = args.llm_timeout
    if getattr(args, "no_narrate", False):
        changes["narrate"] = False
    if getattr(args, "candidates", None) is not None:
        if not 1 <= args.candidates <= 16:
            raise UsageError("--candidates must be between 1 and 16")
        changes["candidates"] = args.candidates
    if getattr(args, "adaptive", False):
        changes["adaptive"] = True
    return settings.with_(**changes)


def _agent(args: argparse.Namespace, settings: Settings) -> Agent:
    from .api import Agent

    return Agent.connect(args.db, settings=settings, source="cli")


# --------------------------------------------------------------------------- output


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 50) -> str:
    """A plain-text table of at most ``limit`` rows, numbers right-aligned."""
    from .types import to_json_value

    def cell(v: Any) -> str:
        j = to_json_value(v)
        if j is None:
            return "NULL"
        if isinstance(j, float):
            return f"{j:,.4f}".rstrip("0").rstrip(".") if abs(j) < 1e15 else str(j)
        text = str(j) if not isinstance(j, (dict, list)) else json.dumps(j, ensure_ascii=False)
        text = " ".join(text.split())
        return text if len(text) <= 40 else text[:39] + "…"

    shown = [[cell(v) for v in row] for row in rows[:limit]]
    numeric = [
        all(isinstance(to_json_value(r[i]), (int, float)) for r in rows[:limit] if r[i] is not None)
        for i in range(len(columns))
    ]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in shown]
    if len(rows) > limit:
        out.append(f"… {len(rows) - limit} more rows")
    return "\n".join(out)


def _print_answer(answer: Answer, out: TextIO) -> None:
    if answer.clarification is not None:
        out.write(f"The question needs clarifying: {answer.clarification.question}\n")
        for i, option in enumerate(answer.clarification.options, 1):
            out.write(f"  {i}. {option}\n")
        return
    if answer.refusal is not None:
        out.write(f"This question cannot be answered from the data: {answer.refusal}\n")
        return
    if answer.sql:
        out.write("SQL" + (" (verified)" if answer.verified else "") + ":\n")
        out.write("".join(f"  {ln}\n" for ln in answer.sql.splitlines()))
        out.write("\n")
    if answer.ok:
        out.write(format_table(answer.columns, answer.rows) + "\n")
        note = f"{answer.row_count} row" + ("" if answer.row_count == 1 else "s")
        if answer.truncated:
            note += " (truncated: more rows exist; raise --max-rows to see more)"
        out.write(f"({note})\n\n")
        if answer.narrative:
            out.write(answer.narrative.strip() + "\n")
        if answer.confidence is not None:
            out.write(f"(agreement between candidates: {answer.confidence:.0%})\n")


def _print_error(err: Any, out: TextIO) -> None:
    out.write(f"error: {err.message}\n")
    if getattr(err, "hint", None):
        out.write(f"hint: {err.hint}\n")


def _emit_json(payload: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


def _error_payload(question: str, exc: SqlAgentError, sql: str | None = None) -> dict[str, Any]:
    """The JSON of a failure before any answer: the same shape as an answer's."""
    from .types import Answer

    return Answer(question=question, sql=exc.sql or sql, error=exc.info()).to_dict()


# --------------------------------------------------------------------------- commands


def _cmd_answer(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``ask`` and ``sql``: both end in an Answer and share output and exit codes."""
    text = args.question if args.command == "ask" else args.sql
    if text == "-":  # a long text is piped in: no argument length limit applies
        text = sys.stdin.read()
    try:
        if not text.strip():
            what = "question" if args.command == "ask" else "SQL"
            raise UsageError(f"The {what} is empty.")
        settings = _settings(args)
        with _agent(args, settings) as agent:
            answer = agent.ask(text) if args.command == "ask" else agent.sql(text)
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
    else:
        _print_answer(answer, out)
    if answer.error is not None:
        if answer.kind == "error":
            _print_error(answer.error, err)
        return EXIT_FAILED
    return EXIT_OK


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


def _cmd_ui(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pathlib import Path

    from .db.targets import parse_target

    # Mistakes are reported here, with exit code 2, not later on the page.
    _settings(args)  # the policy file, --max-rows, --timeout
    if args.db:
        from .db import connect

        parse_target(args.db)
        connect(args.db).close()  # a wrong URL, driver, password or host

    app = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    if not app.exists():
        raise ConfigError(
            f"The dashboard app is not at {app}.",
            hint="Install sqlagent from a clone of its repository (pip install -e .).",
        )
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
    ]
    if args.headless:
        cmd += ["--server.headless", "true"]
    env = dict(os.environ)
    if args.db:
        env["SQLAGENT_DB"] = args.db
    if args.max_rows:
        env["SQLAGENT_MAX_ROWS"] = str(args.max_rows)
    if args.timeout:
        env["SQLAGENT_STATEMENT_TIMEOUT"] = str(args.timeout)
    if args.policy:
        env["SQLAGENT_POLICY"] = args.policy
    out.write(f"Starting the dashboard on http://localhost:{args.port}\n")
    out.flush()
    # Streamlit takes this process over, so stopping it (Ctrl-C, kill) stops the server.
    os.execve(sys.executable, cmd, env)
    return EXIT_OK  # not reached


def _cmd_chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """A conversation in the terminal: follow-ups edit the previous query."""
    from .cli_chat import run_chat
    from .settings import LLM_HELP

    settings = _settings(args)
    with _agent(args, settings) as agent:
        return run_chat(
            agent,
            llm_configured=settings.llm_configured,
            llm_help=LLM_HELP,
            out=out,
            err=err,
            print_answer=_print_answer,
            print_error=_print_error,
        )


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
    from .gcpause import gc_paused

    with gc_paused():
        yield


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    out = out or sys.stdout
    err = err or sys.stderr
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


if __name__ == "__main__":
    entry()
