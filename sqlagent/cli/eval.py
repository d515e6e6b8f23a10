"""The ``eval`` and ``history`` commands of the command line.

``add_parsers(sub)`` adds both to the ``sqlagent`` parser and returns their handlers. Heavy
modules are imported inside the handlers, so ``sqlagent --help`` stays fast.

    sqlagent eval ../shared/datasets/spider-dev-subset --oracle      # offline, gold SQL
    sqlagent eval golden.yaml --db shop.duckdb --out runs/today      # resumable
    sqlagent eval --compare runs/yesterday runs/today
    sqlagent history                     # list, newest first
    sqlagent history --user alice        # only what alice asked
    sqlagent history show 3f2a           # an id or its first characters
    sqlagent history export --out history.jsonl
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ConfigError, ConnectionFailed, SqlAgentError, UsageError
from .common import seconds

if TYPE_CHECKING:
    from ..settings import Settings
    from ..store.history import HistoryEntry, HistoryStore

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``eval`` and ``history`` to ``sub``; returns ``{command: handler}``."""
    p = sub.add_parser(
        "eval",
        help="measure the agent on a question set (Spider, BIRD, YAML/JSONL)",
        description="Run every question of an evaluation set through the agent, score it by "
        "execution (the official Spider/BIRD rules) and write a run folder with a JSONL log, "
        "summary and reports. Re-running with the same --out resumes an interrupted run.",
    )
    p.add_argument("dataset", nargs="?", help="Spider/BIRD folder, or a .yaml/.jsonl golden set")
    p.add_argument("--db", metavar="URL", help="database of a golden set")
    p.add_argument("--out", metavar="DIR", help="run folder (default: eval-runs/<name>-<time>)")
    p.add_argument("--concurrency", type=int, default=2, metavar="N", help="parallel questions")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument(
        "--engine",
        choices=("native", "duckdb"),
        default="native",
        help="duckdb: run on DuckDB copies of the SQLite databases (gold stays on SQLite)",
    )
    p.add_argument(
        "--oracle", action="store_true", help="offline: a fake model answering with the gold SQL"
    )
    p.add_argument("--model", help="model name (default: $SQLAGENT_MODEL)")
    p.add_argument("--llm-timeout", type=seconds, metavar="S", help="seconds per LLM call")
    p.add_argument("--rules", choices=("spider", "bird"), help="comparison rules")
    p.add_argument(
        "--keep-distinct", action="store_true", help="Spider rules: do not remove DISTINCT"
    )
    p.add_argument("--no-narrate", action="store_true", help="skip the narration call")
    p.add_argument("--max-rows", type=int, metavar="N", help="rows returned at most")
    p.add_argument("--timeout", type=seconds, metavar="S", help="statement timeout in seconds")
    p.add_argument("--cache-dir", metavar="DIR", help="where DuckDB copies are kept")
    p.add_argument(
        "--min-accuracy", type=float, metavar="X", help="exit 1 when accuracy is below X (0-1)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two run folders instead")

    h = sub.add_parser("history", help="answers recorded on this machine: list, show, export")
    h.add_argument(
        "--store",
        metavar="FILE|URL",
        help="history file or store URL (default: $SQLAGENT_STORE, else the user data dir)",
    )
    h.add_argument("--limit", type=int, default=20, metavar="N", help="entries to list")
    h.add_argument("--offset", type=int, default=0, metavar="N", help="entries to skip")
    h.add_argument("--json", action="store_true", help="print JSON")
    h.add_argument("--user", metavar="NAME", help="only the answers NAME asked")
    hs = h.add_subparsers(dest="history_command", metavar="ACTION")
    hl = hs.add_parser("list", help="recent answers, newest first (the default)")
    hl.add_argument("--limit", type=int, default=argparse.SUPPRESS, metavar="N")
    hl.add_argument("--offset", type=int, default=argparse.SUPPRESS, metavar="N")
    hl.add_argument("--user", metavar="NAME", default=argparse.SUPPRESS)
    hl.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    hshow = hs.add_parser("show", help="one answer in full")
    hshow.add_argument("id", help="the answer id, or its first characters")
    hshow.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    hx = hs.add_parser("export", help="every answer as JSON lines")
    hx.add_argument("--out", metavar="FILE", help="file to write (default: standard output)")
    return {"eval": cmd_eval, "history": cmd_history}


def _fail(exc: SqlAgentError, err: TextIO) -> int:
    err.write(f"error: {exc.message}\n")
    if exc.hint:
        err.write(f"hint: {exc.hint}\n")
    usage = isinstance(exc, (UsageError, ConfigError, ConnectionFailed))
    return EXIT_USAGE if usage else EXIT_FAILED


# --------------------------------------------------------------------------- eval


