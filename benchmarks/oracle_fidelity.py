"""Oracle-SQL fidelity: does the chain return exactly what the gold SQL returns, per engine?

Every gold query of the Spider dev subset goes through ``pipeline.ask`` as if the model had
written it (a scripted model replies with it in a ```sql fence; narration off; repairs off; a
row bound far above any result). The rows the chain returns must equal the rows the gold SQL
gives when run directly on the original SQLite file with ``sqlite3``, under the official
Spider execution comparison (``sqlagent.evaluation.exec_match.compare_results``: a multiset
of rows unless the gold SQL has ORDER BY; columns may be permuted). Two deliberate
differences from the official scorer, both stricter: DISTINCT is kept in both queries (the
chain must run the query it was given), and a chain that returns a truncated result fails.

Engines (``--engines``, default all that are reachable):

``sqlite``    the chain on the SQLite file itself; the gold SQL as written.
``duckdb``    the chain on DuckDB copies (``sqlagent.evaluation.duckcopy``, cached); the gold
              SQL transpiled sqlite -> duckdb by sqlglot.
``postgres``  one scratch database per db_id on the local server, names in lower case (as
              PostgreSQL folds unquoted names); transpiled sqlite -> postgres.
``mariadb``   one scratch database per db_id on the local server (names as in the file);
              transpiled sqlite -> mysql.
``spark``     one Spark database per db_id (Parquet tables written from the DuckDB copies)
              on the Spark Connect server at ``$SQLAGENT_TEST_SPARK``, else on a local one
              started for the run (``tests/sparkserver.py``); transpiled sqlite -> spark.

The copies on the servers come from ``tests/loaders.py`` and are dropped at the end. Across
engines, values are compared after ``sqlagent.types.to_json_value`` (a Decimal 2 is the
integer 2, a date its ISO text); on SQLite, as stored.

    python benchmarks/oracle_fidelity.py [--engines sqlite,duckdb,spark] [--limit 100] [--failures]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.evaluation.exec_match import compare_results, order_matters
from sqlagent.evaluation.oracle import sqlite_columns, transpile
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM
from sqlagent.types import to_json_value

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the copy helpers live with the tests that use them

ENGINES = ("sqlite", "duckdb", "postgres", "mariadb", "spark")
DIALECTS = {
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "postgres": "postgres",
    "mariadb": "mysql",
    "spark": "spark",
}
POSTGRES_ADMIN = os.environ.get(
    "SQLAGENT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN = os.environ.get("SQLAGENT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
SETTINGS = Settings(model="oracle", narrate=False, max_repairs=0).with_(
    max_rows=100_000, statement_timeout=30.0
)

Rows = Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class Item:
    """One gold query: ``id`` is its position in dev.json, as four digits."""

    id: str
    db_id: str
    question: str
    gold: str


@dataclass(frozen=True)
class Outcome:
    """The verdict for one item on one engine."""

    item: Item
    engine: str
    ok: bool
    reason: str
    sql: str
    rows: Rows | None = None
    """What the chain returned (None when it returned no result)."""


def spider_dir() -> Path:
    """``$SQLAGENT_SPIDER_DIR``, else ``../shared/datasets/spider-dev-subset`` beside the repo."""
    env = os.environ.get("SQLAGENT_SPIDER_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets" / "spider-dev-subset"


def load_items(spider: Path, *, limit: int | None = None) -> list[Item]:
    """The gold queries of ``spider/dev.json``, in file order."""
    raw = json.loads((spider / "dev.json").read_text(encoding="utf-8"))
    items = [
        Item(f"{i:04d}", e["db_id"], e["question"].strip(), e["query"]) for i, e in enumerate(raw)
    ]
    return items[:limit] if limit else items


def sqlite_file(spider: Path, db_id: str) -> Path:
    return spider / "database" / db_id / f"{db_id}.sqlite"


def gold_results(spider: Path, items: Sequence[Item]) -> dict[str, Rows]:
    """Each gold query's rows, run directly with ``sqlite3`` on the original file."""
    out: dict[str, Rows] = {}
    cons: dict[str, sqlite3.Connection] = {}
    try:
        for item in items:
            con = cons.get(item.db_id)
            if con is None:
                uri = f"{sqlite_file(spider, item.db_id).resolve().as_uri()}?mode=ro"
                con = cons[item.db_id] = sqlite3.connect(uri, uri=True)
                # As the official evaluator reads text: bytes that are not UTF-8 are dropped.
                con.text_factory = lambda b: b.decode(errors="ignore")
            out[item.id] = con.execute(item.gold).fetchall()
    finally:
        for con in cons.values():
            con.close()
    return out


