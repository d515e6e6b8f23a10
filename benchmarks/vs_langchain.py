"""sqlagent beside LangChain's ``create_sql_query_chain``: prompt tokens, calls, accuracy.

    python benchmarks/vs_langchain.py [--limit N] [--engines sqlite,duckdb] [--venv DIR]

Both pipelines answer the Spider dev subset's questions on the same databases (SQLite files,
and DuckDB copies of them) with the same scripted model, served over HTTP by
``sqlagent.testing.FakeOpenAIServer`` so each side uses its real OpenAI client. The model
reads the prompt: it finds the question, and answers with the question's gold SQL only when
every table and column that SQL uses is written in the prompt (outside the question itself);
otherwise it cannot know the names and answers ``SELECT NULL``. So accuracy rewards a context
that holds what the question needs, and prompt tokens measure what it costs.

LangChain runs in a throwaway virtual environment of its own (created on first use in
``--venv``, default ``~/.cache/sqlagent/bench-langchain``; never a project dependency), one
process per database, through ``benchmarks/langchain_side.py``. Its SQL is run on the
database as LangChain's ``db.run`` would, unguarded; sqlagent's is its answer (guarded, with
repair). sqlagent narrates mechanically here (``narrate=False``): LangChain's chain writes SQL
only, so only the calls that write SQL are compared.

Prompt tokens are counted the same way for both (``fake_token_count``: four characters a
token; no tokenizer can be downloaded here). Schema-linking recall is the share of the gold
SQL's tables and columns the first prompt of a question shows. Execution accuracy follows the
Spider rules (``sqlagent.evaluation.exec_match``) against the gold query on the same engine;
questions whose gold query fails on an engine are left out for both and counted. For DuckDB the
gold SQL is transpiled from SQLite by sqlglot, as a model asked for DuckDB would write it.

The subset is read from ../shared/datasets/spider-dev-subset beside the repository, or from
$SQLAGENT_SPIDER_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from schema_spider import (  # noqa: E402
    _DQ_STRING,
    Item,
    gold_references,
    load_items,
    read_sqlite_schema,
    spider_dir,
    sqlite_path,
)

from sqlagent import Agent  # noqa: E402
from sqlagent.db import connect  # noqa: E402
from sqlagent.evaluation.duckcopy import duckdb_copy  # noqa: E402
from sqlagent.evaluation.exec_match import GoldFailed, exec_match  # noqa: E402
from sqlagent.llm.client import OpenAILLM  # noqa: E402
from sqlagent.settings import Settings  # noqa: E402
from sqlagent.testing import FakeOpenAIServer, fake_token_count  # noqa: E402

# duckdb-engine reflects DuckDB 2.0 through SQLAlchemy's PostgreSQL queries; later 2.0.x and
# 2.1 releases ask for types (REGCLASS) DuckDB's catalog lacks, so SQLAlchemy is held back.
LANGCHAIN_PACKAGES = (
    "langchain-classic",
    "langchain-community",
    "langchain-openai",
    "duckdb-engine",
    "sqlalchemy==2.0.36",
)
WRONG = "SELECT NULL"


def _norm(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Gold:
    """One question's gold SQL (for the engine at hand) and the names it needs."""

    sql: str
    tables: frozenset[str]
    columns: frozenset[tuple[str, str]]


@dataclass
class Seen:
    """What one request of one pipeline looked like to the model."""

    question: str
    tokens: int
    tables_hit: int
    columns_hit: int
    complete: bool


