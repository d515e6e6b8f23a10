"""extract_sql against replies as models really write them."""

from __future__ import annotations

import time

import pytest

from sqlagent.errors import NoSQLInReply
from sqlagent.llm.extract import extract_sql, strip_reasoning

FOUND = [
    # --- fenced blocks, with the tags models use
    (
        "sql fence",
        "```sql\nSELECT COUNT(*) FROM cards;\n```",
        "SELECT COUNT(*) FROM cards",
    ),
    (
        "SQL fence in capitals, prose around",
        "Sure! Here is the query:\n\n```SQL\nSELECT name\nFROM merchants\nWHERE city = 'Phoenix';"
        "\n```\n\nThis lists the merchants in Phoenix.",
        "SELECT name\nFROM merchants\nWHERE city = 'Phoenix'",
    ),
    (
        "postgresql fence",
        "```postgresql\nSELECT date_trunc('month', ts) AS month, SUM(amount)\n"
        "FROM tx GROUP BY 1\n```",
        "SELECT date_trunc('month', ts) AS month, SUM(amount)\nFROM tx GROUP BY 1",
    ),
    (
        "duckdb fence",
        "```duckdb\nFROM cards SELECT DISTINCT brand\n```",
        "FROM cards SELECT DISTINCT brand",
    ),
    (
        "mysql fence, backtick identifiers",
        "```mysql\nSELECT `name` FROM `users` LIMIT 5;\n```",
        "SELECT `name` FROM `users` LIMIT 5",
    ),
    ("plain fence", "```\nselect count(*) from orders\n```", "select count(*) from orders"),
    ("fence on one line", "```SELECT 1```", "SELECT 1"),
    ("tag inside a plain fence", "```\nsql\nSELECT 2\n```", "SELECT 2"),
    (
        "two sql fences: the corrected one (last) wins",
        "First attempt:\n```sql\nSELECT amount FROM tx\n```\nWait, amounts must be summed. "
        "Corrected:\n```sql\nSELECT SUM(amount) FROM tx\n```",
        "SELECT SUM(amount) FROM tx",
    ),
    (
        "sql fence wins over an untagged one after it",
        "```sql\nSELECT a FROM t\n```\nOutput:\n```\n| a |\n|---|\n| 1 |\n```",
        "SELECT a FROM t",
    ),
    (
        "untagged fences: the last one that reads as SQL",
        "Schema:\n```\ncards(id, brand)\n```\nQuery:\n```\nSELECT brand FROM cards\n```\n"
        "Result:\n```\nVisa\n```",
        "SELECT brand FROM cards",
    ),
    (
        "several statements in a fence are all kept",
        "```sql\nSELECT 1;\nDROP TABLE users;\n```",
        "SELECT 1;\nDROP TABLE users",
    ),
    (
        "cut-off reply with an unclosed fence",
        "```sql\nSELECT brand, COUNT(*)\nFROM cards\nGROUP BY brand",
        "SELECT brand, COUNT(*)\nFROM cards\nGROUP BY brand",
    ),
    (
        "leading comments stripped, inner comments kept",
        "```sql\n-- Count the cards per brand\n/* uses the cards table */\n"
        "SELECT brand, -- the issuer\n  COUNT(*) FROM cards GROUP BY brand; -- done\n```",
        "SELECT brand, -- the issuer\n  COUNT(*) FROM cards GROUP BY brand",
    ),
    (
        "WITH ... SELECT over several lines",
        "```sql\nWITH monthly AS (\n  SELECT date_trunc('month', ts) AS m, SUM(amount) AS total\n"
        "  FROM tx GROUP BY 1\n)\nSELECT m, total FROM monthly ORDER BY m;\n```",
        "WITH monthly AS (\n  SELECT date_trunc('month', ts) AS m, SUM(amount) AS total\n"
        "  FROM tx GROUP BY 1\n)\nSELECT m, total FROM monthly ORDER BY m",
    ),
    (
        "<sql> tags",
        "<sql>\nSELECT id FROM cards WHERE brand = 'Visa'\n</sql>",
        "SELECT id FROM cards WHERE brand = 'Visa'",
    ),
    # --- reasoning blocks
    (
        "think block removed first",
        "<think>\nThe user wants Phoenix merchants. I could write SELECT * FROM stores but "
        "the table is merchants.\n</think>\n\n```sql\nSELECT COUNT(DISTINCT id) FROM merchants "
        "WHERE city = 'Phoenix'\n```",
        "SELECT COUNT(DISTINCT id) FROM merchants WHERE city = 'Phoenix'",
    ),
    (
        "closing think tag only",
        "Okay, let me see. The table is tx.\n</think>\nSELECT SUM(amount) FROM tx;",
        "SELECT SUM(amount) FROM tx",
    ),
    # --- JSON
    (
        "JSON object",
        '{"sql": "SELECT COUNT(*) FROM cards", "explanation": "counts all cards"}',
        "SELECT COUNT(*) FROM cards",
    ),
    (
        "JSON in a json fence, query key",
        'Here you go:\n```json\n{\n  "query": "SELECT brand FROM cards;",\n  "tables": ["cards"]\n}'
        "\n```",
        "SELECT brand FROM cards",
    ),
    (
        "JSON after a label, nested",
        'Answer: {"result": {"sql": "select * from merchants where city = \'Mesa\'"}}',
        "select * from merchants where city = 'Mesa'",
    ),
    (
        "JSON whose sql value is itself fenced",
        '{"sql": "```sql\\nSELECT 3\\n```"}',
        "SELECT 3",
    ),
    # --- bare statements, with or without prose
    ("bare statement", "SELECT * FROM cards LIMIT 5;", "SELECT * FROM cards LIMIT 5"),
    ("lowercase bare statement", "select brand from cards", "select brand from cards"),
    (
        "prose before and after, semicolon ends it",
        "Here is the query: SELECT brand, COUNT(*) FROM cards GROUP BY brand; This returns the "
        "number of cards per brand.",
        "SELECT brand, COUNT(*) FROM cards GROUP BY brand",
    ),
    (
        "prose after on its own line, no semicolon",
        "SQLQuery: SELECT name\nFROM merchants\nORDER BY name\nThis returns every merchant.",
        "SELECT name\nFROM merchants\nORDER BY name",
    ),
    (
        "blank line inside the statement, prose after a blank line",
        "The query:\n\nSELECT brand\n\nFROM cards\n\nIt lists the brands.",
        "SELECT brand\n\nFROM cards",
    ),
    (
        "Chinese prose around the statement",
        "查询如下：\nSELECT city, COUNT(*) AS 商户数 FROM merchants GROUP BY city;\n"
        "这个查询统计每个城市的商户数量。",
        "SELECT city, COUNT(*) AS 商户数 FROM merchants GROUP BY city",
    ),
    (
        "Chinese prose on the same line, no semicolon",
        "可以使用SELECT COUNT(*) FROM cards。这会返回卡片总数。",
        "SELECT COUNT(*) FROM cards",
    ),
    (
        "Chinese prose around a fence",
        "好的，以下是SQL查询：\n```sql\nSELECT brand FROM cards WHERE issued > '2020-01-01'\n```\n"
        "该查询返回2020年以后发行的卡片品牌。",
        "SELECT brand FROM cards WHERE issued > '2020-01-01'",
    ),
    (
        "a keyword line ending like a sentence is an introduction",
        "Select statement below:\nSELECT a FROM t",
        "SELECT a FROM t",
    ),
    (
        "inline code",
        "Run `SELECT COUNT(*) FROM cards` to count them.",
        "SELECT COUNT(*) FROM cards",
    ),
    (
        "bare second statement is kept for the guard",
        "SELECT 1; DROP TABLE users;",
        "SELECT 1; DROP TABLE users",
    ),
    (
        "dangerous statement returned as written (the guard refuses it)",
        "```sql\nDELETE FROM cards WHERE brand = 'Amex'\n```",
        "DELETE FROM cards WHERE brand = 'Amex'",
    ),
    (
        "parenthesised union",
        "(SELECT a FROM t1) UNION ALL (SELECT a FROM t2)",
        "(SELECT a FROM t1) UNION ALL (SELECT a FROM t2)",
    ),
    (
        "semicolon inside a string is not the end",
        "SELECT * FROM notes WHERE body = 'a; b' AND id > 3;\nDone.",
        "SELECT * FROM notes WHERE body = 'a; b' AND id > 3",
    ),
    # --- malformed statements are the model's query (the guard's parse error repairs them)
    (
        "misspelled keyword in a sql fence",
        "```sql\nSELEC name\n  FRM t\n```",
        "SELEC name\n  FRM t",
    ),
    ("misspelled keyword in a plain fence", "```\nSELCT a, b FROM t\n```", "SELCT a, b FROM t"),
    (
        "transposed WITH in a plain fence",
        "```\nWIHT s AS (SELECT 1) SELECT * FROM s\n```",
        "WIHT s AS (SELECT 1) SELECT * FROM s",
    ),
    ("misspelled FROM after SELECT in prose", "SELECT name age FORM t", "SELECT name age FORM t"),
    (
        "misspelled SELECT in prose, not the FROM after it",
        "SELCT name FROM t WHERE a > 1;\nThis lists names.",
        "SELCT name FROM t WHERE a > 1",
    ),
    ("unclosed quote", "```sql\nSELECT a FROM t WHERE b = 'x\n```", "SELECT a FROM t WHERE b = 'x"),
    # --- peers' extraction failures
    (
        "several CTEs in inline backticks over many lines",
        "LLM Response: `WITH a AS (\nSELECT id FROM t1\n),\nb AS (\nSELECT id FROM t2\n)\n"
        "SELECT a.id FROM a JOIN b ON a.id = b.id\nLIMIT 50;`",
        "WITH a AS (\nSELECT id FROM t1\n),\nb AS (\nSELECT id FROM t2\n)\n"
        "SELECT a.id FROM a JOIN b ON a.id = b.id\nLIMIT 50",
    ),
    (
        "WITH ROLLUP is not a new statement",
        "SELECT a\nFROM t\nGROUP BY a\nWITH ROLLUP;",
        "SELECT a\nFROM t\nGROUP BY a\nWITH ROLLUP",
    ),
    (
        "WITHIN GROUP is not WITH",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
    ),
    # --- tool calls and JSON as models write them
    (
        "Hermes tool call",
        '<tool_call>\n{"name": "q", "arguments": {"query": "SELECT 1"}}\n</tool_call>',
        "SELECT 1",
    ),
    (
        "Mistral tool calls",
        '[TOOL_CALLS] [{"name": "q", "arguments": {"sql": "SELECT 2"}}]',
        "SELECT 2",
    ),
    (
        "OpenAI tool_calls with string arguments",
        '{"tool_calls": [{"function": {"name": "q", '
        '"arguments": "{\\"query\\": \\"SELECT 3\\"}"}}]}',
        "SELECT 3",
    ),
    (
        "Qwen3-Coder XML call",
        "<function=q>\n<parameter=query>\nSELECT 4\n</parameter>\n</function>",
        "SELECT 4",
    ),
    (
        "JSON with raw newlines in the string",
        '{\n  "sql": "SELECT a\nFROM t"\n}',
        "SELECT a\nFROM t",
    ),
    ("JSON with a trailing comma", '{"sql": "SELECT 5",}', "SELECT 5"),
    ("a JSON string", '"SELECT a\\nFROM t"', "SELECT a\nFROM t"),
    ("closing [/SQL] only", " SELECT a FROM t\n[/SQL]", "SELECT a FROM t"),
    ("closing fence only", "SELECT a FROM t;\n```", "SELECT a FROM t"),
    ("answer wrapper", "<answer>\nSELECT a FROM t\n</answer>", "SELECT a FROM t"),
    ("end-of-turn token", "SELECT a FROM t</s>", "SELECT a FROM t"),
    (
        "an alternative after the answer is not the answer",
        "```sql\nSELECT a FROM t\n```\n\nAlternatively, to include b:\n"
        "```sql\nSELECT a, b FROM t\n```",
        "SELECT a FROM t",
    ),
    (
        "brace in a string literal is not a JSON reply",
        'SELECT * FROM logs WHERE payload = \'{"query": "x"}\'',
        'SELECT * FROM logs WHERE payload = \'{"query": "x"}\'',
    ),
]