# ---------------------------------------------------------------------- the gold, per dialect


def dialect_sql(item: Item, engine: str, columns: frozenset[str]) -> str:
    """The gold SQL as a model writing for ``engine`` would send it."""
    dialect = DIALECTS[engine]
    if dialect == "sqlite":
        return item.gold
    return transpile(item.gold, read="sqlite", write=dialect, columns=columns)


# ---------------------------------------------------------------------- engines


@contextlib.contextmanager
def engine_targets(
    engine: str, spider: Path, db_ids: Sequence[str], *, cache: Path | None = None
) -> Iterator[dict[str, str]]:
    """``db_id -> URL`` for ``engine``; server copies are created here and dropped on exit."""
    if engine == "sqlite":
        yield {d: f"sqlite:///{sqlite_file(spider, d)}" for d in db_ids}
    elif engine == "duckdb":
        from sqlagent.evaluation.duckcopy import duckdb_copy

        yield {d: f"duckdb:///{duckdb_copy(sqlite_file(spider, d), cache)}" for d in db_ids}
    elif engine == "postgres":
        with _server_copies(spider, db_ids, POSTGRES_ADMIN, _postgres_load, '"') as urls:
            yield urls
    elif engine == "mariadb":
        with _server_copies(spider, db_ids, MARIADB_ADMIN, _mariadb_load, "`") as urls:
            yield urls
    elif engine == "spark":
        with _spark_copies(spider, db_ids, cache) as urls:
            yield urls
    else:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")


def _postgres_load(path: Path, url: str) -> None:
    from loaders import SqliteSource, load_postgres

    source = SqliteSource(path)
    try:
        load_postgres(source, url, lower_names=True)
    finally:
        source.close()


def _mariadb_load(path: Path, url: str) -> None:
    from loaders import SqliteSource, load_mariadb

    source = SqliteSource(path)
    try:
        load_mariadb(source, url)
    finally:
        source.close()


@contextlib.contextmanager
def _server_copies(
    spider: Path,
    db_ids: Sequence[str],
    admin_url: str,
    load: Callable[[Path, str], None],
    quote: str,
) -> Iterator[dict[str, str]]:
    import sqlalchemy as sa

    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    run = uuid.uuid4().hex[:8]
    created: list[str] = []
    urls: dict[str, str] = {}
    postgres = admin.dialect.name == "postgresql"
    try:
        for db_id in db_ids:
            name = f"sqlagent_fid_{run}_{db_id.lower()}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
            created.append(name)
            url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            load(sqlite_file(spider, db_id), url)
            urls[db_id] = url
        yield urls
    finally:
        with admin.connect() as conn:
            for name in created:
                force = " WITH (FORCE)" if postgres else ""
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
        admin.dispose()


