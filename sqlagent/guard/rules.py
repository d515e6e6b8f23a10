"""The guard's rules as data: what is refused, per dialect, and why.

Nothing here runs anything. ``sqlagent.guard`` reads these tables; keeping them as plain data
means a reviewer can audit the whole deny list in one place and a test can be written for every
entry (``tests/guard/test_guard.py`` does exactly that).

Function names are lower case. A function is refused when any name it is known by (its own name,
or the names of the sqlglot expression class it parses into) is on the list, so case, quoting and
schema qualification (``main.read_csv``, ``pg_catalog.pg_read_file``) do not get around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

# Reasons, shared by many entries; the guard's messages quote them ("... is not allowed: it <why>").
FILES = "reads or writes files or URLs outside the database"
OTHER_DB = "connects to another database"
SQL_TEXT = "runs SQL text that the guard cannot check"
SETTINGS = "reads server settings, secrets or the environment"
SLEEP = "stalls the server (sleeps or burns CPU on purpose)"
LOCKS = "takes or releases locks"
STATE = "changes server or session state"
SEQUENCE = "writes a sequence"
WRITES = "writes data or creates objects"
JVM = "runs Java code on the server"

# --------------------------------------------------------------------------- statements

STATEMENT_LABELS: Mapping[str, str] = MappingProxyType(
    {
        # sqlglot expression class name -> how the statement is called in messages
        "Insert": "INSERT",
        "Update": "UPDATE",
        "Delete": "DELETE",
        "Merge": "MERGE",
        "Copy": "COPY",
        "Create": "CREATE",
        "Drop": "DROP",
        "Alter": "ALTER",
        "AlterColumn": "ALTER",
        "AlterRename": "ALTER",
        "AlterSet": "ALTER",
        "AlterSession": "ALTER SESSION",
        "RenameColumn": "ALTER",
        "TruncateTable": "TRUNCATE",
        "Attach": "ATTACH",
        "Detach": "DETACH",
        "Install": "INSTALL",
        "Pragma": "PRAGMA",
        "Set": "SET",
        "SetItem": "SET",
        "Command": "command",
        "Commit": "COMMIT",
        "Rollback": "ROLLBACK",
        "Transaction": "BEGIN",
        "Use": "USE",
        "Kill": "KILL",
        "Describe": "DESCRIBE",
        "Show": "SHOW",
        "Summarize": "SUMMARIZE",
        "Comment": "COMMENT",
        "Declare": "DECLARE",
        "Execute": "EXECUTE",
        "ExecuteSql": "EXECUTE",
        "Grant": "GRANT",
        "Revoke": "REVOKE",
        "Analyze": "ANALYZE",
        "Export": "EXPORT",
        "LoadData": "LOAD DATA",
        "Into": "SELECT ... INTO",
        "Lock": "locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)",
        "LockingStatement": "LOCKING",
        "Refresh": "REFRESH",
        "Cache": "CACHE",
        "Uncache": "UNCACHE",
        "Returning": "RETURNING",
        "OnConflict": "ON CONFLICT / ON DUPLICATE KEY",
        "NextValueFor": "NEXT VALUE FOR (it writes a sequence)",
        "UserDefinedFunction": "CREATE FUNCTION",
        "Put": "PUT",
        "Get": "GET",
        "MultitableInserts": "INSERT",
        "ConditionalInsert": "INSERT",
        "StoredProcedure": "procedure block",
        "Block": "procedure block",
        "IfBlock": "procedure block",
        "WhileBlock": "procedure block",
        "LoopBlock": "procedure block",
        "RepeatBlock": "procedure block",
        "Return": "RETURN",
        "Semicolon": "statement separator",
        "EndStatement": "END",
        "ConnectTo": "CONNECT",
        "Disconnect": "DISCONNECT",
        "Undrop": "UNDROP",
        "SwapTable": "ALTER",
        "AddPartition": "ALTER",
        "DropPartition": "ALTER",
        "ReplacePartition": "ALTER",
        # Spark/Hive: SELECT TRANSFORM(...) USING 'script' pipes rows through a server program.
        "QueryTransform": "TRANSFORM ... USING (it runs a program on the server)",
    }
)
"""Expression classes refused anywhere in a query: top level, CTE, subquery or expression."""

STATEMENT_MODULES: tuple[str, ...] = ("sqlglot.expressions.ddl", "sqlglot.expressions.dml")
"""Safety net: any other class defined in these sqlglot modules is refused too ..."""

HARMLESS_STATEMENT_CLASSES: frozenset[str] = frozenset(
    {"Comprehension", "CharacterSet", "Heredoc", "Clone", "CopyParameter", "Credentials"}
)
"""... except these, which are plain expressions that happen to live there (``$$text$$`` etc.)."""

ALLOWED_TOP_LEVEL: tuple[str, ...] = (
    "Select",
    "Union",
    "Intersect",
    "Except",
    "Values",
    "Subquery",
)
"""Expression classes a whole statement may be: SELECT, WITH ... SELECT, set operations, VALUES."""

# --------------------------------------------------------------------------- functions

COMMON_DENIED_FUNCTIONS: Mapping[str, str] = MappingProxyType(
    {
        # These names are dangerous wherever a database happens to implement them.
        "read_csv": FILES,
        "read_parquet": FILES,
        "current_setting": SETTINGS,
        "set_config": STATE,
        "nextval": SEQUENCE,
        "setval": SEQUENCE,
        "load_file": FILES,
        "load_extension": STATE,
        "readfile": FILES,
        "writefile": FILES,
        "sleep": SLEEP,
        "pg_sleep": SLEEP,
        "query_to_xml": SQL_TEXT,
        "dblink": OTHER_DB,
    }
)

_SPARK_DENIED: Mapping[str, str] = MappingProxyType(
    {
        "reflect": JVM,
        "java_method": JVM,
        "try_reflect": JVM,
        "input_file_name": "reveals the paths of the table's files",
        "input_file_block_start": "reveals the layout of the table's files",
        "input_file_block_length": "reveals the layout of the table's files",
        "read_files": FILES,
        "from_protobuf": FILES,  # a descriptor file path as argument
        "to_protobuf": FILES,
        "python_worker_logs": SETTINGS,
        # Databricks: remote reads, model calls and secrets.
        "http_request": OTHER_DB,
        "ai_query": OTHER_DB,
        "read_kafka": OTHER_DB,
        "read_kinesis": OTHER_DB,
        "read_pubsub": OTHER_DB,
        "read_pulsar": OTHER_DB,
        "read_statestore": FILES,
        "read_state_metadata": FILES,
        "cloud_files_state": FILES,
        "try_secret": SETTINGS,
        "list_secrets": SETTINGS,
    }
)

DIALECT_DENIED_FUNCTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "duckdb": MappingProxyType(
            {
                "read_csv_auto": FILES,
                "parquet_scan": FILES,
                "parquet_metadata": FILES,
                "parquet_schema": FILES,
                "parquet_file_metadata": FILES,
                "parquet_kv_metadata": FILES,
                "parquet_bloom_probe": FILES,
                "read_json": FILES,
                "read_json_auto": FILES,
                "read_json_objects": FILES,
                "read_json_objects_auto": FILES,
                "read_ndjson": FILES,
                "read_ndjson_auto": FILES,
                "read_ndjson_objects": FILES,
                "read_text": FILES,
                "read_blob": FILES,
                "read_xlsx": FILES,
                "glob": FILES,
                "sniff_csv": FILES,
                "st_read": FILES,
                "st_read_meta": FILES,
                "st_readosm": FILES,
                "st_readshp": FILES,
                "iceberg_scan": FILES,
                "iceberg_metadata": FILES,
                "iceberg_snapshots": FILES,
                "delta_scan": FILES,
                "query": SQL_TEXT,
                "query_table": SQL_TEXT,
                "json_execute_serialized_sql": SQL_TEXT,
                "from_substrait": SQL_TEXT,
                "from_substrait_json": SQL_TEXT,
                "getenv": SETTINGS,
                "duckdb_secrets": SETTINGS,
                "which_secret": SETTINGS,
                "duckdb_settings": SETTINGS,
                "load_aws_credentials": SETTINGS,
                "sqlite_scan": OTHER_DB,
                "sqlite_attach": OTHER_DB,
                "sqlite_query": OTHER_DB,
                "postgres_scan": OTHER_DB,
                "postgres_scan_pushdown": OTHER_DB,
                "postgres_query": OTHER_DB,
                "postgres_execute": OTHER_DB,
                "postgres_attach": OTHER_DB,
                "mysql_scan": OTHER_DB,
                "mysql_query": OTHER_DB,
                "mysql_execute": OTHER_DB,
                "checkpoint": STATE,
                "force_checkpoint": STATE,
                "dbgen": WRITES,
                "dsdgen": WRITES,
                "currval": SEQUENCE,
            }
        ),
        "postgres": MappingProxyType(
            {
                "pg_read_file": FILES,
                "pg_read_binary_file": FILES,
                "pg_ls_dir": FILES,
                "pg_ls_logdir": FILES,
                "pg_ls_waldir": FILES,
                "pg_ls_tmpdir": FILES,
                "pg_ls_archive_statusdir": FILES,
                "pg_stat_file": FILES,
                "pg_file_write": FILES,
                "pg_file_rename": FILES,
                "pg_file_unlink": FILES,
                "pg_file_sync": FILES,
                "pg_logdir_ls": FILES,
                "lo_import": FILES,
                "lo_export": FILES,
                "lo_get": FILES,
                "lo_put": WRITES,
                "lo_create": WRITES,
                "lo_creat": WRITES,
                "lo_from_bytea": WRITES,
                "lo_unlink": WRITES,
                "lo_open": FILES,
                "lo_truncate": WRITES,
                "loread": FILES,
                "lowrite": WRITES,
                "dblink_exec": OTHER_DB,
                "dblink_connect": OTHER_DB,
                "dblink_connect_u": OTHER_DB,
                "dblink_send_query": OTHER_DB,
                "dblink_open": OTHER_DB,
                "dblink_fetch": OTHER_DB,
                "dblink_get_result": OTHER_DB,
                "dblink_disconnect": OTHER_DB,
                "pg_sleep_for": SLEEP,
                "pg_sleep_until": SLEEP,
                "pg_terminate_backend": STATE,
                "pg_cancel_backend": STATE,
                "pg_reload_conf": STATE,
                "pg_rotate_logfile": STATE,
                "pg_promote": STATE,
                "pg_switch_wal": STATE,
                "pg_create_restore_point": STATE,
                "pg_backup_start": STATE,
                "pg_backup_stop": STATE,
                "pg_start_backup": STATE,
                "pg_stop_backup": STATE,
                "pg_notify": STATE,
                "pg_logical_emit_message": STATE,
                "pg_create_logical_replication_slot": STATE,
                "pg_create_physical_replication_slot": STATE,
                "pg_drop_replication_slot": STATE,
                "pg_stat_reset": STATE,
                "pg_stat_statements_reset": STATE,
                "pg_import_system_collations": WRITES,
                "pg_advisory_lock": LOCKS,
                "pg_advisory_lock_shared": LOCKS,
                "pg_advisory_xact_lock": LOCKS,
                "pg_advisory_xact_lock_shared": LOCKS,
                "pg_try_advisory_lock": LOCKS,
                "pg_try_advisory_lock_shared": LOCKS,
                "pg_try_advisory_xact_lock": LOCKS,
                "pg_try_advisory_xact_lock_shared": LOCKS,
                "pg_advisory_unlock": LOCKS,
                "pg_advisory_unlock_all": LOCKS,
                "pg_advisory_unlock_shared": LOCKS,
                # Full-text search helpers that run a query given as text.
                "ts_stat": SQL_TEXT,
                "ts_rewrite": SQL_TEXT,
                # Every setting (current_setting() around the deny list) and other sessions'
                # statements.
                "pg_show_all_settings": SETTINGS,
                "pg_show_all_file_settings": SETTINGS,
                "pg_hba_file_rules": SETTINGS,
                "pg_ident_file_mappings": SETTINGS,
                "pg_config": SETTINGS,
                "pg_current_logfile": SETTINGS,
                "pg_stat_get_activity": SETTINGS,
                "pg_stat_get_backend_activity": SETTINGS,
                "query_to_xml_and_xmlschema": SQL_TEXT,
                "query_to_xmlschema": SQL_TEXT,
                "cursor_to_xml": SQL_TEXT,
                "cursor_to_xmlschema": SQL_TEXT,
                # These read a whole table or schema by name, around the table policy.
                "table_to_xml": SQL_TEXT,
                "table_to_xml_and_xmlschema": SQL_TEXT,
                "table_to_xmlschema": SQL_TEXT,
                "schema_to_xml": SQL_TEXT,
                "schema_to_xml_and_xmlschema": SQL_TEXT,
                "schema_to_xmlschema": SQL_TEXT,
                "database_to_xml": SQL_TEXT,
                "database_to_xml_and_xmlschema": SQL_TEXT,
                "database_to_xmlschema": SQL_TEXT,
            }
        ),
        "mysql": MappingProxyType(
            {
                "benchmark": SLEEP,
                "get_lock": LOCKS,
                "release_lock": LOCKS,
                "release_all_locks": LOCKS,
                "is_free_lock": LOCKS,
                "is_used_lock": LOCKS,
                "master_pos_wait": SLEEP,
                "master_gtid_wait": SLEEP,
                "source_pos_wait": SLEEP,
                "wait_for_executed_gtid_set": SLEEP,
                "wait_until_sql_thread_after_gtids": SLEEP,
                "sys_exec": STATE,
                "sys_eval": STATE,
                "last_insert_id": STATE,  # with an argument it sets the session's value
            }
        ),
        "snowflake": MappingProxyType(
            {
                "system$cancel_all_queries": STATE,
                "system$cancel_query": STATE,
                "system$abort_session": STATE,
                "system$abort_transaction": STATE,
                "system$wait": SLEEP,
                "system$set_return_value": STATE,
                "system$set_event_sharing_account_for_application": STATE,
                "system$user_task_cancel_ongoing_executions": STATE,
                "result_scan": "reads the result of another query, around the table checks",
            }
        ),
        "spark": _SPARK_DENIED,
        "databricks": _SPARK_DENIED,
        "sqlite": MappingProxyType(
            {
                "fts3_tokenizer": STATE,
                "edit": FILES,
                "lsdir": FILES,
                "zipfile": FILES,
                "sqlar_uncompress": FILES,
            }
        ),
    }
)
"""Per dialect, on top of ``COMMON_DENIED_FUNCTIONS``."""

# --------------------------------------------------------------------------- table sources

COMMON_TABLE_FUNCTIONS: frozenset[str] = frozenset({"unnest", "generate_series", "explode"})
"""Functions that may appear in FROM everywhere: they compute rows, they do not read anything."""

ROW_GENERATOR_CLASSES: frozenset[str] = frozenset(
    {"GenerateSeries", "ExplodingGenerateSeries", "Unnest", "Explode"}
)
"""sqlglot classes of the row generators above (``range(10)`` parses as ``GenerateSeries``)."""

_SPARK_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "explode_outer",
        "posexplode",
        "posexplode_outer",
        "inline",
        "inline_outer",
        "stack",
        "json_tuple",
        "variant_explode",
        "variant_explode_outer",
    }
)

DIALECT_TABLE_FUNCTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "duckdb": frozenset({"range", "json_each", "json_tree", "generate_subscripts"}),
        "postgres": frozenset(
            {
                "generate_subscripts",
                "json_each",
                "json_each_text",
                "jsonb_each",
                "jsonb_each_text",
                "json_array_elements",
                "json_array_elements_text",
                "jsonb_array_elements",
                "jsonb_array_elements_text",
                "json_object_keys",
                "jsonb_object_keys",
                "json_to_record",
                "json_to_recordset",
                "jsonb_to_record",
                "jsonb_to_recordset",
                "json_populate_record",
                "json_populate_recordset",
                "jsonb_populate_record",
                "jsonb_populate_recordset",
                "jsonb_path_query",
                "regexp_matches",
                "regexp_split_to_table",
                "string_to_table",
            }
        ),
        "sqlite": frozenset({"json_each", "json_tree"}),
        "mysql": frozenset({"json_table", "jsontable"}),  # sqlglot calls it JSONTable
        "spark": _SPARK_TABLE_FUNCTIONS,
        "databricks": _SPARK_TABLE_FUNCTIONS,
    }
)
"""Any other function used as a table (``FROM f(...)``) is refused: table functions are where
databases keep their file readers, catalog dumps and remote scanners."""

# --------------------------------------------------------------------------- names

PATH_SUFFIXES: tuple[str, ...] = (
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".json",
    ".jsonl",
    ".ndjson",
    ".xlsx",
    ".xls",
    ".arrow",
    ".feather",
    ".avro",
    ".orc",
    ".db",
    ".duckdb",
    ".sqlite",
    ".sqlite3",
    ".gz",
    ".zst",
    ".bz2",
    ".xz",
    ".zip",
)
"""A table name ending like this, or containing a path separator or ``://``, is a file read."""

