"""Semantic models as knowledge: dbt MetricFlow and Snowflake Cortex Analyst YAML files read
beside the knowledge file.

Both formats are mapped onto what the knowledge file already holds (table and column
descriptions and synonyms, verified questions with SQL) plus ``NamedExpression``: a measure,
metric or filter defined once as SQL over a table, which the model is shown when a question
names it. Reading is tolerant: an entry that cannot be used is left out and reported as a
``Skipped`` with its file, line and reason; only a missing file or invalid YAML is an error.

>>> model = load_semantic(["sample_data/semantic"])  # doctest: +SKIP
>>> [e.name for e in model.expressions][:2]  # doctest: +SKIP
['transaction_amount', 'card_count']
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .knowledge import Knowledge, NamedExpression, TableNote, VerifiedExample, with_verified
from .semantic_cortex import read_cortex
from .semantic_metricflow import read_metricflow, resolve_metrics
from .semantic_model import (
    LineDict,
    Reader,
    SemanticFile,
    SemanticModel,
    Skipped,
    TableDraft,
    load_yaml_lines,
)

SEMANTIC_SUFFIXES = (".yml", ".yaml")


def detect_format(data: Any) -> str:
    """``metricflow`` (dbt semantic models, metrics or model docs), ``cortex`` (a Cortex
    Analyst semantic model), or ``unknown``."""
    if not isinstance(data, dict):
        return "unknown"
    # Tables over base tables first: a Cortex model may have a top-level metrics list too.
    tables = data.get("tables")
    if isinstance(tables, list) and any(isinstance(t, dict) and "base_table" in t for t in tables):
        return "cortex"
    if "semantic_models" in data or "metrics" in data:
        return "metricflow"
    if isinstance(data.get("models"), list):
        return "metricflow"
    return "unknown"


def parse_semantic(text: str, *, source: str = "<semantic>") -> SemanticModel:
    """Parse the text of one semantic file (see ``load_semantic``)."""
    return _combine([_parse(text, source)])


def _parse(text: str, source: str) -> tuple[str, Reader]:
    """One file's format and what was read from it (metrics not yet resolved)."""
    data = load_yaml_lines(text, source)
    reader = Reader(source)
    fmt = detect_format(data)
    if fmt == "metricflow":
        read_metricflow(data, reader)
    elif fmt == "cortex":
        read_cortex(data, reader)
    else:
        line = data.line if isinstance(data, LineDict) else 1
        reader.skip(
            line,
            "the file",
            "holds no dbt semantic_models, metrics or models, nor Cortex Analyst tables",
        )
    return fmt, reader


def semantic_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The YAML files named by ``paths``: files as given, folders searched for ``*.yml`` and
    ``*.yaml`` (sorted). Raises ``ConfigError`` for a path that does not exist."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SEMANTIC_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(
                f"Semantic model path not found: {path}",
                hint="Name a dbt or Cortex Analyst YAML file, or a folder holding them.",
            )
    return list(dict.fromkeys(out))


