"""The guard's adversarial corpus replayed against real databases, with checksums.

Each engine gets the corpus schema (the tables ``cards_schema()`` describes, a few rows each,
plus an index, a view, a sequence and a routine), built through a writable connection of its
own; sqlagent then opens it read-only with ``sqlagent.db.connect``:

* DuckDB and SQLite: a file in ``tmp_path``;
* PostgreSQL and MariaDB: a scratch database on the local server (skipped when it is down).

Layer 1 (the guarded path): every corpus case of the engine's dialect runs through
``pipeline.run_sql``, exactly what ``sqlagent sql`` and ``Agent.sql`` do. A refusal must come
back as ``answer.error`` of the corpus' error type; an allowed case must run without error
(the few that cannot run on a real engine are listed in ``EXECUTION_FAILS`` with the reason).

Layer 2 (the connection alone): every refused case that writes, creates, drops, or touches a
file runs straight through ``db.execute``, bypassing the guard. The read-only connection must
hold on its own; the cases where it does not are listed, narrowly, in ``LAYER2_ESCAPES``.

After every case the whole database is checksummed (every table's rows, the catalog: tables,
columns, indexes, views, routines, sequences, attached databases, roles and users, locks,
large objects, ...) and compared with the checksum taken before the first case. File access
is probed in a scratch directory (``{probe}`` in the corpus) holding files with a secret: no
file may appear there or at any path a case names (in /tmp and the working directory), and no
result or message may contain the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dbfixtures
import duckdb
import pytest
from guard_corpus import GuardCase, cards_schema, load_cases

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.errors import SqlAgentError, UsageError
from sqlagent.pipeline import run_sql
from sqlagent.settings import Policy, Settings
from sqlagent.types import TableInfo

ENGINES = ("duckdb", "sqlite", "postgres", "mysql")
"""Corpus dialects, one engine each (``mysql`` runs on MariaDB)."""
ENGINE_NAMES = {
    "duckdb": "DuckDB",
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "mysql": "MariaDB",
}
MARKS = {"postgres": [pytest.mark.postgres], "mysql": [pytest.mark.mariadb]}
CASES = load_cases()
PROBE = "{probe}"
"""Stands, in the corpus, for the scratch directory that holds the secret files."""
LAYER1_TIMEOUT = 5.0
LAYER2_TIMEOUT = 2.0

# --------------------------------------------------------------------------- exceptions

EXECUTION_FAILS: dict[tuple[str, str], tuple[str, str]] = {
    # (dialect, sql) -> (error type the real engine gives, why)
    ("duckdb", "SELECT * FROM 'data.csv'"): (
        "ReadOnlyViolation",
        "the policy allows read_csv, but the connection has file access switched off",
    ),
    ("duckdb", "SELECT getenv('HOME')"): (
        "ExecutionError",
        "the policy allows getenv, but only DuckDB's command-line shell has that function",
    ),
}
"""Allowed cases that a real engine refuses for a legitimate reason, and how."""

REFUSED_BEFORE_THE_GUARD: dict[tuple[str, str], str] = {
    (dialect, ""): "run_sql refuses empty SQL with UsageError before the guard sees it"
    for dialect in ENGINES
}

_PG_SUPERUSER_READS = (
    "PostgreSQL lets a superuser read server files inside a read-only transaction; only the "
    "guard (or a non-superuser account) stops it"
)
_MARIADB_FILE_WRITES = (
    "MariaDB writes SELECT ... INTO OUTFILE/DUMPFILE inside a read-only transaction when the "
    "account has the FILE privilege (root here); only the guard (or an account without FILE) "
    "stops it"
)
_MARIADB_FILE_READS = (
    "MariaDB's LOAD_FILE() reads server files inside a read-only transaction when the account "
    "has the FILE privilege (root here); only the guard (or an account without FILE) stops it"
)
LAYER2_ESCAPES: dict[tuple[str, str], str] = {
    ("postgres", "SELECT pg_read_file('{probe}/secret.txt')"): _PG_SUPERUSER_READS,
    (
        "postgres",
        "SELECT convert_from(pg_read_binary_file('{probe}/secret.txt'), 'UTF8')",
    ): _PG_SUPERUSER_READS,
    ("mysql", "SELECT * FROM customers INTO OUTFILE '{probe}/maria_out.csv'"): _MARIADB_FILE_WRITES,
    (
        "mysql",
        "SELECT ssn FROM customers LIMIT 1 INTO DUMPFILE '{probe}/maria_dump.bin'",
    ): _MARIADB_FILE_WRITES,
    (
        "mysql",
        "SELECT name, ssn INTO OUTFILE '{probe}/maria_fields.csv' FIELDS TERMINATED BY ',' "
        "FROM customers",
    ): _MARIADB_FILE_WRITES,
    (
        "mysql",
        "SELECT name FROM customers /*!50000 INTO OUTFILE '{probe}/maria_comment.csv' */",
    ): _MARIADB_FILE_WRITES + " (the server runs the executable comment's text)",
    ("mysql", "SELECT LOAD_FILE('{probe}/secret.txt')"): _MARIADB_FILE_READS,
    ("mysql", "SELECT CONCAT(name, LOAD_FILE('{probe}/secret.txt')) FROM customers"): (
        _MARIADB_FILE_READS
    ),
}
"""Refused cases that the read-only connection alone does not stop (the guard does): each
must fail at layer 2 (strict xfail), so a change in either direction is noticed. A read whose
result is not returned (LOAD_FILE in a WHERE) cannot be seen here and is not listed."""

LAYER2_NOT_REPLAYED: dict[tuple[str, str], str] = {
    ("mysql", "SELECT * FROM customers INTO OUTFILE '/tmp/x.csv'"): (
        "the same escape as the INTO OUTFILE cases aimed at the probe folder, but it would "
        "write into the shared /tmp"
    ),
    ("mysql", "SELECT * INTO DUMPFILE '/tmp/x' FROM customers"): (
        "the same escape as the INTO DUMPFILE case aimed at the probe folder, but it would "
        "write into the shared /tmp"
    ),
}
"""Refused cases that layer 2 leaves out although they match, and why."""

LAYER2_SERVER_WIDE = re.compile(
    r"\b(KILL|FLUSH|SET\s+GLOBAL|INSTALL\s+PLUGIN|SHUTDOWN|USE|pg_terminate_backend|"
    r"pg_cancel_backend|pg_reload_conf)\b",
    re.IGNORECASE,
)
"""Never replayed without the guard: if the connection let them through (root may SET GLOBAL
or KILL inside a read-only transaction) they would act on the shared server, beyond the
scratch database, or switch the pooled connection to another database."""

LAYER2_WRITES = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|REPLACE|UPSERT|TRUNCATE|DROP|CREATE|ALTER|RENAME|COMMENT|"
    r"GRANT|REVOKE|COPY|ATTACH|DETACH|INSTALL|LOAD|EXPORT|IMPORT|VACUUM|REINDEX|ANALYZE|"
    r"OPTIMIZE|CLUSTER|REFRESH|CHECKPOINT|INTO|CALL|PREPARE|EXECUTE|HANDLER|writefile|"
    r"lo_\w+|nextval|setval|set_config|PRAGMA\s+\w+\s*=)\b",
    re.IGNORECASE,
)
"""A refused case that matches this writes, creates, drops or changes state: layer 2 runs it."""

# --------------------------------------------------------------------------- the schema

ROWS: dict[str, list[tuple[Any, ...]]] = {
    "customers": [
        (1, "Ann Lee", "ann@example.com", "111-22-3333", "pw-ann", "Paris", "2024-01-05"),
        (2, "Bob Roy", "bob@example.com", "222-33-4444", "pw-bob", "Lyon", "2024-02-10"),
        (3, "Cleo Diaz", "cleo@example.com", "333-44-5555", "pw-cleo", None, "2024-03-15"),
    ],
    "cards": [
        (10, 1, "gold", "2024-01-06", "5000.00"),
        (11, 1, "basic", "2024-02-01", "500.00"),
        (12, 2, "gold", "2024-02-11", "2500.00"),
    ],
    "merchants": [(100, "Cafe Uno", "food", "FR"), (101, "Book Hub", "books", "DE")],
    "transactions": [
        (1000, 10, 100, "12.50", "2024-03-01 10:00:00", "ok", ("web", "ios")),
        (1001, 11, 101, "99.90", "2024-03-02 11:30:00", "ok", ("pos", "android")),
        (1002, 12, 100, "7.25", "2024-03-03 09:15:00", "refunded", ("web", "linux")),
    ],
    "Branch Offices": [(1, "Head Office", "EU"), (2, "Annex", "NA")],
    "orders": [(1, 1, "42.00", "2024-04-01")],
    "reps": [(1, "Rita", "rep-pw")],
}


def _column_type(declared: str, engine: str) -> str:
    upper = declared.upper()
    if upper.startswith("STRUCT"):
        return {"duckdb": declared, "postgres": "jsonb", "mysql": "JSON"}.get(engine, "TEXT")
    if engine == "mysql":
        return {"VARCHAR": "VARCHAR(100)", "TIMESTAMP": "DATETIME"}.get(upper, declared)
    return declared


def _value(value: Any, engine: str) -> Any:
    if isinstance(value, tuple):  # the details struct: (channel, os)
        struct = {"channel": value[0], "device": {"os": value[1]}}
        return struct if engine == "duckdb" else json.dumps(struct)
    return value


def _tables(engine: str) -> list[TableInfo]:
    """The corpus tables this engine holds (SQLite and MariaDB have no second schema here)."""
    schema = cards_schema(engine)
    multi = engine in ("duckdb", "postgres")
    return [t for t in schema.tables if multi or t.schema is None]


def _create_statements(engine: str) -> list[str]:
    q = (lambda n: f"`{n}`") if engine == "mysql" else (lambda n: f'"{n}"')
    statements = ["CREATE SCHEMA sales"] if engine in ("duckdb", "postgres") else []
    for table in _tables(engine):
        cols = []
        for c in table.columns:
            text = f"{q(c.name)} {_column_type(c.type or 'VARCHAR', engine)}"
            if engine == "postgres" and table.name == "customers" and c.name == "customer_id":
                text += " GENERATED BY DEFAULT AS IDENTITY"  # customers_customer_id_seq
            cols.append(text)
        if table.primary_key:
            cols.append(f"PRIMARY KEY ({', '.join(q(c) for c in table.primary_key)})")
        for fk in table.foreign_keys:
            cols.append(
                f"FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) REFERENCES "
                f"{q(fk.ref_table)} ({', '.join(q(c) for c in fk.ref_columns)})"
            )
        name = f"{table.schema}.{q(table.name)}" if table.schema else q(table.name)
        statements.append(f"CREATE TABLE {name} ({', '.join(cols)})")
    statements += [
        "CREATE INDEX customers_city ON customers (city)",
        "CREATE VIEW gold_cards AS SELECT card_id, customer_id FROM cards WHERE card_type = 'gold'",
    ]
    # The objects the corpus names: a sequence, a macro, a materialized view, and a routine
    # that deletes where the corpus CALLs one (without the guard, the read-only transaction
    # must stop the DELETE inside it).
    if engine == "duckdb":
        statements += ["CREATE SEQUENCE seq", "CREATE MACRO add_one(a) AS a + 1"]
    elif engine == "postgres":
        statements += [
            "CREATE SEQUENCE s",
            "CREATE MATERIALIZED VIEW mv AS SELECT city, count(*) AS n FROM customers GROUP BY 1",
            "CREATE PROCEDURE refresh_everything() LANGUAGE sql AS $$ DELETE FROM cards $$",
        ]
    elif engine == "mysql":
        statements.append("CREATE PROCEDURE p() DELETE FROM cards")
    return statements


def _insert_statements(engine: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    mark = "?" if engine in ("duckdb", "sqlite") else "%s"
    q = (lambda n: f"`{n}`") if engine == "mysql" else (lambda n: f'"{n}"')
    out = []
    for table in _tables(engine):
        name = f"{table.schema}.{q(table.name)}" if table.schema else q(table.name)
        marks = ", ".join(mark for _ in table.columns)
        rows = [tuple(_value(v, engine) for v in row) for row in ROWS[table.name]]
        out.append((f"INSERT INTO {name} VALUES ({marks})", rows))
    return out


# --------------------------------------------------------------------------- checksums

State = dict[str, list[str]]


def _digest(rows: Any) -> list[str]:
    """Rows as sorted text: an order-free, comparable picture of a result."""
    return sorted(repr(tuple(r)) for r in rows)


def _files(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: its relative name -> size and a hash of its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_file():
            data = path.read_bytes()
            out[name] = f"{len(data)} {hashlib.sha256(data).hexdigest()}"
        else:
            out[name] = "folder"
    return out


def _file_state(folder: Path) -> list[str]:
    return [f"{name}: {what}" for name, what in _files(folder).items()]


def _diff(before: State, after: State) -> str:
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            gone = sorted(set(old or ()) - set(new or ()))[:3]
            came = sorted(set(new or ()) - set(old or ()))[:3]
            lines.append(f"{key}: removed {gone} added {came}")
    return "; ".join(lines)


DUCK_CATALOG = {
    "tables": "SELECT database_name, schema_name, table_name, temporary, sql FROM duckdb_tables()",
    "columns": "SELECT database_name, schema_name, table_name, column_name, data_type "
    "FROM duckdb_columns()",
    "views": "SELECT database_name, schema_name, view_name, temporary, sql FROM duckdb_views() "
    "WHERE NOT internal",
    "indexes": "SELECT database_name, schema_name, index_name, sql FROM duckdb_indexes()",
    "functions": "SELECT database_name, schema_name, function_name, function_type, "
    "macro_definition FROM duckdb_functions() WHERE NOT internal",
    "sequences": "SELECT database_name, schema_name, sequence_name, last_value "
    "FROM duckdb_sequences()",
    "schemas": "SELECT database_name, schema_name FROM duckdb_schemas() WHERE NOT internal",
    "databases": "SELECT database_name, path, readonly FROM duckdb_databases()",
    "settings": "SELECT name, value FROM duckdb_settings() WHERE name IN ("
    "'enable_external_access', 'lock_configuration', 'python_enable_replacements', "
    "'allowed_directories', 'allowed_paths', 'profiling_output', 'enable_profiling', "
    "'access_mode', 'autoload_known_extensions', 'autoinstall_known_extensions', "
    "'allow_community_extensions', 'allow_unsigned_extensions', 'schema', 'search_path')",
}


def _duck_state(db: Database, path: Path) -> State:
    """DuckDB through sqlagent's own connection (a second one to the file is not allowed):
    the catalog, every table's rows, and the file's bytes."""

    def run(sql: str) -> list[str]:
        return _digest(db.execute(sql, max_rows=100_000, timeout=10).rows)

    state = {f"catalog.{k}": run(sql) for k, sql in DUCK_CATALOG.items()}
    tables = db.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database()",
        max_rows=1000,
        timeout=10,
    ).rows
    for schema, table in tables:
        state[f"rows.{schema}.{table}"] = run(f'SELECT * FROM "{schema}"."{table}"')
    state["files"] = _file_state(path.parent)
    return state


def _sqlite_state(db: Database, path: Path) -> State:
    """SQLite through a second read-only connection (the file's own view), plus what only
    sqlagent's connection can see (its temp schema and attached databases), plus the bytes."""
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        state = {
            "catalog.master": _digest(
                con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
            ),
            "catalog.pragmas": [
                repr(con.execute(f"PRAGMA {p}").fetchone())
                for p in ("user_version", "application_id", "journal_mode", "schema_version")
            ],
        }
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            state[f"rows.{name}"] = _digest(con.execute(f'SELECT * FROM "{name}"'))
    finally:
        con.close()
    # The temp schema first: reading it makes "temp" appear in the list of databases.
    for key, sql in (
        ("temp", "SELECT type, name, sql FROM temp.sqlite_master"),
        ("databases", "PRAGMA database_list"),
    ):
        state[f"connection.{key}"] = _digest(db.execute(sql, max_rows=1000, timeout=10).rows)
    state["files"] = _file_state(path.parent)
    return state


PG_CATALOG = {
    "relations": "SELECT n.nspname, c.relname, c.relkind, c.relpersistence FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN "
    "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
    "columns": "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE a.attnum > 0 AND NOT a.attisdropped AND n.nspname NOT IN "
    "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
    "views": "SELECT schemaname, viewname, definition FROM pg_views "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    "indexes": "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    "routines": "SELECT n.nspname, p.proname, p.prokind, p.prosrc FROM pg_proc p JOIN "
    "pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN "
    "('pg_catalog', 'information_schema')",
    "sequences": "SELECT schemaname, sequencename, last_value FROM pg_sequences",
    "schemas": "SELECT nspname FROM pg_namespace",
    "extensions": "SELECT extname, extversion FROM pg_extension",
    "triggers": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
    "comments": "SELECT objoid, objsubid, description FROM pg_description WHERE objoid >= 16384",
    "large_objects": "SELECT oid FROM pg_largeobject_metadata",
    "grants": "SELECT table_schema, table_name, grantee, privilege_type "
    "FROM information_schema.role_table_grants WHERE table_schema NOT IN "
    "('pg_catalog', 'information_schema')",
    "roles": "SELECT rolname, rolsuper, rolcanlogin, rolconfig FROM pg_roles "
    "WHERE rolname NOT LIKE 'sqlagent\\_test\\_%'",
    "database_settings": "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting",
    "advisory_locks": "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND "
    "database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    "prepared_xacts": "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()",
}


def _admin_rows(scratch: dbfixtures.Scratch) -> Iterator[Callable[[str], list[Any]]]:
    """A reader of rows on one admin connection to the scratch database (``%`` is plain)."""
    with scratch.engine.connect() as conn:

        def rows(sql: str) -> list[Any]:
            options = {"no_parameters": True}
            return list(conn.exec_driver_sql(sql, execution_options=options).fetchall())

        yield rows


def _pg_state(scratch: dbfixtures.Scratch) -> State:
    for rows in _admin_rows(scratch):
        return _pg_state_with(rows)
    raise AssertionError("unreachable")


def _pg_state_with(rows: Callable[[str], list[Any]]) -> State:
    state = {f"catalog.{k}": _digest(rows(sql)) for k, sql in PG_CATALOG.items()}
    tables = rows(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg_t%'"
    )
    for schema, table in tables:
        state[f"rows.{schema}.{table}"] = _digest(rows(f'SELECT * FROM "{schema}"."{table}"'))
    return state


def _maria_state(scratch: dbfixtures.Scratch) -> State:
    for rows in _admin_rows(scratch):
        return _maria_state_with(rows, scratch.name)
    raise AssertionError("unreachable")


def _maria_state_with(rows: Callable[[str], list[Any]], name: str) -> State:
    where = f"WHERE TABLE_SCHEMA = '{name}'"
    catalog = {
        "tables": f"SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COMMENT FROM "
        f"information_schema.TABLES {where}",
        "columns": "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
        f"COLUMN_COMMENT FROM information_schema.COLUMNS {where}",
        "indexes": "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM "
        f"information_schema.STATISTICS {where}",
        "views": f"SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS {where}",
        "routines": "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM "
        f"information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{name}'",
        "triggers": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
        f"WHERE TRIGGER_SCHEMA = '{name}'",
        "events": f"SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{name}'",
        "sequences": "SELECT TABLE_NAME FROM information_schema.TABLES "
        f"{where} AND TABLE_TYPE = 'SEQUENCE'",
        "grants": "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM "
        f"information_schema.SCHEMA_PRIVILEGES {where}",
        "users": "SELECT User, Host FROM mysql.user WHERE User NOT LIKE 'sqlagent\\_test\\_%'",
        "globals": "SELECT @@global.general_log, @@global.general_log_file, "
        "@@global.read_only, @@global.local_infile, @@global.event_scheduler, "
        "@@global.sql_mode, @@global.max_statement_time",
        "named_locks": "SELECT IS_USED_LOCK('x'), IS_USED_LOCK('probe')",
    }
    state = {f"catalog.{k}": _digest(rows(sql)) for k, sql in catalog.items()}
    tables = rows(f"SELECT TABLE_NAME FROM information_schema.TABLES {where}")
    for (table,) in tables:
        state[f"rows.{table}"] = _digest(rows(f"SELECT * FROM `{table}`"))
    return state


# --------------------------------------------------------------------------- environments


@dataclass
class Probe:
    """A scratch directory with secret files, which no case may read or add to."""

    folder: Path
    secret: str

    def sql(self, case: GuardCase) -> str:
        return case.sql.replace(PROBE, str(self.folder))


@dataclass
class Env:
    """One engine with the corpus schema: sqlagent's read-only connection and a checksum."""

    dialect: str
    db: Database
    snapshot: Callable[[], State]
    admin: dbfixtures.Scratch | None = None
    """The scratch database's admin handle (servers only)."""
    baseline: State = field(default_factory=dict)

    def assert_unchanged(self, what: str) -> None:
        after = self.snapshot()
        assert after == self.baseline, f"{what} changed the database: {_diff(self.baseline, after)}"


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    # Under /tmp itself and open to every user: the servers (other users) must be able to
    # reach it, so that a write or read that got through would really happen and be seen.
    folder = Path(tempfile.mkdtemp(prefix="sqlagent_probe_"))
    secret = f"sqlagent-secret-{uuid.uuid4().hex}"
    (folder / "secret.txt").write_text(f"{secret}\n", encoding="utf-8")
    (folder / "secret.csv").write_text(f"customer_id,name\n99,{secret}\n", encoding="utf-8")
    (folder / "secret.json").write_text(json.dumps({"name": secret}), encoding="utf-8")
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    try:
        yield Probe(folder, secret)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _opened(env: Env) -> Env:
    env.db.schema()  # introspect first: reading the schema must not change anything either
    env.baseline = env.snapshot()
    return env


def _build_file_database(engine: str, path: Path) -> None:
    """Create the corpus schema in a DuckDB or SQLite file, through a writable connection."""
    con: Any = duckdb.connect(str(path)) if engine == "duckdb" else sqlite3.connect(path)
    try:
        for statement in _create_statements(engine):
            con.execute(statement)
        for statement, rows in _insert_statements(engine):
            con.executemany(statement, rows)
        con.commit()
    finally:
        con.close()


FILE_STATES = {"duckdb": _duck_state, "sqlite": _sqlite_state}


def _file_env(engine: str, path: Path) -> Iterator[Env]:
    _build_file_database(engine, path)
    db = connect(f"{engine}:///{path}")
    try:
        yield _opened(Env(engine, db, lambda: FILE_STATES[engine](db, path)))
    finally:
        db.close()


@pytest.fixture(scope="module")
def duckdb_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _file_env("duckdb", tmp_path_factory.mktemp("duck") / "corpus.duckdb")


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from _file_env("sqlite", tmp_path_factory.mktemp("sqlite") / "corpus.db")


def _server_env(dialect: str, scratch: dbfixtures.Scratch) -> Iterator[Env]:
    with scratch.engine.begin() as conn:
        for statement in _create_statements(dialect):
            conn.exec_driver_sql(statement, execution_options={"no_parameters": True})
        for statement, rows in _insert_statements(dialect):
            conn.exec_driver_sql(statement, rows)
    db = connect(scratch.url)
    snapshot = (
        (lambda: _pg_state(scratch)) if dialect == "postgres" else (lambda: _maria_state(scratch))
    )
    try:
        yield _opened(Env(dialect, db, snapshot, admin=scratch))
    finally:
        db.close()


@pytest.fixture(scope="module")
def postgres_env() -> Iterator[Env]:
    for scratch in dbfixtures.scratch_postgres():
        yield from _server_env("postgres", scratch)


@pytest.fixture(scope="module")
def mysql_env() -> Iterator[Env]:
    for scratch in dbfixtures.scratch_mariadb():
        yield from _server_env("mysql", scratch)


# --------------------------------------------------------------------------- file probes

_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_PATHY = re.compile(r"(/|\\|\.(csv|tsv|txt|json|parquet|db|duckdb|sqlite|so|zip|gz|bin)$)", re.I)


def _named_paths(sql: str) -> list[Path]:
    """Every place a file named in ``sql`` could land: as given, in the working directory,
    and in /tmp (servers resolve relative names against their own directories)."""
    out: list[Path] = []
    for literal in _LITERAL.findall(sql):
        if "://" in literal or "*" in literal or not _PATHY.search(literal):
            continue
        path = Path(literal.replace("''", "'")).expanduser()
        out += [path if path.is_absolute() else Path.cwd() / path, Path("/tmp") / path.name]
    return out


@dataclass
class FileWatch:
    """What the file system looks like before a case, to compare with after it."""

    probe: Probe
    sql: str
    folder_before: dict[str, str] = field(default_factory=dict)
    absent: list[Path] = field(default_factory=list)

    @classmethod
    def start(cls, probe: Probe, sql: str) -> FileWatch:
        absent = [p for p in _named_paths(sql) if not os.path.lexists(p)]
        return cls(probe, sql, _files(probe.folder), absent)

    def assert_untouched(self) -> None:
        """Fail if anything appeared or changed; remove what appeared either way, so that a
        known escape (see ``LAYER2_ESCAPES``) does not turn into a different one next run."""
        after = _files(self.probe.folder)
        created = {str(p) for p in self.absent if os.path.lexists(p)}
        created |= {str(self.probe.folder / name) for name in after.keys() - self.folder_before}
        for path in sorted(created):
            _remove(Path(path))
        assert not created, f"files appeared: {sorted(created)}"
        assert after == self.folder_before, "a file in the probe folder changed"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _assert_no_secret(probe: Probe, *texts: object) -> None:
    for text in texts:
        assert probe.secret not in repr(text), "the secret file's content came back"


# --------------------------------------------------------------------------- layer 1

EXECUTED: Counter[tuple[str, str]] = Counter()
"""Cases run per (path, engine) in this session, path ``guarded`` or ``direct`` (printed at
the end of the module)."""


def _settings(case: GuardCase) -> Settings:
    policy = Policy.from_mapping({"statement_timeout": LAYER1_TIMEOUT, **case.policy})
    return Settings(model="scripted", api_key=None, base_url=None, policy=policy)


def _params(cases: list[GuardCase]) -> list[Any]:
    return [
        pytest.param(c, id=f"{ENGINE_NAMES[c.dialect]}-{c.id}", marks=MARKS.get(c.dialect, []))
        for c in cases
    ]


# Spark cases run on the shared Spark server, with checksums, in tests/test_db_spark.py.
@pytest.mark.parametrize("case", _params([c for c in CASES if c.dialect in ENGINES]))
def test_corpus_case_on_the_real_engine(
    case: GuardCase, probe: Probe, request: pytest.FixtureRequest
) -> None:
    """The guarded path refuses what the corpus refuses, runs what it allows, and leaves the
    database, the probe folder and every named path as they were."""
    env: Env = request.getfixturevalue(f"{case.dialect}_env")
    sql = probe.sql(case)
    watch = FileWatch.start(probe, sql)
    EXECUTED["guarded", case.dialect] += 1
    key = (case.dialect, case.sql)
    if key in REFUSED_BEFORE_THE_GUARD:
        with pytest.raises(UsageError):
            run_sql(sql, db=env.db, settings=_settings(case))
    else:
        answer = run_sql(sql, db=env.db, settings=_settings(case))
        _assert_no_secret(probe, answer.rows, answer.columns, answer.error)
        if case.expect == "refuse":
            assert answer.error is not None, f"ran, but must be refused: {case.why}"
            assert answer.error.type == case.error_type, f"{case.why}: {answer.error}"
            assert answer.rows == ()
        elif key in EXECUTION_FAILS:
            expected, why = EXECUTION_FAILS[key]
            assert answer.error is not None and answer.error.type == expected, why
        else:
            assert answer.error is None, f"{case.why}: {answer.error}"
    watch.assert_untouched()
    env.assert_unchanged(f"case {case.id} ({sql!r})")


# --------------------------------------------------------------------------- layer 2


def _layer2(case: GuardCase) -> bool:
    return (
        case.expect == "refuse"
        and case.error_type in ("UnsafeSQL", "SQLParseError")
        and bool(case.sql.strip(" ;\n"))
        and not LAYER2_SERVER_WIDE.search(case.sql)
        and (case.dialect, case.sql) not in LAYER2_NOT_REPLAYED
        and (PROBE in case.sql or bool(LAYER2_WRITES.search(case.sql)))
    )


LAYER2_CASES = [c for c in CASES if c.dialect in ENGINES and _layer2(c)]


def _layer2_params() -> list[Any]:
    out = []
    for param in _params(LAYER2_CASES):
        case: GuardCase = param.values[0]
        why = LAYER2_ESCAPES.get((case.dialect, case.sql))
        marks = list(param.marks)
        if why is not None:
            marks.append(pytest.mark.xfail(reason=why, strict=True))
        out.append(pytest.param(case, id=param.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _layer2_params())
def test_the_connection_alone_holds(
    case: GuardCase, probe: Probe, request: pytest.FixtureRequest
) -> None:
    """Without the guard, straight to ``db.execute``: the statement may fail or return
    rows, but nothing in the database or on disk changes and no secret comes back."""
    env: Env = request.getfixturevalue(f"{case.dialect}_env")
    sql = probe.sql(case)
    watch = FileWatch.start(probe, sql)
    EXECUTED["direct", case.dialect] += 1
    try:
        result = env.db.execute(sql, max_rows=100, timeout=LAYER2_TIMEOUT)
    except SqlAgentError as exc:
        _assert_no_secret(probe, exc.info())
    else:
        _assert_no_secret(probe, result.rows, result.columns)
    watch.assert_untouched()
    env.assert_unchanged(f"case {case.id} without the guard ({sql!r})")


# --------------------------------------------------------------------------- the checks themselves


FILE_CHANGES = {
    "duckdb": (
        [
            "UPDATE customers SET city = 'x' WHERE customer_id = 3",
            "CREATE INDEX i ON cards (card_type)",
        ],
        {"rows.main.customers", "catalog.indexes", "files"},
    ),
    "sqlite": (
        [
            "UPDATE customers SET city = 'x' WHERE customer_id = 3",
            "CREATE INDEX i ON cards (card_type)",
        ],
        {"rows.customers", "catalog.master", "catalog.pragmas", "files"},
    ),
}


@pytest.mark.parametrize("engine", sorted(FILE_CHANGES))
def test_the_checksum_of_a_file_database_sees_a_change(engine: str, tmp_path: Path) -> None:
    """The checksum is stable, and a changed row or a new index shows in it."""
    path = tmp_path / f"probe.{engine}"
    _build_file_database(engine, path)

    def state() -> State:
        db = connect(f"{engine}:///{path}")
        try:
            return FILE_STATES[engine](db, path)
        finally:
            db.close()

    before = state()
    assert state() == before  # stable when nothing happens
    statements, keys = FILE_CHANGES[engine]
    con: Any = duckdb.connect(str(path)) if engine == "duckdb" else sqlite3.connect(path)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    after = state()
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == keys


SERVER_CHANGES = {
    "postgres": [
        (
            "rows.public.merchants",
            "INSERT INTO merchants VALUES (9, 'x', 'y', 'z')",
            "DELETE FROM merchants WHERE merchant_id = 9",
        ),
        ("catalog.indexes", "CREATE INDEX i ON merchants (country)", "DROP INDEX i"),
        ("catalog.sequences", "SELECT setval('s', 5)", "ALTER SEQUENCE s RESTART"),
    ],
    "mysql": [
        (
            "rows.merchants",
            "INSERT INTO merchants VALUES (9, 'x', 'y', 'z')",
            "DELETE FROM merchants WHERE merchant_id = 9",
        ),
        ("catalog.indexes", "CREATE INDEX i ON merchants (country)", "DROP INDEX i ON merchants"),
    ],
}


@pytest.mark.parametrize(
    ("dialect", "key", "change", "undo"),
    [
        pytest.param(d, *change, id=f"{ENGINE_NAMES[d]}-{change[0]}", marks=MARKS[d])
        for d, changes in SERVER_CHANGES.items()
        for change in changes
    ],
)
def test_the_checksum_of_a_server_database_sees_a_change(
    dialect: str, key: str, change: str, undo: str, request: pytest.FixtureRequest
) -> None:
    """A change made as admin shows in the checksum, and undoing it restores the baseline."""
    env: Env = request.getfixturevalue(f"{dialect}_env")
    assert env.admin is not None
    env.admin.run(change)
    try:
        changed = env.snapshot()
    finally:
        env.admin.run(undo)
    assert key in [k for k in env.baseline if changed.get(k) != env.baseline[k]]
    env.assert_unchanged("undoing the change")


def test_the_file_watch_sees_new_files_and_removes_them(probe: Probe) -> None:
    """A file created at a named path or in the probe folder, or a changed secret, fails it."""
    named = Path("/tmp") / f"sqlagent_probe_named_{uuid.uuid4().hex}.csv"
    watch = FileWatch.start(probe, f"COPY t TO '{named}'")
    named.write_text("x", encoding="utf-8")
    (probe.folder / "new.csv").write_text("x", encoding="utf-8")
    with pytest.raises(AssertionError, match="files appeared"):
        watch.assert_untouched()
    assert not named.exists() and not (probe.folder / "new.csv").exists()
    watch = FileWatch.start(probe, "SELECT 1")
    (probe.folder / "secret.txt").write_text("changed", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="changed"):
            watch.assert_untouched()
    finally:
        (probe.folder / "secret.txt").write_text(f"{probe.secret}\n", encoding="utf-8")


# --------------------------------------------------------------------------- summary


def test_the_corpus_is_large_on_every_engine() -> None:
    """At least 150 cases, 40 per engine, both outcomes, and file probes on every engine."""
    per_engine = Counter(c.dialect for c in CASES)
    assert sum(per_engine[e] for e in ENGINES) >= 150
    for engine in ENGINES:
        assert per_engine[engine] >= 40, engine
        assert {c.expect for c in CASES if c.dialect == engine} == {"refuse", "allow"}
    # Every family of escape the issue names has a case pointing at the probe folder.
    probed = {c.dialect for c in CASES if PROBE in c.sql and c.dialect in ENGINES}
    assert probed == set(ENGINES)


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not EXECUTED:
        return
    parts = [
        f"{ENGINE_NAMES[e]} {EXECUTED['guarded', e]} (+{EXECUTED['direct', e]} without the guard)"
        for e in ENGINES
    ]
    total = sum(EXECUTED[p, e] for p in ("guarded", "direct") for e in ENGINES)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line(
            f"guard corpus on real databases: {total} cases run: {', '.join(parts)}"
        )
