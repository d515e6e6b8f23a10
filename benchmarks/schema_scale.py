"""Schema context at scale: 1,000 tables × 20 columns, and a million distinct values.

    .venv/bin/python benchmarks/schema_scale.py [--tables 1000] [--values 1000000]
                                                [--postgres URL | --no-postgres]

For a generated database in DuckDB (a temporary file) and in PostgreSQL (a scratch database,
created and dropped; default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``):

- cold introspection: ``connect(url).schema()`` (the database layer: catalog queries, row
  counts, sample values);
- cold start with the schema cache (introspection + fingerprint + write);
- warm start: a new connection whose schema comes from the cache (connect + fingerprint +
  read);
- context selection: ``build_context`` per question against the 1,000 tables (the first
  call, which builds the linking index, is reported apart), and whether the table the
  question is about made it into the context.

Then the value index: build over a million distinct values (``from_values``, and
``build`` reading them from DuckDB) and lookup time per question.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlagent.context import build_context  # noqa: E402
from sqlagent.context.schema_cache import (  # noqa: E402
    SchemaCache,
    connection_key,
    schema_fingerprint,
    with_schema_cache,
)
from sqlagent.context.valueindex import ValueIndex  # noqa: E402
from sqlagent.db import connect  # noqa: E402

NOUNS = re.findall(
    r"\w+",
    """
account address agent airline airport album artist asset audit badge bank batch benefit bill
book booking branch brand budget building bus campaign candidate card carrier case category
certificate channel charge city claim class client clinic coach comment company complaint
contract contact course coupon court credit currency customer dealer degree delivery
department deposit device diagnosis discount district doctor document donation driver
employee engine enrollment event exam expense factory fee field film flight fund game grade
grant guest hospital hotel incident invoice item journal lab language lease lesson license
loan location machine manager market meeting member menu message model module movie museum
note offer office order owner package parcel partner patient payment period permit pet
phone player policy port position post premium price product program project property
provider purchase quote rating receipt recipe record region rental report request
reservation resource restaurant review reward room route salary sale schedule school
season seat sector seller semester sensor service session shelf shift shipment shop skill
song sponsor stadium staff station status stock store student subject supplier survey task
tax teacher team template tenant test ticket tour track trade train transfer trip truck unit
user vehicle vendor venue visit voucher warehouse wallet warranty
""",
)

SUFFIXES = ["id", "name", "code", "date", "amount", "status", "type", "count", "note", "rate"]
TYPES = {
    "id": "INTEGER",
    "name": "VARCHAR(100)",
    "code": "VARCHAR(20)",
    "date": "DATE",
    "amount": "DECIMAL(12,2)",
    "status": "VARCHAR(20)",
    "type": "VARCHAR(30)",
    "count": "INTEGER",
    "note": "VARCHAR(200)",
    "rate": "DOUBLE PRECISION",
}


@dataclass(frozen=True)
class GenTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type)
    parent: str | None  # table this one references through parent_id


def generate(n_tables: int, n_columns: int, seed: int = 7) -> list[GenTable]:
    """Tables with two-noun names, typed columns named noun_suffix, and FK chains."""
    rng = random.Random(seed)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n_tables:
        name = f"{rng.choice(NOUNS)}_{rng.choice(NOUNS)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    tables = []
    for i, name in enumerate(names):
        cols: list[tuple[str, str]] = [("id", "INTEGER")]
        parent = names[rng.randrange(i)] if i and rng.random() < 0.7 else None
        if parent:
            cols.append(("parent_id", "INTEGER"))
        used = {"id", "parent_id"}
        while len(cols) < n_columns:
            suffix = rng.choice(SUFFIXES[1:])
            col = f"{rng.choice(NOUNS)}_{suffix}"
            if col not in used:
                used.add(col)
                cols.append((col, TYPES[suffix]))
        tables.append(GenTable(name, tuple(cols), parent))
    return tables


def ddl(tables: list[GenTable], *, comments: bool) -> Iterator[str]:
    for t in tables:
        cols = [f'"{c}" {ty}' + (" PRIMARY KEY" if c == "id" else "") for c, ty in t.columns]
        if t.parent:
            cols.append(f'FOREIGN KEY (parent_id) REFERENCES "{t.parent}"(id)')
        yield f'CREATE TABLE "{t.name}" ({", ".join(cols)})'
        if comments:
            words = t.name.replace("_", " ")
            yield f"COMMENT ON TABLE \"{t.name}\" IS 'Records of {words}'"


def rows_sql(t: GenTable, n: int, rng: random.Random) -> str:
    values = []
    for i in range(1, n + 1):
        row = []
        for c, ty in t.columns:
            if c == "id":
                row.append(str(i))
            elif c == "parent_id":
                row.append("1")
            elif ty.startswith("VARCHAR"):
                row.append(f"'{rng.choice(NOUNS)} {rng.randint(1, 9)}'")
            elif ty == "DATE":
                row.append(f"DATE '2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}'")
            else:
                row.append(str(rng.randint(0, 1000)))
        values.append("(" + ", ".join(row) + ")")
    return f'INSERT INTO "{t.name}" VALUES ' + ", ".join(values)


def questions(tables: list[GenTable], n: int, seed: int = 11) -> list[tuple[str, str]]:
    """(question, table it is about): words of the table name and of two of its columns."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = rng.choice(tables)
        a, b = rng.sample([c for c, _ in t.columns[1:] if c != "parent_id"], 2)
        subject = t.name.replace("_", " ")
        out.append(
            (
                f"What is the total {a.replace('_', ' ')} of each {subject} "
                f"by {b.replace('_', ' ')}?",
                t.name,
            )
        )
    return out


