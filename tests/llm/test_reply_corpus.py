"""Every reply of the corpus ends as it should: the expected SQL, or a typed outcome."""

from __future__ import annotations

from collections import Counter

import pytest
from reply_corpus import corpus_settings, load_cases, run_case

from sqlagent.llm.extract import extract_sql

CASES = load_cases()


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 150
    assert len({c["id"] for c in CASES}) == len(CASES)
    classes = Counter(c["class"] for c in CASES)
    for needed in (
        "reasoning",
        "multi_block",
        "json",
        "tool_call",
        "cut_off",
        "refusal",
        "clarification",
        "empty",
        "chinese",
        "malformed",
        "no_sql",
        "explained",
    ):
        assert classes[needed] > 0, needed


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reply(case, sample_db) -> None:
    result = run_case(case, sample_db, corpus_settings())
    assert result.ok, result.problem


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in CASES
        if c["expect"]["outcome"] == "answered"
        and c["expect"]["calls"] == 1
        and c["class"] != "malformed"
    ],
    ids=lambda c: c["id"],
)
def test_a_single_reply_yields_exactly_the_statement_written(case) -> None:
    # Not just something the guard accepts: the statement as the model wrote it.
    found = extract_sql(case["replies"][0]["text"])
    assert found.split() == case["expect"]["sql"].split()