_SPARK_FILE_FORMATS = frozenset(
    {"parquet", "csv", "json", "orc", "text", "avro", "binaryfile", "delta", "xml", "iceberg",
     "hudi", "jdbc", "hive", "libsvm", "image", "cloudfiles"}
)  # fmt: skip

FILE_FORMAT_QUALIFIERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {"spark": _SPARK_FILE_FORMATS, "databricks": _SPARK_FILE_FORMATS}
)
"""Spark reads ``format.`path``` (``SELECT * FROM parquet.`/data/x```) as a file: a table
qualified by one of these names that is not a known table is a file read."""

PSEUDO_COLUMNS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "sqlite": frozenset({"rowid", "oid", "_rowid_"}),
        "duckdb": frozenset({"rowid"}),
        "postgres": frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"}),
    }
)
"""Columns every table has without listing them."""

SYSTEM_COLUMNS: Mapping[str, frozenset[str]] = MappingProxyType(
    {"postgres": frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"})}
)
"""Pseudo-columns that describe the server rather than the data: PostgreSQL's system columns
show transaction ids (``xmin``, ``xmax``, ``cmin``, ``cmax``), where a row is stored on disk
(``ctid``) and the table's internal id (``tableoid``). A query reads them only when the policy
sets ``allow_server_info``. (``oid`` is no hidden column since PostgreSQL 12: where a table has
one it is listed in the schema like any other column, and elsewhere it is an unknown column.)"""

DEFAULT_SCHEMA_NAMES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "duckdb": frozenset({"main"}),
        "sqlite": frozenset({"main"}),
        "postgres": frozenset({"public"}),
        "spark": frozenset({"default"}),
        "databricks": frozenset({"default"}),
    }
)
"""Schema names that denote the default schema when ``SchemaInfo.default_schema`` is unset."""


