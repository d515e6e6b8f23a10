"""The fixed cost of checking and running one query: sqlagent's time, not the database's.

For each SQL query of the sample questions (``sample_data/questions.yaml``) on the sample
database: the guard's check on its own, first time and from the check cache (a re-run), and
the fixed cost of ``run_sql`` (parse, checks, row bound, hand-over to the engine, result
bookkeeping), that is ``run_sql``'s time minus the same statement run directly on a plain
cursor of the same DuckDB connection. Rounds alternate between the two; medians over all
queries and rounds.

    python benchmarks/check_cost.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlagent import guard
from sqlagent.db import connect
from sqlagent.pipeline import run_sql
from sqlagent.sample import ensure_sample_database, sample_questions
from sqlagent.settings import Settings


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    path = ensure_sample_database()
    db = connect(path)
    schema = db.schema()
    settings = Settings(model="scripted", api_key=None, base_url=None)
    policy = settings.policy
    plain = db._con  # type: ignore[attr-defined]  # the same connection, no sqlagent code
    queries = [q["sql"] for q in sample_questions() if q.get("sql")]
    cold: list[float] = []
    warm: list[float] = []
    fixed: list[float] = []
    for _ in range(args.rounds):
        for sql in queries:
            t = time.perf_counter()
            checked = guard._check(sql, schema, policy, schema.dialect)  # no cache
            cold.append(time.perf_counter() - t)
            guard.check(sql, schema=schema, policy=policy)
            t = time.perf_counter()
            guard.check(sql, schema=schema, policy=policy)
            warm.append(time.perf_counter() - t)
            t = time.perf_counter()
            cur = plain.cursor()
            cur.execute(checked.executable).fetchmany(settings.max_rows + 1)
            cur.close()
            direct = time.perf_counter() - t
            t = time.perf_counter()
            answer = run_sql(sql, db=db, settings=settings)
            agent = time.perf_counter() - t
            assert answer.error is None, answer.error
            fixed.append(agent - direct)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:8.3f}"

    print(f"{len(queries)} sample queries x {args.rounds} rounds, medians (goal: fixed <= 1.5 ms)")
    print(f"{'what':<44} {'ms':>8}")
    print(f"{'check, first time (parse, checks, bound)':<44} {ms(cold)}")
    print(f"{'check, from the cache (a re-run)':<44} {ms(warm)}")
    print(f"{'run_sql minus the plain cursor, warm':<44} {ms(fixed)}")


if __name__ == "__main__":
    main()