@contextlib.contextmanager
def _spark_copies(
    spider: Path, db_ids: Sequence[str], cache: Path | None
) -> Iterator[dict[str, str]]:
    """One Spark database per db_id; the server is started here unless one is given."""
    import tempfile

    import duckdb
    import sparkserver

    from sqlagent.evaluation.duckcopy import duckdb_copy

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sqlagent-spark-")))
        server = sparkserver.from_environment()
        if server is None:
            server = sparkserver.start(work / "server")
            stack.callback(server.stop)
        from pyspark.sql.connect.session import SparkSession

        spark = SparkSession.builder.remote(server.url).create()
        stack.callback(spark.stop)
        run = uuid.uuid4().hex[:8]
        urls: dict[str, str] = {}
        for db_id in db_ids:
            name = f"sqlagent_fid_{run}_{db_id.lower()}"
            spark.sql(f"CREATE DATABASE {name}")
            stack.callback(spark.sql, f"DROP DATABASE IF EXISTS {name} CASCADE")
            con = duckdb.connect(
                str(duckdb_copy(sqlite_file(spider, db_id), cache)), read_only=True
            )
            try:
                tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
                for table in tables:
                    folder = work / name / table
                    folder.mkdir(parents=True)
                    quoted = '"' + table.replace('"', '""') + '"'
                    con.execute(f"COPY {quoted} TO '{folder}/part.parquet' (FORMAT parquet)")
                    target = "`" + table.replace("`", "``") + "`"
                    spark.sql(f"CREATE TABLE {name}.{target} USING parquet LOCATION '{folder}'")
            finally:
                con.close()
            urls[db_id] = f"{server.url}/;database={name}"
        yield urls


def server_reachable(engine: str) -> str | None:
    """None when ``engine`` can be used here, else why not."""
    if engine in ("sqlite", "duckdb"):
        return None
    if engine == "spark":
        import sparkserver

        return None if sparkserver.from_environment() else sparkserver.unavailable()
    import sqlalchemy as sa

    url = POSTGRES_ADMIN if engine == "postgres" else MARIADB_ADMIN
    engine_ = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine_.connect():
            return None
    except Exception as exc:  # any failure to reach the server is a reason to skip it
        return f"{engine} is not reachable at {url}: {str(exc).splitlines()[0]}"
    finally:
        engine_.dispose()


# ---------------------------------------------------------------------- running


def _portable(rows: Rows) -> list[tuple[Any, ...]]:
    def one(value: Any) -> Any:
        value = to_json_value(value)
        if isinstance(value, (list, dict)):
            return json.dumps(value, sort_keys=True)
        return value

    return [tuple(one(v) for v in row) for row in rows]


def judge(item: Item, gold: Rows, answer_rows: Rows, *, portable: bool) -> tuple[bool, str]:
    """The official comparison of the chain's rows with the gold rows."""
    want, got = (_portable(gold), _portable(answer_rows)) if portable else (gold, answer_rows)
    return compare_results(want, got, ordered=order_matters(item.gold))


def run_engine(
    engine: str,
    items: Sequence[Item],
    targets: Mapping[str, str],
    gold: Mapping[str, Rows],
    columns: Callable[[str], frozenset[str]],
) -> list[Outcome]:
    """Every item through the chain on ``engine``; one connection per database."""
    outcomes = []
    dbs: dict[str, Database] = {}
    try:
        for item in items:
            db = dbs.get(item.db_id)
            if db is None:
                db = dbs[item.db_id] = connect(targets[item.db_id])
            try:
                sql = dialect_sql(item, engine, columns(item.db_id))
            except Exception as exc:  # sqlglot could not transpile: that is the finding
                outcomes.append(Outcome(item, engine, False, f"transpile: {exc}", item.gold))
                continue
            llm = ScriptedLLM([f"```sql\n{sql}\n```"])
            answer = ask(item.question, llm=llm, db=db, settings=SETTINGS)
            if not answer.ok:
                error = answer.error
                reason = f"{error.type}: {error.message}" if error else "no answer"
                outcomes.append(Outcome(item, engine, False, reason, sql))
            elif answer.truncated:
                outcomes.append(Outcome(item, engine, False, "result truncated", sql))
            else:
                ok, why = judge(item, gold[item.id], answer.rows, portable=engine != "sqlite")
                outcomes.append(Outcome(item, engine, ok, why, sql, answer.rows))
    finally:
        for db in dbs.values():
            db.close()
    return outcomes


