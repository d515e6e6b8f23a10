"""Concurrent writers of one history store: throughput, and nothing lost or duplicated.

Starts N writer processes (default 8) that each record M answers (default 200) into the same
store as fast as they can, all released at once after they have connected; then counts what
the store holds against what the writers reported committed. A second run kills one writer
(SIGKILL) in the middle of its run: it may lose only the answer it was writing.

Backends: a scratch database on the PostgreSQL server (``$SQLAGENT_TEST_POSTGRES``, by
default postgres@127.0.0.1:5432; created and dropped) and the local SQLite history file.

    python benchmarks/store_writers.py [--writers 8] [--answers 200] [--backends postgresql,file]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRES_ADMIN = os.environ.get(
    "SQLAGENT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

WRITER = """
import json, sys, time
from sqlagent.store.history import HistoryStore
from sqlagent.types import Answer, Attempt, ErrorInfo, Step, Trace, Usage
store = HistoryStore(sys.argv[1])
count, name = int(sys.argv[2]), sys.argv[3]
store.count()  # connected (and migrated) before the start
print("ready", flush=True)
sys.stdin.readline()
latencies = []
for n in range(count):
    a = Answer(
        question=f"{name}-{n} How many orders were placed per month in 2025?",
        sql="SELECT date_trunc('month', ts) AS month, count(*) FROM orders GROUP BY 1",
        attempts=(Attempt("SELECT count(*) FROM order", ErrorInfo("UnknownTable", "no order")),
                  Attempt("SELECT date_trunc('month', ts) AS month, count(*) FROM orders")),
        trace=Trace((Step("context", 0.01, None, {"tokens": 800}),
                     Step("generate", 0.4, Usage(1500, 40)), Step("narrate", 0.3, Usage(600, 50))),
                    model="gpt-4.1-mini", prompt_version="bench"),
    )
    start = time.perf_counter()
    store.record(a, database="postgresql://app@db/shop", source="bench")
    latencies.append(time.perf_counter() - start)
    print(a.id, flush=True)
print("latencies " + json.dumps(latencies), flush=True)
"""


@contextmanager
def postgres_store() -> Iterator[str]:
    """The URL of a scratch PostgreSQL database, dropped afterwards."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"sqlagent_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def file_store() -> Iterator[str]:
    """A history file in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        yield str(Path(tmp) / "history.sqlite3")


def run(location: str, writers: int, answers: int, *, kill_after: int | None) -> dict[str, float]:
    """One run; ``kill_after``: SIGKILL writer 0 once it has reported that many answers."""
    from sqlagent.store.history import HistoryStore

    HistoryStore(location).count()  # create and migrate before the writers start
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(answers), f"w{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(writers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reported: list[str] = []
    latencies: list[float] = []
    killed_reported = 0
    for n, proc in enumerate(procs):
        assert proc.stdout is not None
        if n == 0 and kill_after is not None:
            for _ in range(kill_after):
                reported.append(proc.stdout.readline().strip())
            proc.send_signal(signal.SIGKILL)
            killed_reported = kill_after
            rest = proc.stdout.read().split()  # lines already written before the kill
            reported.extend(x for x in rest if len(x) == 32)
            killed_reported += len([x for x in rest if len(x) == 32])
            proc.wait()
            continue
        for line in proc.stdout:
            if line.startswith("latencies "):
                latencies.extend(json.loads(line.split(" ", 1)[1]))
            elif line.strip():
                reported.append(line.strip())
        proc.wait()
    wall = time.perf_counter() - start
    store = HistoryStore(location)
    stored = [e.id for e in store.list(limit=10 * writers * answers)]
    stored_set = set(stored)
    lost = len(set(reported) - stored_set)
    duplicated = len(stored) - len(stored_set) + (len(reported) - len(set(reported)))
    unreported = len(stored_set - set(reported))  # committed, killed before printing it
    expected = writers * answers if kill_after is None else (writers - 1) * answers
    return {
        "stored": len(stored_set),
        "expected": expected + (killed_reported if kill_after is not None else 0),
        "wall": wall,
        "rate": len(stored_set) / wall,
        "median_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": 1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))]
        if latencies
        else float("nan"),
        "lost": lost,
        "duplicated": duplicated,
        "unreported": unreported,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--backends", default="postgresql,file")
    args = parser.parse_args()
    stores = {"postgresql": postgres_store, "file": file_store}
    print(
        f"{args.writers} writer processes x {args.answers} answers each, released together\n"
        f"{'store':<11} {'run':<14} {'stored':>7} {'writes/s':>9} {'median ms':>10} "
        f"{'p95 ms':>7} {'lost':>5} {'duplicated':>11} {'unreported':>11}"
    )
    for backend in args.backends.split(","):
        for label, kill in (("all finish", None), ("one killed", args.answers // 2)):
            with stores[backend]() as location:
                r = run(location, args.writers, args.answers, kill_after=kill)
            print(
                f"{backend:<11} {label:<14} {r['stored']:>7.0f} {r['rate']:>9.0f} "
                f"{r['median_ms']:>10.2f} {r['p95_ms']:>7.2f} {r['lost']:>5.0f} "
                f"{r['duplicated']:>11.0f} {r['unreported']:>11.0f}"
            )
    print(
        "\nlost: reported committed by a writer but not in the store; duplicated: an id "
        "stored or reported twice;\nunreported: in the store but not reported (the killed "
        "writer's answer in flight; at most 1)."
    )


if __name__ == "__main__":
    main()
