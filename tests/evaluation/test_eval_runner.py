"""Evaluation runs on golden sets and BIRD-format data: scoring, metrics, resume, compare."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sqlagent.errors import UsageError
from sqlagent.evaluation.compare import compare_runs, format_comparison
from sqlagent.evaluation.datasets import EvalItem, load_dataset
from sqlagent.evaluation.oracle import OracleLLM
from sqlagent.evaluation.rundir import RunDir
from sqlagent.evaluation.runner import oracle_for, run_eval
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM, fake_token_count
from sqlagent.types import Completion, Message, Usage

SETUP = """
CREATE TABLE city (id INTEGER PRIMARY KEY, name TEXT, country TEXT, population INTEGER);
INSERT INTO city VALUES (1, 'Oslo', 'Norway', 700000), (2, 'Bergen', 'Norway', 290000),
  (3, 'Rome', 'Italy', 2800000), (4, 'Milan', 'Italy', 1400000), (5, 'Turin', 'Italy', 850000);
"""

SQL = {
    "How many cities are there?": "SELECT count(*) FROM city",
    "Which cities are in Norway?": "SELECT name FROM city WHERE country = 'Norway'",
    "List the cities from largest to smallest.": "SELECT name FROM city ORDER BY population DESC",
    "How many cities are in Italy?": "SELECT count(*) FROM city WHERE country = 'Italy'",
    "and in Norway?": "SELECT count(*) FROM city WHERE country = 'Norway'",
}

GOLDEN = [
    {
        "id": "count",
        "question": "How many cities are there?",
        "sql": SQL["How many cities are there?"],
    },
    {"id": "norway", "question": "Which cities are in Norway?", "expected": [["Bergen"], ["Oslo"]]},
    {
        "id": "ordered",
        "question": "List the cities from largest to smallest.",
        "expected": [["Rome"], ["Milan"], ["Turin"], ["Oslo"], ["Bergen"]],
        "ordered": True,
    },
    {
        "id": "follow-up",
        "turns": [
            {"question": "How many cities are in Italy?", "expected": [[3]]},
            {
                "question": "and in Norway?",
                "sql": "SELECT count(*) FROM city WHERE country = 'Norway'",
            },
        ],
    },
]


@pytest.fixture()
def city_db(tmp_path: Path) -> Path:
    path = tmp_path / "cities.sqlite"
    con = sqlite3.connect(path)
    con.executescript(SETUP)
    con.commit()
    con.close()
    return path


@pytest.fixture()
def golden(tmp_path: Path, city_db: Path) -> Path:
    path = tmp_path / "golden.yaml"
    path.write_text(yaml.safe_dump({"db": city_db.name, "items": GOLDEN}))
    return path


def settings() -> Settings:
    return Settings(model="scripted", api_key="sk-must-not-leak", narrate=False)


class PricedModel(OracleLLM):
    """A stand-in for a priced model that knows the answers: its calls are model calls and
    spend tokens (about four characters a token)."""

    oracle = False

    def complete(self, messages: Sequence[Message], **kw: Any) -> Completion:
        reply = super().complete(messages, **kw)
        prompt = sum(fake_token_count(m.get("content", "")) for m in messages)
        return Completion(reply.text, Usage(prompt, fake_token_count(reply.text)), reply.model)


def oracle_factory(answers: Mapping[str, str]) -> Callable[[EvalItem], OracleLLM]:
    return lambda item: PricedModel(answers, model="gpt-4.1-mini")


def test_golden_set_run_scores_every_turn_and_writes_the_run(golden: Path, tmp_path: Path) -> None:
    answers = dict(SQL)
    answers["Which cities are in Norway?"] = "SELECT name FROM city WHERE country = 'Italy'"
    out = tmp_path / "run"
    result = run_eval(
        load_dataset(golden),
        llm_factory=oracle_factory(answers),
        settings=settings(),
        out_dir=out,
        model="gpt-4.1-mini",
    )
    by_id = {r["id"]: r for r in result.records}
    assert set(by_id) == {"count", "norway", "ordered", "follow-up#1", "follow-up#2"}
    assert by_id["count"]["correct"] is True
    assert by_id["norway"]["correct"] is False and "row count" in by_id["norway"]["reason"]
    assert by_id["ordered"]["correct"] is True
    assert by_id["follow-up#1"]["correct"] is True and by_id["follow-up#2"]["correct"] is True
    s = result.summary
    assert (s.questions, s.scored, s.correct) == (5, 5, 4)
    assert s.accuracy == pytest.approx(0.8)
    assert s.valid == 5 and s.llm_calls == 5 and s.prompt_tokens > 0
    assert s.cost_usd is not None and s.cost_usd > 0  # priced as gpt-4.1-mini
    assert s.latency_median is not None and s.latency_p95 is not None
    # The run folder: log, metadata without the key, summary and reports.
    files = {p.name for p in out.iterdir()}
    assert {"results.jsonl", "meta.json", "summary.json", "report.md", "report.html"} <= files
    meta = json.loads((out / "meta.json").read_text())
    from sqlagent.llm import prompts

    assert meta["prompt_version"] == prompts.version()
    assert meta["model"] == "gpt-4.1-mini"
    assert meta["settings"]["narrate"] is False and "api_key" not in meta["settings"]
    assert "sk-must-not-leak" not in "".join(p.read_text() for p in out.iterdir())
    report = (out / "report.md").read_text()
    assert "Which cities are in Norway?" in report and "80.0%" in report
    assert "<h1>Evaluation report</h1>" in (out / "report.html").read_text()


def test_follow_up_is_asked_within_the_conversation(golden: Path, tmp_path: Path) -> None:
    seen: list[str] = []

    class Recording(OracleLLM):
        def complete(self, messages: Sequence[Message], **kw: Any) -> Completion:
            seen.append(messages[-1]["content"])
            return super().complete(messages, **kw)

    run_eval(
        load_dataset(golden),
        llm_factory=lambda item: Recording(SQL),
        settings=settings(),
        out_dir=tmp_path / "run",
        model="oracle",
        concurrency=1,
    )
    follow_up = next(p for p in seen if p.rstrip().endswith("and in Norway?"))
    assert "<conversation>" in follow_up and "How many cities are in Italy?" in follow_up
    first = next(p for p in seen if p.rstrip().endswith("How many cities are there?"))
    assert "<conversation>" not in first


def test_repairs_refusals_and_call_counts(city_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {
                    "id": "repair",
                    "question": "How many cities are there?",
                    "sql": SQL["How many cities are there?"],
                },
                {"id": "refuse", "question": "What is the weather?", "sql": "SELECT 1"},
            ]
        )
    )
    scripts = {
        "repair": [
            "```sql\nSELECT count(*) FROM towns\n```",
            "```sql\nSELECT count(*) FROM city\n```",
        ],
        "refuse": ["CANNOT ANSWER: there is no weather data."],
    }
    result = run_eval(
        load_dataset(path, db=str(city_db)),
        llm_factory=lambda item: ScriptedLLM(scripts[item.id]),
        settings=settings(),
        out_dir=tmp_path / "run",
        model="scripted",
    )
    by_id = {r["id"]: r for r in result.records}
    assert by_id["repair"]["correct"] is True and by_id["repair"]["needed_repair"] is True
    assert by_id["repair"]["llm_calls"] == 2
    assert by_id["repair"]["attempts"][0]["error"]["type"] == "UnknownTable"
    assert by_id["refuse"]["correct"] is False and by_id["refuse"]["outcome"] == "refusal"
    s = result.summary
    assert (s.needed_repair, s.repaired, s.refusals, s.valid) == (1, 1, 1, 1)
    assert s.repair_rate == 1.0 and s.cost_usd is None  # "scripted" has no price


def test_interrupted_run_resumes_without_redoing_items(golden: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    calls: list[str] = []

    def factory(item: EvalItem) -> OracleLLM:
        calls.append(item.id)
        return OracleLLM(SQL)

    first = run_eval(
        load_dataset(golden, limit=2),
        llm_factory=factory,
        settings=settings(),
        out_dir=out,
        model="o",
    )
    assert first.ran == 2
    with (out / "results.jsonl").open("a") as f:
        f.write('{"id": "torn", "item": "torn", "corr')  # a crash mid-line
    calls.clear()
    second = run_eval(
        load_dataset(golden), llm_factory=factory, settings=settings(), out_dir=out, model="o"
    )
    assert (second.ran, second.skipped) == (2, 2)
    assert sorted(calls) == ["follow-up", "ordered"]
    ids = [r["id"] for r in RunDir(out).records()]
    assert sorted(ids) == sorted(["count", "norway", "ordered", "follow-up#1", "follow-up#2"])
    assert second.summary.questions == 5 and second.summary.accuracy == 1.0
    meta = json.loads((out / "meta.json").read_text())
    assert len(meta["sessions"]) == 2 and all(s["finished"] for s in meta["sessions"])


def test_resuming_with_another_model_is_refused(golden: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    ds = load_dataset(golden, limit=1)
    run_eval(ds, llm_factory=oracle_factory(SQL), settings=settings(), out_dir=out, model="a")
    with pytest.raises(UsageError, match="model"):
        run_eval(ds, llm_factory=oracle_factory(SQL), settings=settings(), out_dir=out, model="b")


def test_items_run_in_parallel_on_their_own_connections(city_db: Path, tmp_path: Path) -> None:
    items = [
        {
            "id": f"q{i}",
            "question": f"How many cities are there? ({i})",
            "sql": "SELECT count(*) FROM city",
        }
        for i in range(12)
    ]
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(items))
    threads: set[str] = set()
    dbs: dict[str, set[int]] = {}
    lock = threading.Lock()

    def slow_reply(messages: list[dict[str, str]]) -> str:
        time.sleep(0.02)
        return "```sql\nSELECT count(*) FROM city\n```"

    def factory(item: EvalItem) -> ScriptedLLM:
        with lock:
            threads.add(threading.current_thread().name)
        return ScriptedLLM([slow_reply])

    from sqlagent.evaluation import runner

    original = runner._Connections.get

    def spy(self: Any, target: str) -> Any:
        db = original(self, target)
        with lock:
            dbs.setdefault(threading.current_thread().name, set()).add(id(db))
        return db

    runner._Connections.get = spy  # type: ignore[method-assign]
    try:
        result = run_eval(
            load_dataset(path, db=str(city_db)),
            llm_factory=factory,
            settings=settings(),
            out_dir=tmp_path / "run",
            model="scripted",
            concurrency=3,
        )
    finally:
        runner._Connections.get = original  # type: ignore[method-assign]
    assert result.summary.accuracy == 1.0
    assert len(threads) == 3
    connections = [c for per_thread in dbs.values() for c in per_thread]
    assert len(connections) == len(set(connections)) == 3  # one per thread, none shared


def test_compare_lists_questions_that_changed(golden: Path, tmp_path: Path) -> None:
    ds = load_dataset(golden)
    worse_answers = dict(SQL)
    worse_answers["How many cities are there?"] = "SELECT count(*) FROM city WHERE id > 1"
    a, b = tmp_path / "a", tmp_path / "b"
    run_eval(
        ds, llm_factory=oracle_factory(worse_answers), settings=settings(), out_dir=a, model="m"
    )
    run_eval(
        ds,
        llm_factory=oracle_factory(SQL),
        settings=settings().with_(max_repairs=1),
        out_dir=b,
        model="m",
    )
    c = compare_runs(a, b)
    assert [ch.id for ch in c.better] == ["count"] and c.worse == ()
    assert c.better[0].sql_a is not None and "id > 1" in c.better[0].sql_a
    assert c.summary_a.accuracy == pytest.approx(0.8) and c.summary_b.accuracy == 1.0
    assert ("settings.max_repairs", 2, 1) in c.meta_changes
    text = format_comparison(c)
    assert "80.0% -> 100.0% (+20.0 pts)" in text
    assert "better in B: 1" in text and "worse in B: 0" in text
    assert "id > 1" in text


def test_bird_dataset_appends_evidence_and_compares_sets(tmp_path: Path) -> None:
    root = tmp_path / "bird"
    (root / "dev_databases" / "cities").mkdir(parents=True)
    con = sqlite3.connect(root / "dev_databases" / "cities" / "cities.sqlite")
    con.executescript(SETUP)
    con.close()
    dev = [
        {
            "question_id": 7,
            "db_id": "cities",
            "question": "How many big cities are in Italy?",
            "evidence": "big means population > 1000000",
            "SQL": "SELECT count(*) FROM city WHERE country = 'Italy' AND population > 1000000",
        }
    ]
    (root / "dev.json").write_text(json.dumps(dev))
    ds = load_dataset(root)
    assert ds.format == "bird" and ds.rules == "bird"
    item = ds.items[0]
    assert item.id == "7"
    assert (
        item.question == "How many big cities are in Italy?\nHint: big means population > 1000000"
    )
    result = run_eval(
        ds, llm_factory=oracle_for(), settings=settings(), out_dir=tmp_path / "run", model="oracle"
    )
    assert result.summary.accuracy == 1.0
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["rules"] == "bird"


def test_golden_set_errors_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"question": "no gold"}]))
    with pytest.raises(UsageError, match="gold"):
        load_dataset(bad, db="x.sqlite")
    bad.write_text(yaml.safe_dump([{"question": "q", "sql": "SELECT 1"}]))
    with pytest.raises(UsageError, match="no database"):
        load_dataset(bad)
    with pytest.raises(UsageError, match="No evaluation set"):
        load_dataset(tmp_path / "missing")


def test_usage_is_recorded_per_question(golden: Path, tmp_path: Path) -> None:
    def factory(item: EvalItem) -> ScriptedLLM:
        sql = {t.question: SQL[t.question] for t in item.turns}
        return ScriptedLLM(
            [Completion(f"```sql\n{s}\n```", Usage(100, 10), "gpt-4o-mini") for s in sql.values()],
            model="gpt-4o-mini",
        )

    result = run_eval(
        load_dataset(golden),
        llm_factory=factory,
        settings=settings(),
        out_dir=tmp_path / "r",
        model="gpt-4o-mini",
    )
    for r in result.records:
        assert (r["prompt_tokens"], r["completion_tokens"], r["llm_calls"]) == (100, 10, 1)
        assert r["cost_usd"] == pytest.approx(100 * 0.15 / 1e6 + 10 * 0.60 / 1e6)
    assert result.summary.cost_usd == pytest.approx(5 * (100 * 0.15 + 10 * 0.60) / 1e6)


def test_a_crashing_model_is_logged_and_the_run_goes_on(golden: Path, tmp_path: Path) -> None:
    def factory(item: EvalItem) -> Any:
        if item.id == "count":
            return ScriptedLLM([RuntimeError("boom")])
        return OracleLLM(SQL)

    result = run_eval(
        load_dataset(golden),
        llm_factory=factory,
        settings=settings(),
        out_dir=tmp_path / "r",
        model="m",
    )
    by_id = {r["id"]: r for r in result.records}
    assert by_id["count"]["correct"] is False
    assert by_id["count"]["reason"] == "crashed: RuntimeError: boom"
    assert result.summary.correct == 4 and result.summary.errors == 1


def test_an_oracle_run_reports_oracle_answers_not_model_calls(
    golden: Path, tmp_path: Path
) -> None:
    from sqlagent.evaluation.report import format_terminal

    result = run_eval(
        load_dataset(golden),
        llm_factory=lambda item: OracleLLM(SQL),
        settings=settings().with_(narrate=True),
        out_dir=tmp_path / "run",
        model="oracle",
    )
    s = result.summary
    assert s.correct == s.questions == 5
    # One generation and one narration per question, none of them a model's.
    assert (s.llm_calls, s.oracle_answers) == (0, 10)
    assert (s.prompt_tokens, s.completion_tokens, s.cost_usd) == (0, 0, None)
    assert all(r["llm_calls"] == 0 and r["oracle_answers"] == 2 for r in result.records)
    text = format_terminal(s)
    assert "oracle answers" in text and "10 (2.00 per question)" in text
    assert "LLM calls                           0 (an oracle answered instead)" in text
    assert "tokens (prompt + completion)        none (no model was called)" in text
    assert "per question)" not in text.split("oracle answers")[0]  # no calls per question
    report = (tmp_path / "run" / "report.md").read_text()
    assert "oracle answers" in report and "none (no model was called)" in report
