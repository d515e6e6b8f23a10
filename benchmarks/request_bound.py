"""How long past the statement timeout each denial-of-service case of the test suite takes.

Runs the cases of ``tests/guard/test_request_bound.py`` (huge values, endless recursion, cross
joins, huge IN lists) on DuckDB and SQLite, and on PostgreSQL and MariaDB when they are
reachable, through ``run_sql`` with a 2 s statement timeout; prints one row per case (seconds,
seconds past the deadline, outcome) and the worst overrun per engine.

    python benchmarks/request_bound.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "guard"))

import test_request_bound as cases  # noqa: E402

from sqlagent.pipeline import run_sql  # noqa: E402


def main() -> int:
    """Run every case once per engine and print the table."""
    worst: dict[str, float] = {}
    print(f"{'engine':<9} {'case':<62} {'seconds':>8} {'past':>6}  outcome")
    for engine, sqls in cases.CASES.items():
        try:
            db, cleanup = _open(engine)
        except pytest.skip.Exception as exc:
            print(f"{engine:<9} skipped: {exc}")
            continue
        try:
            for sql in sqls:
                started = time.monotonic()
                answer = run_sql(sql, db=db, settings=cases._settings())
                elapsed = time.monotonic() - started
                past = max(0.0, elapsed - cases.TIMEOUT)
                worst[engine] = max(worst.get(engine, 0.0), past)
                outcome = answer.error.type if answer.error else f"{len(answer.rows)} rows"
                print(f"{engine:<9} {sql[:62]:<62} {elapsed:>8.2f} {past:>6.2f}  {outcome}")
        finally:
            cleanup()
    print()
    for engine, seconds in worst.items():
        print(f"worst past the deadline on {engine}: {seconds:.2f} s (goal <= {cases.MARGIN} s)")
    return 0


def _open(engine: str):  # type: ignore[no-untyped-def]
    import tempfile

    factory = pytest.TempPathFactory(
        given_basetemp=Path(tempfile.mkdtemp()), retention_count=1, retention_policy="none",
        trace=lambda *a: None, _ispytest=True,
    )  # fmt: skip
    fixture = getattr(cases, f"{engine}_db").__wrapped__
    gen = fixture(factory) if engine in ("duckdb", "sqlite") else fixture()
    db = next(gen)
    return db, lambda: next(gen, None)


if __name__ == "__main__":
    raise SystemExit(main())
