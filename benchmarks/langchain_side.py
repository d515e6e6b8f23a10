"""LangChain's side of ``vs_langchain.py``: run inside the throwaway LangChain environment.

Reads one JSON object on stdin, ``{"url", "base_url", "questions": [...], "read_only"}``,
builds ``create_sql_query_chain`` over ``SQLDatabase.from_uri(url)`` with ``ChatOpenAI``
pointed at ``base_url``, and prints one JSON list: the SQL the chain wrote per question (or
``{"error": ...}`` when the chain failed). Imports nothing of sqlagent: this file runs with
LangChain's own interpreter and packages, not the project's.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    job = json.load(sys.stdin)
    from langchain_classic.chains import create_sql_query_chain
    from langchain_community.utilities import SQLDatabase
    from langchain_openai import ChatOpenAI

    engine_args = {"connect_args": {"read_only": True}} if job.get("read_only") else {}
    db = SQLDatabase.from_uri(job["url"], engine_args=engine_args)
    llm = ChatOpenAI(
        model="fake-model", base_url=job["base_url"], api_key="unused", temperature=0
    )
    chain = create_sql_query_chain(llm, db)
    out: list[object] = []
    for question in job["questions"]:
        try:
            out.append(chain.invoke({"question": question}))
        except Exception as exc:  # one failed question is a wrong answer, not a stop
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