def _eval_settings(args: argparse.Namespace) -> Settings:
    from ..settings import Settings

    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    if args.model:
        changes["model"] = args.model
    if args.llm_timeout is not None:
        if args.llm_timeout <= 0:
            raise UsageError("--llm-timeout must be greater than zero")
        changes["llm_timeout"] = args.llm_timeout
    if args.no_narrate:
        changes["narrate"] = False
    if args.max_rows is not None:
        if args.max_rows < 1:
            raise UsageError("--max-rows must be at least 1")
        changes["max_rows"] = args.max_rows
    if args.timeout is not None:
        if args.timeout <= 0:
            raise UsageError("--timeout must be greater than zero")
        changes["statement_timeout"] = args.timeout
    return settings.with_(**changes)


def _progress(err: TextIO, quiet: bool) -> Callable[[int, int, Sequence[Mapping[str, Any]]], None]:
    state = {"scored": 0, "correct": 0, "next": 0}

    def report(done: int, total: int, records: Sequence[Mapping[str, Any]]) -> None:
        for r in records:
            if r.get("correct") is not None:
                state["scored"] += 1
                state["correct"] += int(bool(r["correct"]))
        step = max(1, total // 10)
        if quiet or (done < total and done < state["next"]):
            return
        state["next"] = done + step
        acc = f"{state['correct'] / state['scored']:.1%}" if state["scored"] else "n/a"
        err.write(f"  {done}/{total} items, accuracy so far {acc}\n")
        err.flush()

    return report


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sqlagent eval``: run and score a question set, or ``--compare`` two runs."""
    try:
        if args.compare:
            return _compare(args, out)
        return _run(args, out, err)
    except SqlAgentError as exc:
        return _fail(exc, err)


def _compare(args: argparse.Namespace, out: TextIO) -> int:
    from ..evaluation.compare import compare_runs, format_comparison

    out.write(format_comparison(compare_runs(args.compare[0], args.compare[1])) + "\n")
    return EXIT_OK


def _sample_database() -> str:
    """The bundled sample database (built on first use): a golden set's default, as every
    other command's ``--db`` defaults to it."""
    from ..sample import ensure_sample_database

    return str(ensure_sample_database())


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..evaluation.datasets import load_dataset
    from ..evaluation.report import format_terminal
    from ..evaluation.runner import for_engine, oracle_for, run_eval

    if not args.dataset:
        raise UsageError("Name the evaluation set (or use --compare A B).")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = _eval_settings(args)
    dataset = load_dataset(args.dataset, db=args.db, limit=args.limit, default_db=_sample_database)
    cache = Path(args.cache_dir) if args.cache_dir else None
    dataset = for_engine(dataset, args.engine, cache=cache)
    if args.oracle:
        factory = oracle_for("duckdb" if args.engine == "duckdb" else None)
        model = "oracle"
    else:
        factory, model = _model_factory(settings)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else Path("eval-runs") / f"{dataset.name}-{stamp}"
    if not args.quiet:
        err.write(f"Evaluating {len(dataset.items)} items of {dataset.name} into {out_dir}\n")
    result = run_eval(
        dataset,
        llm_factory=factory,
        settings=settings,
        out_dir=out_dir,
        model=model,
        concurrency=args.concurrency,
        rules=args.rules,
        keep_distinct=args.keep_distinct,
        engine=args.engine,
        progress=_progress(err, args.quiet),
    )
    if result.skipped:
        err.write(f"(resumed: {result.skipped} items were already done)\n")
    from ..evaluation.rundir import RunDir

    out.write(format_terminal(result.summary, RunDir(out_dir).read_meta()) + "\n")
    out.write(f"\nrun folder: {out_dir} (results.jsonl, report.md, report.html)\n")
    accuracy = result.summary.accuracy
    if args.min_accuracy is not None and (accuracy is None or accuracy < args.min_accuracy):
        err.write(f"accuracy below --min-accuracy {args.min_accuracy}\n")
        return EXIT_FAILED
    return EXIT_OK


def _model_factory(settings: Settings) -> tuple[Callable[[Any], Any], str]:
    from ..api import LLM_HELP
    from ..llm.client import OpenAILLM

    if not settings.llm_configured:
        raise ConfigError(
            "No language model is configured.", hint=LLM_HELP + " Or use --oracle to run offline."
        )
    llm = OpenAILLM.from_settings(settings)  # one client, shared: it is thread-safe
    return (lambda item: llm), settings.model


# --------------------------------------------------------------------------- history


def cmd_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sqlagent history [list | show ID | export]``."""
    from ..store.history import HistoryStore

    try:
        store = HistoryStore(args.store or os.environ.get("SQLAGENT_STORE") or None)
        action = args.history_command or "list"
        if action == "show":
            return _history_show(store, args, out, err)
        if action == "export":
            return _history_export(store, args, out, err)
        return _history_list(store, args, out)
    except SqlAgentError as exc:
        return _fail(exc, err)


def _history_list(store: HistoryStore, args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 0 or args.offset < 0:
        raise UsageError("--limit and --offset must not be negative")
    user = args.user.strip() if args.user else None
    entries = store.list(limit=args.limit, offset=args.offset, user=user)
    if args.json:
        for entry in entries:
            out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK
    if not entries:
        asked = f" asked by {user}" if user else ""
        out.write(f"No answers{asked} recorded yet in {store.path}.\n")
        return EXIT_OK
    from .common import format_table

    rows: list[tuple[Any, ...]] = [
        (
            e.id[:12],
            _local_time(e.created_at),
            e.outcome,
            e.model,
            e.prompt_tokens + e.completion_tokens,
            "" if e.cost_usd is None else f"${e.cost_usd:.4f}",
            "" if e.rating is None else e.rating,
            _asked(e),
        )
        for e in entries
    ]
    columns: tuple[str, ...] = (
        "id", "time", "outcome", "model", "tokens", "cost", "rating", "question",
    )  # fmt: skip
    if any(e.asked_by for e in entries):  # who asked, once people are told apart
        columns = (*columns[:3], "user", *columns[3:])
        rows = [(*r[:3], e.asked_by or "", *r[3:]) for r, e in zip(rows, entries, strict=True)]
    out.write(format_table(columns, rows, limit=len(rows)) + "\n")
    return EXIT_OK


_SOURCES = {"cli": "the command line", "ui": "the dashboard", "api": "the Python API"}


def _own_sql(e: HistoryEntry) -> str | None:
    """The SQL of an entry that ran someone's own SQL (``sqlagent sql``, the dashboard's SQL
    box) with no question to label it; None for an asked question."""
    if e.question.strip():
        return None
    sql = e.sql or next((str(a.get("sql")) for a in e.attempts if a.get("sql")), None)
    return sql or None


def _shortened(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _asked(e: HistoryEntry) -> str:
    """What an entry answered: its question, else ``sql: <the SQL, shortened>``."""
    sql = _own_sql(e)
    return e.question if sql is None else "sql: " + _shortened(sql, 60)


def _local_time(iso: str) -> str:
    try:
        return _dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _resolve(store: HistoryStore, key: str) -> HistoryEntry:
    entry = store.get(key)
    if entry is not None:
        return entry
    matches = store.find(key)
    if len(matches) == 1:
        found = store.get(matches[0])
        if found is not None:
            return found
    if len(matches) > 1:
        raise UsageError(f"{key!r} matches several answers: {', '.join(m[:12] for m in matches)}")
    raise UsageError(f"No answer with id {key!r} in the history", hint="See `sqlagent history`.")


def _history_show(store: HistoryStore, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    e = _resolve(store, args.id)
    if getattr(args, "json", False):
        out.write(json.dumps(e.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    cost = "unknown" if e.cost_usd is None else f"${e.cost_usd:.6f}"
    lines = [
        f"id:             {e.id}",
        f"time:           {_local_time(e.created_at)} ({e.source})",
        f"database:       {e.database}",
        (
            f"question:       {e.question}"
            if _own_sql(e) is None
            else f"sql:            {_shortened(_own_sql(e) or '', 200)}\n"
            f"source:         own SQL, run from {_SOURCES.get(e.source, e.source)} "
            "(no question)"
        ),
        f"outcome:        {e.outcome}"
        + (f" ({e.row_count} rows{', truncated' if e.truncated else ''})" if e.sql else ""),
        f"model:          {e.model or '-'} (prompts {e.prompt_version or '-'})",
        f"context:        {e.context_tokens if e.context_tokens is not None else '-'} tokens",
        f"tokens:         {e.prompt_tokens:,} prompt + {e.completion_tokens:,} completion "
        f"in {e.llm_calls} call(s)",
        f"cost:           {cost}",
        f"time spent:     {e.duration:.3f} s ("
        + ", ".join(f"{k} {v:.3f}" for k, v in e.timings.items())
        + ")",
    ]
    if e.rating is not None:
        lines.append(f"feedback:       {e.rating}" + (f" — {e.note}" if e.note else ""))
    if e.error:
        lines.append(f"error:          {e.error.get('type')}: {e.error.get('message')}")
    for n, attempt in enumerate(e.attempts, 1):
        lines.append(f"attempt {n} ({attempt.get('source', 'model')}):")
        lines += [f"    {ln}" for ln in str(attempt.get("sql") or "-- no SQL").splitlines()]
        if attempt.get("error"):
            lines.append(
                f"    -- {attempt['error'].get('type')}: {attempt['error'].get('message')}"
            )
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _history_export(store: HistoryStore, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.out:
        path = Path(args.out)
        with path.open("w", encoding="utf-8") as f:
            n = store.export_jsonl(f)
        err.write(f"{n} answers written to {path}\n")
    else:
        n = store.export_jsonl(out)
        out.flush()
        err.write(f"{n} answers exported\n")
    return EXIT_OK
