"""Cold start: each command as a whole new process, next to importing what it must.

A local OpenAI-compatible server (``sqlagent.testing.FakeOpenAIServer``) replies at once, so
what ``ask`` costs beyond the imports is sqlagent's own start-up and chain, not a model. The
sample database is used with a warm schema cache (the first run of each command fills it and
is reported apart, as "first"). Reports the median wall time of each command over ``--rounds``
runs, its excess over ``python -c "import sqlagent"``, and its excess over the floor of the
packages it cannot do without: ``import sqlagent, duckdb, sqlglot`` for ``sql`` and
``schema`` (the database and the guard), ``import sqlagent, openai, duckdb, sqlglot`` for
``ask`` (the model's client too). The goals are ``ask`` within its floor + 0.5 s and ``sql``
/ ``schema`` within theirs + 0.3 s.

``--baseline DIR`` runs the same commands, interleaved in the same run, with the ``sqlagent``
package of another source tree (an older checkout, e.g. ``git archive <commit> sqlagent |
tar -x -C DIR``, with ``sample_data`` linked into it), each with its own caches.

    python benchmarks/cold_start.py [--rounds 7] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from sqlagent.sample import ensure_sample_database
from sqlagent.testing import FakeOpenAIServer

QUESTION = "What is the average transaction amount per card network?"
SQL = (
    "SELECT c.card_type, AVG(t.amount) AS avg_amount FROM transactions t "
    "JOIN cards c ON c.card_id = t.card_id GROUP BY c.card_type ORDER BY c.card_type"
)

GOALS = {"ask": 0.5, "sql": 0.3, "schema": 0.3, "schema --question": 0.3}

DB_FLOOR = "import ... duckdb, sqlglot"
LLM_FLOOR = "import ... openai, duckdb, sqlglot"
FLOORS = {"ask": LLM_FLOOR, "sql": DB_FLOOR, "schema": DB_FLOOR, "schema --question": DB_FLOOR}
"""The imports each command cannot do without: its goal is measured beyond them."""


def _reply(request: dict[str, Any]) -> str:
    """SQL for a generation request, a sentence for a narration request."""
    system = str(request["messages"][0].get("content", ""))
    if "SQL" in system and "narrat" not in system.lower():
        return f"```sql\n{SQL}\n```"
    return "Visa cards have the highest average amount."


STEPS: dict[str, list[dict[str, float]]] = {}
"""The ``timings`` of each tree's ``ask --json`` runs, by tree label."""


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # From a neutral folder: `python -m` puts the working directory first on the path, where
    # a source tree would shadow the one being measured.
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=env["SQLAGENT_HOME"])
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if "--json" in argv and "ask" in argv:
        STEPS.setdefault(env["SQLAGENT_HOME"], []).append(json.loads(done.stdout)["timings"])
    return elapsed, cpu


def _environment(url: str, source: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "SQLAGENT_DB", "SQLAGENT_KNOWLEDGE", "SQLAGENT_CACHE_DIR"):
        env.pop(name, None)
    # An installed package has its bytecode compiled; without it every run compiles the
    # sources again (a tenth of a second), which is no start-up a user sees.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        SQLAGENT_HOME=tempfile.mkdtemp(prefix="sqlagent-cold-"),
        OPENAI_BASE_URL=url,
        SQLAGENT_MODEL="fake-model",
    )
    if source is not None:  # that tree's package comes first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


Runs = dict[str, list[tuple[float, float]]]


def _table(label: str, first: dict[str, tuple[float, float]], times: Runs) -> None:
    def median(name: str, k: int) -> float:
        return statistics.median(run[k] for run in times[name])

    base, base_cpu = median("import sqlagent", 0), median("import sqlagent", 1)
    print(f"\n{label}")
    print(
        f"{'command':<34} {'first s':>8} {'median s':>9} {'- import':>9} "
        f"{'cpu s':>7} {'- import':>9} {'- floor':>8} {'goal':>10} {'cpu - floor':>12}"
    )
    for name in times:
        wall, cpu = median(name, 0), median(name, 1)
        goal, floor = GOALS.get(name), FLOORS.get(name)
        mark = beyond = beyond_cpu = ""
        if goal is not None and floor is not None:
            excess = wall - median(floor, 0)
            beyond = f"{excess:+.3f}"
            mark = f"+{goal:.1f} {'ok' if excess <= goal else 'MISS'}"
            # On a shared, busy machine the wall time waits for the processor too; the CPU
            # time beyond the floor is the steadier figure of the work itself.
            beyond_cpu = f"{cpu - median(floor, 1):+.3f}"
        print(
            f"{name:<34} {first[name][0]:>8.3f} {wall:>9.3f} {wall - base:>+9.3f} "
            f"{cpu:>7.3f} {cpu - base_cpu:>+9.3f} {beyond:>8} {mark:>10} {beyond_cpu:>12}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", metavar="DIR", help="a source tree to compare with")
    args = parser.parse_args()

    ensure_sample_database()
    cli = [sys.executable, "-m", "sqlagent"]
    commands: dict[str, list[str]] = {
        "import sqlagent": [sys.executable, "-c", "import sqlagent"],
        # What any process that calls the model pays first: ``ask`` cannot start below it.
        "import ... openai": [sys.executable, "-c", "import sqlagent, openai"],
        DB_FLOOR: [sys.executable, "-c", "import sqlagent, duckdb, sqlglot"],
        LLM_FLOOR: [sys.executable, "-c", "import sqlagent, openai, duckdb, sqlglot"],
        "--help": [*cli, "--help"],
        "sql": [*cli, "sql", SQL],
        "schema": [*cli, "schema"],
        "schema --question": [*cli, "schema", "--question", QUESTION],
        "ask": [*cli, "ask", QUESTION, "--json"],
    }
    trees: dict[str, str | None] = {"this tree": None}
    if args.baseline:
        trees = {f"baseline ({args.baseline})": args.baseline, **trees}
    with FakeOpenAIServer([_reply] * (4 * len(trees) * (args.rounds + 2))) as server:
        envs = {label: _environment(server.base_url, src) for label, src in trees.items()}
        first = {
            label: {name: _run(argv, env) for name, argv in commands.items()}
            for label, env in envs.items()
        }
        times: dict[str, Runs] = {label: {name: [] for name in commands} for label in envs}
        for _ in range(args.rounds):  # interleaved, so a busy moment hits every command
            for name, argv in commands.items():
                for label, env in envs.items():
                    times[label][name].append(_run(argv, env))

    print(
        f"Cold start, {args.rounds} runs each (median wall and CPU time), instant model, "
        "warm caches"
    )
    for label in envs:
        _table(label, first[label], times[label])
    print("\nask: median seconds per step (timings of its --json answer)")
    for label, env in envs.items():
        runs = STEPS.get(env["SQLAGENT_HOME"], [])[1:]  # the first run fills the caches
        names = list(dict.fromkeys(name for t in runs for name in t))
        steps = ", ".join(
            f"{n} {statistics.median(t.get(n, 0.0) for t in runs):.3f}" for n in names
        )
        print(f"  {label}: {steps}")


if __name__ == "__main__":
    main()
