"""Semantic models on the sample questions: is a named metric's definition used, and what do
the definitions cost in prompt tokens?

1. Metric use. The sample questions that name a metric defined in ``sample_data/semantic``
   (labelled by hand below) are asked through an ``Agent`` whose model is scripted to read
   the prompt: it takes the first defined metric or measure the prompt lists and writes
   ``SELECT <its SQL> FROM <its table> [WHERE <its filter>]``, or a plain ``COUNT(*)`` when
   the prompt lists none. Without the semantic model no definition is in the prompt, so none
   is used; with it, each such question's SQL should be the labelled metric's definition
   (and run on the sample database). No knowledge file is used here, so no verified
   question bypasses the model.
2. Tokens. The generation prompt of every sample question, as the scripted model receives
   it (about four characters a token), with the shipped knowledge file alone and with the
   semantic models added. Questions answered by a verified example send no prompt.

    python benchmarks/semantic_tokens.py
"""

from __future__ import annotations

import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlagent.api import Agent
from sqlagent.sample import ensure_sample_database, sample_questions
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM, fake_token_count

ROOT = Path(__file__).resolve().parents[1]
SEMANTIC = ROOT / "sample_data" / "semantic"

METRIC_QUESTIONS = {
    "How many unique merchants are there in Phoenix and what are their names?": "unique_merchants",
    "How many unique merchant names are there, and how many merchant locations?": (
        "unique_merchants"
    ),
    "What was the total approved spend per month in 2025?": "approved_spend",
    "Which 5 merchant locations had the highest approved spend, and where are they?": (
        "approved_spend"
    ),
    "What is the decline rate for each card tier?": "decline_rate",
    "What is the average approved transaction amount per merchant category?": "average_ticket",
    "Who are the 5 customers with the highest total approved spend?": "approved_spend",
    "How many transactions were declined in December 2025?": "declined_transactions",
    "On which day did electronics merchants have their highest approved sales?": (
        "total_approved_amount"
    ),
    "Which 3 cities had the most approved transactions at their merchants in 2025?": (
        "approved_transactions"
    ),
    "How many active platinum cards are there?": "active_cards",
    "What is the average credit limit per card tier?": "average_credit_limit",
    "What was the total refunded amount at clothing merchants in 2025?": "refunded_amount",
}
"""Sample question → the metric of ``sample_data/semantic`` it names (labelled by hand)."""

