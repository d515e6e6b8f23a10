"""What streaming and predicted outputs change in how long an answer takes to show.

A local OpenAI-compatible server (``sqlagent.testing.FakeOpenAIServer``, through the real
``openai`` client) generates at a fixed rate, 50 tokens a second by default, a realistic
narration (about 150 tokens). For the same question on the sample database:

- streamed (``Agent.ask_stream``): time to the first visible result (the SQL and the table),
  to the first narration piece shown, and to the whole answer;
- not streamed (``Agent.ask``): everything shows at once, when the whole answer is there.

Then a question whose first query names a wrong column, so that it is repaired: the repair
call's time with the failed query sent as the predicted output, and without (a server that
rejects ``prediction``; the endpoint is remembered and the parameter no longer sent). The
fake server spends no time on the tokens the prediction foresaw, as OpenAI's predicted
outputs do.

    python benchmarks/streaming.py [--rate 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlagent import Agent
from sqlagent.db import connect
from sqlagent.sample import ensure_sample_database
from sqlagent.settings import Settings
from sqlagent.streaming import Finished, NarrationDelta, TableReady
from sqlagent.testing import FakeOpenAIServer, fake_token_count

QUESTION = "Which Phoenix merchants took the most approved spend, and in which categories?"
SQL = (
    "SELECT m.merchant_name, m.category, COUNT(*) AS transactions, SUM(t.amount) AS spend\n"
    "FROM merchants AS m\nJOIN transactions AS t ON t.merchant_id = m.merchant_id\n"
    "WHERE m.city = 'Phoenix' AND t.status = 'approved'\n"
    "GROUP BY m.merchant_name, m.category\nORDER BY spend DESC\nLIMIT 5"
)
BAD_SQL = SQL.replace("m.merchant_name", "m.name")
NARRATION = (
    "Sky Harbor Travel Co. leads the Phoenix merchants by a wide margin: its 1,337 approved "
    "transactions add up to 619,479.93, more than twice the spend of any other merchant in "
    "the top five. Valley Fresh Market comes second with 251,891.29 from 3,510 transactions, "
    "the most transactions of the five, which fits a grocery store where people shop often "
    "and spend less each time. Saguaro Electronics is close behind at 243,995.34 from 946 "
    "transactions, so its average purchase is much larger. Roosevelt Row Outfitters, a "
    "clothing store, took 122,376.02, and QuickFuel, a fuel station, 103,560.91 from 1,936 "
    "transactions. The five cover five different categories: travel, grocery, electronics, "
    "clothing and fuel."
)


def scripted(bad_first: bool) -> Callable[[dict[str, Any]], str]:
    """The model: a query (a wrong one first, when asked), then the narration."""
    asked: list[int] = []

    def reply(request: dict[str, Any]) -> str:
        if request["messages"][0]["content"].startswith("You explain"):
            return NARRATION
        asked.append(1)
        wrong = bad_first and len(asked) % 2 == 1
        return f"```sql\n{BAD_SQL if wrong else SQL}\n```"

    return reply


def agent_for(server: FakeOpenAIServer, *, narrate: bool = True) -> Agent:
    settings = Settings(
        model="fake-model",
        base_url=server.base_url,
        llm_timeout=60.0,
        history=False,
        narrate=narrate,
    )
    return Agent(connect(ensure_sample_database()), settings=settings)


def streamed(agent: Agent) -> tuple[float, float, float]:
    """Seconds to the table, to the first narration piece, to the whole answer."""
    start = time.perf_counter()
    table = first = whole = 0.0
    for event in agent.ask_stream(QUESTION):
        now = time.perf_counter() - start
        if isinstance(event, TableReady):
            table = now
        elif isinstance(event, NarrationDelta) and not first:
            first = now
        elif isinstance(event, Finished):
            whole = now
            assert event.answer.ok and not event.replaced, event.answer.error
    return table, first, whole


def plain(agent: Agent) -> float:
    start = time.perf_counter()
    answer = agent.ask(QUESTION)
    assert answer.ok, answer.error
    return time.perf_counter() - start


def repair_seconds(agent: Agent) -> float:
    answer = agent.ask(QUESTION)
    assert answer.ok and len(answer.attempts) == 2, answer.error
    [step] = [s for s in answer.trace.steps if s.name == "repair"]
    return step.duration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds, rate = args.rounds, args.rate
    med = statistics.median

    script = [scripted(False)] * (4 * rounds + 4)
    with FakeOpenAIServer(script, tokens_per_second=rate) as server, agent_for(server) as agent:
        plain(agent)  # warm: openai imported, schema read
        runs = [streamed(agent) for _ in range(rounds)]
        whole_plain = med(plain(agent) for _ in range(rounds))
    table, first, whole = (med(r[i] for r in runs) for i in range(3))

    with (
        FakeOpenAIServer([scripted(True)] * 3 * rounds, tokens_per_second=rate) as server,
        agent_for(server, narrate=False) as agent,
    ):
        predicted = med(repair_seconds(agent) for _ in range(rounds))
    rejecting = FakeOpenAIServer(
        [scripted(True)] * 3 * (rounds + 1), tokens_per_second=rate, rejects=("prediction",)
    )
    with rejecting as server, agent_for(server, narrate=False) as agent:
        repair_seconds(agent)  # the rejection is learnt once, then not sent again
        unpredicted = med(repair_seconds(agent) for _ in range(rounds))

    tokens = fake_token_count(NARRATION)
    print(f"fake model at {rate:g} tokens/s; narration {tokens} tokens; median of {rounds}\n")
    print("| answer | first visible result (SQL + table) | first narration shown | whole |")
    print("| --- | --- | --- | --- |")
    print(f"| streamed (ask_stream) | {table:.2f} s | {first:.2f} s | {whole:.2f} s |")
    print(
        f"| not streamed (ask) | {whole_plain:.2f} s | {whole_plain:.2f} s | {whole_plain:.2f} s |"
    )
    print()
    reply_tokens = fake_token_count(f"```sql\n{SQL}\n```")
    print(f"| repair call ({reply_tokens}-token reply) | seconds |")
    print("| --- | --- |")
    print(f"| previous query sent as prediction | {predicted:.2f} s |")
    print(f"| without prediction | {unpredicted:.2f} s |")
    print(f"| saved | {unpredicted - predicted:.2f} s ({1 - predicted / unpredicted:.0%}) |")


if __name__ == "__main__":
    main()
