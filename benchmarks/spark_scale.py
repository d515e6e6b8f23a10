"""Spark at scale: an aggregate over generated rows through sqlagent vs sent directly, the
memory of sqlagent's process while a large result is cut at max_rows, and the introspection
time of a wide catalog.

Needs a Spark Connect server: ``$SQLAGENT_TEST_SPARK``, else one is started
(``tests/sparkserver.py``).

    python benchmarks/spark_scale.py [--rows 100000000] [--repeat 3] [--tables 500]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import sparkserver  # noqa: E402

from sqlagent.db import connect  # noqa: E402
from sqlagent.pipeline import run_sql  # noqa: E402
from sqlagent.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tables", type=int, default=500)
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    server = sparkserver.from_environment()
    work = tempfile.TemporaryDirectory(prefix="sqlagent-spark-bench-")
    started = None
    if server is None:
        why = sparkserver.unavailable()
        if why:
            print(f"skipped: {why}")
            return 2
        server = started = sparkserver.start(Path(work.name))
    from pyspark.sql.connect.session import SparkSession

    spark = SparkSession.builder.remote(server.url).create()
    try:
        spark.sql("DROP DATABASE IF EXISTS bench CASCADE")
        spark.sql("CREATE DATABASE bench")
        t0 = time.perf_counter()
        spark.sql(
            f"CREATE TABLE bench.big USING parquet AS SELECT id, id % 1000 AS k, "
            f"CAST(id % 97 AS DOUBLE) AS v FROM range({args.rows})"
        )
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        sql = "SELECT k, count(*) AS n, sum(v) AS s FROM bench.big GROUP BY k ORDER BY k"
        db = connect(f"{server.url}/;database=bench")
        settings = Settings(model="none").with_(max_rows=1000, statement_timeout=600)
        direct, chain = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            rows = spark.sql(sql).collect()
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            answer = run_sql(sql, db=db, settings=settings)
            chain.append(time.perf_counter() - t)
            assert answer.error is None and answer.row_count == len(rows) == 1000
        d, c = statistics.median(direct), statistics.median(chain)
        print(f"{'aggregate':<28} {'direct s':>9} {'sqlagent s':>11} {'ratio':>6}")
        print(
            f"{'GROUP BY k over ' + format(args.rows, ','):<28} {d:>9.2f} {c:>11.2f} {c / d:>6.3f}"
        )
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        big = run_sql("SELECT id, k, v FROM bench.big", db=db, settings=settings)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"SELECT * of {args.rows:,} rows at max_rows=1000: {time.perf_counter() - t:.2f} s, "
            f"truncated={big.truncated}, peak RSS {before / 1024:.0f} -> {rss / 1024:.0f} MB"
        )
        db.close()
        spark.sql("DROP DATABASE IF EXISTS bench CASCADE")
        spark.sql("DROP DATABASE IF EXISTS wide CASCADE")
        spark.sql("CREATE DATABASE wide")
        for i in range(args.tables):
            spark.sql(
                f"CREATE TABLE wide.t{i:03d} (id BIGINT COMMENT 'key', name STRING, "
                f"amount DECIMAL(10,2), day DATE) USING parquet COMMENT 'table {i}'"
            )
        wide = connect(f"{server.url}/;database=wide", sample_values=False)
        t = time.perf_counter()
        schema = wide.schema()
        print(
            f"introspection of {len(schema.tables)} tables: {time.perf_counter() - t:.2f} s "
            f"({sum(bool(c.comment) for tb in schema.tables for c in tb.columns)} column "
            "comments read within the budget)"
        )
        wide.close()
        spark.sql("DROP DATABASE IF EXISTS wide CASCADE")
    finally:
        spark.stop()
        if started is not None:
            started.stop()
        work.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
