"""``sqlagent knowledge import PATH...``: what sqlagent reads from semantic model files.

    sqlagent knowledge import models/ --db warehouse.duckdb
    sqlagent knowledge import semantic.yaml --json

Lists the tables, measures, metrics, filters and verified queries read, and everything
skipped with its file, line and reason. With ``--db`` each entry is also checked against the
database: one over a table or column it lacks, or that the database cannot run (it is run
reading no rows), is reported as skipped.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from .common import EXIT_OK, _emit_json

if TYPE_CHECKING:
    from ..context.semantic_model import SemanticModel

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]

__all__ = ["add_parsers"]

_FORMATS = {"metricflow": "dbt MetricFlow", "cortex": "Cortex Analyst", "unknown": "not semantic"}
_HEADINGS = (
    ("metric", "Metrics"),
    ("measure", "Measures"),
    ("filter", "Filters"),
    ("dimension", "Computed dimensions"),
)


def add_parsers(sub: argparse._SubParsersAction) -> dict[str, Handler]:
    """Add ``knowledge`` (with ``import``) to ``sub``; returns ``{command: handler}``."""
    p = sub.add_parser(
        "knowledge",
        help="check the semantic model files (dbt MetricFlow, Cortex Analyst) sqlagent reads",
    )
    inner = p.add_subparsers(dest="knowledge_command", metavar="ACTION", required=True)
    q = inner.add_parser(
        "import",
        help="show what is read from semantic model files and what is skipped, and why",
        description="Read dbt MetricFlow semantic models and metrics or Snowflake Cortex "
        "Analyst semantic models and list what sqlagent would use. Point SQLAGENT_SEMANTIC "
        "(or the knowledge file's semantic: key) at the same paths to use them.",
    )
    q.add_argument("paths", nargs="+", metavar="PATH", help="a YAML file or a folder of them")
    q.add_argument(
        "--db",
        metavar="URL",
        help="also check every table and column named against this database, and run each "
        "expression on it (reading no rows)",
    )
    q.add_argument("--json", action="store_true", help="print one JSON object")
    return {"knowledge": _cmd_knowledge}


def _cmd_knowledge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..context.semantic import load_semantic

    model = load_semantic(args.paths)
    if args.db:
        from ..context.semantic_check import check_against, probe
        from ..db import connect

        db = connect(args.db)
        try:
            model = probe(check_against(model, db.schema()), db)
        finally:
            db.close()
    if args.json:
        _emit_json(report(model), out)
    else:
        out.write(render_report(model))
    return EXIT_OK


def report(model: SemanticModel) -> dict[str, Any]:
    """The import report as JSON-ready data."""
    return {
        "files": [{"path": f.path, "format": f.format} for f in model.files],
        "counts": model.counts(),
        "tables": sorted(model.tables),
        "expressions": [
            {
                "name": e.name,
                "kind": e.kind,
                "tables": list(e.tables or (e.table,)),
                "sql": e.sql,
                "filter": e.filter,
                "origin": e.origin,
            }
            for e in model.expressions
        ],
        "verified": [
            {"question": v.question, "sql": v.sql, "origin": o}
            for v, o in zip(model.verified, model.verified_origins, strict=True)
        ],
        "skipped": [
            {"origin": s.origin, "what": s.what, "reason": s.reason} for s in model.skipped
        ],
    }


def render_report(model: SemanticModel) -> str:
    """The import report as text: files, what was read, what was skipped."""
    lines = [f"Read {len(model.files)} file{'s' if len(model.files) != 1 else ''}:"]
    lines += [f"  {f.path} ({_FORMATS.get(f.format, f.format)})" for f in model.files]
    names = sorted(model.tables)
    lines.append(f"Tables ({len(names)}): {', '.join(names) if names else '-'}")
    for kind, heading in _HEADINGS:
        items = [e for e in model.expressions if e.kind == kind]
        if not items and kind == "dimension":
            continue
        lines.append(f"{heading} ({len(items)}):")
        for e in items:
            where = ", ".join(e.tables or (e.table,))
            sql = e.sql + (f" WHERE {e.filter}" if e.filter else "")
            lines.append(f"  {e.name} on {where}: {_short(sql)}  [{e.origin}]")
    lines.append(f"Verified queries ({len(model.verified)}):")
    for v, origin in zip(model.verified, model.verified_origins, strict=True):
        lines.append(f"  {v.question}  [{origin}]")
    lines.append(f"Skipped ({len(model.skipped)}):")
    for s in model.skipped:
        lines.append(f"  {s.origin + ': ' if s.origin else ''}{s.what}: {s.reason}")
    return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 140) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
