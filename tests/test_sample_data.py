"""The bundled sample database: schema, contents, determinism, atomic build, example questions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sqlagent import sample
from sqlagent.errors import ConfigError
from sqlagent.types import to_json_value

TABLE_KEYS = {
    "customers": "customer_id",
    "cards": "card_id",
    "merchants": "merchant_id",
    "transactions": "transaction_id",
}
SMALL = 0.05  # scale for builds that only need some rows


gen = sample.load_generator()
QUESTIONS = sample.sample_questions()


def _checksums(path: Path) -> dict[str, str]:
    """One digest per table over all rows in primary-key order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: con.execute(
                f"SELECT md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY {key})) FROM {table} t"
            ).fetchall()[0][0]
            for table, key in TABLE_KEYS.items()
        }
    finally:
        con.close()


@pytest.fixture(scope="session")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-size database with the default seed, built through ensure_sample_database."""
    path = tmp_path_factory.mktemp("sample") / "cards.duckdb"
    assert not path.exists()
    built = sample.ensure_sample_database(path)
    assert built == path and path.is_file()
    return path


@pytest.fixture()
def con(full_db: Path) -> Any:
    connection = duckdb.connect(str(full_db), read_only=True)
    yield connection
    connection.close()


# --------------------------------------------------------------------------- schema and contents


def test_tables_and_columns(con: Any) -> None:
    columns = {
        (t, c)
        for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall()
    }
    expected = {
        "customers": ["customer_id", "first_name", "last_name", "email", "city", "state",
                      "signup_date", "segment"],
        "cards": ["card_id", "customer_id", "card_type", "card_tier", "credit_limit", "opened_on",
                  "is_active"],
        "merchants": ["merchant_id", "merchant_name", "category", "city", "state"],
        "transactions": ["transaction_id", "card_id", "merchant_id", "transaction_ts", "amount",
                         "status", "channel", "currency"],
    }  # fmt: skip
    for table, names in expected.items():
        for name in names:
            assert (table, name) in columns, f"{table}.{name} missing"
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == set(expected)


def test_primary_and_foreign_keys(con: Any) -> None:
    rows = con.execute(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
        "referenced_column_names FROM duckdb_constraints() "
        "WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')"
    ).fetchall()
    keys = {(t, kind, tuple(cols), ref, tuple(ref_cols)) for t, kind, cols, ref, ref_cols in rows}
    for table, key in TABLE_KEYS.items():
        assert (table, "PRIMARY KEY", (key,), None, ()) in keys
    assert ("cards", "FOREIGN KEY", ("customer_id",), "customers", ("customer_id",)) in keys
    assert ("transactions", "FOREIGN KEY", ("card_id",), "cards", ("card_id",)) in keys
    assert ("transactions", "FOREIGN KEY", ("merchant_id",), "merchants", ("merchant_id",)) in keys


def test_types_and_comments(con: Any) -> None:
    types = dict(
        con.execute(
            "SELECT table_name || '.' || column_name, data_type FROM duckdb_columns()"
        ).fetchall()
    )
    assert types["transactions.amount"] == "DECIMAL(10,2)"
    assert types["cards.credit_limit"] == "DECIMAL(12,2)"
    assert types["transactions.transaction_ts"] == "TIMESTAMP"
    assert types["customers.signup_date"] == "DATE"
    assert types["cards.is_active"] == "BOOLEAN"
    table_comments = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
    assert all(table_comments[t] for t in TABLE_KEYS), table_comments
    status = con.execute(
        "SELECT comment FROM duckdb_columns() "
        "WHERE table_name = 'transactions' AND column_name = 'status'"
    ).fetchone()[0]
    assert "declined" in status and "refunded" in status


@pytest.mark.parametrize(
    ("table", "low", "high"),
    [
        ("customers", 4_500, 5_500),
        ("cards", 7_000, 9_000),
        ("merchants", 550, 700),
        ("transactions", 250_000, 350_000),
    ],
)
def test_row_counts(con: Any, table: str, low: int, high: int) -> None:
    count = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    assert low <= count <= high


def test_phoenix_has_exactly_nine_merchants(con: Any) -> None:
    names, rows = con.execute(
        "SELECT COUNT(DISTINCT merchant_name), COUNT(*) FROM merchants WHERE city = 'Phoenix'"
    ).fetchone()
    assert (names, rows) == (9, 9)
    assert con.execute(
        "SELECT DISTINCT state FROM merchants WHERE city = 'Phoenix'"
    ).fetchall() == [("AZ",)]


def test_merchants_span_cities_and_chains(con: Any) -> None:
    cities, tucson = con.execute(
        "SELECT COUNT(DISTINCT city), COUNT(*) FILTER (WHERE city = 'Tucson') FROM merchants"
    ).fetchone()
    assert cities >= 20 and tucson > 0
    # Chains: some names appear in several cities, so distinct names < locations.
    chain_count = con.execute(
        "SELECT COUNT(*) FROM (SELECT merchant_name FROM merchants GROUP BY merchant_name "
        "HAVING COUNT(DISTINCT city) > 1)"
    ).fetchone()[0]
    assert chain_count >= 10
    assert con.execute("SELECT COUNT(*) FROM merchants WHERE length(state) <> 2").fetchone()[0] == 0


def test_transactions_are_plausible(con: Any) -> None:
    first, last, months, bad_amounts, before_open = con.execute(
        "SELECT MIN(transaction_ts), MAX(transaction_ts), "
        "COUNT(DISTINCT date_trunc('month', transaction_ts)), "
        "COUNT(*) FILTER (WHERE amount <= 0), "
        "COUNT(*) FILTER (WHERE CAST(transaction_ts AS DATE) < c.opened_on) "
        "FROM transactions t JOIN cards c USING (card_id)"
    ).fetchone()
    assert first.year == 2025 and first.month == 1
    assert last.year == 2026 and last.month == 6
    assert months == 18
    assert bad_amounts == 0 and before_open == 0
    shares = dict(
        con.execute(
            "SELECT status, COUNT(*) / SUM(COUNT(*)) OVER () FROM transactions GROUP BY status"
        ).fetchall()
    )
    assert set(shares) == {"approved", "declined", "refunded"}
    assert shares["approved"] > 0.9
    assert con.execute("SELECT DISTINCT currency FROM transactions").fetchall() == [("USD",)]
    # Seasonality: December spend clearly above February.
    dec, feb = (
        con.execute(
            "SELECT SUM(amount) FROM transactions WHERE status = 'approved' "
            f"AND date_trunc('month', transaction_ts) = DATE '{month}'"
        ).fetchone()[0]
        for month in ("2025-12-01", "2025-02-01")
    )
    assert dec > feb * 3 / 2


# --------------------------------------------------------------------------- example questions


def test_questions_file_shape() -> None:
    assert len(QUESTIONS) >= 12
    assert (
        QUESTIONS[0]["question"]
        == "How many unique merchants are there in Phoenix and what are their names?"
    )
    assert len(QUESTIONS[0]["expected"]["rows"]) == 9
    for item in QUESTIONS:
        assert set(item) <= {"question", "sql", "expected", "answer_contains"}
        assert item["question"] and item["sql"] and item["expected"]["columns"]


@pytest.mark.parametrize("item", QUESTIONS, ids=[f"q{i:02d}" for i in range(len(QUESTIONS))])
def test_question_sql_gives_expected_rows(con: Any, item: dict[str, Any]) -> None:
    cursor = con.execute(item["sql"])
    columns = [d[0] for d in cursor.description]
    rows = [[to_json_value(v) for v in row] for row in cursor.fetchall()]
    assert columns == item["expected"]["columns"]
    assert rows == item["expected"]["rows"]


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_rows_different_seed_different_rows(tmp_path: Path) -> None:
    a = gen.build_database(tmp_path / "a.duckdb", seed=11, scale=SMALL)
    b = gen.build_database(tmp_path / "b.duckdb", seed=11, scale=SMALL)
    c = gen.build_database(tmp_path / "c.duckdb", seed=12, scale=SMALL)
    assert _checksums(a) == _checksums(b)
    differing = {t for t, digest in _checksums(c).items() if digest != _checksums(a)[t]}
    assert {"customers", "cards", "transactions"} <= differing


def test_rows_do_not_depend_on_hash_seed_or_process(tmp_path: Path) -> None:
    # Built in a subprocess with another string-hash seed: any iteration over a set or other
    # hash-ordered structure in the generator would show up as different rows.
    out = tmp_path / "sub.duckdb"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, str(sample.SAMPLE_DIR / "generate.py"), "--out", str(out),
         "--seed", "11", "--scale", str(SMALL)],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    here = gen.build_database(tmp_path / "here.duckdb", seed=11, scale=SMALL)
    assert _checksums(out) == _checksums(here)


# Digests of the small build with the default seed. They pin the generator's output across
# machines and Python versions; a deliberate change to the generator must update them (and the
# expected answers: python sample_data/generate.py --force --refresh-expected).
GOLDEN_SMALL = {
    "customers": "d4b0e280c9ec4483bf543093fffe59c2",
    "cards": "7036ddf9f6df76ace044b53bdbfb2e94",
    "merchants": "f22f1be24b64644ebe4ea7076248df4d",
    "transactions": "c2835c6ff325f4d6b677b36913e1e201",
}


def test_small_build_matches_golden_digests(tmp_path: Path) -> None:
    path = gen.build_database(tmp_path / "golden.duckdb", scale=SMALL)
    assert _checksums(path) == GOLDEN_SMALL


# --------------------------------------------------------------------------- atomic build


def _fail_on(table: str) -> Any:
    def hook(name: str) -> None:
        if name == table:
            raise RuntimeError(f"injected failure after {name}")

    return hook


def test_failed_build_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "cards.duckdb"
    with pytest.raises(RuntimeError, match="injected failure"):
        gen.build_database(out, scale=SMALL, on_progress=_fail_on("transactions"))
    assert list(tmp_path.iterdir()) == []


def test_failed_rebuild_keeps_previous_database(tmp_path: Path) -> None:
    out = gen.build_database(tmp_path / "cards.duckdb", seed=3, scale=SMALL)
    before = _checksums(out)
    with pytest.raises(RuntimeError, match="injected failure"):
        gen.build_database(out, seed=4, scale=SMALL, on_progress=_fail_on("merchants"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.duckdb"]
    assert _checksums(out) == before


def test_progress_reports_every_table(tmp_path: Path) -> None:
    seen: list[str] = []
    gen.build_database(tmp_path / "x.duckdb", scale=0.01, on_progress=seen.append)
    assert seen == list(TABLE_KEYS)


# --------------------------------------------------------------------------- sqlagent.sample


def test_ensure_does_not_rebuild_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "existing.duckdb"
    path.write_bytes(b"not rebuilt")
    assert sample.ensure_sample_database(path) == path
    assert path.read_bytes() == b"not rebuilt"


def test_older_than_generator_needs_build(tmp_path: Path) -> None:
    generator_mtime = (sample.SAMPLE_DIR / "generate.py").stat().st_mtime
    path = tmp_path / "cards.duckdb"
    assert sample.needs_build(path)  # missing
    path.write_bytes(b"x")
    os.utime(path, (generator_mtime + 10, generator_mtime + 10))
    assert not sample.needs_build(path)
    os.utime(path, (generator_mtime - 10, generator_mtime - 10))
    assert sample.needs_build(path)


def test_ensure_reuses_built_database(full_db: Path) -> None:
    stat = full_db.stat()
    assert sample.ensure_sample_database(full_db) == full_db
    after = full_db.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_default_path_is_in_sample_folder() -> None:
    assert sample.sample_database_path() == sample.SAMPLE_DIR / "cards.duckdb"
    assert (sample.SAMPLE_DIR / "generate.py").is_file()


def test_missing_sample_folder_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample, "SAMPLE_DIR", tmp_path / "absent")
    with pytest.raises(ConfigError, match="sample data folder is missing"):
        sample.ensure_sample_database(tmp_path / "cards.duckdb")
    with pytest.raises(ConfigError):
        sample.sample_questions()
    assert not (tmp_path / "cards.duckdb").exists()


def test_import_stays_light() -> None:
    code = "import sys, sqlagent.sample; print('duckdb' in sys.modules, 'yaml' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.split() == ["False", "False"]
