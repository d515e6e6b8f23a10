"""Oracle runs on the shared Spider subset: the pipeline and scorer must be faithful.

With a model that answers every question with its gold SQL, anything short of 100% on SQLite
is a bug in the chain (guard, execution) or the scorer. On DuckDB copies the figure is lower
for reasons of the engines (SQLite's bare columns beside GROUP BY, text compared with numbers,
case-insensitive LIKE, ties under LIMIT), but never because our guard refuses a gold query.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb

from sqlagent.evaluation.datasets import detect_format, load_dataset
from sqlagent.evaluation.duckcopy import copy_to_duckdb, duckdb_copy
from sqlagent.evaluation.runner import for_engine, oracle_for, run_eval
from sqlagent.settings import Settings


def test_oracle_scores_every_spider_question_on_sqlite(spider: Path, tmp_path: Path) -> None:
    ds = load_dataset(spider)
    assert ds.format == "spider" and len(ds.items) == 523
    result = run_eval(
        ds,
        llm_factory=oracle_for(),
        settings=Settings(model="oracle"),
        out_dir=tmp_path / "run",
        model="oracle",
        concurrency=2,
    )
    failures = [r for r in result.records if r["correct"] is not True]
    assert failures == [], failures[:3]
    s = result.summary
    assert (s.questions, s.correct, s.valid, s.needed_repair) == (523, 523, 523, 0)
    assert s.oracle_answers == 2 * 523 and s.llm_calls == 0  # a generation and a narration each
    assert result.wall_time < 60


def test_oracle_on_duckdb_copies_fails_only_for_engine_reasons(
    spider: Path, tmp_path: Path
) -> None:
    ds = for_engine(load_dataset(spider, limit=100), "duckdb", cache=tmp_path / "cache")
    assert all(i.target.endswith(".duckdb") and i.gold_target for i in ds.items)
    result = run_eval(
        ds,
        llm_factory=oracle_for("duckdb"),
        settings=Settings(model="oracle", narrate=False, max_repairs=0),
        out_dir=tmp_path / "run",
        model="oracle",
        engine="duckdb",
    )
    s = result.summary
    assert s.scored == 100 and 0.7 < (s.accuracy or 0) < 1
    for r in result.records:
        if r["correct"]:
            continue
        # Not the guard: every gold query passes it; what fails is DuckDB or the results.
        assert r["outcome"] == "answer" or r["error"]["type"] == "ExecutionError", r


def test_spider_double_quoted_strings_survive_transpiling(spider: Path, tmp_path: Path) -> None:
    ds = load_dataset(spider)
    item = next(i for i in ds.items if '"Aberdeen"' in (i.turns[0].gold_sql or ""))
    [duck_item] = for_engine(
        ds.__class__(ds.name, ds.format, ds.path, (item,)), "duckdb", cache=tmp_path
    ).items
    llm = oracle_for("duckdb")(duck_item)
    reply = llm.complete([{"role": "user", "content": f"Question: {item.question}"}]).text
    assert "'Aberdeen'" in reply and '"Aberdeen"' not in reply


def test_detect_format(spider: Path, tmp_path: Path) -> None:
    assert detect_format(spider) == "spider"
    assert detect_format(spider / "dev.json") == "spider"
    golden = tmp_path / "set.jsonl"
    golden.write_text(json.dumps({"question": "q", "sql": "SELECT 1"}) + "\n")
    assert detect_format(golden) == "golden"


# --------------------------------------------------------------------------- DuckDB copies


def test_copy_types_columns_from_the_stored_values(tmp_path: Path) -> None:
    src = tmp_path / "mixed.sqlite"
    con = sqlite3.connect(src)
    con.executescript(
        """
        CREATE TABLE t (a INTEGER, b NUMBER, c INTEGER, d TEXT, e REAL, "odd name" TEXT);
        INSERT INTO t VALUES (1, 2, 3, 'x', NULL, 'q');
        INSERT INTO t VALUES (2, 2.5, '', 'y', NULL, NULL);
        INSERT INTO t VALUES (NULL, NULL, 7, '12', NULL, 'r');
        CREATE TABLE empty (k INTEGER);
        """
    )
    con.commit()
    con.close()
    dest = copy_to_duckdb(src, tmp_path / "mixed.duckdb")
    duck = duckdb.connect(str(dest), read_only=True)
    types = dict(
        duck.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'"
        ).fetchall()
    )
    assert types == {
        "a": "BIGINT",
        "b": "DOUBLE",  # 2 and 2.5
        "c": "VARCHAR",  # an empty string among the integers, as Spider has
        "d": "VARCHAR",
        "e": "DOUBLE",  # all NULL: the declared REAL
        "odd name": "VARCHAR",
    }
    assert duck.execute('SELECT a, b, c, d, "odd name" FROM t ORDER BY rowid').fetchall() == [
        (1, 2.0, "3", "x", "q"),
        (2, 2.5, "", "y", None),
        (None, None, "7", "12", "r"),
    ]
    assert duck.execute("SELECT count(*) FROM empty").fetchone() == (0,)
    duck.close()


def test_copies_are_cached_while_the_source_is_unchanged(spider: Path, tmp_path: Path) -> None:
    src = spider / "database" / "pets_1" / "pets_1.sqlite"
    first = duckdb_copy(src, tmp_path)
    mtime = first.stat().st_mtime_ns
    assert duckdb_copy(src, tmp_path) == first and first.stat().st_mtime_ns == mtime
    duck = duckdb.connect(str(first), read_only=True)
    lite = sqlite3.connect(src)
    for (table,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        n = lite.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        assert duck.execute(f'SELECT count(*) FROM "{table}"').fetchone() == n
    duck.close()
    lite.close()
