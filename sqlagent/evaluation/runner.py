"""Run an evaluation set through the agent and score every answer.

    dataset = load_dataset("spider-dev-subset")
    result = run_eval(dataset, llm_factory=oracle_for(), settings=Settings(),
                      out_dir="runs/oracle", model="oracle")
    result.summary.accuracy

Items run in parallel on ``concurrency`` threads; each thread opens its own connection to
each database it needs. Every finished item is appended to ``results.jsonl`` at once, and
items already there are skipped, so an interrupted run resumes where it stopped. ``meta.json``
records what was run: dataset, engine, rules, model, prompt version and settings (never the
API key).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import SqlAgentError, UsageError
from ..llm import prompts
from ..store.history import context_tokens, llm_call_count, mask_url
from .datasets import Dataset, EvalItem, Turn
from .exec_match import GoldFailed, Rules, Verdict, exec_match, match_expected
from .metrics import Summary, summarize
from .rundir import SUMMARY, RunDir

if TYPE_CHECKING:
    from ..db.base import Database
    from ..llm.client import LLM
    from ..settings import Settings
    from ..types import Answer

Engine = Literal["native", "duckdb"]
LLMFactory = Callable[[EvalItem], "LLM"]
Progress = Callable[[int, int, Sequence[Mapping[str, Any]]], None]
"""Called after each item with (items done, items in the run, the item's records)."""

__all__ = ["Engine", "EvalResult", "for_engine", "oracle_for", "run_eval", "settings_metadata"]

META_VERSION = 1
_MUST_MATCH = ("dataset_path", "engine", "rules", "keep_distinct", "model", "prompt_version")


@dataclass(frozen=True)
class EvalResult:
    """What ``run_eval`` did: the run directory, the summary, and how many items it ran now."""

    out_dir: Path
    summary: Summary
    ran: int
    skipped: int
    wall_time: float
    records: tuple[dict[str, Any], ...]


# --------------------------------------------------------------------------- engines and models


def for_engine(dataset: Dataset, engine: Engine, *, cache: Path | None = None) -> Dataset:
    """The dataset with its SQLite databases replaced by DuckDB copies (gold stays on SQLite).

    With ``engine="native"`` the dataset is returned as it is.
    """
    if engine == "native":
        return dataset
    from .duckcopy import duckdb_copy

    copies: dict[str, str] = {}
    items = []
    for item in dataset.items:
        if not item.target.lower().endswith((".sqlite", ".sqlite3", ".db3")):
            raise UsageError(
                f"--engine duckdb copies SQLite files; {item.db_id!r} is not one",
                hint="Use it with Spider, BIRD or a golden set on a SQLite file.",
            )
        if item.target not in copies:
            copies[item.target] = str(duckdb_copy(item.target, cache))
        items.append(
            replace(
                item,
                target=copies[item.target],
                gold_target=item.gold_target or item.target,
                gold_dialect=item.gold_dialect or "sqlite",
            )
        )
    return replace(dataset, items=tuple(items))


def oracle_for(dialect: str | None = None) -> LLMFactory:
    """A factory of ``OracleLLM``\\ s, one per item, answering with the gold SQL.

    With ``dialect`` (the engine's), gold SQL written in another dialect (Spider's is SQLite)
    is transpiled with sqlglot first (see ``oracle.transpile``); with None it is used as is.
    """
    from functools import cache

    from .oracle import OracleLLM, sqlite_columns, transpile

    columns = cache(sqlite_columns)
    lock = threading.Lock()

    def make(item: EvalItem) -> LLM:
        target = dialect or item.gold_dialect or "sqlite"
        source = item.gold_dialect or target
        names: frozenset[str] = frozenset()
        reference = item.gold_target or item.target
        if source == "sqlite" and target != "sqlite":
            with lock:  # functools.cache is not safe against two threads filling one key
                names = columns(reference)
        answers = {
            t.question: transpile(t.gold_sql, read=source, write=target, columns=names)
            for t in item.turns
            if t.gold_sql
        }
        return OracleLLM(answers)

    return make


# --------------------------------------------------------------------------- connections


class _Connections:
    """One connection per (thread, database): a worker never shares its connection."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()

    def get(self, target: str) -> Database:
        from ..db import connect

        cache: dict[str, Database] = self._local.__dict__.setdefault("dbs", {})
        db = cache.get(target)
        if db is None:
            db = connect(target)
            cache[target] = db
            with self._lock:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                # Closing is best effort: the run is over either way.
                with contextlib.suppress(Exception):
                    db.close()
            self._all.clear()


# --------------------------------------------------------------------------- one item


def _score(
    turn: Turn,
    answer: Answer,
    item: EvalItem,
    db: Database,
    connections: _Connections,
    *,
    rules: Rules,
    keep_distinct: bool,
    timeout: float,
) -> tuple[bool | None, str]:
    predicted = answer.sql if answer.kind == "answer" else None
    rows = answer.rows if answer.kind == "answer" and not answer.truncated else None
    if turn.expected is not None:
        if predicted is None:
            return False, _no_answer_reason(answer)
        if answer.truncated:
            return False, "the result was truncated (raise max_rows)"
        v = match_expected(turn.expected, rows, ordered=turn.ordered, rules=rules)
        return v.correct, v.reason
    assert turn.gold_sql is not None
    gold_db = connections.get(item.gold_target) if item.gold_target else db
    try:
        verdict: Verdict = exec_match(
            turn.gold_sql,
            predicted,
            gold_db=gold_db,
            pred_db=db,
            rules=rules,
            keep_distinct=keep_distinct,
            pred_rows=rows,
            timeout=timeout,
        )
    except GoldFailed as exc:
        return None, str(exc)
    if predicted is None:
        return False, _no_answer_reason(answer)
    return verdict.correct, verdict.reason


def _no_answer_reason(answer: Answer) -> str:
    if answer.refusal is not None:
        return f"refused: {answer.refusal}"
    if answer.clarification is not None:
        return f"asked to clarify: {answer.clarification.question}"
    if answer.error is not None:
        return f"failed: {answer.error.type}: {answer.error.message}"
    return "no SQL"


def _record(
    item: EvalItem,
    k: int,
    turn: Turn,
    answer: Answer | None,
    latency: float,
    verdict: tuple[bool | None, str],
    *,
    oracle: bool = False,
) -> dict[str, Any]:
    from .prices import cost_usd

    record: dict[str, Any] = {
        "id": f"{item.id}#{k + 1}" if item.conversation else item.id,
        "item": item.id,
        "turn": k + 1,
        "db": item.db_id,
        "question": turn.question,
        "gold_sql": turn.gold_sql,
        "expected_rows": len(turn.expected) if turn.expected is not None else None,
        "correct": verdict[0],
        "reason": verdict[1],
        "latency": round(latency, 6),
    }
    if answer is None:
        record.update(outcome="error", valid=False, needed_repair=False, llm_calls=0)
        return record
    usage = answer.trace.usage
    failed = [a for a in answer.attempts if a.error is not None and a.sql is not None]
    record.update(
        pred_sql=answer.sql,
        outcome=answer.kind,
        valid=answer.kind == "answer",
        needed_repair=bool(failed),
        attempts=[
            {"sql": a.sql, "error": a.error.to_dict() if a.error else None} for a in answer.attempts
        ],
        error=answer.error.to_dict() if answer.error else None,
        row_count=answer.row_count,
        truncated=answer.truncated,
        llm_calls=0 if oracle else llm_call_count(answer.trace),
        # An oracle's replies are counted as such: no model was called, no token spent.
        oracle_answers=llm_call_count(answer.trace) if oracle else 0,
        prompt_tokens=0 if oracle else usage.prompt_tokens,
        completion_tokens=0 if oracle else usage.completion_tokens,
        cost_usd=(
            cost_usd(answer.trace.model, usage) if answer.trace.model and not oracle else None
        ),
        context_tokens=context_tokens(answer.trace),
        timings={k: round(v, 6) for k, v in answer.trace.timings().items()},
        model=answer.trace.model,
        prompt_version=answer.trace.prompt_version,
        answer_id=answer.id,
    )
    return record


def _run_item(
    item: EvalItem,
    *,
    llm_factory: LLMFactory,
    settings: Settings,
    connections: _Connections,
    rules: Rules,
    keep_distinct: bool,
) -> list[dict[str, Any]]:
    from ..conversation import Conversation
    from ..pipeline import ask

    records: list[dict[str, Any]] = []
    try:
        db = connections.get(item.target)
        llm = llm_factory(item)
    except SqlAgentError as exc:
        reason = f"not run: {exc.message}"
        return [
            _record(item, k, turn, None, 0.0, (None, reason)) for k, turn in enumerate(item.turns)
        ]
    conversation = Conversation() if item.conversation else None
    for k, turn in enumerate(item.turns):
        start = time.perf_counter()
        try:
            answer = ask(
                turn.question, llm=llm, db=db, settings=settings, conversation=conversation
            )
        except SqlAgentError as exc:  # a malformed item (an empty question)
            latency = time.perf_counter() - start
            records.append(_record(item, k, turn, None, latency, (False, exc.message)))
            continue
        except Exception as exc:  # a crash is the agent's failure, logged, not the run's end
            latency = time.perf_counter() - start
            reason = f"crashed: {type(exc).__name__}: {exc}"
            records.append(_record(item, k, turn, None, latency, (False, reason)))
            continue
        latency = time.perf_counter() - start
        if conversation is not None:
            conversation.add(answer)
        try:
            verdict = _score(
                turn,
                answer,
                item,
                db,
                connections,
                rules=rules,
                keep_distinct=keep_distinct,
                timeout=settings.statement_timeout,
            )
        except SqlAgentError as exc:  # the gold database could not be opened
            verdict = (None, f"not scored: {exc.message}")
        records.append(
            _record(
                item, k, turn, answer, latency, verdict, oracle=bool(getattr(llm, "oracle", False))
            )
        )
    return records


# --------------------------------------------------------------------------- metadata


def settings_metadata(settings: Settings) -> dict[str, Any]:
    """The settings as JSON, without secrets: no API key, no password in the base URL."""
    data = asdict(settings)
    data.pop("api_key", None)
    if data.get("base_url"):
        data["base_url"] = mask_url(str(data["base_url"]))
    return data


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _check_resumable(meta: Mapping[str, Any], fresh: Mapping[str, Any], out: Path) -> None:
    for key in _MUST_MATCH:
        if key in meta and meta[key] != fresh[key]:
            raise UsageError(
                f"{out} holds a run with {key} = {meta[key]!r}, not {fresh[key]!r}",
                hint="Give a new --out folder for a different run, or the same options "
                "to resume this one.",
            )


# --------------------------------------------------------------------------- the run


def run_eval(
    dataset: Dataset,
    *,
    llm_factory: LLMFactory,
    settings: Settings,
    out_dir: str | Path,
    model: str,
    concurrency: int = 2,
    rules: Rules | None = None,
    keep_distinct: bool = False,
    engine: Engine = "native",
    progress: Progress | None = None,
) -> EvalResult:
    """Ask every item of ``dataset``, score it, and write the run to ``out_dir``.

    ``llm_factory`` gives the model for an item (one shared model, or an oracle per item);
    ``model`` is its name for the metadata. Items already in ``out_dir/results.jsonl`` are
    skipped (resuming an interrupted run; the options must be the same). ``rules`` defaults
    to the dataset's (Spider's for Spider and golden sets, BIRD's for BIRD).
    """
    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    rules = rules or dataset.rules
    run = RunDir(out_dir)
    run.create()
    fresh = {
        "meta_version": META_VERSION,
        "dataset": dataset.name,
        "dataset_path": str(dataset.path.resolve()),
        "dataset_format": dataset.format,
        "items": len(dataset.items),
        "engine": engine,
        "rules": rules,
        "keep_distinct": keep_distinct,
        "model": model,
        "prompt_version": prompts.version(),
        "settings": settings_metadata(settings),
        "concurrency": concurrency,
        "sqlagent_version": _package_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    meta = run.read_meta()
    _check_resumable(meta, fresh, run.path)
    sessions = list(meta.get("sessions", []))
    run.repair_tail()
    turns = {item.id: len(item.turns) for item in dataset.items}
    done = run.done_items(turns)
    pending = [item for item in dataset.items if item.id not in done]
    session: dict[str, Any] = {"started_at": _now(), "questions": 0, "finished": False}
    run.write_meta({**fresh, "sessions": [*sessions, session]})

    connections = _Connections()
    clock = time.perf_counter()
    finished = len(dataset.items) - len(pending)
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval") as pool:
            futures: set[Future[list[dict[str, Any]]]] = {
                pool.submit(
                    _run_item,
                    item,
                    llm_factory=llm_factory,
                    settings=settings,
                    connections=connections,
                    rules=rules,
                    keep_distinct=keep_distinct,
                )
                for item in pending
            }
            try:
                while futures:
                    completed, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for future in completed:
                        records = future.result()
                        run.append(records)  # one writer: only this thread appends
                        session["questions"] += len(records)
                        finished += 1
                        if progress is not None:
                            progress(finished, len(dataset.items), records)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        session["finished"] = True
    finally:
        connections.close()
        session["finished_at"] = _now()
        session["wall_time"] = round(time.perf_counter() - clock, 3)
        run.write_meta({**fresh, "sessions": [*sessions, session]})

    wanted = {item.id for item in dataset.items}
    records = [r for r in run.records() if r.get("item") in wanted]
    wall = sum(float(s.get("wall_time") or 0) for s in [*sessions, session])
    summary = summarize(records, wall_time=round(wall, 3))
    run.write_json(SUMMARY, summary.to_dict())
    from .report import write_reports

    write_reports(run.path, summary, records, {**fresh, "sessions": [*sessions, session]})
    return EvalResult(
        out_dir=run.path,
        summary=summary,
        ran=len(pending),
        skipped=len(dataset.items) - len(pending),
        wall_time=session["wall_time"],
        records=tuple(records),
    )


def _package_version() -> str:
    from .. import __version__

    return __version__
