"""The measurement of ``benchmarks/semantic_tokens.py``, run for real on the sample database:
on the sample questions that name a defined metric, a model that reads the prompt uses the
metric's definition only when the semantic model is loaded, and what that costs in prompt
tokens."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from sqlagent.context.semantic import load_semantic
from sqlagent.sample import sample_questions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    path = ROOT / "benchmarks" / "semantic_tokens.py"
    spec = importlib.util.spec_from_file_location("semantic_tokens", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_the_labelled_questions_are_sample_questions(bench):
    asked = {item["question"] for item in sample_questions()}
    assert set(bench.METRIC_QUESTIONS) <= asked
    defined = {e.name for e in load_semantic([bench.SEMANTIC]).expressions}
    assert set(bench.METRIC_QUESTIONS.values()) <= defined


def test_with_the_semantic_model_every_metric_question_uses_its_definition(bench, sample_db_path):
    model = {e.name: e for e in load_semantic([bench.SEMANTIC]).expressions}
    uses = bench.metric_use(semantic=True)
    assert len(uses) == len(bench.METRIC_QUESTIONS) == 13
    for use in uses:
        assert use.chosen == use.expected, use.question
        metric = model[use.expected]
        sql = _plain(use.sql)  # the guard writes the SQL back (TRUE for true)
        assert _plain(metric.sql) in sql, use.question
        if metric.filter:
            assert _plain(f"WHERE {metric.filter}") in sql, use.question
        assert use.ok, use.question  # the definition ran on the sample database


def test_questions_naming_no_metric_are_shown_none(bench, sample_db_path):
    shown = bench.shown_metrics()
    unnamed = {q: names for q, names in shown.items() if q not in bench.METRIC_QUESTIONS}
    assert len(unnamed) == 6
    assert unnamed == {q: [] for q in unnamed}
    for question, expected in bench.METRIC_QUESTIONS.items():
        assert shown[question][0] == expected, question


def test_without_it_no_definition_reaches_the_prompt(bench, sample_db_path):
    uses = bench.metric_use(semantic=False)
    assert [u.chosen for u in uses] == [None] * len(uses)


def test_prompt_tokens_side_by_side(bench, sample_db_path):
    without = bench.prompt_tokens(semantic=False)
    with_ = bench.prompt_tokens(semantic=True)
    assert without.keys() == with_.keys()
    sent = [q for q in without if without[q] is not None]
    assert [q for q in with_ if with_[q] is not None] == sent  # same questions sent
    assert len(sent) >= 10
    for question in sent:
        extra = with_[question] - without[question]
        # Descriptions are always added; metric lines only for questions that name one.
        assert 0 < extra < 400, (question, extra)
    named = [q for q in sent if q in bench.METRIC_QUESTIONS]
    unnamed = [q for q in sent if q not in bench.METRIC_QUESTIONS]
    mean = lambda qs: sum(with_[q] - without[q] for q in qs) / len(qs)  # noqa: E731
    assert mean(named) > mean(unnamed)


def _plain(sql: str) -> str:
    return " ".join(sql.lower().split())