def load_semantic(paths: Iterable[str | os.PathLike[str]]) -> SemanticModel:
    """Read the semantic files at ``paths`` (files or folders) into one ``SemanticModel``.

    Raises ``ConfigError`` for a missing path, an unreadable file or invalid YAML; anything
    else that cannot be used is in ``skipped``. Cached until a file changes.
    """
    files = semantic_files(paths)
    key = tuple((str(p), *_stamp(p)) for p in files)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    readers: list[tuple[str, Reader]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Semantic file {path} cannot be read: {exc}") from None
        readers.append(_parse(text, str(path)))
    model = _combine(readers)
    with _CACHE_LOCK:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = model
    return model


_CACHE: dict[tuple[tuple[Any, ...], ...], SemanticModel] = {}
_CACHE_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _combine(readers: Sequence[tuple[str, Reader]]) -> SemanticModel:
    # A metric may use a measure defined in another file: resolved once all are read.
    resolve_metrics([r for fmt, r in readers if fmt == "metricflow"])
    drafts: dict[str, TableDraft] = {}
    expressions: list[NamedExpression] = []
    verified: list[VerifiedExample] = []
    origins: list[str] = []
    skipped: list[Skipped] = []
    seen: dict[tuple[str, str, str], str] = {}
    for _fmt, reader in readers:
        for name, draft in reader.tables.items():
            into = drafts.setdefault(name, TableDraft())
            into.origin = into.origin or draft.origin
            into.describe(draft.description)
            into.add_synonyms(draft.synonyms)
            for col, note in draft.columns.items():
                into.column(col, note.description, note.synonyms)
        for expr in reader.expressions:
            key = (expr.kind, expr.table.lower(), expr.name.lower())
            if key in seen:
                skipped.append(
                    Skipped(expr.origin, f"{expr.kind} {expr.name}", f"also defined at {seen[key]}")
                )
                continue
            seen[key] = expr.origin
            expressions.append(expr)
        verified.extend(reader.verified)
        origins.extend(reader.verified_origins)
        skipped.extend(reader.skipped)
    # A MetricFlow measure published as a metric of the same name and SQL is shown once.
    metrics = {
        (e.table.lower(), e.name.lower(), e.sql)
        for e in expressions
        if e.kind == "metric" and not e.filter
    }
    expressions = [
        e
        for e in expressions
        if not (e.kind == "measure" and (e.table.lower(), e.name.lower(), e.sql) in metrics)
    ]
    skipped.sort(key=lambda entry: entry.place)
    return SemanticModel(
        tables=MappingProxyType({k: d.note() for k, d in drafts.items()}),
        expressions=tuple(expressions),
        verified=tuple(verified),
        verified_origins=tuple(origins),
        table_origins=MappingProxyType({k: d.origin for k, d in drafts.items()}),
        skipped=tuple(skipped),
        files=tuple(SemanticFile(r.source, fmt) for fmt, r in readers),
    )


# --------------------------------------------------------------------------- into knowledge

_MERGED: dict[tuple[int, int], tuple[Knowledge, SemanticModel, Knowledge]] = {}
_MERGED_LOCK = threading.Lock()


def with_semantic(knowledge: Knowledge, model: SemanticModel) -> Knowledge:
    """``knowledge`` with a semantic model's notes, named expressions and verified queries.

    The knowledge file's own descriptions come first (a semantic description is added after
    a different one); synonyms are joined, and a named expression's name, label and
    synonyms become synonyms of its table, so a question naming a metric finds the table.
    The same inputs give the same object (the schema index is cached by identity).
    """
    if not model:
        return knowledge
    key = (id(knowledge), id(model))
    with _MERGED_LOCK:
        hit = _MERGED.get(key)
        if hit is not None and hit[0] is knowledge and hit[1] is model:
            return hit[2]
    tables = dict(knowledge.tables)
    extra_synonyms: dict[str, list[str]] = {}
    for expr in model.expressions:
        extra_synonyms.setdefault(expr.table.lower(), []).extend(expr.terms)
    for name in set(model.tables) | set(extra_synonyms):
        semantic = model.tables.get(name, TableNote())
        own = tables.get(name)
        draft = TableDraft()
        if own is not None:
            draft.describe(own.description)
            draft.add_synonyms(own.synonyms)
            for col, note in own.columns.items():
                draft.column(col, note.description, note.synonyms)
        draft.describe(semantic.description)
        draft.add_synonyms(semantic.synonyms)
        draft.add_synonyms(extra_synonyms.get(name, ()))
        for col, note in semantic.columns.items():
            draft.column(col, note.description, note.synonyms)
        tables[name] = draft.note()
    merged = replace(
        knowledge,
        tables=MappingProxyType(tables),
        expressions=(*knowledge.expressions, *model.expressions),
    )
    merged = with_verified(merged, [(v.question, v.sql) for v in model.verified])
    with _MERGED_LOCK:
        if len(_MERGED) > 32:
            _MERGED.clear()
        _MERGED[key] = (knowledge, model, merged)
    return merged