def measure(
    engines: Sequence[str], spider: Path, *, limit: int | None = None, cache: Path | None = None
) -> dict[str, list[Outcome]]:
    """Run every engine in ``engines`` over the gold queries; ``engine -> outcomes``."""
    items = load_items(spider, limit=limit)
    gold = gold_results(spider, items)
    db_ids = sorted({i.db_id for i in items})
    column_cache: dict[str, frozenset[str]] = {}

    def columns(db_id: str) -> frozenset[str]:
        if db_id not in column_cache:
            column_cache[db_id] = sqlite_columns(str(sqlite_file(spider, db_id)))
        return column_cache[db_id]

    results = {}
    for engine in engines:
        with engine_targets(engine, spider, db_ids, cache=cache) as targets:
            results[engine] = run_engine(engine, items, targets, gold, columns)
    return results


# ---------------------------------------------------------------------- why an item failed

CAUSES: dict[str, str] = {
    "group-by": "a selected column is neither grouped nor aggregated: SQLite and MariaDB take "
    "it from some row of the group; DuckDB and Spark refuse, and so does PostgreSQL unless the "
    "grouped column is the table's primary key",
    "types": "a text column compared with, joined to or averaged as a number: SQLite converts "
    "by column affinity, DuckDB and PostgreSQL refuse the mixed types, Spark (ANSI mode) "
    "fails on the first text that is not a number",
    "text-number": "a text column compared with a number: SQLite compares them as text, "
    "MariaDB converts the text to a number",
    "name-case": "the gold SQL spells a table name or table alias in another case than where "
    "it is defined: MariaDB compares both case-sensitively (lower_case_table_names=0, the "
    "Linux default) while the guard resolves them without case",
    "tie": "the gold ORDER BY leaves ties (at its LIMIT, or among the rows it orders): each "
    "engine may return a different, equally correct row or order",
    "like-case": "LIKE ignores case in SQLite, not in DuckDB or PostgreSQL",
    "collation-case": "MariaDB's default collation compares text without case",
    "pad-space": "MariaDB's collation ignores trailing spaces when comparing text (PAD SPACE)",
    "avg-decimal": "MariaDB computes AVG and division of integers as DECIMAL with 4 decimals",
    "bare-column": "a bare column beside MAX/MIN without GROUP BY: SQLite takes it from the "
    "row holding the extreme, MariaDB from any row",
    "unexplained": "no known dialect difference explains it",
}
"""Every known reason why a gold query gives another result on another engine."""

_TYPE_ERRORS = re.compile(
    r"operator does not exist|Cannot compare values of type|No function matches the given name"
    r"|function \w+\([a-z ]+\) does not exist|invalid input syntax for type"
    r"|\[CAST_INVALID_INPUT\]"
)
_SPARK_GROUP_BY = re.compile(r"\[MISSING_GROUP_BY\]|\[MISSING_AGGREGATION\]")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


@dataclass
class Reference:
    """What classifying a failure needs about one database: the SQLite file, its text columns."""

    con: sqlite3.Connection
    text_columns: frozenset[str]
    all_columns: frozenset[str]


def classify(outcome: Outcome, gold: Rows, ref: Reference) -> str:
    """The key in ``CAUSES`` that explains why ``outcome`` failed."""
    reason = outcome.reason
    if "must appear in the GROUP BY" in reason or _SPARK_GROUP_BY.search(reason):
        return "group-by"
    if _TYPE_ERRORS.search(reason):
        return "types"
    if re.search(r"Table '[^']*' doesn't exist|Unknown column '\w+\.", reason):
        return "name-case" if _name_case_differs(outcome, ref) else "unexplained"
    if outcome.rows is None:
        return "unexplained"
    tree = _sqlite_tree(outcome.item.gold, ref)
    if _tied(tree, ref):
        return "tie"
    if isinstance(tree, exp.Select) and tree.find(exp.Like):
        ref.con.execute("PRAGMA case_sensitive_like = ON")
        try:
            if _same(outcome, _run(ref, tree)):
                return "like-case"
        finally:
            ref.con.execute("PRAGMA case_sensitive_like = OFF")
    if outcome.engine == "mariadb":
        for collation, cause in (("NOCASE", "collation-case"), ("RTRIM", "pad-space")):
            if _same(outcome, _run(ref, _collated(tree, collation))):
                return cause
        if _same(outcome, gold, decimals=4):
            return "avg-decimal"
        if _text_vs_number(tree, ref):
            return "text-number"
        if _bare_column(tree):
            return "bare-column"
    return "unexplained"


