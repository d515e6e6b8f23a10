"""What a generation reply means: SQL, a clarifying question, or a refusal.

The model is told it may answer an ambiguous question with ``CLARIFY:`` and concrete options,
and a question the data cannot answer with ``CANNOT ANSWER:`` and the reason. This plain-text
protocol works with small local models that have no JSON mode; JSON replies
(``{"clarify": ..., "options": [...]}``, ``{"cannot_answer": ...}``) are understood too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import NoSQLInReply
from ..types import Clarification
from .extract import extract_sql, strip_reasoning

__all__ = ["REPLY_SCHEMA", "Refusal", "SQLReply", "parse_reply"]

REPLY_SCHEMA: dict[str, object] = {
    "type": "json_schema",
    "json_schema": {
        "name": "sql_reply",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "sql": {"type": ["string", "null"]},
                "clarification": {
                    "type": ["object", "null"],
                    "properties": {
                        "question": {"type": "string"},
                        "options": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["question", "options"],
                    "additionalProperties": False,
                },
                "refusal": {"type": ["string", "null"]},
            },
            "required": ["sql", "clarification", "refusal"],
            "additionalProperties": False,
        },
    },
}
"""The ``response_format`` asked for when structured output is on: one of the three."""


@dataclass(frozen=True)
class SQLReply:
    """The reply holds a statement (not yet checked)."""

    sql: str


@dataclass(frozen=True)
class Refusal:
    """The model says the data cannot answer the question, and why."""

    reason: str


Reply = SQLReply | Clarification | Refusal

# Markers may be wrapped in markdown emphasis or headings ("**CLARIFY:**", "## Clarify:").
_LEAD = r"^[\s>#*_`]*"
_CLARIFY = re.compile(_LEAD + r"(?:clarify|clarification|需要澄清|澄清)[\s*_`]*[:：]", re.I | re.M)
_REFUSE = re.compile(
    _LEAD + r"(?:cannot[\s_]+answer|can't[\s_]+answer|无法回答)[\s*_`]*[:：]", re.I | re.M
)
_OPTION = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[a-zA-Z][.)])\s+(.+?)\s*$")


def _json_outcome(text: str) -> Clarification | Refusal | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1], strict=False)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in ("clarify", "clarification", "clarifying_question"):
        question = lowered.get(key)
        options = lowered.get("options") or []
        if isinstance(question, dict):  # {"question": ..., "options": [...]}
            options = question.get("options") or []
            question = question.get("question")
        if isinstance(question, str) and question.strip():
            return Clarification(
                question.strip(),
                tuple(str(o).strip() for o in options if str(o).strip())
                if isinstance(options, list)
                else (),
            )
    for key in ("cannot_answer", "refusal", "refuse"):
        reason = lowered.get(key)
        if isinstance(reason, str) and reason.strip():
            return Refusal(reason.strip())
    return None


def _marker_outcome(text: str) -> Clarification | Refusal | None:
    refuse = _REFUSE.search(text)
    clarify = _CLARIFY.search(text)
    if refuse and (not clarify or refuse.start() < clarify.start()):
        reason = " ".join(text[refuse.end() :].lstrip("*_` ").split())
        return Refusal(reason or "The model says the data cannot answer this question.")
    if clarify:
        body = text[clarify.end() :].lstrip("*_` ").strip().splitlines()
        question_lines: list[str] = []
        options: list[str] = []
        for line in body:
            match = _OPTION.match(line)
            if match:
                options.append(match.group(1).strip().strip("*_`"))
            elif not options and line.strip():
                question_lines.append(line.strip())
        question = " ".join(question_lines) or "Could you make the question more specific?"
        return Clarification(question, tuple(options[:6]))
    return None


def parse_reply(text: str) -> Reply:
    """Classify a generation reply; raises ``NoSQLInReply`` when it is none of the three.

    >>> parse_reply("CANNOT ANSWER: there is no weather data.")
    Refusal(reason='there is no weather data.')
    """
    clean = strip_reasoning(text)
    has_fence = "```" in clean
    # An explicit marker wins over stray SQL in the explanation, but a fenced query with a
    # passing mention of the words does not become a clarification.
    outcome = _marker_outcome(clean)
    if outcome is not None and not (has_fence and not _starts_with_marker(clean)):
        return outcome
    if clean.lstrip().startswith(("{", "```json")):
        outcome = _json_outcome(clean)
        if outcome is not None:
            return outcome
    try:
        return SQLReply(extract_sql(text))
    except NoSQLInReply:
        if _PLAIN_REFUSAL.match(clean) and len(clean) <= 600:
            return Refusal(" ".join(clean.split()))
        raise


# A refusal in the words models are trained to use ("I'm sorry, but I can't assist with
# that."), when the reply holds no query: asking again would only repeat it.
_PLAIN_REFUSAL = re.compile(
    r"\s*(?:I'm sorry|I am sorry|Sorry|I apologi[sz]e|Unfortunately)\b[^\n]{0,200}?"
    r"\b(?:can't|cannot|can not|unable to|not able to|won't|will not)\b"
    r"|\s*(?:抱歉|对不起|很抱歉)[^\n]{0,100}?(?:无法|不能)",
    re.I,
)


def _starts_with_marker(text: str) -> bool:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return bool(_CLARIFY.match(first) or _REFUSE.match(first))
