"""Numbers a narrative states are checked against the result summary the model saw."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sqlagent.answer.grounding import numbers_in, ungrounded_numbers
from sqlagent.answer.summarize import plain_narrative, result_summary
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TABLE = yaml.safe_load((FIXTURES / "narrations.yaml").read_text(encoding="utf-8"))
GROUNDED = [(r["sql"], r["question"], text) for r in TABLE for text in r["grounded"]]
INVENTED = [
    (r["sql"], r["question"], n["text"], n["invented"]) for r in TABLE for n in r["grounded_not"]
]


def summary_of(db, sql: str) -> tuple[str, int]:
    result = db.execute(sql, max_rows=50, timeout=10)
    return result_summary(result, max_rows=20), result.row_count


@pytest.mark.parametrize(("sql", "question", "text"), GROUNDED, ids=[g[2][:40] for g in GROUNDED])
def test_grounded_narration_raises_no_alarm(sample_db, sql, question, text):
    summary, rows = summary_of(sample_db, sql)
    assert ungrounded_numbers(text, summary, also=(question, sql), row_count=rows) == []


@pytest.mark.parametrize(
    ("sql", "question", "text", "invented"), INVENTED, ids=[i[2][:40] for i in INVENTED]
)
def test_invented_numbers_are_named(sample_db, sql, question, text, invented):
    summary, rows = summary_of(sample_db, sql)
    assert ungrounded_numbers(text, summary, also=(question, sql), row_count=rows) == invented


def test_number_spellings():
    found = {n.text: n.value for n in numbers_in("1,234.5 or 1234.50, about 1.2 thousand, 3.4M")}
    assert found == {"1,234.5": 1234.5, "1234.50": 1234.5, "1.2 thousand": 1200.0, "3.4M": 3.4e6}
    assert numbers_in("12%")[0].percent and numbers_in("the 2nd")[0].ordinal


def test_the_question_and_the_sql_ground_their_numbers():
    assert (
        ungrounded_numbers("The top 5 since 2024.", "Row count: 5", also=("top 5 since 2024",))
        == []
    )


COUNT_Q = "How many customers are there?"
COUNT_SQL = "```sql\nSELECT COUNT(*) AS customer_count FROM customers\n```"


def settings() -> Settings:
    return Settings(
        model="scripted", history=False, schema_cache=False, value_index=False, profiles=False
    )


def narration_step(answer):
    return next(s for s in answer.trace.steps if s.name == "narrate")


def test_a_grounded_narration_is_kept_in_one_call(sample_db):
    llm = ScriptedLLM([COUNT_SQL, "There are 5,000 customers."])
    answer = ask(COUNT_Q, llm=llm, db=sample_db, settings=settings())
    assert answer.narrative == "There are 5,000 customers."
    assert len(llm.calls) == 2 and "ungrounded" not in narration_step(answer).detail


def test_an_invented_number_is_named_and_the_narration_regenerated(sample_db):
    llm = ScriptedLLM([COUNT_SQL, "There are 5,200 customers.", "There are 5,000 customers."])
    answer = ask(COUNT_Q, llm=llm, db=sample_db, settings=settings())
    assert answer.narrative == "There are 5,000 customers."
    assert "5,200" in llm.calls[2].prompt
    step = narration_step(answer)
    assert step.detail["ungrounded"] == ["5,200"] and step.detail["regenerated"] is True
    assert "replaced_by_listing" not in step.detail


def test_a_narration_invented_twice_is_replaced_by_the_plain_listing(sample_db):
    llm = ScriptedLLM([COUNT_SQL, "About 6,000 customers.", "Roughly 7 thousand customers."])
    answer = ask(COUNT_Q, llm=llm, db=sample_db, settings=settings())
    result = sample_db.execute(
        "SELECT COUNT(*) AS customer_count FROM customers", max_rows=5, timeout=5
    )
    assert answer.narrative == plain_narrative(result)
    step = narration_step(answer)
    assert step.detail["replaced_by_listing"] is True
    assert step.detail["still_ungrounded"] == ["7 thousand"]


def test_the_regeneration_counts_as_a_model_call(sample_db):
    from sqlagent.store.history import llm_call_count

    llm = ScriptedLLM([COUNT_SQL, "There are 5,200 customers.", "There are 5,000 customers."])
    answer = ask(COUNT_Q, llm=llm, db=sample_db, settings=settings())
    assert llm_call_count(answer.trace) == len(llm.calls) == 3