_LINE = re.compile(
    r"^-- (?P<name>\w+) \((?P<kind>metric|measure) on (?P<tables>[\w, ]+)\): "
    r"(?P<sql>.+?)(?: WHERE (?P<filter>.+?))?(?: -- .*)?$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Use:
    """What the scripted model did for one question."""

    question: str
    expected: str
    chosen: str | None
    sql: str
    ok: bool


def reading_model(chosen: list[str | None]) -> Any:
    """A scripted reply that reads the prompt: the first defined metric or measure listed,
    written as a query (its name is appended to ``chosen``); ``COUNT(*)`` when none is."""

    def reply(messages: list[dict[str, str]]) -> str:
        prompt = "\n".join(m.get("content", "") for m in messages)
        found = _LINE.search(prompt)
        if found is None:
            chosen.append(None)
            return "```sql\nSELECT COUNT(*) AS value FROM transactions\n```"
        chosen.append(found["name"])
        table = found["tables"].split(",")[0].strip()
        where = f" WHERE {found['filter']}" if found["filter"] else ""
        return f"```sql\nSELECT {found['sql']} AS value FROM {table}{where}\n```"

    return reply


def settings(*, semantic: bool, knowledge: str | None) -> Settings:
    return Settings(
        history=False,
        narrate=False,
        value_index=False,
        profiles=False,
        knowledge_path=knowledge,
        semantic_paths=(str(SEMANTIC),) if semantic else (),
    )


def metric_use(*, semantic: bool) -> list[Use]:
    """Ask every metric-naming question with the prompt-reading model."""
    db = ensure_sample_database()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        empty = str(Path(tmp) / "none.knowledge.yaml")  # no knowledge file: no shortcut
        with Agent.connect(str(db), settings=settings(semantic=semantic, knowledge=empty)) as agent:
            for question, expected in METRIC_QUESTIONS.items():
                chosen: list[str | None] = []
                llm = ScriptedLLM([reading_model(chosen)])
                answer = Agent(agent.db, llm=llm, settings=agent.settings).ask(question)
                out.append(
                    Use(
                        question,
                        expected,
                        chosen[0] if chosen else None,
                        answer.sql or "",
                        answer.ok,
                    )
                )
    return out


def shown_metrics() -> dict[str, list[str]]:
    """The metrics and measures the context lists for every sample question, with the
    semantic model (no knowledge file): a question naming none should be shown none."""
    db = ensure_sample_database()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        empty = str(Path(tmp) / "none.knowledge.yaml")
        with Agent.connect(str(db), settings=settings(semantic=True, knowledge=empty)) as agent:
            for item in sample_questions():
                notes = "\n".join(agent.context(item["question"]).notes)
                out[item["question"]] = [m["name"] for m in _LINE.finditer(notes)]
    return out


def prompt_tokens(*, semantic: bool) -> dict[str, int | None]:
    """Generation-prompt tokens of every sample question (None: answered by a verified
    example, no prompt sent), with the shipped knowledge file."""
    db = ensure_sample_database()
    out: dict[str, int | None] = {}
    base = settings(semantic=semantic, knowledge=None)
    with Agent.connect(str(db), settings=base) as agent:
        for item in sample_questions():
            llm = ScriptedLLM(["```sql\nSELECT 1 AS one\n```"])
            Agent(agent.db, llm=llm, settings=agent.settings).ask(item["question"])
            out[item["question"]] = (
                sum(fake_token_count(m.get("content", "")) for m in llm.calls[0])
                if llm.calls
                else None
            )
    return out


def main() -> None:
    for semantic in (False, True):
        uses = metric_use(semantic=semantic)
        used = sum(1 for u in uses if u.chosen == u.expected)
        ran = sum(1 for u in uses if u.ok)
        label = "with the semantic model" if semantic else "without it"
        print(
            f"Metric questions {label}: {used}/{len(uses)} use the metric's definition, "
            f"{ran}/{len(uses)} ran"
        )
        for u in uses:
            if u.chosen != u.expected:
                print(f"  {u.question!r}: expected {u.expected}, model took {u.chosen}")
    shown = shown_metrics()
    unnamed = [q for q in shown if q not in METRIC_QUESTIONS]
    extra = [q for q in unnamed if shown[q]]
    print(f"Questions naming no metric that are shown one anyway: {len(extra)}/{len(unnamed)}")
    for q in extra:
        print(f"  {q!r}: {', '.join(shown[q])}")
    without = prompt_tokens(semantic=False)
    with_ = prompt_tokens(semantic=True)
    print("\n| question | tokens without | tokens with | difference |")
    print("| --- | ---: | ---: | ---: |")
    deltas = []
    for question in without:
        a, b = without[question], with_[question]
        if a is None or b is None:
            print(f"| {question} | verified | verified | |")
            continue
        deltas.append(b - a)
        print(f"| {question} | {a:,} | {b:,} | {b - a:+,} |")
    sent = [q for q in without if without[q] is not None and with_[q] is not None]
    total_a = sum(without[q] or 0 for q in sent)
    total_b = sum(with_[q] or 0 for q in sent)
    print(
        f"\n{len(sent)} prompts: {total_a:,} tokens without, {total_b:,} with "
        f"({(total_b - total_a) / total_a:+.1%}); median difference "
        f"{statistics.median(deltas):+.0f}, largest {max(deltas):+,}"
    )


if __name__ == "__main__":
    main()