@dataclass(frozen=True)
class DialectRules:
    """Everything the guard needs to know about one dialect."""

    dialect: str
    denied_functions: Mapping[str, str]
    """Lower-case function name -> why it is refused."""
    table_functions: frozenset[str]
    """Lower-case names of functions allowed in FROM."""
    pseudo_columns: frozenset[str]
    system_columns: frozenset[str]
    """The pseudo-columns that are server details (``SYSTEM_COLUMNS``)."""
    default_schema_names: frozenset[str]
    executable_comments: bool
    """MySQL/MariaDB run the text of ``/*! ... */`` and ``/*M! ... */`` comments as SQL."""
    double_quoted_strings: bool
    """SQLite reads a double-quoted name that matches no column as a string literal."""
    case_insensitive_names: bool
    """Compare column names case-insensitively whatever sqlglot's default for the dialect."""
    file_formats: frozenset[str] = frozenset()
    """Qualifiers that make a table name a file path (``FILE_FORMAT_QUALIFIERS``)."""


@cache
def rules_for(dialect: str) -> DialectRules:
    """The merged rules for ``dialect`` (common part plus the dialect's own).

    >>> "read_text" in rules_for("duckdb").denied_functions
    True
    """
    key = dialect.lower()
    denied = dict(COMMON_DENIED_FUNCTIONS)
    denied.update(DIALECT_DENIED_FUNCTIONS.get(key, {}))
    return DialectRules(
        dialect=key,
        denied_functions=MappingProxyType(denied),
        table_functions=COMMON_TABLE_FUNCTIONS | DIALECT_TABLE_FUNCTIONS.get(key, frozenset()),
        pseudo_columns=PSEUDO_COLUMNS.get(key, frozenset()),
        system_columns=SYSTEM_COLUMNS.get(key, frozenset()),
        default_schema_names=DEFAULT_SCHEMA_NAMES.get(key, frozenset()),
        executable_comments=key in ("mysql", "mariadb", "doris", "starrocks", "singlestore"),
        double_quoted_strings=key == "sqlite",
        # MySQL compares column names case-insensitively although sqlglot treats its
        # identifiers as case-sensitive (that is only true of table names on some systems).
        case_insensitive_names=key in ("mysql", "mariadb"),
        file_formats=FILE_FORMAT_QUALIFIERS.get(key, frozenset()),
    )
