"""The guard's adversarial corpus and the Spider gold queries, as plain data.

``load_cases()`` returns every case of the YAML files in this folder; each case says which
dialect it is written in, the SQL, whether the guard must refuse or allow it, the error class
expected on refusal, and why. The same cases can be replayed against real databases.

``spider_dir()``, ``spider_schema()`` and ``spider_queries()`` read the Spider dev subset (gold
queries that must all pass the guard).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from sqlagent.types import ColumnInfo, ForeignKey, SchemaInfo, TableInfo

CORPUS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CORPUS_DIR.parents[1]
CARDS_SCHEMA_FILE = CORPUS_DIR / "schema.yaml"


@dataclass(frozen=True)
class GuardCase:
    """One corpus case: ``sql`` in ``dialect`` must be refused (with ``error_type``) or allowed."""

    id: str
    dialect: str
    sql: str
    expect: Literal["refuse", "allow"]
    error_type: str | None
    why: str
    policy: dict[str, object]
    """Extra policy settings for this case (``denied_columns`` etc.); empty for most."""


def load_cases(folder: Path | None = None) -> list[GuardCase]:
    """Every case of every ``*.yaml`` file of the corpus (except the schema), in file order.

    >>> cases = load_cases()
    >>> {c.expect for c in cases} == {"refuse", "allow"}
    True
    """
    root = folder or CORPUS_DIR
    cases: list[GuardCase] = []
    for path in sorted(root.glob("*.yaml")):
        if path == CARDS_SCHEMA_FILE:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        default_dialect = data.get("dialect")
        for i, raw in enumerate(data.get("cases") or []):
            expect = raw["expect"]
            if expect not in ("refuse", "allow"):
                raise ValueError(f"{path.name} case {i}: expect must be refuse or allow")
            if expect == "refuse" and not raw.get("error_type"):
                raise ValueError(f"{path.name} case {i}: a refusal needs error_type")
            cases.append(
                GuardCase(
                    id=f"{path.stem}:{i}",
                    dialect=str(raw.get("dialect") or default_dialect),
                    sql=raw["sql"],
                    expect=expect,
                    error_type=raw.get("error_type"),
                    why=raw.get("why", ""),
                    policy=dict(raw.get("policy") or {}),
                )
            )
    return cases


def cards_schema(dialect: str) -> SchemaInfo:
    """The small cards schema the corpus is written against, for ``dialect``."""
    data = yaml.safe_load(CARDS_SCHEMA_FILE.read_text(encoding="utf-8"))
    tables = []
    for raw in data["tables"]:
        tables.append(
            TableInfo(
                name=raw["name"],
                schema=raw.get("schema"),
                columns=tuple(ColumnInfo(n, t) for n, t in raw["columns"].items()),
                primary_key=tuple(raw.get("primary_key") or ()),
                foreign_keys=tuple(
                    ForeignKey(tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"]))
                    for fk in raw.get("foreign_keys") or ()
                ),
            )
        )
    return SchemaInfo(dialect, tuple(tables), data.get("default_schema"))


# --------------------------------------------------------------------------- Spider


def spider_dir() -> Path:
    """Where the Spider dev subset lives: ``$SQLAGENT_SPIDER_DIR`` or ``../shared/datasets``."""
    override = os.environ.get("SQLAGENT_SPIDER_DIR")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "datasets" / "spider-dev-subset"


def spider_queries(root: Path | None = None) -> list[dict[str, str]]:
    """The gold items ``{db_id, question, query}`` of ``dev.json``."""
    base = root or spider_dir()
    items: list[dict[str, str]] = json.loads((base / "dev.json").read_text(encoding="utf-8"))
    return items


@cache
def spider_schema(db_id: str, dialect: str = "sqlite", root: Path | None = None) -> SchemaInfo:
    """The schema of one Spider database, read from its SQLite file (read-only)."""
    base = root or spider_dir()
    path = base / "database" / db_id / f"{db_id}.sqlite"
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = []
        for name in names:
            quoted = name.replace('"', '""')
            rows = con.execute(f'PRAGMA table_info("{quoted}")').fetchall()
            columns = tuple(ColumnInfo(r[1], r[2] or "", not r[3], bool(r[5])) for r in rows)
            pk = tuple(r[1] for r in sorted(rows, key=lambda r: r[5]) if r[5])
            tables.append(TableInfo(name, columns, primary_key=pk))
    finally:
        con.close()
    return SchemaInfo(dialect, tuple(tables))
