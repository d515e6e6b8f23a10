"""Execution accuracy agrees with the official Spider/BIRD rules on every fixture pair."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sqlagent.db import connect
from sqlagent.db.base import Database
from sqlagent.evaluation.exec_match import (
    GoldFailed,
    compare_results,
    exec_match,
    match_expected,
    order_matters,
    postprocess,
    remove_distinct,
    replace_cur_year,
    result_eq,
)

PAIRS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "eval_pairs.yaml"
PAIRS: dict[str, Any] = yaml.safe_load(PAIRS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pairs_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("pairs") / "people.sqlite"
    con = sqlite3.connect(path)
    con.executescript(PAIRS["setup"])
    con.commit()
    con.close()
    db = connect(str(path))
    yield db
    db.close()


@pytest.mark.parametrize("pair", PAIRS["pairs"], ids=[p["name"] for p in PAIRS["pairs"]])
def test_fixture_pair_matches_official_verdict(pair: dict[str, Any], pairs_db: Database) -> None:
    verdict = exec_match(
        pair["gold"],
        pair["pred"],
        gold_db=pairs_db,
        rules=pair.get("rules", "spider"),
        keep_distinct=pair.get("keep_distinct", False),
    )
    assert verdict.correct is pair["correct"], f"{pair['reason']} (ours: {verdict.reason})"


def test_fixture_pairs_cover_every_case_the_rules_name() -> None:
    names = " ".join(p["name"] for p in PAIRS["pairs"])
    for topic in ("columns", "order", "duplicates", "distinct", "float", "null", "empty"):
        assert topic in names
    assert all(p.get("reason") for p in PAIRS["pairs"])
    verdicts = {p["correct"] for p in PAIRS["pairs"]}
    assert verdicts == {True, False}


def test_failing_gold_query_cannot_be_scored(pairs_db: Database) -> None:
    with pytest.raises(GoldFailed, match="gold query failed"):
        exec_match("SELECT nope FROM people", "SELECT 1", gold_db=pairs_db)


def test_no_prediction_is_wrong(pairs_db: Database) -> None:
    verdict = exec_match("SELECT name FROM people", None, gold_db=pairs_db)
    assert not verdict.correct and verdict.reason == "no predicted SQL"


def test_given_rows_are_used_when_the_rules_leave_the_text_alone(pairs_db: Database) -> None:
    # The rows already fetched stand for the prediction: here they are deliberately wrong.
    wrong = [("Zed",)] * 5
    verdict = exec_match(
        "SELECT name FROM people", "SELECT name FROM people", gold_db=pairs_db, pred_rows=wrong
    )
    assert not verdict.correct
    # With DISTINCT in the prediction the text changes, so it is run again (and matches).
    verdict = exec_match(
        "SELECT name FROM people",
        "SELECT DISTINCT name FROM people",
        gold_db=pairs_db,
        pred_rows=wrong,
    )
    assert verdict.correct


# --------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT DISTINCT a FROM t", "SELECT  a FROM t"),
        ("select count(distinct a) from t", "select count( a) from t"),
        ("SELECT a FROM t WHERE b = 'distinct'", "SELECT a FROM t WHERE b = 'distinct'"),
        ('SELECT "distinct" FROM t', 'SELECT "distinct" FROM t'),
        ("SELECT a FROM t -- distinct\n", "SELECT a FROM t -- distinct\n"),
        ("SELECT a FROM t", "SELECT a FROM t"),
    ],
)
def test_remove_distinct(sql: str, expected: str) -> None:
    assert remove_distinct(sql) == expected


def test_query_text_rules() -> None:
    assert postprocess("a > = 1 AND b < = 2 AND c ! = 3") == "a >= 1 AND b <= 2 AND c != 3"
    assert replace_cur_year("SELECT YEAR(CURDATE()) - 1") == "SELECT 2020- 1"
    assert order_matters("SELECT a FROM t ORDER BY a")
    assert order_matters("select a from t where b = 'order by'")  # a substring test
    assert not order_matters("SELECT a FROM t ORDER  BY a")  # two spaces: not the substring


@pytest.mark.parametrize(
    ("gold", "pred", "ordered", "equal"),
    [
        ([], [], True, True),
        ([(1, "a")], [("a", 1)], True, True),
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], False, True),
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True, False),
        ([(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),
        ([(1, 2, 3, 4)], [(4, 3, 2, 1)], False, True),
        ([(1, 1, 2, 2), (1, 2, 1, 2)], [(2, 2, 1, 1), (2, 1, 2, 1)], False, True),
        ([(None,)], [(None,)], False, True),
        ([(1.0,)], [(1,)], False, True),
        ([([1, 2],)], [([1, 2],)], False, True),  # unhashable values compare by JSON
    ],
)
def test_compare_results(gold: list[Any], pred: list[Any], ordered: bool, equal: bool) -> None:
    from sqlagent.evaluation.exec_match import _prepare

    g, p = _prepare(gold, portable=False), _prepare(pred, portable=False)
    assert compare_results(g, p, ordered=ordered)[0] is equal
    assert result_eq(g, p, ordered) is equal


def test_match_expected_normalises_values() -> None:
    import datetime as dt
    from decimal import Decimal

    rows = [(dt.date(2024, 1, 31), Decimal("12.50")), (dt.date(2024, 2, 1), Decimal("3"))]
    expected = [["2024-02-01", 3], ["2024-01-31", 12.5]]
    assert match_expected(expected, rows).correct
    assert not match_expected(expected, rows, ordered=True).correct
    assert not match_expected(expected, None).correct
    assert not match_expected([["2024-01-31", 12.5]], rows).correct
