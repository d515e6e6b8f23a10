"""The knowledge file: loading, validation, appending verified examples, matching questions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from sqlagent.context.knowledge import (
    Knowledge,
    VerifiedExample,
    add_verified,
    default_knowledge_path,
    load_knowledge,
    parse_knowledge,
)
from sqlagent.errors import ConfigError, UsageError

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data" / "cards.knowledge.yaml"
PHOENIX = "How many unique merchants are there in Phoenix and what are their names?"


# --------------------------------------------------------------------------- loading


def test_missing_file_gives_empty_knowledge(tmp_path: Path) -> None:
    knowledge = load_knowledge(tmp_path / "nope.knowledge.yaml")
    assert not knowledge
    assert knowledge.verified == () and knowledge.definitions == ()
    assert not load_knowledge(None)


def test_sample_knowledge_file_loads() -> None:
    knowledge = load_knowledge(SAMPLE)
    transactions = knowledge.table("transactions")
    assert transactions is not None
    assert "payments" in transactions.synonyms
    amount = transactions.column("AMOUNT")  # column names are case-insensitive
    assert amount is not None and amount.description.startswith("Never negative")
    assert any(d.term == "decline rate" for d in knowledge.definitions)
    assert knowledge.verified[0].question == PHOENIX
    assert "city = 'Phoenix'" in knowledge.verified[0].sql


def test_sample_verified_examples_are_those_of_questions_yaml() -> None:
    """The verified SQL is the SQL whose rows tests/test_sample_data.py checks."""
    questions = yaml.safe_load((REPO / "sample_data" / "questions.yaml").read_text())
    by_question = {q["question"]: q["sql"].strip() for q in questions}
    knowledge = load_knowledge(SAMPLE)
    assert len(knowledge.verified) >= 3
    for example in knowledge.verified:
        assert by_question.get(example.question) == example.sql


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tables: [a, b]", "tables must map"),
        ("tables:\n  t: [x]", "tables.t must be a mapping"),
        ("tables:\n  t:\n    descripton: typo", "unknown key(s) in tables.t: descripton"),
        ("tables:\n  t:\n    synonyms: {a: b}", "tables.t.synonyms must be a list"),
        ("tables:\n  t:\n    columns: [a]", "tables.t.columns must map"),
        ("tables:\n  t:\n    columns:\n      c: [1]", "tables.t.columns.c must be"),
        ("definitions: {a: b}", "definitions must be a list"),
        ("definitions:\n  - term: x", "definitions entry 1: definition is missing"),
        ("verified:\n  - question: q\n    sql: ''", "verified entry 1: sql must not be empty"),
        ("verified:\n  - just text", "verified entry 1 must be a mapping"),
        ("verified:\n  - {question: q, sql: s, extra: 1}", "unknown key(s) in verified entry 1"),
        ("- a list", "must hold a mapping"),
        ("colour: blue", "unknown key(s) in the file: colour"),
    ],
)
def test_wrong_shape_names_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "shop.knowledge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_knowledge(path)
    assert str(path) in info.value.message
    assert problem in info.value.message


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.knowledge.yaml"
    path.write_text("tables:\n  t: {description: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_knowledge(path)
    assert str(path) in info.value.message and "not valid YAML" in info.value.message


def test_short_forms_are_accepted() -> None:
    knowledge = parse_knowledge(
        "tables:\n  orders: Orders placed online\n  items:\n    synonyms: lines\n"
        "    columns:\n      qty: Quantity ordered\n"
    )
    orders, items = knowledge.table("orders"), knowledge.table("items")
    assert orders is not None and orders.description == "Orders placed online"
    assert items is not None and items.synonyms == ("lines",)
    qty = items.column("qty")
    assert qty is not None and qty.description == "Quantity ordered"


def test_reload_sees_changes(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    path.write_text("definitions:\n  - {term: a, definition: first}\n")
    assert load_knowledge(path).definitions[0].definition == "first"
    path.write_text("definitions:\n  - {term: a, definition: second version}\n")
    assert load_knowledge(path).definitions[0].definition == "second version"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("sample_data/cards.duckdb", "sample_data/cards.knowledge.yaml"),
        ("duckdb:///data/shop.duckdb", "data/shop.knowledge.yaml"),
        ("duckdb:////abs/shop.duckdb", "/abs/shop.knowledge.yaml"),
        ("sqlite:///x/y.sqlite", "x/y.knowledge.yaml"),
        ("shop.db", "shop.knowledge.yaml"),
        ("postgresql://u@host/db", None),
        ("duckdb:///:memory:", None),
        ("data/*.csv", None),
        (None, None),
    ],
)
def test_default_knowledge_path(target: str | None, expected: str | None) -> None:
    found = default_knowledge_path(target)
    assert (str(found) if found else None) == expected


def test_default_knowledge_path_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sales"
    folder.mkdir()
    assert default_knowledge_path(folder) == folder / "sales.knowledge.yaml"


# --------------------------------------------------------------------------- add_verified


def test_add_verified_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "new.knowledge.yaml"
    add_verified(path, "How many customers are there?", "SELECT COUNT(*) FROM customers")
    knowledge = load_knowledge(path)
    assert knowledge.verified == (
        VerifiedExample("How many customers are there?", "SELECT COUNT(*) FROM customers"),
    )
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_add_verified_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    original = (
        "# Team notes: keep me\n"
        "verified:\n"
        "  - question: First?   # reviewed by Ana\n"
        "    sql: SELECT 1\n"
        "\n"
        "definitions:  # business terms\n"
        "  - term: spend\n"
        "    definition: approved amounts only\n"
    )
    path.write_text(original)
    sql = "SELECT city,\n       COUNT(*)\nFROM merchants\nGROUP BY city"
    add_verified(path, "Merchants per city?", sql)
    text = path.read_text()
    assert "# Team notes: keep me" in text
    assert "# reviewed by Ana" in text and "# business terms" in text
    knowledge = load_knowledge(path)
    assert [e.question for e in knowledge.verified] == ["First?", "Merchants per city?"]
    assert knowledge.verified[1].sql == sql  # multi-line SQL survives the round trip
    assert knowledge.definitions[0].term == "spend"
    assert text.index("Merchants per city?") < text.index("definitions:")


def test_add_verified_to_a_file_without_verified_list(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    path.write_text("# only tables\ntables:\n  t: {description: A table}\n")
    add_verified(path, "Q?", "SELECT 1")
    assert path.read_text().startswith("# only tables\n")
    knowledge = load_knowledge(path)
    assert knowledge.verified == (VerifiedExample("Q?", "SELECT 1"),)
    assert knowledge.table("t") is not None


def test_add_verified_to_an_inline_list_rewrites_the_data(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    path.write_text("verified: []\ntables: {t: described}\n")
    add_verified(path, "Q?", "SELECT 1")
    knowledge = load_knowledge(path)
    assert knowledge.verified == (VerifiedExample("Q?", "SELECT 1"),)
    table = knowledge.table("t")
    assert table is not None and table.description == "described"


def test_add_verified_never_duplicates_a_question(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    add_verified(path, "How many customers are there?", "SELECT 1")
    add_verified(path, "  how many customers are there  ", "SELECT 2")
    assert len(load_knowledge(path).verified) == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary or lock files left behind


@pytest.mark.parametrize(("question", "sql"), [("", "SELECT 1"), ("Q?", "  "), (" ", "")])
def test_add_verified_needs_question_and_sql(tmp_path: Path, question: str, sql: str) -> None:
    with pytest.raises(UsageError):
        add_verified(tmp_path / "k.knowledge.yaml", question, sql)


def test_add_verified_refuses_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    path.write_text("verified: [unclosed\n")
    with pytest.raises(ConfigError):
        add_verified(path, "Q?", "SELECT 1")
    assert path.read_text() == "verified: [unclosed\n"  # left as it was


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "k.knowledge.yaml"
    path.write_text("# shared file\nverified:\n")

    def write(i: int) -> None:
        add_verified(path, f"Question number {i}?", f"SELECT {i}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    questions = {e.question for e in load_knowledge(path).verified}
    assert questions == {f"Question number {i}?" for i in range(12)}


# --------------------------------------------------------------------------- matching

KNOWLEDGE = Knowledge(
    verified=(
        VerifiedExample(PHOENIX, "SELECT DISTINCT merchant_name FROM merchants WHERE ..."),
        VerifiedExample("What is the decline rate for each card tier?", "SELECT tier ..."),
        VerifiedExample("Who are the 5 customers with the highest total approved spend?", "..."),
        VerifiedExample("How many customers hold three or more cards?", "SELECT ..."),
    )
)


@pytest.mark.parametrize(
    "question",
    [
        PHOENIX,
        "how many unique merchants are there in phoenix, and what are their names",
        "What are the names of the unique merchants in Phoenix and how many are there?",
        "How many unique merchants are in Pheonix and what are their names?",  # a typo
        "What is the decline rate per card tier?",
        "what's the decline rate for every card tier",
        "How many customers hold 3 or more cards?",
        "Who are the five customers with the highest total approved spend?",
    ],
)
def test_same_question_matches(question: str) -> None:
    assert KNOWLEDGE.match_verified(question) is not None


@pytest.mark.parametrize(
    "question",
    [
        "How many unique merchants are there in Tucson and what are their names?",
        "How many unique merchants are there in Phoenix?",
        "What is the decline rate for each card type?",
        "What is the approval rate for each card tier?",
        "Who are the 3 customers with the highest total approved spend?",
        "Who are the 5 customers with the lowest total approved spend?",
        "Who are the 5 customers with the highest total declined spend?",
        "How many customers hold four or more cards?",
        "How many customers do not hold three or more cards?",
        "",
    ],
)
def test_different_question_does_not_match(question: str) -> None:
    assert KNOWLEDGE.match_verified(question) is None


def test_similar_examples_are_ranked() -> None:
    similar = KNOWLEDGE.similar_examples("How many merchants are in Tucson?", k=2)
    assert similar[0][0].question == PHOENIX
    assert 0 < similar[0][1] <= 1
    assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)
    assert KNOWLEDGE.similar_examples("zzz qqq", k=3) == []


def test_a_knowledge_text_read_before_is_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sqlagent.context import knowledge as module

    monkeypatch.setenv("SQLAGENT_CACHE_DIR", str(tmp_path / "cache"))
    text = "definitions:\n  - term: active\n    definition: bought in the last 90 days\n"
    first = module.parse_knowledge(text)

    def no_parsing(text: str, source: str) -> object:
        raise AssertionError("parsed again")

    monkeypatch.setattr(module, "_parse_yaml", no_parsing)
    assert module.parse_knowledge(text) == first
    assert first.definitions[0].definition == "bought in the last 90 days"
    # An edited text is another text: parsed, never taken from the old copy.
    with pytest.raises(AssertionError, match="parsed again"):
        module.parse_knowledge(text.replace("90", "30"))


def test_a_knowledge_text_whose_data_json_cannot_hold_is_not_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sqlagent.context import knowledge as module

    monkeypatch.setenv("SQLAGENT_CACHE_DIR", str(tmp_path / "cache"))
    text = "definitions:\n  - term: launch\n    definition: 2024-05-01\n"  # a YAML date
    with pytest.raises(ConfigError):
        module.parse_knowledge(text)
    assert not (tmp_path / "cache" / "knowledge").exists() or not any(
        (tmp_path / "cache" / "knowledge").iterdir()
    )
