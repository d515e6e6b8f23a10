"""Evaluation: run a question set through the agent and measure it.

    from sqlagent.evaluation import load_dataset, run_eval, oracle_for
    ds = load_dataset("spider-dev-subset")
    result = run_eval(ds, llm_factory=oracle_for(), settings=Settings(),
                      out_dir="runs/oracle", model="oracle")

Modules: ``exec_match`` (the official comparison rules), ``datasets`` (Spider, BIRD, golden
sets), ``oracle`` (an offline model that answers with the gold SQL), ``runner`` (parallel,
resumable runs), ``metrics`` and ``report`` (figures and reports), ``compare`` (two runs side
by side), ``prices`` (cost per model), ``duckcopy`` (SQLite databases copied into DuckDB).
Names are imported on first use, so importing the package costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Dataset": "datasets",
    "EvalItem": "datasets",
    "Turn": "datasets",
    "load_dataset": "datasets",
    "Verdict": "exec_match",
    "match_expected": "exec_match",
    "result_eq": "exec_match",
    "OracleLLM": "oracle",
    "EvalResult": "runner",
    "for_engine": "runner",
    "oracle_for": "runner",
    "run_eval": "runner",
    "Summary": "metrics",
    "summarize": "metrics",
    "compare_runs": "compare",
    "cost_usd": "prices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)