@dataclass
class GoldModel:
    """The scripted model: gold SQL when the prompt names everything it needs."""

    golds: dict[str, Gold] = field(default_factory=dict)
    """Normalised question -> gold, for the database being asked."""
    seen: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))
    """Pipeline label -> requests, in order."""
    label: str = ""

    def __call__(self, request: dict[str, Any]) -> str:
        texts = [m.get("content") for m in request.get("messages", [])]
        text = _norm("\n".join(t for t in texts if isinstance(t, str)))
        found = [q for q in self.golds if q in text]
        if not found:
            self.seen[self.label].append(Seen("", fake_token_count(text), 0, 0, False))
            return WRONG
        question = max(found, key=len)
        gold = self.golds[question]
        rest = text.replace(question, " ")  # the question's own words name nothing
        tables = sum(1 for t in gold.tables if _written(t, rest))
        columns = sum(1 for _, c in gold.columns if _written(c, rest))
        complete = tables == len(gold.tables) and columns == len(gold.columns)
        self.seen[self.label].append(
            Seen(question, fake_token_count(text), tables, columns, complete)
        )
        return gold.sql if complete else WRONG


def _written(name: str, text: str) -> bool:
    return re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", text, re.IGNORECASE) is not None


# --------------------------------------------------------------------------- LangChain side


def langchain_python(venv: Path) -> Path:
    """The interpreter of the throwaway LangChain environment, created when missing."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating the LangChain environment in {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *LANGCHAIN_PACKAGES], check=True
        )
    return python


def langchain_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version as v; "
         "print(v('langchain-classic'), v('langchain-community'), v('langchain-openai'))"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def run_langchain(
    python: Path, url: str, base_url: str, questions: list[str], *, read_only: bool
) -> list[str | None]:
    """The SQL LangChain's chain writes for each question (None where it failed)."""
    job = {"url": url, "base_url": base_url, "questions": questions, "read_only": read_only}
    proc = subprocess.run(
        [str(python), str(REPO / "benchmarks" / "langchain_side.py")],
        input=json.dumps(job), capture_output=True, text=True, timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"LangChain's side failed: {proc.stderr[-2000:]}")
    return [s if isinstance(s, str) else None for s in json.loads(proc.stdout)]


# --------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    label: str
    questions: int = 0
    correct: int = 0
    gold_failed: int = 0
    calls: int = 0
    tokens: list[int] = field(default_factory=list)
    tables_gold: int = 0
    tables_hit: int = 0
    columns_gold: int = 0
    columns_hit: int = 0
    seconds: float = 0.0

    def add_seen(self, seen: list[Seen], gold: Gold) -> None:
        self.calls += len(seen)
        self.tokens.append(sum(s.tokens for s in seen))
        first = seen[0] if seen else Seen("", 0, 0, 0, False)
        self.tables_gold += len(gold.tables)
        self.columns_gold += len(gold.columns)
        self.tables_hit += first.tables_hit
        self.columns_hit += first.columns_hit

    def row(self) -> str:
        n = max(1, self.questions)
        return (
            f"| {self.label} | {self.questions} | {statistics.mean(self.tokens or [0]):,.0f} "
            f"| {statistics.median(self.tokens or [0]):,.0f} | {self.calls / n:.2f} "
            f"| {self.correct / n:.1%} | {self.tables_hit / max(1, self.tables_gold):.1%} "
            f"| {self.columns_hit / max(1, self.columns_gold):.1%} | {self.gold_failed} "
            f"| {self.seconds:.0f} |"
        )


def gold_for(item: Item, engine: str, schema: Any) -> Gold:
    tables, columns, _ = gold_references(item.sql, schema)
    sql = item.sql
    if engine == "duckdb":
        import sqlglot

        fixed = _DQ_STRING.sub(lambda m: "'" + m.group(1).replace("'", "''") + "'", sql)
        sql = sqlglot.transpile(fixed, read="sqlite", write="duckdb")[0]
    return Gold(sql, frozenset(tables), frozenset(columns))


