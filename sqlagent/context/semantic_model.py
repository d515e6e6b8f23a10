"""The values a semantic model file is read into, and what the format readers share: YAML
that keeps line numbers, a ``Reader`` collecting one file's notes, named expressions,
verified examples and skipped entries, and the one-line rendering of a named expression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .knowledge import ColumnNote, NamedExpression, TableNote, VerifiedExample

KINDS = ("measure", "metric", "filter", "dimension")
"""What a named expression is: an aggregate over a table's rows (``measure``), a defined
business number built from measures (``metric``), a row condition (``filter``), or a value
computed from a row's columns (``dimension``)."""


@dataclass(frozen=True)
class Skipped:
    """An entry of a semantic file that was not used, where it is and why."""

    origin: str
    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.what}: {self.reason}"

    @property
    def place(self) -> tuple[str, int]:
        """Sort key: the file, then the line."""
        path, _, line = self.origin.rpartition(":")
        return (path, int(line)) if line.isdigit() else (self.origin, 0)


@dataclass(frozen=True)
class SemanticFile:
    """What one file held: its format (``metricflow``, ``cortex`` or ``unknown``)."""

    path: str
    format: str


@dataclass(frozen=True)
class SemanticModel:
    """Everything read from a set of semantic files."""

    tables: Mapping[str, TableNote] = field(default_factory=lambda: MappingProxyType({}))
    """Physical table name (lower case) → descriptions and synonyms."""
    expressions: tuple[NamedExpression, ...] = ()
    verified: tuple[VerifiedExample, ...] = ()
    verified_origins: tuple[str, ...] = ()
    """``file:line`` of each verified query."""
    table_origins: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Table name (lower case) → ``file:line`` where it is first described."""
    skipped: tuple[Skipped, ...] = ()
    files: tuple[SemanticFile, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tables or self.expressions or self.verified)

    def counts(self) -> dict[str, int]:
        """How many of each thing were read (for reports)."""
        out = {"tables": len(self.tables)}
        for kind in KINDS:
            out[kind + "s"] = sum(1 for e in self.expressions if e.kind == kind)
        out["verified queries"] = len(self.verified)
        out["skipped"] = len(self.skipped)
        return out


# --------------------------------------------------------------------------- YAML with lines


class LineDict(dict[str, Any]):
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        """The line of ``key`` (the mapping's own line when absent)."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A YAML sequence that remembers its line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


def _yaml_loader() -> type:
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
        loader.flatten_mapping(node)
        out = LineDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                key = str(key)
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
        out = LineList(loader.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    _Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    _Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return _Loader


_LOADER: type | None = None


def load_yaml_lines(text: str, source: str) -> Any:
    """Parse YAML keeping line numbers (``LineDict``/``LineList``); raises ``ConfigError``
    naming the file and line when the text is not valid YAML."""
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _yaml_loader()
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise ConfigError(
            f"Semantic file {where} is not valid YAML: {problem}",
            hint="Fix the file, or leave it out of SQLAGENT_SEMANTIC.",
        ) from None


# --------------------------------------------------------------------------- reading


class Reader:
    """Collects what one file yields: table notes, named expressions, verified examples,
    skipped entries (the format parsers share it)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tables: dict[str, TableDraft] = {}
        self.expressions: list[NamedExpression] = []
        self.verified: list[VerifiedExample] = []
        self.verified_origins: list[str] = []
        self.skipped: list[Skipped] = []
        self.metricflow: Any = None
        """What the MetricFlow reader keeps for resolving metrics across files."""

    def at(self, line: int) -> str:
        """``file:line``."""
        return f"{self.source}:{line}"

    def skip(self, line: int, what: str, reason: str) -> None:
        """Record an entry left out."""
        self.skipped.append(Skipped(self.at(line), what, reason))

    def table(self, name: str, line: int = 0) -> TableDraft:
        """The draft note of table ``name`` (created empty; ``line`` is where it is first
        described)."""
        draft = self.tables.setdefault(name.lower(), TableDraft())
        if line and not draft.origin:
            draft.origin = self.at(line)
        return draft


@dataclass
class TableDraft:
    description: str | None = None
    origin: str = ""
    synonyms: list[str] = field(default_factory=list)
    columns: dict[str, ColumnNote] = field(default_factory=dict)

    def describe(self, text: str | None) -> None:
        text = clean_text(text)
        if text and not (self.description and text.lower() in self.description.lower()):
            self.description = f"{self.description} {text}" if self.description else text

    def add_synonyms(self, words: Iterable[str]) -> None:
        for word in words:
            if word and word.lower() not in (s.lower() for s in self.synonyms):
                self.synonyms.append(word)

    def column(self, name: str, description: str | None, synonyms: Sequence[str] = ()) -> None:
        key = name.lower()
        old = self.columns.get(key, ColumnNote())
        text = clean_text(description)
        merged_syn = tuple(dict.fromkeys((*old.synonyms, *synonyms)))
        self.columns[key] = ColumnNote(old.description or text, merged_syn)

    def note(self) -> TableNote:
        return TableNote(
            self.description, tuple(self.synonyms), MappingProxyType(dict(self.columns))
        )


def clean_text(value: Any) -> str | None:
    """A description as one line of text (None when empty or not text)."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = " ".join(str(value).split())
    return text or None


def text_list(value: Any) -> tuple[str, ...]:
    """Synonyms: a list of words (a single word accepted), empty items dropped."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(t for t in (clean_text(v) for v in items if not isinstance(v, dict)) if t)


# --------------------------------------------------------------------------- rendering


def render_expression(expr: NamedExpression, safe: Any = str) -> str:
    """One comment line for the model: name, kind, table, SQL, filter, description."""
    where = ", ".join(expr.tables or (expr.table,))
    line = f"-- {safe(expr.name)} ({expr.kind} on {safe(where)}): {safe(expr.sql)}"
    if expr.filter:
        line += f" WHERE {safe(expr.filter)}"
    extra = [t for t in (expr.note, expr.description) if t]
    if expr.label and expr.label.lower() != expr.name.replace("_", " ").lower():
        extra.insert(0, f'"{expr.label}"')
    if extra:
        line += " -- " + safe("; ".join(extra))
    return line
