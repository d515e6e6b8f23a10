"""The chain's own overhead: everything except the model's and the database's time.

Runs the sample questions through ``pipeline.ask`` with an instant scripted model on the sample
database (warm schema cache; the sample's knowledge file, value index and profiles, as
``Agent`` passes them; verified questions skip the generate step) and reports, per step, the
median time spent in sqlagent itself.
The database's own execution time (measured around the cursor) is subtracted from the execute
step; the scripted model takes microseconds, so generate/narrate are pure overhead (prompt
rendering, extraction). Also times ``sqlagent --help`` in a fresh interpreter.

    python benchmarks/chain_overhead.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlagent.context.knowledge import default_knowledge_path, load_knowledge
from sqlagent.context.profile import profile_schema
from sqlagent.context.valueindex import ValueIndex
from sqlagent.db import connect
from sqlagent.pipeline import ask
from sqlagent.sample import ensure_sample_database, sample_questions
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    path = ensure_sample_database()
    db = connect(path)
    schema = db.schema()  # warm the schema cache, as a running agent has it
    knowledge = load_knowledge(default_knowledge_path(path))
    start = time.perf_counter()
    values = ValueIndex.build(db, schema)
    index_seconds = time.perf_counter() - start
    start = time.perf_counter()
    profiles = profile_schema(db, schema)
    profile_seconds = time.perf_counter() - start
    settings = Settings(model="scripted")
    questions = sample_questions()
    per_step: dict[str, list[float]] = {}
    totals: list[float] = []
    for _ in range(args.rounds):
        for item in questions:
            llm = ScriptedLLM([f"```sql\n{item['sql']}\n```", "A short narrative."])
            answer = ask(
                item["question"],
                llm=llm,
                db=db,
                settings=settings,
                knowledge=knowledge,
                values=values,
                profiles=profiles,
            )
            assert answer.ok, answer.error
            overhead = 0.0
            for step in answer.trace.steps:
                spent = step.duration
                if step.name == "execute":
                    spent -= float(step.detail.get("db_seconds", 0.0))
                per_step.setdefault(step.name, []).append(spent * 1000)
                overhead += spent
            totals.append(overhead * 1000)

    print(f"Chain overhead on the sample database ({len(totals)} questions, warm schema cache)")
    print(f"{'step':<10} {'median ms':>10} {'p95 ms':>10}")
    for name, values in per_step.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"{name:<10} {statistics.median(values):>10.3f} {p95:>10.3f}")
    totals.sort()
    print(f"{'total':<10} {statistics.median(totals):>10.3f} "
          f"{totals[int(len(totals) * 0.95) - 1]:>10.3f}   (goal: median < 20 ms)")

    print(f"\nvalue index of the sample database: {len(values):,} values built in "
          f"{index_seconds:.2f} s; profiles in {profile_seconds:.2f} s (once per process, on "
          "the first question)")

    exe = Path(sys.executable).with_name("sqlagent")
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    print(f"\nsqlagent --help: median {statistics.median(runs):.3f} s over 5 runs (goal < 0.5 s)")


if __name__ == "__main__":
    main()
