"""Oracle-mode evaluation on the Spider subset: SQLite and DuckDB side by side.

The oracle answers every question with its gold SQL (transpiled by sqlglot for DuckDB), so the
figures measure the chain and the scorer, not a model: on SQLite anything below 100% is a bug.
On DuckDB the databases are copies of the SQLite files and the gold SQL still runs on SQLite,
so the figure shows what moving Spider's SQLite SQL to DuckDB costs; the failures are grouped
by cause below the table.

    python benchmarks/eval_oracle.py [--concurrency 2] [--spider DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlagent.evaluation.datasets import load_dataset
from sqlagent.evaluation.report import pct, secs
from sqlagent.evaluation.runner import Engine, for_engine, oracle_for, run_eval
from sqlagent.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def spider_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    env = os.environ.get("SQLAGENT_SPIDER_DIR")
    return Path(env) if env else REPO.parent / "shared" / "datasets" / "spider-dev-subset"


def cause(record: Mapping[str, Any]) -> str:
    """A short label for why an oracle answer did not match."""
    error = record.get("error") or {}
    message = str(error.get("message", ""))
    if "must appear in the GROUP BY" in message:
        return "bare column beside GROUP BY (SQLite allows it, DuckDB does not)"
    if "Cannot compare values" in message or "No function matches" in message:
        return "text column used as a number (SQLite converts, DuckDB does not)"
    if error:
        flat = " ".join(message.split())
        return f"{error.get('type')}: {flat[:70]}"
    gold = str(record.get("gold_sql", "")).lower()
    if " like " in gold:
        return "LIKE is case-insensitive in SQLite, case-sensitive in DuckDB"
    if "order by" in gold:
        return "ties under ORDER BY (with or without LIMIT) broken differently"
    return str(record.get("reason", "?"))[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spider", help="the Spider folder (default: the shared subset)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--out", help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()

    folder = spider_dir(args.spider)
    if not (folder / "dev.json").exists():
        raise SystemExit(f"No Spider subset at {folder}; set SQLAGENT_SPIDER_DIR or --spider")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="eval-oracle-"))
    dataset = load_dataset(folder)
    rows = []
    causes: Counter[str] = Counter()
    engines: tuple[Engine, ...] = ("native", "duckdb")
    for engine in engines:
        started = time.perf_counter()
        ds = for_engine(dataset, engine, cache=out / "duckdb-copies")
        prepared = time.perf_counter() - started
        result = run_eval(
            ds,
            llm_factory=oracle_for("duckdb" if engine == "duckdb" else None),
            settings=Settings(model="oracle"),
            out_dir=out / engine,
            model="oracle",
            concurrency=args.concurrency,
            engine=engine,
        )
        s = result.summary
        name = "sqlite" if engine == "native" else "duckdb"
        rows.append(
            (
                name,
                str(s.questions),
                f"{pct(s.accuracy)} ({s.correct})",
                pct(s.valid_rate),
                secs(s.latency_median),
                secs(s.latency_p95),
                f"{result.wall_time:.2f} s"
                + (f" (+{prepared:.2f} s copy)" if prepared > 0.05 else ""),
            )
        )
        if engine == "duckdb":
            causes.update(cause(r) for r in result.records if r["correct"] is not True)

    header = ("engine", "questions", "EX", "valid SQL", "median", "p95", "wall time")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"Oracle evaluation on {folder.name}, concurrency {args.concurrency}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if causes:
        print("\nDuckDB mismatches by cause:")
        for label, n in causes.most_common():
            print(f"  {n:4d}  {label}")
    print(f"\nrun folders: {out}")


if __name__ == "__main__":
    main()
