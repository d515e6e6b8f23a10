"""The corpus of model replies (tests/fixtures/replies.yaml) and how one case is run.

Each case scripts the model's successive replies and runs the real chain on the sample
database (generation, guard, execution, repair), narration off. The test and the benchmark
share this code so that both measure the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sqlagent.db.base import Database
from sqlagent.guard import check
from sqlagent.pipeline import ask
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM, fake_token_count
from sqlagent.types import Answer, Completion, Usage

CORPUS = Path(__file__).resolve().parent / "fixtures" / "replies.yaml"


def load_cases(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The cases of the corpus, in file order."""
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(cases, list)
    return cases


@dataclass(frozen=True)
class CaseResult:
    """What the chain did with one case, and whether it is what the case expects."""

    id: str
    cls: str
    usable: bool
    """The case expects an answer (SQL) rather than a typed outcome."""
    ok: bool
    outcome: str
    """answered, or the type of the outcome (Refusal, Clarification, an error type)."""
    calls: int
    repairs: int
    problem: str = ""


def _completion(reply: Mapping[str, Any]) -> Completion:
    text = str(reply.get("text") or "")
    return Completion(
        text,
        Usage(100, fake_token_count(text)),
        "corpus",
        finish_reason=reply.get("finish_reason", "stop"),
        refusal=reply.get("refusal"),
    )


def outcome_of(answer: Answer) -> str:
    """The case-level outcome of an answer."""
    if answer.clarification is not None:
        return "Clarification"
    if answer.refusal is not None:
        return "Refusal"
    if answer.error is not None:
        return answer.error.type
    return "answered"


def run_case(case: Mapping[str, Any], db: Database, settings: Settings) -> CaseResult:
    """Run ``case`` through ``ask`` and compare with what it expects."""
    expect = case["expect"]
    llm = ScriptedLLM([_completion(r) for r in case["replies"]], model="corpus")
    usable = expect["outcome"] == "answered"
    try:
        answer = ask(case["question"], llm=llm, db=db, settings=settings)
    except Exception as exc:  # a traceback is a failure of the corpus, never an outcome
        return CaseResult(
            case["id"],
            case["class"],
            usable,
            False,
            f"raised {type(exc).__name__}",
            len(llm.calls),
            0,
            f"ask raised {type(exc).__name__}: {exc}",
        )
    outcome = outcome_of(answer)
    repairs = sum(1 for s in answer.trace.steps if s.name == "repair")
    problems: list[str] = []
    if outcome != expect["outcome"]:
        problems.append(f"outcome {outcome}, expected {expect['outcome']}")
    if usable and outcome == "answered":
        wanted = check(expect["sql"], schema=db.schema(), policy=settings.policy).sql
        if answer.sql != wanted:
            problems.append(f"SQL {answer.sql!r}, expected {wanted!r}")
    if len(llm.calls) != expect["calls"]:
        problems.append(f"{len(llm.calls)} calls, expected {expect['calls']}")
    if "repair_error" in expect:
        first = answer.attempts[0].error if answer.attempts else None
        if first is None or first.type != expect["repair_error"]:
            problems.append(f"first error {first}, expected {expect['repair_error']}")
    raised = len(llm.calls) >= 2 and bool(llm.calls[1].max_tokens)
    if expect.get("max_tokens_raised") and not raised:
        problems.append("the retry after a cut-off reply did not raise max_tokens")
    return CaseResult(
        case["id"],
        case["class"],
        usable,
        not problems,
        outcome,
        len(llm.calls),
        repairs,
        "; ".join(problems),
    )


def corpus_settings() -> Settings:
    """Settings for running the corpus: no narration, no history, nothing read from disk."""
    return Settings(
        model="corpus",
        narrate=False,
        history=False,
        schema_cache=False,
        value_index=False,
        profiles=False,
    )
