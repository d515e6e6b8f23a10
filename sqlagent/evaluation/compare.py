"""Compare two evaluation runs: which questions got better or worse, and what changed in
accuracy, cost and latency (``sqlagent eval --compare A B``).

Questions are matched by their record id; figures are computed over the questions both runs
scored, so a partial run compares fairly with a complete one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metrics import Summary, summarize
from .report import one_line, pct, secs, usd
from .rundir import RunDir

__all__ = ["Change", "Comparison", "compare_runs", "format_comparison"]


@dataclass(frozen=True)
class Change:
    """A question whose verdict differs between the two runs."""

    id: str
    db: str
    question: str
    sql_a: str | None
    sql_b: str | None
    reason_a: str
    reason_b: str


@dataclass(frozen=True)
class Comparison:
    a: Path
    b: Path
    summary_a: Summary
    summary_b: Summary
    better: tuple[Change, ...]
    """Wrong (or unanswered) in A, correct in B."""
    worse: tuple[Change, ...]
    """Correct in A, not in B."""
    common: int
    only_a: int
    only_b: int
    meta_changes: tuple[tuple[str, Any, Any], ...]
    """(key, value in A, value in B) for the metadata that differs."""


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


_IGNORED_META = ("sessions", "meta_version", "platform", "python")


def compare_runs(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> Comparison:
    """Compare run directory ``a`` (before) with ``b`` (after)."""
    run_a, run_b = RunDir.open_existing(a), RunDir.open_existing(b)
    recs_a = {str(r["id"]): r for r in run_a.records()}
    recs_b = {str(r["id"]): r for r in run_b.records()}
    common = [i for i in recs_a if i in recs_b]
    better: list[Change] = []
    worse: list[Change] = []
    for i in common:
        ra, rb = recs_a[i], recs_b[i]
        ok_a, ok_b = ra.get("correct") is True, rb.get("correct") is True
        if ok_a == ok_b:
            continue
        change = Change(
            id=i,
            db=str(rb.get("db", "")),
            question=str(rb.get("question", "")),
            sql_a=ra.get("pred_sql"),
            sql_b=rb.get("pred_sql"),
            reason_a=str(ra.get("reason", "")),
            reason_b=str(rb.get("reason", "")),
        )
        (better if ok_b else worse).append(change)
    meta_a = {
        k: v for k, v in _flatten(run_a.read_meta()).items() if k.split(".")[0] not in _IGNORED_META
    }
    meta_b = {
        k: v for k, v in _flatten(run_b.read_meta()).items() if k.split(".")[0] not in _IGNORED_META
    }
    changes = tuple(
        (k, meta_a.get(k), meta_b.get(k))
        for k in sorted(set(meta_a) | set(meta_b))
        if meta_a.get(k) != meta_b.get(k)
    )
    return Comparison(
        a=run_a.path,
        b=run_b.path,
        summary_a=summarize(recs_a[i] for i in common),
        summary_b=summarize(recs_b[i] for i in common),
        better=tuple(better),
        worse=tuple(worse),
        common=len(common),
        only_a=len(recs_a) - len(common),
        only_b=len(recs_b) - len(common),
        meta_changes=changes,
    )


def _delta(a: float | None, b: float | None, fmt: str) -> str:
    if a is None or b is None:
        return ""
    d = b - a
    sign = "+" if d >= 0 else "-"
    if fmt == "pct":
        return f" ({sign}{abs(d) * 100:.1f} pts)"
    if fmt == "usd":
        return f" ({sign}{usd(abs(d))})"
    return f" ({sign}{secs(abs(d))})"


def _sql_block(label: str, sql: str | None) -> list[str]:
    lines = [f"    {label}:"]
    lines += [f"      {ln}" for ln in (sql or "-- none").splitlines()]
    return lines


def format_comparison(c: Comparison, *, show: int = 50) -> str:
    """The comparison as plain text: the figures, then each question that changed."""
    sa, sb = c.summary_a, c.summary_b
    lines = [
        f"A: {c.a}",
        f"B: {c.b}",
        f"questions in both: {c.common}"
        + (f" (only in A: {c.only_a}, only in B: {c.only_b})" if c.only_a or c.only_b else ""),
        "",
        f"execution accuracy  {pct(sa.accuracy)} -> {pct(sb.accuracy)}"
        + _delta(sa.accuracy, sb.accuracy, "pct"),
        f"valid SQL           {pct(sa.valid_rate)} -> {pct(sb.valid_rate)}"
        + _delta(sa.valid_rate, sb.valid_rate, "pct"),
        f"cost                {usd(sa.cost_usd)} -> {usd(sb.cost_usd)}"
        + _delta(sa.cost_usd, sb.cost_usd, "usd"),
        f"cost per question   {usd(sa.cost_per_question)} -> {usd(sb.cost_per_question)}",
        f"latency median      {secs(sa.latency_median)} -> {secs(sb.latency_median)}"
        + _delta(sa.latency_median, sb.latency_median, "s"),
        f"latency p95         {secs(sa.latency_p95)} -> {secs(sb.latency_p95)}"
        + _delta(sa.latency_p95, sb.latency_p95, "s"),
        f"LLM calls           {sa.llm_calls:,} -> {sb.llm_calls:,}",
    ]
    if sa.oracle_answers or sb.oracle_answers:
        lines.append(f"oracle answers      {sa.oracle_answers:,} -> {sb.oracle_answers:,}")
    if c.meta_changes:
        lines += ["", "what differs between the runs:"]
        lines += [f"  {k}: {va!r} -> {vb!r}" for k, va, vb in c.meta_changes]
    for title, changes in (("better in B", c.better), ("worse in B", c.worse)):
        lines += ["", f"{title}: {len(changes)}"]
        for ch in changes[:show]:
            lines.append(f"  [{ch.id}] ({ch.db}) {ch.question}")
            lines += _sql_block("A", ch.sql_a)
            lines.append(f"      -- {one_line(ch.reason_a, 160)}")
            lines += _sql_block("B", ch.sql_b)
            lines.append(f"      -- {one_line(ch.reason_b, 160)}")
        if len(changes) > show:
            lines.append(f"  … and {len(changes) - show} more")
    return "\n".join(lines)
