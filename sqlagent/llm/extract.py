"""Find the SQL statement in a model's reply.

Models are asked for a single ```sql block, but what comes back varies: other fence tags, several
fences, JSON objects, reasoning blocks, tool calls in a chat template's markup, a bare statement
wrapped in prose (in any language). ``extract_sql`` finds the statement without judging it:
validation is the guard's job, so a dangerous statement is returned as written (for the guard to
refuse) rather than dropped, and so is a malformed one (a misspelled keyword, a missing comma:
the guard's parse error is what gets it repaired).

Leading comments are always stripped (they are the model talking, not the query) and the
trailing semicolon removed; everything else is returned as the model wrote it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import NoSQLInReply

__all__ = ["Extracted", "extract", "extract_sql", "strip_reasoning"]

# --------------------------------------------------------------------------- reasoning

_REASONING_TAGS = r"(?:think|thinking|reasoning|reflection)"
_REASONING_BLOCK = re.compile(rf"<({_REASONING_TAGS})\b[^>]*>.*?</\1\s*>", re.S | re.I)
# Some servers strip the opening tag and leave only the closing one.
_REASONING_UNOPENED = re.compile(rf"\A.*?</{_REASONING_TAGS}\s*>", re.S | re.I)
# A reply cut off while still reasoning has an opening tag and no closing one.
_REASONING_UNCLOSED = re.compile(rf"<{_REASONING_TAGS}\b[^>]*>.*\Z", re.S | re.I)


def strip_reasoning(text: str) -> str:
    """``text`` without ``<think>...</think>`` (and similar) reasoning blocks, trimmed.

    >>> strip_reasoning("<think>The user wants a count.</think>SELECT 1")
    'SELECT 1'
    """
    text = _REASONING_BLOCK.sub("", text)
    text = _REASONING_UNOPENED.sub("", text)
    text = _REASONING_UNCLOSED.sub("", text)
    return text.strip()


# --------------------------------------------------------------------------- what SQL looks like

# fmt: off
_STARTERS = (
    "select", "with", "values", "from", "explain", "describe", "desc", "summarize", "show",
    "insert", "replace", "upsert", "update", "delete", "merge", "create", "drop", "alter",
    "truncate", "grant", "revoke", "copy", "attach", "detach", "pragma", "install", "load", "set",
    "reset", "call", "exec", "execute", "begin", "commit", "rollback", "use", "export", "import",
    "vacuum", "checkpoint", "analyze", "pivot", "unpivot", "table",
)
# fmt: on

# The start of each kind of statement, precise enough that prose which merely begins with the
# same word ("Show me...", "Update: ...", "From the data...") does not match.
_NAME = r"[\w\"`\[\]$.]+"
_SHAPES = re.compile(
    r"""(?:
      select\s+\S
    | with\s+(?:recursive\s+)?NAME\s*(?:\([^)]*\)\s*)?as\s+(?:not\s+)?(?:materialized\s+)?\(
    | values\s*\(
    | from\s+NAME(?:\s+(?:as\s+)?\w+)?\s*(?:select\b|where\b|;|\Z)
    | (?:explain|describe|desc|summarize)\s+(?:analy[sz]e\s+)?
        (?:select\b|with\b|from\b|NAME\s*;?\s*\Z)
    | show\s+(?:all\s+)?(?:tables|databases|schemas|columns|create)\b
    | (?:insert|replace|upsert)\s+(?:or\s+\w+\s+)?(?:ignore\s+)?into\s
    | update\s+NAME\s+(?:(?:as\s+)?\w+\s+)?set\s
    | delete\s+from\s
    | merge\s+into\s
    | (?:create|drop|alter)\s+(?:or\s+replace\s+)?
        (?:(?:temp|temporary|unique|materialized|persistent|global|local|if\s+not\s+exists)\s+)*
        (?:table|view|index|schema|database|sequence|macro|function|type|secret|trigger
          |procedure|user|role|extension)\b
    | truncate\s+(?:table\s+)?NAME
    | (?:grant|revoke)\s+[\w\s,]+?\s(?:on|to|from)\s
    | copy\s+(?:\(|NAME\s+(?:\([^)]*\)\s*)?(?:to|from)\s)
    | (?:attach|detach)\s+(?:database\s+)?(?:if\s+(?:not\s+)?exists\s+)?['"\w]
    | pragma\s+\w+
    | (?:install|load)\s+['"]?\w+['"]?\s*(?:;|\Z)
    | (?:set|reset)\s+(?:session\s+|local\s+|global\s+)?[\w.@]+\s*(?:=|to\s|;|\Z)
    | (?:call|exec|execute)\s+[\w.]+\s*\(
    | (?:begin|commit|rollback)\s*(?:transaction\b|work\b|;|\Z)
    | use\s+NAME\s*(?:;|\Z)
    | (?:export|import)\s+database\s
    | (?:vacuum|checkpoint|analyze)(?:\s+NAME)?\s*(?:;|\Z)
    | (?:pivot|unpivot)\s+NAME\s+on\s
    | table\s+NAME\s*(?:;|\Z)
    )""".replace("NAME", _NAME),
    re.I | re.X,
)

# Words a line of SQL commonly starts with; a line starting with anything else may be prose.
# fmt: off
_CLAUSE_WORDS = frozenset({
    "select", "from", "where", "join", "left", "right", "inner", "outer", "full", "cross",
    "natural", "on", "using", "group", "order", "having", "limit", "offset", "fetch", "union",
    "intersect", "except", "and", "or", "not", "case", "when", "then", "else", "end", "as", "with",
    "window", "qualify", "values", "set", "insert", "update", "delete", "into", "returning", "by",
    "asc", "desc", "distinct", "all", "any", "exists", "in", "is", "null", "between", "like",
    "ilike", "over", "partition", "lateral", "pivot", "unpivot", "top", "sample", "tablesample",
})
# fmt: on

_KEYWORD_ANYWHERE = re.compile(r"\b(?:" + "|".join(_STARTERS) + r")\b", re.I)


def _strip_leading_comments(sql: str) -> str:
    while True:
        sql = sql.lstrip()
        if sql.startswith(("--", "#")):
            newline = sql.find("\n")
            sql = "" if newline < 0 else sql[newline + 1 :]
        elif sql.startswith("/*"):
            close = sql.find("*/", 2)
            sql = "" if close < 0 else sql[close + 2 :]
        else:
            return sql


def _strip_trailing(sql: str) -> str:
    """``sql`` without trailing semicolons, nor a comment after the last one (``; -- done``)."""
    while True:
        sql = sql.rstrip()
        if sql.endswith(";"):
            sql = sql[:-1]
            continue
        comment = sql.rfind("--", sql.rfind("\n") + 1)
        before = sql[:comment].rstrip() if comment >= 0 else ""
        if before.endswith(";") and before.count("'") % 2 == 0:
            sql = before
            continue
        return sql


def _tidy(sql: str) -> str:
    """Leading comments, surrounding whitespace and trailing semicolons removed."""
    return _strip_trailing(_strip_leading_comments(sql)).strip()


def _looks_like_sql(sql: str) -> bool:
    """True when ``sql`` (tidied) starts like a statement of some kind."""
    body = sql.lstrip("( \t\n")
    if not _SHAPES.match(body):
        return False
    if body[:6].lower() == "select":
        return _plausible_select(body)
    return True


def _plausible_select(sql: str) -> bool:
    """Tell ``SELECT 1`` from "Select the customers who ordered twice."."""
    if re.search(r"\bfrom\b", sql, re.I):
        return True
    if re.search(r"[.!?。]\s*\Z", sql):
        return False
    return bool(re.search(r"[(*'\"0-9=+,]", sql)) or len(sql.split()) <= 4


# --------------------------------------------------------------------------- intended SQL

# The statements a model means to write when it misspells the first keyword ("SELCT").
_FUZZY_STARTERS = ("select", "with")
_FUZZY_CLAUSES = ("from", "where", "group", "order", "join", "having", "limit")


def _near(word: str, target: str) -> bool:
    """True when ``word`` is ``target`` with one typo (a letter wrong, missing, extra or two
    letters swapped)."""
    a, b = word.lower(), target
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1 or len(b) < 4:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and (a[diff[1]] == b[diff[0]])
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _intended_sql(sql: str, *, in_block: bool) -> bool:
    """True when ``sql`` is plainly meant as a query even though it may not be well formed.

    A misspelled first keyword counts when another clause keyword (or a near miss of one)
    follows; in prose both must be in capitals, as models write SQL keywords. Inside a code
    block, a statement starting with SELECT is a query whatever follows it.
    """
    body = sql.lstrip("( \t\n")
    words = re.findall(r"[A-Za-z_]+", body[:2000])
    if not words:
        return False
    first = words[0]
    if in_block and first.lower() in ("select", "with") and not _INTRO_LINE.search(body):
        return True
    if not any(_near(first, k) for k in _FUZZY_STARTERS):
        return False
    if not in_block and not first.isupper():
        return False
    return any(
        (in_block or w.isupper()) and any(_near(w, k) for k in _FUZZY_CLAUSES) for w in words[1:]
    )


def _usable(sql: str, *, in_block: bool) -> bool:
    return _looks_like_sql(sql) or _intended_sql(sql, in_block=in_block)


# --------------------------------------------------------------------------- tool calls

# Chat templates that make a model "call a tool" even when no tool was offered: Hermes/Qwen
# <tool_call> tags, Mistral's [TOOL_CALLS] prefix, Llama 3.1's <|python_tag|>, DeepSeek's
# tool-call tokens. Their JSON payload is left in place for the JSON step to read.
_TOOL_MARKUP = re.compile(
    r"</?tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>|<\|eom_id\|>|<\|eot_id\|>"
    r"|<｜tool▁[a-z▁]+｜>(?:function<｜tool▁sep｜>[^\n]*)?"
    # End-of-turn tokens a server failed to strip: <|im_end|>, <|end|>, </s>, <end_of_turn>.
    r"|<\|(?:im_end|im_start|end|endoftext|eot|assistant)\|>(?:assistant)?|</s>|<end_of_turn>"
    r"|<start_of_turn>(?:model)?|\[/?INST\]|<｜end▁of▁sentence｜>",
    re.I,
)
# Qwen3-Coder's XML calls: <function=run_sql><parameter=query>SELECT ...</parameter>.
# Anthropic-style calls spell it <parameter name="query">.
_XML_PARAMETER = re.compile(
    r"<parameter(?:=|\s+name=[\"']?)(?:sql|query|sql_query|statement)[\"']?>\s*(.*?)\s*"
    r"(?:</parameter>|\Z)",
    re.S | re.I,
)
# SQLCoder-style prompts end in [SQL] and the model closes with [/SQL].
# The reply may also start inside the block (the prompt opened it) and only close it.
_BRACKET_SQL = re.compile(r"(?:\[SQL\]|\A(?=(?:(?!\[SQL\]).)*\[/SQL\]))(.*?)(?:\[/SQL\]|\Z)", re.S)


def _unwrap_tool_markup(text: str) -> str:
    stripped = text.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == '"':
        try:  # the whole reply is one JSON string: "SELECT ...\nFROM ..."
            decoded = _DECODER.decode(stripped)
        except ValueError:
            decoded = None
        if isinstance(decoded, str):
            text = decoded
    text = _WRAPPERS.sub("\n", text)
    text = _TOOL_MARKUP.sub("\n", text)
    # A JSON list of calls ([{"name": ...}]) is read call by call.
    return re.sub(r"(?m)^[ \t]*\[[ \t]*(?=\{)", "", text)


# --------------------------------------------------------------------------- fences


@dataclass(frozen=True)
class _Fence:
    tag: str
    body: str
    start: int
    end: int

    @property
    def is_sql(self) -> bool:
        return self.tag.endswith("sql") or self.tag in _SQL_TAGS

    @property
    def is_json(self) -> bool:
        return self.tag in ("json", "json5", "jsonc")


# fmt: off
_SQL_TAGS = frozenset({
    "sql", "postgres", "postgresql", "duckdb", "mariadb", "sqlite", "sqlite3", "oracle",
    "bigquery", "snowflake", "trino", "presto", "hive", "hiveql", "clickhouse", "redshift",
    "athena", "databricks", "spark", "sql92", "ansi", "mssql", "tsql", "t-sql",
})
# fmt: on
_TAG = re.compile(r"[\w+#.:-]*[ \t]*")


def _fences(text: str) -> list[_Fence]:
    """Every ``` fenced block in order; a last one left open (a cut-off reply) runs to the end."""
    fences: list[_Fence] = []
    pos = 0
    while True:
        start = text.find("```", pos)
        if start < 0:
            return fences
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        info = text[start + 3 : line_end]
        if _TAG.fullmatch(info):
            tag, body_start = info.strip().lower(), line_end + 1
        else:  # ```SELECT 1``` on one line: no tag, the code starts at once
            tag, body_start = "", start + 3
        close = text.find("```", body_start)
        end = len(text) if close < 0 else close + 3
        body = text[body_start : len(text) if close < 0 else close]
        if not tag:
            # "```\nsql\nSELECT..." and "```sql SELECT ...```": the tag ended up in the body.
            m = re.match(r"\s*([a-z0-9-]*sql|duckdb|sqlite)[ \t]*(?:\n|[ \t](?=\S))", body, re.I)
            if m and _looks_like_sql(_tidy(body[m.end() :])):
                tag, body = m.group(1).lower(), body[m.end() :]
        fences.append(_Fence(tag.removeprefix("language-"), body, start, end))
        pos = end


# Prose before a block that offers it as an option, not as the answer ("Alternatively, ...",
# "If you also want ..."), unless it also says the block corrects the one before.
_ALTERNATIVE = re.compile(
    r"\b(?:alternatively|alternative|another (?:way|option|approach)|you (?:could|can|might) "
    r"also|if you (?:also |instead |only )?(?:want|need|prefer|wish)|optionally|variant|"
    r"or, if|or if you|for comparison)\b|或者|另一种",
    re.I,
)
_CORRECTION = re.compile(
    r"\b(?:wait|correct(?:ed|ion)?|fix(?:ed)?|actually|mistake|wrong|revised|updated|"
    r"better|instead|final|oops|my apologies)\b|修正|更正|正确",
    re.I,
)


def _answer_fences(text: str, fences: list[_Fence]) -> list[_Fence]:
    """``fences`` without those offered as alternatives to an earlier one.

    The answer is the last block, as models correct themselves last, except a block that the
    prose before it presents as an optional variant of the answer already given.
    """
    kept: list[_Fence] = []
    previous_end = 0
    for fence in fences:
        before = text[previous_end : fence.start]
        offered = _ALTERNATIVE.search(before) and not _CORRECTION.search(before)
        if not (kept and offered):
            kept.append(fence)
        previous_end = fence.end
    return kept


def _blank_out(text: str, fences: list[_Fence]) -> str:
    """``text`` with fenced blocks replaced by blank lines (positions of prose are kept)."""
    out = text
    for fence in fences:
        out = out[: fence.start] + "\n" * (fence.end - fence.start) + out[fence.end :]
    return out


# --------------------------------------------------------------------------- JSON


_SQL_KEYS = ("sql", "query", "sql_query", "sqlquery", "sql_statement", "statement")
_REASON_KEYS = ("reason", "explanation", "error", "message", "answer", "note")


@dataclass(frozen=True)
class _JsonFind:
    sql: str | None
    reason: str


# Where a JSON reply can start: at the start of a line, after a colon ("Answer: {...}"), or
# right after an opening fence. A brace in the middle of a line is more likely inside a SQL
# string literal (WHERE payload = '{"query": 1}') and is not read as the reply.
_JSON_START = re.compile(r"(?:^|[:：]|```(?:json)?)[ \t]*(?=\{)", re.M | re.I)


# Models write JSON with raw newlines inside strings and trailing commas; both are read.
_DECODER = json.JSONDecoder(strict=False)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _json_objects(text: str, limit: int = 100) -> Iterator[dict[str, Any]]:
    pos = 0
    for _ in range(limit):
        m = _JSON_START.search(text, pos)
        if m is None:
            return
        start = m.end()
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            try:
                value, _ = _DECODER.raw_decode(_TRAILING_COMMA.sub(r"\1", text[start:]))
            except ValueError:
                pos = start + 1
                continue
            end = start + 1
        if isinstance(value, dict):
            yield value
        pos = end


def _find_sql_key(obj: dict[str, Any], depth: int = 0) -> _JsonFind | None:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for key in _SQL_KEYS:
        if key in lowered:
            value = lowered[key]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ";\n".join(value)  # several statements: keep them all for the guard
            if key != "sql" and value and not _looks_like_sql(_tidy(str(value))):
                continue  # {"query": "how many cards?"} echoes the question
            reason = next((str(lowered[k]) for k in _REASON_KEYS if lowered.get(k)), "")
            return _JsonFind(value if isinstance(value, str) else None, reason)
    if depth < 3:
        for value in obj.values():
            if isinstance(value, str) and value.lstrip().startswith("{"):
                # OpenAI tool calls carry their arguments as a JSON string.
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
            items = value if isinstance(value, list) else [value]
            for item in items[:20]:  # {"tool_calls": [{"function": {...}}]}
                if isinstance(item, dict):
                    found = _find_sql_key(item, depth + 1)
                    if found is not None:
                        return found
    return None


def _json_sql(text: str) -> _JsonFind | None:
    """The last JSON object in ``text`` that has a ``sql`` (or ``query``) field."""
    found = None
    for obj in _json_objects(text):
        hit = _find_sql_key(obj)
        if hit is not None:
            found = hit
    return found


# --------------------------------------------------------------------------- SQL in prose

_START = re.compile(r"(?<![A-Za-z0-9_$.@])(?:" + "|".join(_STARTERS) + r")(?![A-Za-z0-9_])", re.I)
_CONTINUES = re.compile(
    r"\s*(?:[),]|(?:from|where|join|left|right|inner|outer|full|cross|group|order|having|"
    r"limit|offset|union|intersect|except|and|or|on|select|window|qualify|fetch)\b)",
    re.I,
)
# fmt: off
_PROSE_STARTERS = frozenset({
    "this", "the", "that", "these", "those", "it", "its", "here", "note", "explanation", "result",
    "results", "i", "we", "you", "please", "let", "if", "to", "which", "where's", "there", "it's",
    "assuming",
})
# fmt: on
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _is_prose_line(line: str) -> bool:
    """True when a line that follows a statement is the model talking again."""
    s = line.strip()
    if not s:
        return False
    if re.match(r"(?:[-*+]\s+\S|\d+\.\s+[A-Za-z]|#{1,6}\s|\*\*|>\s)", s):
        return True  # markdown bullets, headings, emphasis, quotes
    if _CJK.match(s) and (re.search(r"[，。：！？；]", s) or len(s) > 12):
        return True
    if re.match(r"[A-Za-z][\w ]{0,30}:(?!:)(?:\s|\Z)", s):
        first = s.split()[0].rstrip(":").lower()
        return first not in _CLAUSE_WORDS  # "Explanation: ...", "SQLResult: ..."
    words = re.findall(r"[A-Za-z']+", s)
    if not words:
        return False
    first = words[0].lower()
    if first in _CLAUSE_WORDS:
        return False
    if first in _PROSE_STARTERS and s[0].isupper():
        return True
    return len(words) >= 3 and bool(re.search(r"[.!?:。：]\s*\Z", s))


def _statement_end(text: str, pos: int) -> tuple[int, bool]:
    """Where the statement starting at ``pos`` ends, and whether a ``;`` ended it.

    Quotes and comments are skipped. Without a semicolon, the statement ends where prose
    resumes: a Chinese full stop, a blank line not followed by more SQL, or a prose line.
    """
    i, n = pos, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            close = text.find(ch, i + 1)
            i = n if close < 0 else close + 1
            continue
        if text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        if ch == ";":
            return i, True
        if ch == "。":
            return i, False
        if ch == "\n":
            line_end = text.find("\n", i + 1)
            line = text[i + 1 : n if line_end < 0 else line_end]
            if not line.strip():
                following = text[i:].lstrip()
                if not following or not _CONTINUES.match(following):
                    return i, False
            elif _is_prose_line(line):
                return i, False
        i += 1
    return n, False


def _statements_at(text: str, start: int) -> str:
    """The statement at ``start``, with any statements that directly follow it.

    A second statement after the first one's semicolon is kept: the guard must see (and
    refuse) "SELECT 1; DROP TABLE t", not just its harmless first half.
    """
    end, terminated = _statement_end(text, start)
    while terminated:
        rest = end + 1
        while rest < len(text) and text[rest].isspace():
            rest += 1
        m = _START.match(text, rest)
        if not m:
            break
        next_end, next_terminated = _statement_end(text, rest)
        if not _looks_like_sql(_tidy(text[rest:next_end])):
            break
        end, terminated = next_end, next_terminated
    return text[start:end]


def _statement_start(text: str, match: re.Match[str]) -> int | None:
    """Where a statement begins at this keyword, or None when the keyword is just a word.

    A statement begins at the start of a line, after a colon or Chinese text, or anywhere when
    the keyword is in capitals; opening parentheses before it belong to it.
    """
    start = match.start()
    while start > 0 and text[start - 1] in " \t(":
        start -= 1
    while text[start] in " \t":
        start += 1
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start].rstrip()
    if not before or before.endswith((":", "：", ">")) or _CJK.match(before[-1]):
        return start
    return start if match.group(0).isupper() else None


def _bare_sql(prose: str) -> str | None:
    """The first statement found in prose.

    The first, not the last: in prose the statement comes first and the explanation after,
    and an explanation may name keywords ("This SELECT counts...") that must not win.
    """
    tries = 0
    for m in _START.finditer(prose):
        start = _statement_start(prose, m)
        if start is None:
            continue
        found = _statements_at(prose, start)
        sql = _tidy(found)
        if _looks_like_sql(sql) and not _INTRO_LINE.search(found.split("\n", 1)[0]):
            return sql
        tries += 1
        if tries >= _MAX_TRIES:  # each try reads to the end of the reply: bound the work
            return None
    return None


# A line of SQL never ends in sentence punctuation; a line starting with a keyword that does
# is prose ("Select statement below:", "Update the filter first.").
_INTRO_LINE = re.compile(r"[.:!?。：！？]\s*\Z")
_MAX_TRIES = 20


_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _inline_sql(prose: str) -> str | None:
    """The first `inline code` span that holds a statement (same reason as ``_bare_sql``)."""
    for m in _INLINE_CODE.finditer(prose):
        sql = _tidy(m.group(1))
        if _looks_like_sql(sql):
            return sql
    return None


_XML_SQL = re.compile(
    r"<(sql|sql_query|sqlquery|query|sql_statement)>(.*?)(?:</\1>|\Z)", re.S | re.I
)
# Wrappers around the whole answer; what they hold is read as if they were not there.
_WRAPPERS = re.compile(r"</?(?:answer|final_answer|final|response|output|result)>", re.I)


# --------------------------------------------------------------------------- extract_sql


@dataclass(frozen=True)
class Extracted:
    """The statement found in a reply, where it was found, and whether its block was closed.

    ``closed`` is False when the statement ran to the end of the reply without a closing
    fence, tag or semicolon: in a reply that was cut off, such a statement may be incomplete.
    """

    sql: str
    source: str
    """fence (a block tagged as SQL), tag (<sql>, [SQL], a tool parameter), json, block
    (an untagged block), prose."""
    closed: bool = True


def extract_sql(text: str) -> str:
    """The SQL statement in a model's reply, without its trailing semicolon.

    Raises ``NoSQLInReply`` when the reply holds no statement (a refusal or an explanation).
    Several statements in one block are all returned, for the guard to refuse. A statement
    that is plainly meant as the answer is returned even when it is malformed (a misspelled
    keyword, a missing comma): the guard's parse error is what gets it repaired.

    >>> extract_sql("Here you go:\\n```sql\\nSELECT count(*) FROM cards;\\n```")
    'SELECT count(*) FROM cards'
    """
    return extract(text).sql


def extract(text: str) -> Extracted:
    """Like ``extract_sql``, with where the statement was found (see ``Extracted``)."""
    reply = _unwrap_tool_markup(strip_reasoning(text))
    fences = _fences(reply)

    # 1. A block tagged as SQL: whatever it holds is the model's query (a malformed one is
    #    repaired, not ignored). When there are several, the last one wins: models that
    #    correct themselves ("Wait, the join is wrong. Corrected: ...") or show a sample
    #    before the answer put the answer last.
    sql_fences = _answer_fences(reply, [f for f in fences if f.is_sql])
    tagged = [
        Extracted(_tidy(f.body), "fence", f.end < len(reply) or reply.endswith("```"))
        for f in sql_fences
    ]
    tagged += [
        Extracted(_tidy(m.group(2)), "tag", m.group(0).lower().endswith(f"</{m.group(1).lower()}>"))
        for m in _XML_SQL.finditer(reply)
        if "```" not in m.group(2)
        and (m.group(1).lower() == "sql" or _usable(_tidy(m.group(2)), in_block=True))
    ]
    tagged += [
        Extracted(_tidy(m.group(1)), "tag", "[/SQL]" in m.group(0))
        for m in _BRACKET_SQL.finditer(_blank_out(reply, fences))
        if _usable(_tidy(m.group(1)), in_block=True)
    ]
    tagged += [
        Extracted(_tidy(m.group(1)), "tag", "</parameter>" in m.group(0))
        for m in _XML_PARAMETER.finditer(reply)
    ]
    tagged = [t for t in tagged if t.sql]
    if tagged:
        return tagged[-1]

    # 2. A JSON object with a "sql" field (bare or in a ```json block). A null or empty field
    #    is the model saying it cannot answer: its stated reason becomes the message.
    found = _json_sql(reply)
    if found is not None:
        sql = _tidy(_unfence(found.sql or ""))
        if sql:
            return Extracted(sql, "json")
        raise _no_sql(text, reply, found.reason)

    # 3. An untagged (or oddly tagged) block that reads as SQL; the last, as in step 1.
    candidates = [f for f in fences if not f.is_json and _usable(_tidy(f.body), in_block=True)]
    untagged = [
        Extracted(_tidy(f.body), "block", f.end < len(reply) or reply.endswith("```"))
        for f in _answer_fences(reply, candidates)
    ]
    if untagged:
        return untagged[-1]

    # 4. A statement in the prose itself: in `inline code`, or bare.
    prose = _blank_out(reply, fences)
    inline = _inline_sql(prose)
    if inline:
        return Extracted(inline, "prose")
    bare = _bare_sql(prose)
    misspelled = _misspelled_sql(prose)
    if misspelled and (not bare or prose.find(misspelled) < prose.find(bare)):
        bare = misspelled  # "SELCT a FROM t": not the FROM-first statement inside it
    if bare:
        return Extracted(bare, "prose", _ends_closed(prose, bare))
    raise _no_sql(text, reply)


def _ends_closed(prose: str, sql: str) -> bool:
    """True when something follows the statement (a semicolon, more prose)."""
    at = prose.find(sql)
    return at >= 0 and bool(prose[at + len(sql) :].strip())


_LINE_START_WORD = re.compile(r"(?m)^[ \t]*(?:[^\n:：]{0,30}[:：][ \t]*)?(\(*[A-Za-z]{3,8})\b")


def _misspelled_sql(prose: str) -> str | None:
    """A statement at the start of a line whose first keyword is misspelled (SELCT ...)."""
    tries = 0
    for m in _LINE_START_WORD.finditer(prose):
        word = m.group(1).lstrip("(")
        if not (word.isupper() and any(_near(word, k) for k in _FUZZY_STARTERS)):
            continue
        found = _tidy(_statements_at(prose, m.start(1)))
        if _intended_sql(found, in_block=False):
            return found
        tries += 1
        if tries >= _MAX_TRIES:  # each try reads to the end of the reply: bound the work
            return None
    return None


def _unfence(sql: str) -> str:
    """A JSON field's value may itself hold a fenced block."""
    fences = _fences(sql)
    return fences[-1].body if fences else sql


def _no_sql(text: str, reply: str, reason: str = "") -> NoSQLInReply:
    said = " ".join((reason or reply).split())
    if len(said) > 300:
        said = said[:299] + "…"
    message = (
        f"The model did not write a SQL query. It said: {said}"
        if said
        else "The model's reply was empty."
    )
    return NoSQLInReply(
        message,
        reply=text,
        hint="Rephrase the question, or check that this database holds the data it asks about.",
    )