@pytest.mark.parametrize(
    ("reply", "expected"), [case[1:] for case in FOUND], ids=[case[0] for case in FOUND]
)
def test_extracts_the_statement(reply: str, expected: str) -> None:
    assert extract_sql(reply) == expected


NOT_FOUND = [
    ("refusal", "I cannot answer that because there is no salary data.", "no salary data"),
    ("empty reply", "   ", "empty"),
    (
        "prose using SQL words",
        "Select the cards table and show me which columns you want, then I can update the query.",
        "Select the cards table",
    ),
    (
        "prose starting with 'From'",
        "From the schema, there is no table with employee salaries.",
        "no table with employee salaries",
    ),
    (
        "only reasoning",
        "<think>Maybe SELECT salary FROM employees? There is no such table.</think>",
        "empty",
    ),
    (
        "Chinese refusal",
        "抱歉，数据库中没有薪资相关的数据，无法回答这个问题。",
        "没有薪资",
    ),
    (
        "JSON with a null sql field gives the model's reason",
        '{"sql": null, "reason": "The database has no salary column."}',
        "no salary column",
    ),
    (
        "sql fence holding only a comment",
        "```sql\n-- There is no table with salaries, so no query can answer this.\n```",
        "no table with salaries",
    ),
    (
        "fence of another language",
        "```python\nprint('hello')\n```",
        "print",
    ),
    (
        "JSON whose query field is the question",
        '{"query": "how many cards are there?"}',
        "how many cards",
    ),
]


@pytest.mark.parametrize(
    ("reply", "said"), [case[1:] for case in NOT_FOUND], ids=[case[0] for case in NOT_FOUND]
)
def test_no_sql_raises_with_the_reply(reply: str, said: str) -> None:
    with pytest.raises(NoSQLInReply) as info:
        extract_sql(reply)
    assert info.value.reply == reply
    assert said in info.value.message


def test_a_long_reply_is_read_in_bounded_time() -> None:
    started = time.monotonic()
    with pytest.raises(NoSQLInReply):
        extract_sql("Select the x\n" * 3000)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>a</think>b", "b"),
        ("<THINK>\nmulti\nline\n</THINK>\n answer ", "answer"),
        ("<thinking>x</thinking>y<reasoning>z</reasoning>", "y"),
        ("reasoning only, opening tag lost</think>answer", "answer"),
        ("answer<think>cut off while thinking", "answer"),
        ("no reasoning", "no reasoning"),
    ],
)
def test_strip_reasoning(text: str, expected: str) -> None:
    assert strip_reasoning(text) == expected
