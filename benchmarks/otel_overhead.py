"""What sending each answer as an OpenTelemetry trace costs a question.

The sample questions are asked of the sample database with a scripted instant model, the
same agent three ways, interleaved round by round: traces off; traces on, batched by the
SDK's OTLP/HTTP exporter to a real receiver process on loopback (``tests/otlp_receiver.py``,
oteltest's sink); and the span writing alone (an in-memory exporter). Prints the median time
per question of each and the difference.

    python benchmarks/otel_overhead.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from sqlagent import Agent
    from sqlagent.db import connect
    from sqlagent.observe.otel import AnswerSpans
    from sqlagent.sample import ensure_sample_database, sample_questions
    from sqlagent.settings import Settings
    from sqlagent.testing import ScriptedLLM

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = Path(tempfile.mkdtemp()) / "spans.jsonl"
    receiver = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "otlp_receiver.py"), str(port), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "READY"
        otlp = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
        otlp.add_span_processor(BatchSpanProcessor(exporter))
        memory = TracerProvider()
        memory.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        db = connect(ensure_sample_database())
        settings = Settings(history=False, knowledge_path=os.devnull)
        questions = [(q["question"], q["sql"]) for q in sample_questions()]
        ways = {
            "off": None,
            "OTLP/HTTP to a receiver": AnswerSpans(otlp),
            "synchronous, in memory": AnswerSpans(memory),
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.rounds + 1):  # the first round warms caches and is dropped
            for name, spans in ways.items():
                for question, sql in questions:
                    llm = ScriptedLLM([f"```sql\n{sql}\n```", "The answer is shown."])
                    agent = Agent(db, llm=llm, settings=settings, history=None, spans=spans)
                    start = time.perf_counter()
                    answer = agent.ask(question)
                    times[name].append(time.perf_counter() - start)
                    assert answer.ok, answer.error
        otlp.force_flush()
        for values in times.values():
            del values[: len(questions)]
        received = sum(1 for _ in out.open()) if out.exists() else 0
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    base = statistics.median(times["off"])
    print(f"{len(questions)} sample questions × {args.rounds} rounds, scripted instant model")
    print(f"{'traces':<32} {'median ms':>10} {'vs off':>10}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<32} {median * 1000:>10.2f} {(median - base) * 1000:>+9.2f}")
    print(f"spans the receiver got: {received}")


if __name__ == "__main__":
    main()
