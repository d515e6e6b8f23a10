"""False refusals of the SQL guard on the Spider gold queries, and how long a check takes.

Every gold query of the Spider dev subset is a valid, read-only query, so the guard must accept
all of them: in SQLite (their own dialect) and, transpiled from the guard's SQLite output, in
DuckDB, PostgreSQL and MySQL (each against its own function allow-list). Prints one row per
dialect and lists any refusal; exits 1 if there is one.

    python benchmarks/guard_false_refusals.py [--spider DIR] [--repeat N]

The dataset is read from ``$SQLAGENT_SPIDER_DIR`` or ``../shared/datasets/spider-dev-subset``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import sqlglot

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from guard_corpus import spider_dir, spider_queries, spider_schema  # noqa: E402

from sqlagent.errors import GuardError  # noqa: E402
from sqlagent.guard import check  # noqa: E402
from sqlagent.settings import Policy  # noqa: E402
from sqlagent.types import SchemaInfo  # noqa: E402

TRANSPILED = ("duckdb", "postgres", "mysql")


def run(root: Path, repeat: int) -> int:
    """Check every gold query ``repeat`` times per dialect; print the table; return refusals."""
    items = spider_queries(root)
    policy = Policy()
    dialects = ("sqlite", *TRANSPILED)
    timings: dict[str, list[float]] = {d: [] for d in dialects}
    passed = dict.fromkeys(dialects, 0)
    refused: dict[str, list[str]] = {d: [] for d in dialects}
    for item in items:
        sqlite_schema = spider_schema(item["db_id"], "sqlite", root)
        guarded = _timed(item["query"], sqlite_schema, policy, repeat, timings["sqlite"])
        if isinstance(guarded, GuardError):
            refused["sqlite"].append(f"[{item['db_id']}] {item['query']}\n    {guarded}")
            continue
        passed["sqlite"] += 1
        for dialect in TRANSPILED:
            text = sqlglot.transpile(guarded, read="sqlite", write=dialect)[0]
            schema = _as_loaded(spider_schema(item["db_id"], dialect, root))
            outcome = _timed(text, schema, policy, repeat, timings[dialect])
            if isinstance(outcome, GuardError):
                refused[dialect].append(f"[{item['db_id']}] {text}\n    {outcome}")
            else:
                passed[dialect] += 1

    widths: list[tuple[str, int]] = [("dialect", -8), ("queries", 8), ("passed", 7)]
    widths += [("refused", 8), ("median ms", 10), ("p95 ms", 7)]
    print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in widths))
    for dialect in dialects:
        times = sorted(timings[dialect])
        median = statistics.median(times) * 1000 if times else 0.0
        p95 = times[int(len(times) * 0.95)] * 1000 if times else 0.0
        print(
            f"{dialect:<8} {len(items):>8} {passed[dialect]:>7} {len(refused[dialect]):>8} "
            f"{median:>10.2f} {p95:>7.2f}"
        )
    failures = [line for d in dialects for line in refused[d]]
    for line in failures:
        print("REFUSED", line)
    return len(failures)


def _as_loaded(schema: SchemaInfo) -> SchemaInfo:
    """The schema as loading it into PostgreSQL with unquoted names stores it: lower case."""
    if schema.dialect != "postgres":
        return schema
    from dataclasses import replace

    tables = tuple(
        replace(
            t,
            name=t.name.lower(),
            columns=tuple(replace(c, name=c.name.lower()) for c in t.columns),
            primary_key=tuple(c.lower() for c in t.primary_key),
        )
        for t in schema.tables
    )
    return replace(schema, tables=tables)


def _timed(
    sql: str, schema: SchemaInfo, policy: Policy, repeat: int, into: list[float]
) -> str | GuardError:
    """The checked SQL (or the refusal), adding the best of ``repeat`` timings to ``into``."""
    best = float("inf")
    result: str | GuardError = ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            result = check(sql, schema=schema, policy=policy).sql
        except GuardError as err:
            result = err
        best = min(best, time.perf_counter() - start)
    into.append(best)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", type=Path, default=None, help="the Spider subset folder")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per query (best kept)")
    args = parser.parse_args(argv)
    root = args.spider or spider_dir()
    if not (root / "dev.json").exists():
        print(f"Spider dev subset not found at {root} (set SQLAGENT_SPIDER_DIR)", file=sys.stderr)
        return 2
    return 1 if run(root, max(1, args.repeat)) else 0


if __name__ == "__main__":
    sys.exit(main())
