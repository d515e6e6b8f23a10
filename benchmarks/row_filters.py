"""Row filters on the Spider gold queries: false refusals, unchanged answers, and the cost.

For each Spider database the largest table gets a row filter that every row meets (its first
column IS NOT NULL, or a tautology when that column holds NULLs), so the guarded query must
pass and return exactly what the gold query returns: any refusal is a false refusal, any
difference a rewrite that changed a query's meaning. A second run filters the largest table
to about half its rows (the first column at or below its median) and only counts refusals.
Timing: the median time of checking each query with and without the filter (the check is
cached, so each timing uses a fresh policy value).

    python benchmarks/row_filters.py [--spider DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from guard_corpus import spider_dir, spider_queries, spider_schema  # noqa: E402

from sqlagent.errors import GuardError  # noqa: E402
from sqlagent.guard import check  # noqa: E402
from sqlagent.settings import Policy, RowFilter  # noqa: E402


def _largest(con: sqlite3.Connection, tables: list[str]) -> tuple[str, int]:
    sizes = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    table = max(sizes, key=lambda t: (sizes[t], t))
    return table, sizes[table]


def _filters(con: sqlite3.Connection, table: str, column: str) -> tuple[str, str]:
    """(a filter every row meets, a filter about half the rows meet) on ``table``."""
    nulls = con.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NULL').fetchone()[0]
    keep_all = f'"{column}" IS NOT NULL' if nulls == 0 else f'"{column}" IS NULL OR 1 = 1'
    values = sorted(
        (r[0] for r in con.execute(f'SELECT "{column}" FROM "{table}"') if r[0] is not None),
        key=repr,
    )
    median = values[len(values) // 2] if values else 0
    literal = (
        str(median)
        if isinstance(median, (int, float))
        else "'" + str(median).replace("'", "''") + "'"
    )
    return keep_all, f'"{column}" <= {literal}'


def _canonical(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    root = args.spider or spider_dir()
    if not (root / "dev.json").exists():
        print(f"The Spider dev subset is not at {root}: set SQLAGENT_SPIDER_DIR", file=sys.stderr)
        return 2
    items = spider_queries(root)
    counts: Counter[str] = Counter()
    problems: list[str] = []
    plain_times: list[float] = []
    filtered_times: list[float] = []
    setups: dict[str, tuple[sqlite3.Connection, str, int, str, str]] = {}
    for item in items:
        db_id = item["db_id"]
        schema = spider_schema(db_id, "sqlite", root)
        if db_id not in setups:
            path = root / "database" / db_id / f"{db_id}.sqlite"
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            con.text_factory = lambda b: b.decode(errors="replace")
            table, rows = _largest(con, [t.name for t in schema.tables])
            info = schema.table(table)
            assert info is not None
            setups[db_id] = (con, table, rows, *_filters(con, table, info.columns[0].name))
        con, table, _, keep_all, half = setups[db_id]
        query = item["query"]
        counts["queries"] += 1
        for label, condition in (("all rows", keep_all), ("half", half)):
            policy = Policy(row_filters=(RowFilter(table, condition),), max_rows=1_000_000)
            try:
                guarded = check(query, schema=schema, policy=policy)
            except GuardError as exc:
                counts[f"refused ({label})"] += 1
                problems.append(f"[{db_id}] refused with {label}: {query}\n    {exc}")
                continue
            if label != "all rows":
                continue
            reads = any(name.lower() == table.lower() for name in guarded.tables)
            if reads:
                counts["read the filtered table"] += 1
            try:
                expected = con.execute(query).fetchall()
                got = con.execute(guarded.executable).fetchall()
            except sqlite3.Error as exc:
                counts["errors"] += 1
                problems.append(f"[{db_id}] {exc}: {guarded.executable}")
                continue
            if _canonical(got) == _canonical(expected):
                counts["same answer"] += 1
            else:
                counts["different answer"] += 1
                problems.append(f"[{db_id}] different answer: {guarded.executable}")
        reads_table = any(
            t.lower() == table.lower() for t in check(query, schema=schema, policy=Policy()).tables
        )
        for _ in range(args.repeat if reads_table else 0):
            # A new policy value each time: checks are cached by policy.
            fresh = 10_000 + counts["timed"]
            counts["timed"] += 1
            plain = Policy(max_rows=fresh)
            started = time.perf_counter()
            check(query, schema=schema, policy=plain)
            plain_times.append(time.perf_counter() - started)
            filtered = Policy(row_filters=(RowFilter(table, keep_all),), max_rows=fresh)
            started = time.perf_counter()
            try:
                check(query, schema=schema, policy=filtered)
            except GuardError:
                continue
            filtered_times.append(time.perf_counter() - started)
    for con, *_ in setups.values():
        con.close()

    plain_ms = statistics.median(plain_times) * 1000 if plain_times else float("nan")
    filtered_ms = statistics.median(filtered_times) * 1000 if filtered_times else float("nan")
    largest = ", ".join(f"{d}.{s[1]} ({s[2]:,})" for d, s in sorted(setups.items()))
    print(f"Filtered tables (the largest of each database): {largest}\n")
    print(f"{'measure':<44} {'value':>10}")
    for key in (
        "queries",
        "read the filtered table",
        "refused (all rows)",
        "refused (half)",
        "same answer",
        "different answer",
        "errors",
    ):
        print(f"{key:<44} {counts[key]:>10}")
    # Timed on the queries that read the filtered table (the others are not rewritten).
    print(f"{'median check, no filter (ms)':<44} {plain_ms:>10.3f}")
    print(f"{'median check, with the filter (ms)':<44} {filtered_ms:>10.3f}")
    print(f"{'time the rewrite adds per query (ms)':<44} {filtered_ms - plain_ms:>10.3f}")
    print(f"{'ratio':<44} {filtered_ms / plain_ms:>10.2f}")
    for problem in problems[:20]:
        print(problem)
    refused = counts["refused (all rows)"] + counts["refused (half)"]
    return 1 if refused or counts["different answer"] or counts["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
