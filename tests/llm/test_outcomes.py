"""Clarifying questions, refusals and self-consistency voting."""

from __future__ import annotations

import pytest

from sqlagent.errors import NoSQLInReply
from sqlagent.llm.outcome import Refusal, SQLReply, parse_reply
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM
from sqlagent.types import Clarification

CLARIFY_REPLY = """CLARIFY: Which amount do you mean by "biggest"?
- the largest single transaction amount
- the highest total spend per customer
- the highest credit limit"""


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("```sql\nSELECT 1\n```", SQLReply("SELECT 1")),
        ("CANNOT ANSWER: there is no weather data.", Refusal("there is no weather data.")),
        ("**CANNOT ANSWER:** The schema has no salaries.", Refusal("The schema has no salaries.")),
        ("无法回答：数据库里没有天气数据。", Refusal("数据库里没有天气数据。")),
        (
            CLARIFY_REPLY,
            Clarification(
                'Which amount do you mean by "biggest"?',
                (
                    "the largest single transaction amount",
                    "the highest total spend per customer",
                    "the highest credit limit",
                ),
            ),
        ),
        (
            "<think>ambiguous</think>\nClarify: Which period?\n1. 2025\n2. 2026",
            Clarification("Which period?", ("2025", "2026")),
        ),
        (
            '{"clarify": "Which city?", "options": ["Phoenix", "Tucson"]}',
            Clarification("Which city?", ("Phoenix", "Tucson")),
        ),
        ('{"cannot_answer": "No HR data."}', Refusal("No HR data.")),
        ('{"sql": "SELECT 2"}', SQLReply("SELECT 2")),
        # A query whose explanation mentions clarifying is still a query.
        (
            "```sql\nSELECT 3\n```\nTo clarify: this counts rows.",
            SQLReply("SELECT 3"),
        ),
    ],
)
def test_parse_reply(reply, expected):
    assert parse_reply(reply) == expected


def test_prose_without_marker_or_sql_is_no_sql():
    with pytest.raises(NoSQLInReply):
        parse_reply("Sorry, I am not sure.")


def test_clarification_is_returned_without_running_anything(sample_db, settings):
    llm = ScriptedLLM([CLARIFY_REPLY])
    answer = ask("what is the biggest one?", llm=llm, db=sample_db, settings=settings)
    assert answer.kind == "clarification"
    assert answer.clarification is not None
    assert len(answer.clarification.options) == 3
    assert answer.error is not None and answer.error.type == "ClarificationNeeded"
    assert answer.to_dict()["clarification"]["options"][0].startswith("the largest")
    assert not any(s.name == "execute" for s in answer.trace.steps)
    assert len(llm.calls) == 1


def test_refusal_carries_the_reason(sample_db, settings):
    llm = ScriptedLLM(["CANNOT ANSWER: the database has no weather data."])
    answer = ask("Will it rain in Phoenix?", llm=llm, db=sample_db, settings=settings)
    assert answer.kind == "refusal"
    assert answer.refusal == "the database has no weather data."
    assert answer.to_dict()["kind"] == "refusal"


def test_prompt_offers_clarify_and_refusal(sample_db, settings):
    llm = ScriptedLLM(["CANNOT ANSWER: no."])
    ask("x?", llm=llm, db=sample_db, settings=settings)
    system = llm.calls[0].messages[0]["content"]
    assert "CLARIFY:" in system and "CANNOT ANSWER:" in system


COUNT_PHX = "SELECT count(*) AS n FROM merchants WHERE city = 'Phoenix'"
COUNT_ALL = "SELECT count(*) AS n FROM merchants"


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def test_voting_picks_the_majority_result_and_reports_agreement(sample_db):
    settings = Settings(model="scripted", candidates=3, narrate=False)
    # Two differently written queries agree on the result; one disagrees.
    replies = {
        0.0: fenced(COUNT_ALL),
        0.4: fenced(COUNT_PHX),
        0.6: fenced("SELECT count(DISTINCT merchant_id) AS n FROM merchants WHERE city='Phoenix'"),
    }
    llm = ScriptedLLM([lambda call: replies[call.temperature]] * 3)
    answer = ask("How many merchants in Phoenix?", llm=llm, db=sample_db, settings=settings)
    assert answer.ok
    assert answer.rows == ((9,),)
    assert answer.confidence == pytest.approx(2 / 3)
    assert sorted(c.temperature for c in llm.calls) == [0.0, 0.4, 0.6]
    vote = next(s for s in answer.trace.steps if s.name == "vote")
    assert sorted(vote.detail["groups"]) == [1, 2]
    assert len(answer.attempts) == 3


def test_adaptive_voting_stops_when_the_first_two_agree(sample_db):
    settings = Settings(model="scripted", candidates=5, adaptive=True, narrate=False)
    llm = ScriptedLLM([fenced(COUNT_PHX)] * 2)
    answer = ask("How many merchants in Phoenix?", llm=llm, db=sample_db, settings=settings)
    assert answer.ok and answer.confidence == 1.0
    assert len(llm.calls) == 2


def test_adaptive_voting_samples_more_on_disagreement(sample_db):
    settings = Settings(model="scripted", candidates=4, adaptive=True, narrate=False)
    replies = {0.0: fenced(COUNT_ALL), 0.4: fenced(COUNT_PHX)}
    llm = ScriptedLLM([lambda call: replies.get(call.temperature, fenced(COUNT_PHX))] * 4)
    answer = ask("How many merchants in Phoenix?", llm=llm, db=sample_db, settings=settings)
    assert len(llm.calls) == 4
    assert answer.rows == ((9,),)
    assert answer.confidence == pytest.approx(3 / 4)
