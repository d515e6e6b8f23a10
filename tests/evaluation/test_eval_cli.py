"""The ``eval`` and ``history`` commands, through the handlers ``add_parsers`` returns."""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sqlagent.cli.eval import add_parsers
from sqlagent.store.history import HistoryStore
from sqlagent.types import Answer, Attempt, ErrorInfo, Step, Trace, Usage


def run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="sqlagent")
    sub = parser.add_subparsers(dest="command")
    handlers = add_parsers(sub)
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = handlers[args.command](args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def golden(tmp_path: Path) -> Path:
    db = tmp_path / "shop.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE TABLE orders (id INTEGER, total REAL, city TEXT);"
        "INSERT INTO orders VALUES (1, 10, 'Oslo'), (2, 20, 'Rome'), (3, 5, 'Oslo');"
    )
    con.close()
    path = tmp_path / "golden.yaml"
    items = [
        {"question": "How many orders?", "sql": "SELECT count(*) FROM orders"},
        {"question": "Orders per city?", "sql": "SELECT city, count(*) FROM orders GROUP BY city"},
        {"question": "Largest order?", "expected": [[20.0]]},  # no gold SQL: the oracle fails
    ]
    path.write_text(yaml.safe_dump(items))
    return path


def test_eval_with_the_oracle(golden: Path, tmp_path: Path) -> None:
    db = str(golden.parent / "shop.sqlite")
    code, out, err = run("eval", str(golden), "--db", db, "--oracle", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "execution accuracy                  66.7% (2/3 scored)" in out
    assert "model                               oracle" in out
    assert (tmp_path / "r" / "report.html").exists()
    assert "3/3 items" in err
    # Re-running resumes: nothing is asked again.
    code, out, err = run("eval", str(golden), "--db", db, "--oracle", "--out", str(tmp_path / "r"))
    assert code == 0 and "3 items were already done" in err
    code, _, err = run(
        "eval", str(golden), "--db", db, "--oracle", "--out", str(tmp_path / "s"),
        "--min-accuracy", "0.9", "--quiet",
    )  # fmt: skip
    assert code == 1 and "below --min-accuracy" in err and "items," not in err


def test_the_sample_questions_evaluate_on_the_sample_database_by_default(
    sample_db_path: Path, tmp_path: Path
) -> None:
    questions = Path(__file__).resolve().parents[2] / "sample_data" / "questions.yaml"
    code, out, err = run("eval", str(questions), "--oracle", "--quiet", "--out", str(tmp_path))
    assert code == 0, err
    assert "execution accuracy                  100.0% (19/19 scored)" in out
    assert err == ""  # --quiet means quiet


def test_expected_rows_may_come_with_their_columns(golden: Path, tmp_path: Path) -> None:
    items = [{"question": "Orders?", "expected": {"columns": ["n"], "rows": [[3]]}}]
    golden.write_text(yaml.safe_dump(items))
    db = str(golden.parent / "shop.sqlite")
    fake = tmp_path / "answers.jsonl"
    code, out, err = run("eval", str(golden), "--db", db, "--oracle", "--out", str(fake))
    # The oracle has no gold SQL to answer with, so the item is asked and scored as wrong,
    # but the file is read.
    assert code == 0, err
    assert "(0/1 scored)" in out


def test_eval_compare(golden: Path, tmp_path: Path) -> None:
    db = str(golden.parent / "shop.sqlite")
    for name, extra in (("a", []), ("b", ["--no-narrate"])):
        code, _, err = run(
            "eval", str(golden), "--db", db, "--oracle", "--out", str(tmp_path / name), *extra
        )
        assert code == 0, err
    code, out, _ = run("eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 0
    assert "execution accuracy  66.7% -> 66.7% (+0.0 pts)" in out
    assert "settings.narrate: True -> False" in out
    assert "oracle answers      5 -> 3" in out and "LLM calls           0 -> 0" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("eval",), "Name the evaluation set"),
        (("eval", "/nonexistent/set"), "No evaluation set"),
        (("eval", "--compare", "/nonexistent/a", "/nonexistent/b"), "not an evaluation run"),
    ],
)
def test_eval_usage_errors(argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(*argv)
    assert code == 2 and message in err


def test_eval_without_a_model_says_how_to_configure_one(
    golden: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, _, err = run(
        "eval",
        str(golden),
        "--db",
        str(golden.parent / "shop.sqlite"),
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2 and "No language model" in err and "--oracle" in err


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite3"
    s = HistoryStore(path)
    for i, model in enumerate(("gpt-4.1-mini", "local-llama")):
        s.record(
            Answer(
                question=f"question {i}",
                sql="SELECT 1",
                rows=((1,),),
                attempts=(
                    Attempt("SELECT x", ErrorInfo("UnknownColumn", "no column x")),
                    Attempt("SELECT 1"),
                ),
                trace=Trace(
                    (Step("generate", 0.25, Usage(100, 10)),), model=model, prompt_version="p1"
                ),
                id=f"{i}abcdef0123456789",
            ),
            database="sqlite:///shop.sqlite",
            source="cli",
        )
    s.feedback("0abcdef0123456789", 1, "good")
    return path


def test_history_list(store: Path) -> None:
    code, out, _ = run("history", "--store", str(store))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "id",
        "time",
        "outcome",
        "model",
        "tokens",
        "cost",
        "rating",
        "question",
    ]
    assert "question 1" in lines[2] and "question 0" in lines[3]  # newest first
    assert "$0.0001" in lines[3] and lines[3].split()[-3] == "1"  # cost and rating
    code, out, _ = run("history", "--store", str(store), "list", "--limit", "1", "--json")
    assert code == 0 and [json.loads(x)["question"] for x in out.splitlines()] == ["question 1"]


def test_history_show_by_prefix(store: Path) -> None:
    code, out, _ = run("history", "--store", str(store), "show", "0abc")
    assert code == 0
    assert "question:       question 0" in out
    assert "SELECT x" in out and "UnknownColumn: no column x" in out
    assert "feedback:       1 — good" in out
    code, out, _ = run("history", "--store", str(store), "show", "0abcdef0123456789", "--json")
    assert json.loads(out)["model"] == "gpt-4.1-mini"
    code, _, err = run("history", "--store", str(store), "show", "zzz")
    assert code == 2 and "No answer" in err


def test_history_export(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    code, _, err = run("history", "--store", str(store), "export", "--out", str(target))
    assert code == 0 and "2 answers written" in err
    rows = [json.loads(x) for x in target.read_text().splitlines()]
    assert [r["question"] for r in rows] == ["question 0", "question 1"]
    code, out, _ = run("history", "--store", str(store), "export")
    assert code == 0 and len(out.splitlines()) == 2


def test_history_empty_store_uses_sqlagent_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQLAGENT_HOME", str(tmp_path / "home"))
    code, out, _ = run("history")
    assert code == 0 and "No answers recorded yet" in out
    assert (tmp_path / "home" / "history.sqlite3").exists()


def test_importing_the_commands_loads_no_heavy_module() -> None:
    code = (
        "import sys, sqlagent.cli.eval, sqlagent.store.history; "
        "print([m for m in ('duckdb', 'sqlglot', 'sqlalchemy', 'openai', 'pandas', 'yaml') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
