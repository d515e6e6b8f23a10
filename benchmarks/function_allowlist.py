"""The guard's function allow-lists: how big each is, and where the named lists come from.

The guard lets a function through only when it is on the allow-list of the statement's
dialect (``sqlagent/guard/functions.py``): a reviewed set of sqlglot's typed function classes
(the same for every dialect) plus, per dialect, the names sqlglot leaves untyped
(``sqlagent/guard/data/<dialect>.txt``). This script prints, per dialect, how many distinct
functions are allowed, and with ``--regenerate`` rebuilds the named lists from the engines'
own catalogs, keeping only functions the engine declares deterministic or stable and dropping
everything on the review exclusions below (server and session introspection, statistics,
locks, sequences, files, sleeping). A regenerated list is a proposal: read the diff before
committing it.

    python benchmarks/function_allowlist.py [--regenerate duckdb,sqlite,postgres,spark]

Spark's list comes from ``SHOW SYSTEM FUNCTIONS`` on a Spark Connect server (``--spark``);
Spark declares no determinism in its catalog, so its review exclusions (``SPARK_EXCLUDE``)
are explicit. MySQL/MariaDB have no catalog of built-in functions; their list is kept by hand.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlagent.guard import functions as guard_functions  # noqa: E402
from sqlagent.guard import rules as guard_rules  # noqa: E402

DATA = REPO / "sqlagent" / "guard" / "data"

# Names matching these are never proposed: they describe the server, the session or the
# catalog, take locks, touch sequences, statistics, files or the log, or sleep.
EXCLUDE = re.compile(
    r"^(__|acl|getpgusername|getdatabaseencoding|oidvectortypes|makeaclitem|mxid_age|"
    r"json_serialize_plan|json_serialize_sql|json_deserialize_sql|pg_|has_|inet_|txid_|duckdb_|pragma_|lo_|dblink|binary_upgrade|brin_|gin_|"
    r"to_reg|row_security|sqlite_|fts|rtree|current_(?!date$|time$|timestamp$|localtime$|"
    r"localtimestamp$)|get_current_|getvariable|getenv|version|setseed|write_log|sleep|"
    r"stats$|error$|assert|col_description|obj_description|shobj_description|format_type|"
    r"format_pg_type|map_to_pg_oid|map_type_id_to_pg_oid|in_search_path|session_user|user$|"
    r"nextval|currval|setval|lastval|changes|total_changes|last_insert_rowid|load_extension|"
    r"highlight|snippet|offsets|matchinfo|optimize|bm25|json_execute|query|"
    r"get_block_size|vector_type|system$|timeofday|currtid|ts_stat|ts_rewrite|"
    r"cursor_to|table_to|schema_to|database_to|set_config|make_timestamptz$|"
    r"xmlexists|xpath|gen_random_uuid|amvalidate|bernoulli|dsnowball|suppress_redundant|"
    r"tsvector_update_trigger|.*handler$|.*_(in|out|recv|send|support|typmodin|typmodout|"
    r"analyze|validator)$|ri_fkey)"
)
# Spark built-ins that reach the JVM (reflect), read or name files (input_file_*, protobuf
# descriptor files, Avro schema URLs), parse XML (external entities), read the server's logs,
# expose how the job is executed, list the catalog, or fail on purpose.
SPARK_EXCLUDE = re.compile(
    r"^(reflect|java_method|try_reflect|input_file_.*|from_protobuf|to_protobuf|from_avro|"
    r"to_avro|schema_of_avro|from_xml|schema_of_xml|python_worker_logs|spark_partition_id|"
    r"sql_keywords|collations|raise_error|measure|window_time)$"
)
# Non-deterministic but local and harmless: allowed although the engine calls them volatile.
VOLATILE_OK = {"random", "uuid", "uuidv4", "uuidv7", "clock_timestamp", "randomblob"}


def _keep(name: str) -> bool:
    low = name.lower()
    if low in guard_rules.COMMON_DENIED_FUNCTIONS:
        return False
    if any(low in d for d in guard_rules.DIALECT_DENIED_FUNCTIONS.values()):
        return False
    return bool(re.fullmatch(r"[a-z_][a-z0-9_]*", low)) and not EXCLUDE.match(low)


def duckdb_names() -> set[str]:
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        "SELECT DISTINCT function_name, function_type, stability FROM duckdb_functions()"
    ).fetchall()
    return {
        n.lower()
        for n, kind, stability in rows
        if kind in ("scalar", "aggregate", "window", "macro")
        and (stability != "VOLATILE" or n.lower() in VOLATILE_OK)
        and _keep(n)
    }


def sqlite_names() -> set[str]:
    con = sqlite3.connect(":memory:")
    rows = con.execute("SELECT name, flags FROM pragma_function_list").fetchall()
    deterministic = 0x800
    aggregates_and_windows = {
        "avg", "count", "group_concat", "max", "min", "sum", "total", "string_agg",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
        "lead", "first_value", "last_value", "nth_value", "current_date", "current_time",
        "current_timestamp",
    }  # fmt: skip
    return {
        n.lower()
        for n, flags in rows
        if (flags & deterministic or n.lower() in aggregates_and_windows | VOLATILE_OK)
        and _keep(n)
    }


def postgres_names(url: str) -> set[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT proname, provolatile FROM pg_proc "
            "WHERE pronamespace = 'pg_catalog'::regnamespace AND prokind IN ('f', 'a', 'w')"
        ).fetchall()
    return {
        n.lower() for n, vol in rows if (vol != "v" or n.lower() in VOLATILE_OK) and _keep(n)
    }


def spark_names(url: str) -> set[str]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pyspark.sql.connect.session import SparkSession

    spark = SparkSession.builder.remote(url).create()
    try:
        rows = spark.sql("SHOW SYSTEM FUNCTIONS").collect()
    finally:
        spark.stop()
    return {n for (name,) in rows if _keep(n := str(name).lower()) and not SPARK_EXCLUDE.match(n)}


def write(dialect: str, names: set[str], source: str) -> None:
    path = DATA / f"{dialect}.txt"
    header = (
        f"# Functions sqlglot leaves untyped that the guard lets through in {dialect}.\n"
        f"# Proposed by benchmarks/function_allowlist.py from {source}, then reviewed.\n"
    )
    path.write_text(header + "".join(f"{n}\n" for n in sorted(names)), encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}: {len(names)} names")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--regenerate", default="", help="comma-separated: duckdb,sqlite,postgres,spark"
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--spark", default="sc://127.0.0.1:15002", help="Spark Connect URL")
    args = parser.parse_args()
    for dialect in filter(None, args.regenerate.split(",")):
        if dialect == "duckdb":
            write("duckdb", duckdb_names(), "duckdb_functions() (not VOLATILE)")
        elif dialect == "sqlite":
            write("sqlite", sqlite_names(), "pragma_function_list (SQLITE_DETERMINISTIC)")
        elif dialect == "postgres":
            write("postgres", postgres_names(args.postgres), "pg_proc (immutable or stable)")
        elif dialect == "spark":
            write("spark", spark_names(args.spark), "SHOW SYSTEM FUNCTIONS (review exclusions)")
        else:
            parser.error(f"no catalog to regenerate {dialect} from")
    print(f"{'dialect':<10} {'typed classes':>14} {'named':>7} {'distinct names':>15}")
    for dialect in guard_functions.REVIEWED_DIALECTS:
        sizes = guard_functions.allow_list_size(dialect)
        print(f"{dialect:<10} {sizes.classes:>14} {sizes.named:>7} {sizes.distinct_names:>15}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
