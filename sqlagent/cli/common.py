"""What every command shares: options, settings from them, the agent, and how answers and
errors are printed (the one place where errors become messages and exit codes).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import SqlAgentError, UsageError

if TYPE_CHECKING:
    from ..api import Agent
    from ..settings import Settings
    from ..types import Answer


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


def _add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the result rows to FILE (.csv, .xlsx or .parquet)",
    )


def _add_voting(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--candidates", type=int, metavar="N", help="generate N candidate queries and vote"
    )
    p.add_argument(
        "--adaptive", action="store_true", help="with --candidates: sample more only on doubt"
    )


def _version() -> str:
    from .. import __version__

    return f"sqlagent {__version__}"


def _settings(args: argparse.Namespace) -> Settings:
    from ..settings import Settings

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
    from ..api import Agent

    return Agent.connect(args.db, settings=settings, source="cli")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = 50) -> str:
    """A plain-text table of at most ``limit`` rows, numbers right-aligned."""
    from ..types import to_json_value
    from .terminal import visible

    def cell(v: Any) -> str:
        j = to_json_value(v)
        if j is None:
            return "NULL"
        if isinstance(j, float):
            return f"{j:,.4f}".rstrip("0").rstrip(".") if abs(j) < 1e15 else str(j)
        text = str(j) if not isinstance(j, (dict, list)) else json.dumps(j, ensure_ascii=False)
        # Made visible before measuring: the width is that of what the terminal shows.
        text = visible(" ".join(text.split()))
        return text if len(text) <= 40 else text[:39] + "…"

    shown = [[cell(v) for v in row] for row in rows[:limit]]
    columns = [visible(" ".join(str(c).split())) for c in columns]
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
        _print_sql(answer.sql, answer.verified, out)
    if answer.ok:
        _print_rows(answer.columns, answer.rows, answer.truncated, out)
        if answer.narrative:
            out.write(answer.narrative.strip() + "\n")
        _print_confidence(answer, out)


def _print_sql(sql: str, verified: bool, out: TextIO) -> None:
    out.write("SQL" + (" (verified)" if verified else "") + ":\n")
    out.write("".join(f"  {ln}\n" for ln in sql.splitlines()))
    out.write("\n")


def _print_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], truncated: bool, out: TextIO
) -> None:
    out.write(format_table(columns, rows) + "\n")
    note = f"{len(rows)} row" + ("" if len(rows) == 1 else "s")
    if truncated:
        note += " (truncated: more rows exist; raise --max-rows to see more)"
    out.write(f"({note})\n\n")


def _print_confidence(answer: Answer, out: TextIO) -> None:
    if answer.confidence is not None:
        out.write(f"(agreement between candidates: {answer.confidence:.0%})\n")


class LivePrinter:
    """Prints an answer while it is made, as ``_print_answer`` would print it at the end.

    Pass ``events`` as ``on_event``: the SQL and the table are printed once they exist, the
    narration as its checked pieces arrive; ``finish`` prints what is left. A narration that
    was rewritten after it was shown is printed again, whole, below a note saying so.
    """

    def __init__(self, out: TextIO) -> None:
        from ..streaming import StreamEvents

        self.out = out
        self.events = StreamEvents(self._show)
        self._table = False
        self._narrated = False

    def _show(self, event: object) -> None:
        from ..streaming import NarrationDelta, TableReady

        if isinstance(event, TableReady):
            _print_sql(event.sql, event.verified, self.out)
            _print_rows(event.columns, event.rows, event.truncated, self.out)
            self._table = True
        elif isinstance(event, NarrationDelta) and self._table:
            self.out.write(event.text if self._narrated else event.text.lstrip())
            self._narrated = True
        else:
            return
        self.out.flush()

    def finish(self, answer: Answer) -> None:
        """Print the rest of ``answer`` (all of it, if nothing was printed yet)."""
        done = self.events.finish(answer)
        if not self._table:
            _print_answer(answer, self.out)
            return
        if done.replaced and answer.narrative:
            if self._narrated:
                self.out.write("\n\n(The answer above was rewritten; this is the checked one:)\n")
            self.out.write(answer.narrative.strip() + "\n")
        elif self._narrated:
            self.out.write("\n")
        _print_confidence(answer, self.out)
        self.out.flush()


def _streams(args: argparse.Namespace, out: TextIO) -> bool:
    """Whether to print the answer as it is made: ``--stream``/``--no-stream``, else when the
    output is a terminal; never with ``--json``."""
    if getattr(args, "json", False):
        return False
    choice = getattr(args, "stream", None)
    if choice is not None:
        return bool(choice)
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _add_stream(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the SQL and table as soon as they exist and the narration as it "
        "arrives (default: when the output is a terminal; never with --json)",
    )


def _print_error(err: Any, out: TextIO) -> None:
    out.write(f"error: {err.message}\n")
    if getattr(err, "hint", None):
        out.write(f"hint: {err.hint}\n")


def _emit_json(payload: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")


def _error_payload(question: str, exc: SqlAgentError, sql: str | None = None) -> dict[str, Any]:
    """The JSON of a failure before any answer: the same shape as an answer's."""
    from ..types import Answer

    return Answer(question=question, sql=exc.sql or sql, error=exc.info()).to_dict()
