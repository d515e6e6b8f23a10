"""Summary figures of an evaluation run, computed from its per-question records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Summary", "percentile", "summarize"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation; None for no values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    data = sorted(values)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Summary:
    """What a run measured. Rates are fractions (0–1) or None when nothing was counted."""

    questions: int
    scored: int
    """Questions with a verdict (the gold ran, the database was reachable)."""
    correct: int
    accuracy: float | None
    """Execution accuracy: correct / scored."""
    not_scored: int
    valid: int
    valid_rate: float | None
    """Questions whose final SQL passed the guard and ran."""
    needed_repair: int
    """Questions where at least one attempt failed the guard or the database."""
    repaired: int
    """Of those, the ones that still ended with a valid query."""
    repair_rate: float | None
    refusals: int
    clarifications: int
    errors: int
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """Total cost; None when no model price is known."""
    cost_known: int
    """Questions whose cost is known (the rest used a model with no price)."""
    latency_median: float | None
    latency_p95: float | None
    latency_mean: float | None
    wall_time: float | None = None
    by_db: dict[str, dict[str, Any]] = field(default_factory=dict)
    oracle_answers: int = 0
    """Replies of an oracle (gold SQL, a fixed narration): no model was called for them."""

    @property
    def calls_per_question(self) -> float | None:
        return _ratio(self.llm_calls, self.questions)

    @property
    def oracle_answers_per_question(self) -> float | None:
        return _ratio(self.oracle_answers, self.questions)

    @property
    def tokens_per_question(self) -> float | None:
        return _ratio(self.prompt_tokens + self.completion_tokens, self.questions)

    @property
    def cost_per_question(self) -> float | None:
        if self.cost_usd is None or not self.cost_known:
            return None
        return self.cost_usd / self.cost_known

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            calls_per_question=self.calls_per_question,
            tokens_per_question=self.tokens_per_question,
            cost_per_question=self.cost_per_question,
        )
        return data


def summarize(records: Iterable[Mapping[str, Any]], *, wall_time: float | None = None) -> Summary:
    """Add up the records of a run (one per question, as written to ``results.jsonl``)."""
    recs = list(records)
    scored = [r for r in recs if r.get("correct") is not None]
    correct = sum(1 for r in scored if r["correct"])
    needed = [r for r in recs if r.get("needed_repair")]
    costs = [r["cost_usd"] for r in recs if r.get("cost_usd") is not None]
    latencies = [float(r["latency"]) for r in recs if r.get("latency") is not None]
    by_db: dict[str, dict[str, Any]] = {}
    for r in recs:
        entry = by_db.setdefault(str(r.get("db", "")), {"questions": 0, "scored": 0, "correct": 0})
        entry["questions"] += 1
        if r.get("correct") is not None:
            entry["scored"] += 1
            entry["correct"] += int(bool(r["correct"]))
    for entry in by_db.values():
        entry["accuracy"] = _ratio(entry["correct"], entry["scored"])
    return Summary(
        questions=len(recs),
        scored=len(scored),
        correct=correct,
        accuracy=_ratio(correct, len(scored)),
        not_scored=len(recs) - len(scored),
        valid=sum(1 for r in recs if r.get("valid")),
        valid_rate=_ratio(sum(1 for r in recs if r.get("valid")), len(recs)),
        needed_repair=len(needed),
        repaired=sum(1 for r in needed if r.get("valid")),
        repair_rate=_ratio(sum(1 for r in needed if r.get("valid")), len(needed)),
        refusals=sum(1 for r in recs if r.get("outcome") == "refusal"),
        clarifications=sum(1 for r in recs if r.get("outcome") == "clarification"),
        errors=sum(1 for r in recs if r.get("outcome") == "error"),
        llm_calls=sum(int(r.get("llm_calls") or 0) for r in recs),
        prompt_tokens=sum(int(r.get("prompt_tokens") or 0) for r in recs),
        completion_tokens=sum(int(r.get("completion_tokens") or 0) for r in recs),
        cost_usd=round(sum(costs), 8) if costs else None,
        cost_known=len(costs),
        latency_median=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        latency_mean=sum(latencies) / len(latencies) if latencies else None,
        wall_time=wall_time,
        by_db=dict(sorted(by_db.items())),
        oracle_answers=sum(int(r.get("oracle_answers") or 0) for r in recs),
    )
