"""LLM calls and tokens per question for each answering mode, on the sample questions.

Modes: a single candidate (the default), a follow-up in a conversation (the previous turn goes
into the prompt), self-consistency with 3 and 5 candidates, and adaptive voting with 5 (two
first, the rest only on disagreement). The scripted model answers every candidate with the
verified SQL, so adaptive voting stops after two; the "adaptive, disagreeing" row scripts the
second candidate to differ. Tokens are the scripted model's count (about 4 characters a token)
of exactly what would be sent.

Then the share of the generation prompt that is an identical prefix across all the sample
questions, as an ``Agent`` on the sample database sends it (knowledge file, value index and
profiles included): the part a provider's prompt cache can serve (billed at a fraction) when
one deployment answers many questions on one database. Verified questions send no generation
prompt and are left out.

    python benchmarks/modes_cost.py
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from sqlagent.api import Agent
from sqlagent.conversation import Conversation
from sqlagent.db import connect
from sqlagent.pipeline import ask
from sqlagent.sample import ensure_sample_database, sample_questions
from sqlagent.settings import Settings
from sqlagent.testing import ScriptedLLM


def fenced(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def run_mode(
    db: Any, settings: Settings, reply: Callable[[Any, dict[str, Any]], str], follow_up: bool
) -> tuple[float, float, float]:
    calls, prompt, completion = [], [], []
    for item in sample_questions():
        conv = Conversation()
        if follow_up:
            warm = ScriptedLLM([fenced(item["sql"]), "A short narrative."])
            conv.add(
                ask(
                    item["question"],
                    llm=warm,
                    db=db,
                    settings=Settings(model="s"),
                    conversation=conv,
                )
            )
        llm = ScriptedLLM([lambda call, item=item: reply(call, item)] * 16 + ["Narrative."])
        answer = ask(item["question"], llm=llm, db=db, settings=settings, conversation=conv)
        assert answer.ok, answer.error
        usage = answer.trace.usage
        calls.append(len(llm.calls))
        prompt.append(usage.prompt_tokens)
        completion.append(usage.completion_tokens)
    return statistics.mean(calls), statistics.median(prompt), statistics.median(completion)


def main() -> None:
    db = connect(ensure_sample_database())
    db.schema()

    def same(call: Any, item: dict[str, Any]) -> str:
        if call.messages[0]["content"].startswith("You explain"):
            return "A short narrative."
        return fenced(item["sql"])

    def second_differs(call: Any, item: dict[str, Any]) -> str:
        if call.messages[0]["content"].startswith("You explain"):
            return "A short narrative."
        if call.temperature == 0.4:
            return fenced("SELECT 1 AS other")
        return fenced(item["sql"])

    modes = [
        ("single (default)", Settings(model="s"), same, False),
        ("follow-up turn", Settings(model="s"), same, True),
        ("candidates=3", Settings(model="s", candidates=3), same, False),
        ("candidates=5", Settings(model="s", candidates=5), same, False),
        ("adaptive 5, agreeing", Settings(model="s", candidates=5, adaptive=True), same, False),
        (
            "adaptive 5, disagreeing",
            Settings(model="s", candidates=5, adaptive=True),
            second_differs,
            False,
        ),
    ]
    base_calls = base_prompt = 0.0
    print(f"LLM calls and tokens per question ({len(sample_questions())} sample questions)")
    print(f"{'mode':<26} {'calls':>6} {'prompt tok':>11} {'compl tok':>10} {'vs single':>10}")
    for name, settings, reply, follow_up in modes:
        calls, prompt, completion = run_mode(db, settings, reply, follow_up)
        if not base_calls:
            base_calls, base_prompt = calls, prompt
        extra = f"+{calls - base_calls:.1f} calls, x{prompt / base_prompt:.2f} tok"
        print(f"{name:<26} {calls:>6.1f} {prompt:>11.0f} {completion:>10.0f}   {extra}")


def prefix_share() -> tuple[int, float, float]:
    """(questions, median prompt characters, share of them in the common prefix)."""
    agent = Agent.connect(ensure_sample_database(), settings=Settings(model="s"))
    prompts: list[str] = []
    for item in sample_questions():
        if agent.knowledge().match_verified(item["question"]) is not None:
            continue
        llm = ScriptedLLM([fenced(item["sql"]), "Narrative."])
        agent_with = Agent(agent.db, llm=llm, settings=agent.settings)
        agent_with.ask(item["question"])
        first = llm.calls[0].messages
        # What a provider caches: the messages in order, roles included.
        prompts.append("".join(f"<{m['role']}>{m['content']}" for m in first))
    common = prompts[0]
    for text in prompts[1:]:
        n = 0
        for a, b in zip(common, text, strict=False):
            if a != b:
                break
            n += 1
        common = common[:n]
    lengths = sorted(len(t) for t in prompts)
    median = statistics.median(lengths)
    return len(prompts), median, len(common) / statistics.mean(lengths)


if __name__ == "__main__":
    main()
    asked, median, share = prefix_share()
    print()
    print(f"generation prompt over {asked} sample questions (verified ones left out)")
    print(f"median {median:,.0f} characters; identical prefix {share:.1%} of the mean")
    print("(goal >= 90%)")