# --------------------------------------------------------------------------- measuring


def _ms(seconds: float, digits: int = 1) -> str:
    return f"{seconds * 1000:.{digits}f}"


def _p95(sorted_times: list[float]) -> float:
    return sorted_times[int(len(sorted_times) * 0.95)]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure_database(label: str, url: str, tables: list[GenTable], cache_dir: Path) -> list[str]:
    rows = []
    db = connect(url)
    cold, schema = timed(db.schema)
    db.close()
    rows.append(f"| {label} | cold introspection (db layer) | {cold:.2f} s |")
    n_tables = len(schema.tables)  # type: ignore[attr-defined]

    cache = SchemaCache(cache_dir)
    db = with_schema_cache(connect(url), cache_dir)
    first, _ = timed(db.schema)
    db.close()
    rows.append(
        f"| {label} | cold start with cache (introspect + fingerprint + write) | {first:.2f} s |"
    )
    warm_times, parts = [], []
    for _ in range(5):
        start = time.perf_counter()
        raw = connect(url)
        connected = time.perf_counter()
        fingerprint = schema_fingerprint(raw)
        fingerprinted = time.perf_counter()
        assert fingerprint is not None
        warm_schema = cache.load(connection_key(raw), fingerprint)
        done = time.perf_counter()
        assert warm_schema is not None, "the warm start did not come from the cache"
        raw.close()
        warm_times.append(done - start)
        parts.append((connected - start, fingerprinted - connected, done - fingerprinted))
    part = [statistics.median(p[i] for p in parts) * 1000 for i in range(3)]
    rows.append(
        f"| {label} | warm start from cache (connect + fingerprint + read), median of 5 "
        f"| {statistics.median(warm_times):.3f} s ({part[0]:.0f} + {part[1]:.0f} "
        f"+ {part[2]:.0f} ms) |"
    )
    del cache

    qs = questions(tables, 200)
    first_ctx, _ = timed(lambda: build_context(warm_schema, qs[0][0], budget=3000))
    times, hits, tokens = [], 0, []
    for q, table in qs:
        start = time.perf_counter()
        ctx = build_context(warm_schema, q, budget=3000)
        times.append(time.perf_counter() - start)
        tokens.append(ctx.tokens)
        hits += any(t.split(".")[-1] == table for t in ctx.tables)
    times.sort()
    rows.append(
        f"| {label} | first context (builds the linking index, {n_tables} tables) "
        f"| {first_ctx * 1000:.0f} ms |"
    )
    rows.append(
        f"| {label} | context per question, median / p95 "
        f"| {_ms(statistics.median(times))} / {_ms(_p95(times))} ms |"
    )
    rows.append(
        f"| {label} | asked-about table in context / median tokens "
        f"| {hits / len(qs):.1%} / {statistics.median(tokens):,.0f} |"
    )
    return rows


def duckdb_database(path: Path, tables: list[GenTable]) -> str:
    import duckdb

    rng = random.Random(3)
    con = duckdb.connect(str(path))
    for statement in ddl(tables, comments=True):
        con.execute(statement)
    for t in tables:
        con.execute(rows_sql(t, 5, rng))
    con.close()
    return f"duckdb:///{path}"


