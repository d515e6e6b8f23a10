"""How the chain handles the replies models really send, and whether narrations are grounded.

Runs every case of tests/fixtures/replies.yaml through the real chain on the sample database
(scripted model, real guard, real DuckDB, narration off) and every narration of
tests/fixtures/narrations.yaml through the grounding check. Prints two tables:

- per reply class: cases, usable replies answered with the expected SQL, unusable ones turned
  into their typed outcome (no traceback), repairs and model calls per reply;
- narration grounding: invented numbers caught, false alarms on grounded narrations.

Exits 1 when a case ends otherwise than expected.

    python benchmarks/reply_corpus.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reply_corpus import CaseResult, corpus_settings, load_cases, run_case  # noqa: E402

from sqlagent.answer.grounding import ungrounded_numbers  # noqa: E402
from sqlagent.answer.summarize import result_summary  # noqa: E402
from sqlagent.db import connect  # noqa: E402
from sqlagent.sample import ensure_sample_database  # noqa: E402


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def reply_table(results: list[CaseResult]) -> None:
    by_class: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_class[r.cls].append(r)
    header = (
        f"{'class':<14} {'cases':>5} {'answered (usable)':>18} {'typed (unusable)':>17} "
        f"{'repairs/reply':>13} {'calls/reply':>11}"
    )
    print(header)
    print("-" * len(header))

    def row(name: str, rs: list[CaseResult]) -> None:
        usable = [r for r in rs if r.usable]
        unusable = [r for r in rs if not r.usable]
        print(
            f"{name:<14} {len(rs):>5} "
            f"{_share(sum(r.ok for r in usable), len(usable)):>18} "
            f"{_share(sum(r.ok for r in unusable), len(unusable)):>17} "
            f"{statistics.mean(r.repairs for r in rs):>13.2f} "
            f"{statistics.mean(r.calls for r in rs):>11.2f}"
        )

    for name in sorted(by_class):
        row(name, by_class[name])
    print("-" * len(header))
    row("all", results)


def grounding_table(db) -> tuple[int, int]:
    """Print the grounding table; return (invented missed, false alarms)."""
    table = yaml.safe_load((REPO / "tests" / "fixtures" / "narrations.yaml").read_text("utf-8"))
    grounded = alarms = invented = caught = named_right = 0
    for item in table:
        result = db.execute(item["sql"], max_rows=50, timeout=30)
        summary = result_summary(result, max_rows=20)
        also = (item["question"], item["sql"])
        for text in item["grounded"]:
            grounded += 1
            found = ungrounded_numbers(text, summary, also=also, row_count=result.row_count)
            alarms += bool(found)
        for case in item["grounded_not"]:
            invented += 1
            found = ungrounded_numbers(case["text"], summary, also=also, row_count=result.row_count)
            caught += bool(found)
            named_right += found == case["invented"]
    print(f"{'narrations':<34} {'count':>5} {'result':>16}")
    print("-" * 57)
    print(f"{'inventing: caught':<34} {invented:>5} {_share(caught, invented):>16}")
    print(
        f"{'inventing: exactly the numbers named':<34} {invented:>5} "
        f"{_share(named_right, invented):>16}"
    )
    print(f"{'grounded: false alarms':<34} {grounded:>5} {_share(alarms, grounded):>16}")
    return invented - caught, alarms


def main() -> int:
    db = connect(f"duckdb:///{ensure_sample_database()}")
    settings = corpus_settings()
    cases = load_cases()
    started = time.perf_counter()
    results = [run_case(case, db, settings) for case in cases]
    elapsed = time.perf_counter() - started
    print(f"Reply corpus: {len(cases)} cases, {elapsed:.1f} s\n")
    reply_table(results)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"  FAILED {r.id}: {r.problem}")
    print()
    missed, alarms = grounding_table(db)
    db.close()
    return 1 if failed or missed or alarms else 0


if __name__ == "__main__":
    sys.exit(main())
