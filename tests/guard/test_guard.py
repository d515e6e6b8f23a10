"""The SQL guard: the adversarial corpus, every deny-list entry, names, policy, row bounds.

The guard is pure, so most tests build a ``SchemaInfo`` by hand; the tests that run what the
guard lets through do so on real in-memory DuckDB and SQLite databases.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from pathlib import Path

import duckdb
import pytest
import sqlglot
from guard_corpus import GuardCase, cards_schema, load_cases, spider_queries, spider_schema

from sqlagent import errors
from sqlagent.guard import check, visible_schema
from sqlagent.guard.rules import DIALECT_DENIED_FUNCTIONS, rules_for
from sqlagent.settings import Policy
from sqlagent.types import ColumnInfo, ForeignKey, SchemaInfo, TableInfo

DIALECTS = ("duckdb", "postgres", "mysql", "sqlite")
CASES = load_cases()


def _policy(case: GuardCase) -> Policy:
    return Policy.from_mapping(case.policy) if case.policy else Policy()


# --------------------------------------------------------------------------- corpus


def test_corpus_is_large_and_covers_every_dialect() -> None:
    assert len(CASES) >= 150
    for dialect in DIALECTS:
        mine = [c for c in CASES if c.dialect == dialect]
        assert {c.expect for c in mine} == {"refuse", "allow"}, dialect
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.id}-{c.dialect}" for c in CASES])
def test_corpus_case(case: GuardCase) -> None:
    schema = cards_schema(case.dialect)
    if case.expect == "allow":
        guarded = check(case.sql, schema=schema, policy=_policy(case))
        assert guarded.executable
        # What the guard returns is itself accepted, unchanged: it is a fixed point.
        again = check(guarded.sql, schema=schema, policy=_policy(case))
        assert again.sql == guarded.sql
        return
    with pytest.raises(errors.GuardError) as info:
        check(case.sql, schema=schema, policy=_policy(case))
    err = info.value
    assert type(err).__name__ == case.error_type, f"{case.why}: {err}"
    assert err.sql == case.sql
    assert err.message


def _duckdb_with_cards() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE SCHEMA sales")
    for table in cards_schema("duckdb").tables:
        cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
        name = f'{table.schema}."{table.name}"' if table.schema else f'"{table.name}"'
        con.execute(f"CREATE TABLE {name} ({cols})")
    return con


def _sqlite_with_cards() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    for table in cards_schema("sqlite").tables:
        if table.schema is None:
            cols = ", ".join(f'"{c.name}"' for c in table.columns)  # SQLite needs no types
            con.execute(f'CREATE TABLE "{table.name}" ({cols})')
    return con


def test_allowed_duckdb_corpus_runs_on_duckdb() -> None:
    """What the guard accepts (and rewrites) is valid DuckDB SQL: every allowed case runs."""
    con = _duckdb_with_cards()
    ran = 0
    for case in CASES:
        if (
            case.dialect != "duckdb"
            or case.expect != "allow"
            or case.policy.get("allowed_functions")
        ):
            continue
        guarded = check(case.sql, schema=cards_schema("duckdb"), policy=_policy(case))
        con.execute(guarded.executable).fetchall()
        con.execute(guarded.sql).fetchall()
        ran += 1
    assert ran >= 40


def test_allowed_sqlite_corpus_runs_on_sqlite() -> None:
    con = _sqlite_with_cards()
    ran = 0
    for case in CASES:
        if case.dialect != "sqlite" or case.expect != "allow" or "sales." in case.sql:
            continue
        guarded = check(case.sql, schema=cards_schema("sqlite"), policy=_policy(case))
        con.execute(guarded.executable).fetchall()
        ran += 1
    assert ran >= 8


# --------------------------------------------------------------------------- deny list


def _denied(dialect: str) -> list[tuple[str, str]]:
    return [(dialect, name) for name in sorted(rules_for(dialect).denied_functions)]


DENIED = [pair for d in (*DIALECTS, "spark") for pair in _denied(d)]
QUALIFIER = {
    "duckdb": "main", "postgres": "pg_catalog", "mysql": "mysql", "sqlite": "main",
    "spark": "default",
}  # fmt: skip
QUOTE = {"duckdb": '"', "postgres": '"', "mysql": "`", "sqlite": '"', "spark": "`"}


@pytest.mark.parametrize(("dialect", "name"), DENIED, ids=[f"{d}-{n}" for d, n in DENIED])
def test_every_denied_function_is_refused_in_every_spelling(dialect: str, name: str) -> None:
    schema = cards_schema(dialect)
    q = QUOTE[dialect]
    spellings = [
        f"SELECT {name}('x')",
        f"SELECT {name.upper()}('x', 1)",
        f"SELECT {q}{name}{q}('x')",
        f"SELECT {QUALIFIER[dialect]}.{name}('x')",
        f"SELECT name FROM customers WHERE name = upper({name}('x'))",
        f"WITH w AS (SELECT {name}('x') AS v) SELECT v FROM w",
    ]
    if dialect in ("duckdb", "postgres"):
        spellings.append(f"SELECT * FROM {name}('x') AS f")
    for sql in spellings:
        with pytest.raises(errors.UnsafeSQL, match="not allowed") as info:
            check(sql, schema=schema, policy=Policy())
        assert info.value.sql == sql


def test_the_deny_list_has_a_common_part_and_a_part_per_dialect() -> None:
    assert set(DIALECT_DENIED_FUNCTIONS) == {*DIALECTS, "snowflake", "spark", "databricks"}
    spark_denied = set(rules_for("databricks").denied_functions)
    assert {"reflect", "java_method", "input_file_name"} <= spark_denied
    for dialect in DIALECTS:
        denied = rules_for(dialect).denied_functions
        assert {"read_csv", "pg_sleep", "load_file", "nextval"} <= set(denied)
    assert "query" in rules_for("duckdb").denied_functions
    assert "pg_read_file" in rules_for("postgres").denied_functions
    assert "get_lock" in rules_for("mysql").denied_functions
    assert "fts3_tokenizer" in rules_for("sqlite").denied_functions
    # glob() lists files in DuckDB; elsewhere it is SQLite's harmless pattern match.
    assert "glob" not in rules_for("sqlite").denied_functions


@pytest.mark.parametrize("name", sorted(DIALECT_DENIED_FUNCTIONS["snowflake"]))
def test_every_snowflake_denied_function_is_refused(name: str) -> None:
    schema = cards_schema("snowflake")
    for sql in (
        f"SELECT {name}(1)",
        f"SELECT {name.upper()}('x', 1)",
        f"SELECT name FROM customers WHERE name = upper({name}('x'))",
        f"SELECT * FROM TABLE({name.upper()}('x'))",
    ):
        with pytest.raises(errors.UnsafeSQL, match="not allowed"):
            check(sql, schema=schema, policy=Policy())


def test_a_function_parsed_into_its_own_class_is_still_refused() -> None:
    tree = sqlglot.parse_one("SELECT * FROM read_csv('x')", read="duckdb")
    assert tree.find(sqlglot.exp.ReadCSV) is not None  # not an anonymous call
    with pytest.raises(errors.UnsafeSQL, match=r"read_csv\(\)"):
        check("SELECT * FROM read_csv('x')", schema=cards_schema("duckdb"), policy=Policy())


def test_policy_can_allow_a_denied_function() -> None:
    schema = cards_schema("duckdb")
    with pytest.raises(errors.UnsafeSQL):
        check("SELECT * FROM read_csv('x.csv')", schema=schema, policy=Policy())
    guarded = check(
        "SELECT * FROM READ_CSV('x.csv')",
        schema=schema,
        policy=Policy(allowed_functions=("read_csv",)),
    )
    assert "READ_CSV('x.csv')" in guarded.sql


def test_unknown_table_functions_are_refused_but_row_generators_pass() -> None:
    schema = cards_schema("duckdb")
    with pytest.raises(errors.UnsafeSQL, match=r"duckdb_columns\(\) is not allowed in FROM"):
        check("SELECT * FROM duckdb_columns()", schema=schema, policy=Policy())
    for sql in ("SELECT * FROM range(3)", "SELECT * FROM generate_series(1, 3)"):
        assert check(sql, schema=schema, policy=Policy()).tables == ()


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("dialect", "sql", "error", "expected"),
    [
        (
            "duckdb",
            "SELECT merchant FROM merchants",
            errors.UnknownColumn,
            "Unknown column 'merchant' in table merchants. Did you mean: merchant_id, "
            "merchant_name?",
        ),
        (
            "duckdb",
            "SELECT * FROM custmers",
            errors.UnknownTable,
            "Unknown table 'custmers'. Did you mean: customers?",
        ),
        (
            "duckdb",
            "DELETE FROM customers",
            errors.UnsafeSQL,
            "DELETE is not allowed: only a single read-only query (SELECT, WITH ... SELECT, "
            "UNION, VALUES) can run",
        ),
        (
            "postgres",
            'SELECT OfficeId FROM "Branch Offices"',
            errors.UnknownColumn,
            'Names are case-sensitive here: write it as "OfficeId".',
        ),
        (
            "duckdb",
            "WITH x AS (SELECT name FROM customers) SELECT x.nam FROM x",
            errors.UnknownColumn,
            "Unknown column 'nam' in 'x' (a CTE or subquery). Did you mean: name?",
        ),
        (
            "duckdb",
            "SELECT customer_id FROM customers c JOIN cards k USING (card_id)",
            errors.UnknownColumn,
            "Column 'card_id' in USING (...) is not a column of both joined tables",
        ),
    ],
)
def test_messages_say_what_and_why(
    dialect: str, sql: str, error: type[errors.GuardError], expected: str
) -> None:
    with pytest.raises(error) as info:
        check(sql, schema=cards_schema(dialect), policy=Policy())
    assert expected in info.value.message
    assert info.value.sql == sql


def test_unknown_names_carry_the_name_and_suggestions() -> None:
    schema = cards_schema("duckdb")
    with pytest.raises(errors.UnknownColumn) as col:
        check("SELECT m.merchant FROM merchants m", schema=schema, policy=Policy())
    assert col.value.name == "merchant"
    assert set(col.value.suggestions) == {"merchant_id", "merchant_name"}
    assert "(alias m)" in col.value.message
    with pytest.raises(errors.UnknownTable) as tab:
        check("SELECT * FROM sales.order", schema=schema, policy=Policy())
    assert tab.value.name == "sales.order"
    assert tab.value.suggestions == ("sales.orders",)


def test_suggestions_never_reveal_denied_names() -> None:
    schema = cards_schema("duckdb")
    policy = Policy(denied_tables=("customers",), denied_columns=("cards.credit_limit",))
    with pytest.raises(errors.UnknownTable) as tab:
        check("SELECT * FROM customer", schema=schema, policy=policy)
    assert "customers" not in tab.value.message
    with pytest.raises(errors.UnknownColumn) as col:
        check("SELECT credit FROM cards", schema=schema, policy=policy)
    assert "credit_limit" not in col.value.message


def test_ambiguous_bare_table_names_must_be_qualified() -> None:
    schema = SchemaInfo(
        "postgres",
        (
            TableInfo("orders", (ColumnInfo("id", "int"),), schema="sales"),
            TableInfo("orders", (ColumnInfo("id", "int"),), schema="archive"),
        ),
    )
    with pytest.raises(errors.UnknownTable, match="ambiguous"):
        check("SELECT id FROM orders", schema=schema, policy=Policy())
    assert check("SELECT id FROM archive.orders", schema=schema, policy=Policy()).tables == (
        "archive.orders",
    )
    preferred = SchemaInfo(schema.dialect, schema.tables, default_schema="sales")
    assert check("SELECT id FROM orders", schema=preferred, policy=Policy()).tables == (
        "sales.orders",
    )
    # Tables of the default schema may be listed without a schema name (as DuckDB's are).
    duck = SchemaInfo(
        "duckdb",
        (TableInfo("orders", (ColumnInfo("id", "int"),)), schema.tables[1]),
        default_schema="main",
    )
    assert check("SELECT id FROM orders", schema=duck, policy=Policy()).tables == ("orders",)
    assert check("SELECT id FROM main.orders", schema=duck, policy=Policy()).tables == ("orders",)


# --------------------------------------------------------------------------- results


def test_tables_lists_each_table_read_once_in_order() -> None:
    guarded = check(
        "SELECT c.name FROM customers c JOIN cards k ON k.customer_id = c.customer_id "
        "WHERE c.customer_id IN (SELECT customer_id FROM customers) "
        "UNION SELECT total::varchar FROM sales.orders",
        schema=cards_schema("duckdb"),
        policy=Policy(),
    )
    assert guarded.tables == ("customers", "cards", "sales.orders")


def test_output_is_regenerated_without_comments() -> None:
    guarded = check(
        "select name /* note */ from customers -- trailing",
        schema=cards_schema("duckdb"),
        policy=Policy(),
    )
    assert guarded.sql == "SELECT name FROM customers"
    assert "note" not in guarded.executable


def test_star_over_denied_columns_expands_to_the_allowed_ones() -> None:
    schema = cards_schema("duckdb")
    policy = Policy(denied_columns=("customers.ssn", "*.password"), max_rows=5)
    guarded = check("SELECT * FROM customers", schema=schema, policy=policy)
    assert "ssn" not in guarded.sql and "password" not in guarded.sql
    assert "ssn" not in guarded.executable
    con = _duckdb_with_cards()
    con.execute(
        "INSERT INTO customers SELECT i, 'n' || i, 'e', 's', 'p', 'c', DATE '2024-01-01' "
        "FROM range(20) t(i)"
    )
    cur = con.execute(guarded.executable)
    columns = [d[0] for d in cur.description]
    assert columns == ["customer_id", "name", "email", "city", "signup_date"]
    assert len(cur.fetchall()) == 6


# --------------------------------------------------------------------------- row bound


@pytest.mark.parametrize(
    ("dialect", "sql", "executable", "added"),
    [
        ("duckdb", "SELECT name FROM customers", "SELECT name FROM customers LIMIT 11", True),
        (
            "duckdb",
            "SELECT name FROM customers LIMIT 5",
            "SELECT name FROM customers LIMIT 5",
            False,
        ),
        (
            "duckdb",
            "SELECT name FROM customers LIMIT 11",
            "SELECT name FROM customers LIMIT 11",
            False,
        ),
        (
            "duckdb",
            "SELECT name FROM customers LIMIT 500",
            "SELECT name FROM customers LIMIT 11",
            True,
        ),
        (
            "duckdb",
            "SELECT name FROM customers LIMIT 500 OFFSET 7",
            "SELECT name FROM customers LIMIT 11 OFFSET 7",
            True,
        ),
        (
            "duckdb",
            "SELECT name FROM customers UNION SELECT merchant_name FROM merchants",
            "SELECT name FROM customers UNION SELECT merchant_name FROM merchants LIMIT 11",
            True,
        ),
        ("duckdb", "VALUES (1), (2)", "VALUES (1), (2)", False),
        (
            "duckdb",
            "VALUES " + ", ".join(f"({i})" for i in range(12)),
            "SELECT * FROM (VALUES " + ", ".join(f"({i})" for i in range(12)) + ") AS _bounded "
            "LIMIT 11",
            True,
        ),
        (
            "duckdb",
            "SELECT name FROM customers LIMIT (SELECT 3)",
            "SELECT * FROM (SELECT name FROM customers LIMIT (SELECT 3)) AS _bounded LIMIT 11",
            True,
        ),
        (
            "postgres",
            "SELECT name FROM customers FETCH FIRST 50 ROWS ONLY",
            "SELECT name FROM customers FETCH FIRST 11 ROWS ONLY",
            True,
        ),
        (
            "mysql",
            "SELECT name FROM customers LIMIT 20, 50",
            "SELECT name FROM customers LIMIT 11 OFFSET 20",
            True,
        ),
        (
            "sqlite",
            "SELECT name FROM customers LIMIT -1",
            "SELECT * FROM (SELECT name FROM customers LIMIT -1) AS _bounded LIMIT 11",
            True,
        ),
        ("tsql", "SELECT name FROM customers", "SELECT TOP 11 name FROM customers", True),
        (
            "oracle",
            "SELECT name FROM customers",
            "SELECT name FROM customers FETCH FIRST 11 ROWS ONLY",
            True,
        ),
    ],
)
def test_row_bound(dialect: str, sql: str, executable: str, added: bool) -> None:
    guarded = check(sql, schema=cards_schema(dialect), policy=Policy(max_rows=10))
    assert guarded.executable == executable
    assert guarded.limit_added is added
    assert (guarded.executable == guarded.sql) is not added
    assert "_bounded" not in guarded.sql


def test_row_bound_holds_on_a_real_database() -> None:
    con = _duckdb_with_cards()
    con.execute("INSERT INTO merchants SELECT i, 'm' || i, 'c', 'FR' FROM range(100) t(i)")
    for sql in (
        "SELECT merchant_name FROM merchants",
        "SELECT merchant_name FROM merchants LIMIT 1000",
        "SELECT merchant_name FROM merchants UNION ALL SELECT merchant_name FROM merchants",
        "WITH m AS (SELECT * FROM merchants) SELECT merchant_id FROM m ORDER BY 1 DESC",
    ):
        guarded = check(sql, schema=cards_schema("duckdb"), policy=Policy(max_rows=10))
        assert len(con.execute(guarded.executable).fetchall()) == 11, sql
        assert len(con.execute(guarded.sql).fetchall()) > 11, sql


# --------------------------------------------------------------------------- visible schema


def test_visible_schema_hides_denied_tables_and_columns() -> None:
    schema = cards_schema("duckdb")
    policy = Policy(
        denied_tables=("transactions", "sales.*"),
        denied_columns=("customers.ssn", "*.password", "cards.customer_id"),
    )
    shown = visible_schema(schema, policy)
    names = [t.qualified_name for t in shown.tables]
    assert names == ["customers", "cards", "merchants", "Branch Offices"]
    customers = shown.table("customers")
    assert customers is not None
    assert [c.name for c in customers.columns] == [
        "customer_id",
        "name",
        "email",
        "city",
        "signup_date",
    ]
    cards = shown.table("cards")
    assert cards is not None and cards.foreign_keys == ()  # it used a denied column
    assert shown.dialect == schema.dialect


def test_visible_schema_with_allowed_tables_and_foreign_keys() -> None:
    schema = SchemaInfo(
        "duckdb",
        (
            TableInfo(
                "a",
                (ColumnInfo("id", "int"), ColumnInfo("b_id", "int")),
                foreign_keys=(ForeignKey(("b_id",), "b", ("id",)),),
            ),
            TableInfo("b", (ColumnInfo("id", "int"),)),
            TableInfo("c", (ColumnInfo("id", "int"),)),
        ),
    )
    shown = visible_schema(schema, Policy(allowed_tables=("a",)))
    assert [t.name for t in shown.tables] == ["a"]
    assert shown.tables[0].foreign_keys == ()  # b is hidden, so is the key to it
    both = visible_schema(schema, Policy(allowed_tables=("a", "b")))
    assert both.tables[0].foreign_keys == schema.tables[0].foreign_keys


def test_the_guard_refuses_what_visible_schema_hides() -> None:
    schema = cards_schema("duckdb")
    policy = Policy(denied_tables=("merchants",), denied_columns=("customers.email",))
    shown = visible_schema(schema, policy)
    for table in schema.tables:
        visible = shown.table(table.name, table.schema)
        for column in table.columns:
            ident = f'"{column.name}"'
            source = f'{table.schema}."{table.name}"' if table.schema else f'"{table.name}"'
            sql = f"SELECT {ident} FROM {source}"
            if visible is not None and visible.column(column.name) is not None:
                check(sql, schema=schema, policy=policy)
            else:
                with pytest.raises(errors.PolicyViolation):
                    check(sql, schema=schema, policy=policy)


# --------------------------------------------------------------------------- Spider


def _spider_results(root: Path) -> dict[str, tuple[int, list[str]]]:
    results: dict[str, tuple[int, list[str]]] = {"sqlite": (0, []), "duckdb": (0, [])}
    passed = {"sqlite": 0, "duckdb": 0}
    refused: dict[str, list[str]] = {"sqlite": [], "duckdb": []}
    for item in spider_queries(root):
        try:
            guarded = check(
                item["query"], schema=spider_schema(item["db_id"], "sqlite", root), policy=Policy()
            )
            passed["sqlite"] += 1
        except errors.GuardError as err:
            refused["sqlite"].append(f"{item['query']} -> {err}")
            continue
        duck = sqlglot.transpile(guarded.sql, read="sqlite", write="duckdb")[0]
        try:
            check(duck, schema=spider_schema(item["db_id"], "duckdb", root), policy=Policy())
            passed["duckdb"] += 1
        except errors.GuardError as err:
            refused["duckdb"].append(f"{duck} -> {err}")
    for dialect in results:
        results[dialect] = (passed[dialect], refused[dialect])
    return results


def test_every_spider_gold_query_passes(spider: Path) -> None:
    """Zero false refusals: all 523 gold queries pass in SQLite and, transpiled, in DuckDB.

    The DuckDB text is transpiled from the guard's SQLite output, in which SQLite's
    double-quoted string literals have already become single-quoted strings (transpiling the
    raw text would hand DuckDB column names that do not exist).
    """
    total = len(spider_queries(spider))
    assert total == 523
    for dialect, (passed, refused) in _spider_results(spider).items():
        assert refused == [], f"{dialect}: {len(refused)} refused, first: {refused[:3]}"
        assert passed == total


def test_check_is_fast(spider: Path) -> None:
    items = spider_queries(spider)[:100]
    timings = []
    for item in items:
        schema = spider_schema(item["db_id"], "sqlite", spider)
        start = time.perf_counter()
        check(item["query"], schema=schema, policy=Policy())
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.020  # the chain's overhead budget per question


def test_the_guard_fails_closed_on_input_it_cannot_analyse() -> None:
    sql = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    with pytest.raises(errors.SQLParseError, match="could not be checked") as info:
        check(sql, schema=cards_schema("duckdb"), policy=Policy())
    assert info.value.sql == sql


@pytest.mark.parametrize("dialect", [*DIALECTS, "snowflake"])
@pytest.mark.parametrize(
    "sql",
    [
        "WITH _sqlagent_t0 AS (SELECT 1 AS email) SELECT email FROM customers",
        'WITH "_SQLAGENT_T0" AS (SELECT 1 AS email) SELECT email FROM customers',
        "SELECT _sqlagent_t1.name FROM customers AS _sqlagent_t1",
    ],
)
def test_the_guards_own_names_cannot_be_used(dialect: str, sql: str) -> None:
    """A CTE named like the analysis' synthetic table names would be bound in their place."""
    if dialect == "mysql":
        sql = sql.replace('"', "`")
    with pytest.raises(errors.UnsafeSQL, match="reserved"):
        check(sql, schema=cards_schema(dialect), policy=Policy(denied_columns=("*.email",)))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("sql", "policy"),
    [
        # Inside its own body a (non-recursive) CTE's name is the real table.
        ("WITH customers AS (SELECT * FROM customers) SELECT * FROM customers",
         {"denied_tables": ["customers"]}),
        # A CTE body cannot see the CTEs listed after it.
        ("WITH b AS (SELECT email FROM customers), customers AS (SELECT 1 AS email) "
         "SELECT * FROM b", {"denied_columns": ["customers.email"]}),
    ],
)  # fmt: skip
def test_a_cte_cannot_hide_the_table_it_is_named_after(
    dialect: str, sql: str, policy: dict[str, list[str]]
) -> None:
    with pytest.raises(errors.PolicyViolation):
        check(sql, schema=cards_schema(dialect), policy=Policy.from_mapping(policy))


def test_ctes_still_see_earlier_ctes_and_themselves_when_recursive() -> None:
    schema = cards_schema("postgres")
    denied = Policy(denied_columns=("customers.email",))
    check("WITH b AS (SELECT name FROM customers), c AS (SELECT * FROM b) SELECT * FROM c",
          schema=schema, policy=denied)  # fmt: skip
    check("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
          "SELECT n FROM r", schema=schema, policy=denied)  # fmt: skip


@pytest.mark.parametrize("sql", ["SELECT @a := 1", "SELECT LAST_INSERT_ID(5)"])
def test_mysql_session_state_cannot_be_set(sql: str) -> None:
    with pytest.raises(errors.UnsafeSQL, match="state"):
        check(sql, schema=cards_schema("mysql"), policy=Policy())


def test_mysql_json_table_is_a_row_source() -> None:
    sql = (
        "SELECT jt.x FROM JSON_TABLE('[1, 2]', '$[*]' COLUMNS (x INT PATH '$')) AS jt"
    )
    assert "JSON_TABLE" in check(sql, schema=cards_schema("mysql"), policy=Policy()).sql.upper()