def _sqlite_tree(sql: str, ref: Reference) -> exp.Expr:
    """The gold SQL parsed, with double-quoted values made strings (as SQLite reads them)."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias) if a.alias}
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if (
            not column.table
            and isinstance(ident, exp.Identifier)
            and ident.quoted
            and ident.name.lower() not in ref.all_columns | aliases
        ):
            column.replace(exp.Literal.string(ident.name))
    return tree


def _run(ref: Reference, tree: exp.Expr) -> Rows | None:
    try:
        return ref.con.execute(tree.sql(dialect="sqlite")).fetchall()
    except sqlite3.Error:
        return None


def _same(outcome: Outcome, rows: Rows | None, *, decimals: int | None = None) -> bool:
    if rows is None or outcome.rows is None:
        return False
    want, got = _portable(rows), _portable(outcome.rows)
    if decimals is not None:
        want, got = _rounded(want, decimals), _rounded(got, decimals)
    return compare_results(want, got, ordered=order_matters(outcome.item.gold))[0]


def _rounded(rows: Rows, decimals: int) -> list[tuple[Any, ...]]:
    return [tuple(round(v, decimals) if isinstance(v, float) else v for v in r) for r in rows]


def _tied(tree: exp.Expr, ref: Reference) -> bool:
    """True when the ORDER BY of the gold leaves rows tied where the result is cut or ordered."""
    order = tree.args.get("order")
    if not isinstance(tree, exp.Select) or order is None or tree.args.get("distinct"):
        return False
    limit = tree.args.get("limit")
    count = int(limit.expression.name) if isinstance(limit, exp.Limit) else None
    probe = tree.copy()
    probe.set("limit", None)
    width = len(probe.expressions)
    for i, ordered in enumerate(order.expressions):
        probe = probe.select(exp.alias_(ordered.this.copy(), f"_key{i}"), copy=False)
    rows = _run(ref, probe)
    if rows is None:
        return False
    keys = [r[width:] for r in rows]
    if count is not None:
        return len(keys) > count and keys[count - 1] == keys[count]
    return any(a == b for a, b in itertools.pairwise(keys))


def _collated(tree: exp.Expr, collation: str) -> exp.Expr:
    """``tree`` with every string literal compared under ``collation``."""
    out = tree.copy()
    for literal in list(out.find_all(exp.Literal)):
        if literal.is_string and isinstance(literal.parent, (*_COMPARISONS, exp.In)):
            literal.replace(exp.Collate(this=literal.copy(), expression=exp.var(collation)))
    return out


def _text_vs_number(tree: exp.Expr, ref: Reference) -> bool:
    for node in tree.find_all(*_COMPARISONS):
        sides = (node.this, node.expression)
        if any(
            isinstance(a, exp.Column)
            and a.name.lower() in ref.text_columns
            and isinstance(b, exp.Literal)
            and not b.is_string
            for a, b in (sides, sides[::-1])
        ):
            return True
    return False


def _bare_column(tree: exp.Expr) -> bool:
    if not isinstance(tree, exp.Select) or tree.args.get("group"):
        return False
    projections = [p.unalias() for p in tree.expressions]
    extreme = any(isinstance(p, (exp.Max, exp.Min)) for p in projections)
    return extreme and any(isinstance(p, exp.Column) for p in projections)


def _name_case_differs(outcome: Outcome, ref: Reference) -> bool:
    """True when the query names a table, or qualifies a column, in another case than defined."""
    tables = {
        r[0]
        for r in ref.con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    tree = sqlglot.parse_one(outcome.sql, read="mysql")
    written = {t.name for t in tree.find_all(exp.Table)}
    declared = {a.name for a in tree.find_all(exp.TableAlias)} | written
    qualifiers = {c.table for c in tree.find_all(exp.Column) if c.table}
    return any(
        name not in defined and name.lower() in {d.lower() for d in defined}
        for names, defined in ((written, tables), (qualifiers, declared))
        for name in names
    )


def references(spider: Path, db_ids: Sequence[str]) -> dict[str, Reference]:
    """A ``Reference`` per database (close each ``con`` when done)."""
    from loaders import SqliteSource

    out = {}
    for db_id in db_ids:
        path = sqlite_file(spider, db_id)
        source = SqliteSource(path)
        try:
            columns = [c for t in source.tables for c in t.columns]
        finally:
            source.close()
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        con.text_factory = lambda b: b.decode(errors="ignore")
        out[db_id] = Reference(
            con,
            frozenset(c.name.lower() for c in columns if c.type == "VARCHAR"),
            frozenset(c.name.lower() for c in columns),
        )
    return out


def causes(
    results: Mapping[str, Sequence[Outcome]], spider: Path
) -> dict[str, dict[str, list[str]]]:
    """``engine -> cause -> item ids`` for every failure."""
    failed = [o for outcomes in results.values() for o in outcomes if not o.ok]
    items = sorted({o.item.id: o.item for o in failed}.values(), key=lambda i: i.id)
    gold = gold_results(spider, items)
    refs = references(spider, sorted({i.db_id for i in items}))
    out: dict[str, dict[str, list[str]]] = {}
    try:
        for o in failed:
            cause = classify(o, gold[o.item.id], refs[o.item.db_id])
            out.setdefault(o.engine, {}).setdefault(cause, []).append(o.item.id)
    finally:
        for ref in refs.values():
            ref.con.close()
    return out


def share(outcomes: Sequence[Outcome]) -> float:
    """The fraction of items that matched."""
    return sum(o.ok for o in outcomes) / len(outcomes) if outcomes else 0.0


def format_table(results: Mapping[str, Sequence[Outcome]], seconds: Mapping[str, float]) -> str:
    lines = [f"{'engine':<10} {'match':>7} {'of':>5} {'share':>8} {'seconds':>8}"]
    for engine, outcomes in results.items():
        matched = sum(o.ok for o in outcomes)
        lines.append(
            f"{engine:<10} {matched:>7} {len(outcomes):>5} {share(outcomes):>8.1%} "
            f"{seconds.get(engine, 0.0):>8.1f}"
        )
    return "\n".join(lines)


def format_causes(found: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    lines = []
    for engine, by_cause in found.items():
        for cause, ids in sorted(by_cause.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"{engine:<9} {cause:<15} {len(ids):>4}  {' '.join(ids)}")
    return "\n".join(lines)


def format_failures(results: Mapping[str, Sequence[Outcome]]) -> str:
    lines = []
    for engine, outcomes in results.items():
        for o in outcomes:
            if not o.ok:
                reason = " ".join(o.reason.split())[:300]
                lines.append(f"{engine:<9} {o.item.id} {o.item.db_id:<28} {reason}")
                lines.append(f"{'':<9} gold: {' '.join(o.item.gold.split())}")
                if o.sql != o.item.gold:
                    lines.append(f"{'':<9} ran:  {' '.join(o.sql.split())}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--cache", type=Path, default=None, help="where DuckDB copies go")
    parser.add_argument("--failures", action="store_true", help="list every mismatch")
    args = parser.parse_args(argv)

    spider = spider_dir()
    if not (spider / "dev.json").exists():
        print(f"The Spider dev subset is not at {spider} (set SQLAGENT_SPIDER_DIR).")
        return 2
    engines = []
    for engine in args.engines.split(","):
        why = server_reachable(engine.strip())
        if why:
            print(f"skipped: {why}")
        else:
            engines.append(engine.strip())
    results: dict[str, list[Outcome]] = {}
    seconds: dict[str, float] = {}
    for engine in engines:
        start = time.perf_counter()
        results.update(measure([engine], spider, limit=args.limit, cache=args.cache))
        seconds[engine] = time.perf_counter() - start
    print("Oracle-SQL fidelity on the Spider dev subset (gold SQL through the chain)")
    print(format_table(results, seconds))
    found = causes(results, spider)
    if found:
        print("\nWhy the rest differ (cause, count, question ids; see docs/databases.md):")
        print(format_causes(found))
    if args.failures:
        print()
        print(format_failures(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