def postgres_database(admin_url: str, tables: list[GenTable]) -> tuple[str, Callable[[], None]]:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"sqlagent_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin_url).set(database=name)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    rng = random.Random(3)
    with engine.connect() as conn:
        for statement in ddl(tables, comments=True):
            conn.exec_driver_sql(statement)
        for t in tables:
            conn.exec_driver_sql(rows_sql(t, 5, rng))
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


# --------------------------------------------------------------------------- values


def million_values(n: int, seed: int = 1) -> list[tuple[str, str, str]]:
    """``n`` distinct (table, column, value) triples: names made of invented words (a large
    vocabulary, the hard case for the index), some with numbers."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ra", "ten", "dor", "vin", "sa", "pe", "qu", "zu", "bel",
                 "mar", "an", "is", "or", "ul", "ex", "tri", "nor"]  # fmt: skip
    vocab = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).capitalize()
        for _ in range(200_000)
    ]
    columns = [(f"t{i}", f"c{j}") for i in range(50) for j in range(4)]
    seen: set[tuple[int, str]] = set()
    out = []
    while len(out) < n:
        words = rng.choice((1, 1, 2, 2, 3))
        value = " ".join(rng.choice(vocab) for _ in range(words))
        if rng.random() < 0.2:
            value += f" {rng.randint(1, 99_999)}"
        ci = rng.randrange(len(columns))
        if (ci, value) in seen:
            continue
        seen.add((ci, value))
        out.append((*columns[ci], value))
    return out


def value_queries(items: list[tuple[str, str, str]], n: int) -> list[tuple[str, str]]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        value = rng.choice(items)[2]
        word = value.split()[0]
        if i % 3 == 0 and len(word) > 5:  # a typo: two neighbouring letters swapped
            word = word[:2] + word[3] + word[2] + word[4:]
        out.append((f"How many orders were placed by customers in {word} last year?", value))
    return out


def measure_values(n: int, tmp: Path) -> list[str]:
    items = million_values(n)
    build, index = timed(lambda: ValueIndex.from_values(items))
    assert isinstance(index, ValueIndex)
    qs = value_queries(items, 300)
    times = []
    for q, _ in qs:
        start = time.perf_counter()
        index.search(q)
        times.append(time.perf_counter() - start)
    times.sort()
    rows = [
        f"| value index | from_values, {len(index):,} distinct values | {build:.1f} s |",
        f"| value index | lookup per question, median / p95 "
        f"| {_ms(statistics.median(times), 2)} / {_ms(_p95(times), 2)} ms |",
    ]
    # The same values read from a database by ValueIndex.build.
    import duckdb

    path = tmp / "values.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE v (c0 VARCHAR)")
    distinct = list(dict.fromkeys(v for _, _, v in items))[: n // 10]
    con.executemany("INSERT INTO v VALUES (?)", [(v,) for v in distinct])
    con.execute("INSERT INTO v SELECT c0 || ' #' || i FROM v, range(9) r(i)")
    con.close()
    db = connect(f"duckdb:///{path}", sample_values=False)
    schema = db.schema()
    built, db_index = timed(
        lambda: ValueIndex.build(db, schema, max_values_per_column=n, max_total=n, scan_rows=n)
    )
    db.close()
    assert isinstance(db_index, ValueIndex)
    rows.append(
        f"| value index | build from DuckDB, {len(db_index):,} distinct values | {built:.1f} s |"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="admin URL of a PostgreSQL server (a scratch database is created and dropped)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    tables = generate(args.tables, args.columns)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sqlagent-bench-") as tmp_name:
        tmp = Path(tmp_name)
        url = duckdb_database(tmp / "scale.duckdb", tables)
        rows += measure_database("DuckDB", url, tables, tmp / "cache-duckdb")
        if not args.no_postgres:
            try:
                pg_url, drop = postgres_database(args.postgres, tables)
            except Exception as exc:
                rows.append(f"| PostgreSQL | not reachable: {str(exc).splitlines()[0]} | |")
            else:
                try:
                    rows += measure_database("PostgreSQL", pg_url, tables, tmp / "cache-pg")
                finally:
                    drop()
        if args.values:
            rows += measure_values(args.values, tmp)
    print(
        f"\nScale: {args.tables:,} tables × {args.columns} columns, "
        f"{args.values:,} distinct values\n"
    )
    print("| database | measure | value |")
    print("|---|---|---|")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
