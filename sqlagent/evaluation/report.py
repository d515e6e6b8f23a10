"""Reports of an evaluation run: a terminal table, ``report.md`` and ``report.html``.

All three show the same figures, from ``summary_rows`` and ``db_rows``; the files also list
the questions that failed, with the gold and predicted SQL.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .metrics import Summary

__all__ = [
    "db_rows",
    "format_terminal",
    "one_line",
    "render_html",
    "render_markdown",
    "summary_rows",
]

MAX_FAILURES = 200
"""Failed questions listed in a report file at most."""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def secs(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"


def one_line(text: str, width: int = 300) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``width`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary_rows(s: Summary, meta: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The headline figures as (label, value) pairs."""
    rows = []
    if meta:
        rows += [
            ("dataset", f"{meta.get('dataset')} ({meta.get('dataset_format')})"),
            ("engine", str(meta.get("engine"))),
            (
                "rules",
                str(meta.get("rules")) + (", DISTINCT kept" if meta.get("keep_distinct") else ""),
            ),
            ("model", str(meta.get("model"))),
            ("prompt version", str(meta.get("prompt_version"))),
        ]
    offline = s.oracle_answers > 0 and s.llm_calls == 0
    cost = usd(s.cost_usd)
    if offline:
        cost = "none (no model was called)"
    elif s.cost_usd is not None and s.cost_known < s.questions:
        cost += f" (known for {s.cost_known} of {s.questions} questions)"
    elif s.cost_usd is None:
        cost += " (no price known for the model)"
    rows += [
        ("questions", f"{s.questions}"),
        ("execution accuracy", f"{pct(s.accuracy)} ({s.correct}/{s.scored} scored)"),
        ("not scored", f"{s.not_scored}"),
        ("valid SQL", f"{pct(s.valid_rate)} ({s.valid}/{s.questions})"),
        (
            "repair",
            f"{s.needed_repair} needed, {s.repaired} repaired ({pct(s.repair_rate)})",
        ),
        ("refusals / clarifications / errors", f"{s.refusals} / {s.clarifications} / {s.errors}"),
        (
            "LLM calls",
            f"{s.llm_calls:,}"
            + (f" ({s.calls_per_question:.2f} per question)" if s.calls_per_question else "")
            + (" (an oracle answered instead)" if offline else ""),
        ),
    ]
    if s.oracle_answers:
        per = s.oracle_answers_per_question
        rows.append(
            (
                "oracle answers",
                f"{s.oracle_answers:,}" + (f" ({per:.2f} per question)" if per else ""),
            )
        )
    rows += [
        (
            "tokens (prompt + completion)",
            "none (no model was called)"
            if offline
            else f"{s.prompt_tokens:,} + {s.completion_tokens:,}"
            + (f" ({s.tokens_per_question:,.0f} per question)" if s.tokens_per_question else ""),
        ),
        ("cost", cost),
        ("latency median / p95", f"{secs(s.latency_median)} / {secs(s.latency_p95)}"),
        ("wall time", secs(s.wall_time)),
    ]
    return rows


def db_rows(s: Summary) -> list[tuple[str, str, str]]:
    """(database, questions, accuracy) for each database."""
    return [
        (db, str(v["questions"]), f"{pct(v.get('accuracy'))} ({v['correct']}/{v['scored']})")
        for db, v in s.by_db.items()
    ]


def _failures(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("correct") is not True]


def format_terminal(s: Summary, meta: Mapping[str, Any] | None = None) -> str:
    """The summary as aligned plain text."""
    rows = summary_rows(s, meta)
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if len(s.by_db) > 1:
        per = db_rows(s)
        w = max(len(d) for d, _, _ in per)
        lines += ["", f"{'database'.ljust(w)}  questions  accuracy"]
        lines += [f"{d.ljust(w)}  {q.rjust(9)}  {a}" for d, q, a in per]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    s: Summary, records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any] | None = None
) -> str:
    """``report.md``: summary, accuracy per database, and the failed questions."""
    out = ["# Evaluation report", "", "| | |", "|---|---|"]
    out += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in summary_rows(s, meta)]
    if s.by_db:
        out += ["", "## Per database", "", "| database | questions | accuracy |", "|---|--:|--:|"]
        out += [f"| {_md_cell(d)} | {q} | {a} |" for d, q, a in db_rows(s)]
    failures = _failures(records)
    out += ["", f"## Not correct ({len(failures)})", ""]
    for r in failures[:MAX_FAILURES]:
        out += [
            f"### {r.get('id')} · {r.get('db')}",
            "",
            f"**Question:** {r.get('question')}",
            "",
            f"**Why:** {one_line(str(r.get('reason')))}",
            "",
        ]
        if r.get("gold_sql"):
            out += ["Gold:", "", "```sql", str(r["gold_sql"]), "```", ""]
        out += ["Predicted:", "", "```sql", str(r.get("pred_sql") or "-- none"), "```", ""]
    if len(failures) > MAX_FAILURES:
        out.append(f"… and {len(failures) - MAX_FAILURES} more in results.jsonl")
    return "\n".join(out) + "\n"


def render_html(
    s: Summary, records: Sequence[Mapping[str, Any]], meta: Mapping[str, Any] | None = None
) -> str:
    """``report.html``: the same content as the Markdown report, as one standalone page."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:left}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}"
        ".bad{color:#a00}</style></head><body><h1>Evaluation report</h1><table>",
    ]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows(s, meta)]
    parts.append("</table>")
    if s.by_db:
        parts.append(
            "<h2>Per database</h2><table><tr><th>database</th><th>questions</th>"
            "<th>accuracy</th></tr>"
        )
        parts += [
            f"<tr><td>{e(d)}</td><td>{e(q)}</td><td>{e(a)}</td></tr>" for d, q, a in db_rows(s)
        ]
        parts.append("</table>")
    failures = _failures(records)
    parts.append(f"<h2>Not correct ({len(failures)})</h2>")
    for r in failures[:MAX_FAILURES]:
        parts.append(
            f"<h3>{e(str(r.get('id')))} · {e(str(r.get('db')))}</h3>"
            f"<p><b>Question:</b> {e(str(r.get('question')))}</p>"
            f"<p class='bad'><b>Why:</b> {e(one_line(str(r.get('reason'))))}</p>"
        )
        if r.get("gold_sql"):
            parts.append(f"<p>Gold:</p><pre>{e(str(r['gold_sql']))}</pre>")
        parts.append(f"<p>Predicted:</p><pre>{e(str(r.get('pred_sql') or '-- none'))}</pre>")
    if len(failures) > MAX_FAILURES:
        parts.append(f"<p>… and {len(failures) - MAX_FAILURES} more in results.jsonl</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_reports(
    out_dir: Path,
    s: Summary,
    records: Sequence[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; returns their paths."""
    md = out_dir / "report.md"
    page = out_dir / "report.html"
    md.write_text(render_markdown(s, records, meta), encoding="utf-8")
    page.write_text(render_html(s, records, meta), encoding="utf-8")
    return md, page