def score(tally: Tally, gold: Gold, seen: list[Seen], pred_sql: str | None, db: Any) -> None:
    """Count one question: left out (with its calls and tokens) when its gold query fails on
    the engine, since a real model would have written something else there."""
    try:
        verdict = exec_match(gold.sql, pred_sql, gold_db=db, timeout=30)
    except GoldFailed:
        tally.gold_failed += 1
        return
    tally.questions += 1
    tally.correct += int(verdict.correct)
    tally.add_seen(seen, gold)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="questions per database (0: all)")
    parser.add_argument("--engines", default="sqlite,duckdb")
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "sqlagent"
        / "bench-langchain",
        help="the throwaway LangChain environment (created on first use)",
    )
    args = parser.parse_args(argv)
    root = spider_dir()
    if not (root / "dev.json").exists():
        print(f"the Spider dev subset is not at {root} (set SQLAGENT_SPIDER_DIR)", file=sys.stderr)
        return 2
    python = langchain_python(args.venv)
    items = load_items(root)
    by_db: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if not args.limit or len(by_db[item.db_id]) < args.limit:
            by_db[item.db_id].append(item)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    model = GoldModel()
    tallies: dict[str, Tally] = {}
    cache = Path(tempfile.mkdtemp(prefix="sqlagent-vs-langchain-"))
    settings = Settings(history=False, narrate=False, schema_cache=False)
    with FakeOpenAIServer([model] * 100_000) as server:
        for engine in engines:
            lc = tallies.setdefault(f"LangChain, {engine}", Tally(f"LangChain, {engine}"))
            sa = tallies.setdefault(f"sqlagent, {engine}", Tally(f"sqlagent, {engine}"))
            for db_id, group in sorted(by_db.items()):
                source = sqlite_path(root, db_id)
                schema = read_sqlite_schema(source, samples=False)
                target = source if engine == "sqlite" else duckdb_copy(source, cache)
                url = f"sqlite:///{target}" if engine == "sqlite" else f"duckdb:///{target}"
                golds = [gold_for(item, engine, schema) for item in group]
                model.golds = {_norm(i.question): g for i, g in zip(group, golds, strict=True)}
                db = connect(str(target))
                try:
                    # LangChain: one process for the database's questions.
                    model.label = lc.label
                    before = len(model.seen[lc.label])
                    started = time.perf_counter()
                    sqls = run_langchain(
                        python, url, server.base_url, [i.question for i in group],
                        read_only=engine == "duckdb",
                    )
                    lc.seconds += time.perf_counter() - started
                    seen = model.seen[lc.label][before:]
                    per_question: dict[str, list[Seen]] = defaultdict(list)
                    for s in seen:
                        per_question[s.question].append(s)
                    for item, gold, sql in zip(group, golds, sqls, strict=True):
                        score(lc, gold, per_question.pop(_norm(item.question), []), sql, db)
                    # sqlagent: one agent for the database, as a user would keep it.
                    model.label = sa.label
                    llm = OpenAILLM("fake-model", base_url=server.base_url, api_key="unused")
                    agent = Agent(connect(str(target)), llm=llm, settings=settings, history=None)
                    with agent:
                        for item, gold in zip(group, golds, strict=True):
                            before = len(model.seen[sa.label])
                            started = time.perf_counter()
                            answer = agent.ask(item.question)
                            sa.seconds += time.perf_counter() - started
                            # Both sides' SQL is re-run by the scorer on one connection: on
                            # DuckDB tied rows come back in any order from another one.
                            sql = answer.sql if answer.error is None else None
                            score(sa, gold, model.seen[sa.label][before:], sql, db)
                finally:
                    db.close()
                print(f"{engine} {db_id}: {len(group)} questions", file=sys.stderr)
    print(f"LangChain {langchain_version(python)} (create_sql_query_chain, SQLDatabase defaults:"
          " every table, 3 sample rows each); sqlagent with its defaults, narrate=False")
    print("tokens: prompt tokens per question (4 characters a token, both sides alike)\n")
    print("| pipeline | questions | tokens (mean) | tokens (median) | calls | exec. accuracy "
          "| table recall | column recall | gold failed | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for tally in tallies.values():
        print(tally.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
