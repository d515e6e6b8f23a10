"""What identifying an MCP request costs: ``Authenticator.identify`` on a bearer token, per
store backend, against the shared token (no store read) and a request that sends none.

Each row is the median and p95 of N calls (default 2000) on one thread after a warm-up, with
100 users' tokens in the store; the PostgreSQL store is a scratch database on
``$SQLAGENT_TEST_POSTGRES`` (default postgres@127.0.0.1:5432; created and dropped).

    python benchmarks/token_auth.py [--calls 2000] [--backends file,postgresql]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlagent.mcp.server import Authenticator, Refusal
from sqlagent.store.tokens import TokenStore

POSTGRES_ADMIN = os.environ.get(
    "SQLAGENT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def store_location(backend: str, folder: Path) -> Iterator[str]:
    if backend == "file":
        yield str(folder / "history.sqlite3")
        return
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"sqlagent_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    for _ in range(min(50, calls)):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def measure(location: str, calls: int, shared: str) -> list[tuple[str, float, float]]:
    """The cases on one store: (label, median ms, p95 ms)."""
    tokens = TokenStore(location)
    secrets = [tokens.add(f"user{i}", attributes={"region": "AZ"})[1] for i in range(100)]
    auth = Authenticator(tokens=tokens, shared=shared)
    anonymous = Authenticator(tokens=tokens)
    good, unknown = f"Bearer {secrets[7]}", "Bearer sqa_0123456789ab_" + "A" * 43
    assert not isinstance(auth.identify(good), Refusal)
    assert isinstance(auth.identify(unknown), Refusal)
    cases: dict[str, Callable[[], object]] = {
        "per-user token": lambda: auth.identify(good),
        "unknown token (401)": lambda: auth.identify(unknown),
        "no header, store has tokens (401)": lambda: anonymous.identify(None),
    }
    return [(label, *timed(call, calls)) for label, call in cases.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--backends", default="file,postgresql")
    args = parser.parse_args()
    shared = "shared-operator-secret-123"
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            with store_location(backend, Path(tmp)) as location:
                rows += [(backend, *row) for row in measure(location, args.calls, shared)]
    operator = Authenticator(tokens=None, shared=shared)
    timing = timed(lambda: operator.identify(f"Bearer {shared}"), args.calls)
    rows.append(("-", "shared token (no store read)", *timing))
    print(f"| store | request | median ms | p95 ms |  ({args.calls} calls each)")
    print("| --- | --- | --- | --- |")
    for backend, label, median, p95 in rows:
        print(f"| {backend} | {label} | {median:.3f} | {p95:.3f} |")


if __name__ == "__main__":
    main()
