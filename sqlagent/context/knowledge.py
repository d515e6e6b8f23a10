"""The knowledge file: what a team knows about a database that its catalog does not say.

One YAML file per database, edited by people and kept in git beside the data (by default
``<database file stem>.knowledge.yaml`` next to a database file)::

    tables:
      transactions:
        description: One row per card transaction.
        synonyms: [payments, purchases, spend]
        columns:
          amount: {description: Amount in USD, synonyms: [value, spend]}
    definitions:
      - term: active customer
        definition: a customer with at least one approved transaction in the last 90 days
    verified:
      - question: How many unique merchants are there in Phoenix?
        sql: SELECT COUNT(DISTINCT merchant_name) FROM merchants WHERE city = 'Phoenix'
    semantic: [semantic/]   # dbt MetricFlow or Cortex Analyst files, relative to this file

Descriptions and synonyms help pick the right tables and are shown as schema comments;
definitions are shown to the model; verified questions are shown as examples and a question
that matches one closely enough is answered with its SQL directly; semantic models are read
by ``sqlagent.context.semantic``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError, UsageError
from .textmatch import char_ngrams, fold, stem, within_one_edit, words, wordset

KNOWLEDGE_SUFFIX = ".knowledge.yaml"

DEFAULT_MATCH_THRESHOLD = 0.75
"""Least similarity for a question to be answered by a verified example's SQL."""

_FILLER = wordset(
    "a an the is are was were be there please do does did of and or to for me us we our "
    "their its them they i you can could would s"
)
"""Words whose presence never changes what a question asks (kept short on purpose:
"how many", "which", "top", "not" and numbers all change the answer)."""
_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
_CANONICAL = {
    **{w: "per" for w in ("each", "every", "per")},
    **{w: str(i) for i, w in enumerate(_NUMBER_WORDS)},
}
"""Spellings that ask the same thing: "per city" = "for each city", "three" = "3"."""


@dataclass(frozen=True)
class ColumnNote:
    """What the knowledge file says about one column."""

    description: str | None = None
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableNote:
    """What the knowledge file says about one table and its columns."""

    description: str | None = None
    synonyms: tuple[str, ...] = ()
    columns: Mapping[str, ColumnNote] = field(default_factory=lambda: MappingProxyType({}))
    """Column name (lower case) → note."""

    def column(self, name: str) -> ColumnNote | None:
        """The note on column ``name`` (case-insensitive), or None."""
        return self.columns.get(name.lower())


@dataclass(frozen=True)
class Definition:
    """A business term and what it means in this data."""

    term: str
    definition: str


@dataclass(frozen=True)
class VerifiedExample:
    """A question with SQL that a person checked gives the right answer."""

    question: str
    sql: str


@dataclass(frozen=True)
class NamedExpression:
    """A measure, metric or filter defined once as SQL over a table.

    ``sql`` is an aggregate for a measure or metric (self-contained: filters of the measures
    it combines are written into it) and a condition for a filter; ``filter`` is a condition
    on the rows a simple metric counts, kept apart so it reads as a WHERE clause.
    """

    name: str
    kind: str
    table: str
    sql: str
    description: str | None = None
    synonyms: tuple[str, ...] = ()
    filter: str | None = None
    label: str | None = None
    tables: tuple[str, ...] = ()
    """Every table the SQL reads (``table`` first): more than one when a metric combines
    measures of several tables, which the query must join."""
    note: str | None = None
    """How to use it beyond the SQL (a cumulative window, for example)."""
    origin: str = ""
    """``file:line`` where it was defined."""

    @property
    def terms(self) -> tuple[str, ...]:
        """The names a question may use for it: name (underscores as spaces), label,
        synonyms."""
        out = [self.name.replace("_", " ")]
        if self.label:
            out.append(self.label)
        out.extend(self.synonyms)
        return tuple(out)


@dataclass(frozen=True)
class Knowledge:
    """The parsed knowledge file (empty when there is none)."""

    tables: Mapping[str, TableNote] = field(default_factory=lambda: MappingProxyType({}))
    """Table name (lower case, optionally ``schema.table``) → note."""
    definitions: tuple[Definition, ...] = ()
    verified: tuple[VerifiedExample, ...] = ()
    path: Path | None = None
    expressions: tuple[NamedExpression, ...] = ()
    """Measures, metrics and filters from semantic models (``sqlagent.context.semantic``)."""
    semantic_paths: tuple[str, ...] = ()
    """Semantic model files or folders the file names (``semantic:``), relative to it."""

    def __bool__(self) -> bool:
        return bool(self.tables or self.definitions or self.verified or self.expressions)

    def table(self, name: str, schema: str | None = None) -> TableNote | None:
        """The note on a table: ``schema.name`` first, then the bare ``name``."""
        low = name.lower()
        if schema:
            note = self.tables.get(f"{schema.lower()}.{low}")
            if note is not None:
                return note
        return self.tables.get(low)

    def similar_examples(
        self, question: str, k: int = 3, *, min_score: float = 0.2
    ) -> list[tuple[VerifiedExample, float]]:
        """The ``k`` verified examples most similar to ``question``, best first, with scores
        in [0, 1] (word overlap and character trigrams); those below ``min_score`` are left out.
        """
        probe = _Shape.of(question)
        scored = [(ex, probe.similarity(_Shape.of(ex.question))) for ex in self.verified]
        scored = [(ex, s) for ex, s in scored if s >= min_score]
        scored.sort(key=lambda pair: -pair[1])
        return scored[:k]

    def match_verified(
        self, question: str, threshold: float = DEFAULT_MATCH_THRESHOLD
    ) -> VerifiedExample | None:
        """The verified example that asks the same as ``question``, or None.

        A match needs the same meaningful words (filler like "the", "there", "please"
        aside; word order, case, accents, punctuation, plurals and one-letter typos in
        longer words are forgiven) and a similarity of at least ``threshold``. A different
        city, number or qualifier ("Tucson" for "Phoenix", "top 5" for "top 3", "declined"
        for "approved") never matches.

        >>> kn = Knowledge(verified=(VerifiedExample("How many merchants are in Phoenix?", "..."),))
        >>> kn.match_verified("how many merchants in phoenix") is not None
        True
        >>> kn.match_verified("How many merchants are in Tucson?") is None
        True
        """
        probe = _Shape.of(question)
        best: tuple[float, VerifiedExample] | None = None
        for ex in self.verified:
            shape = _Shape.of(ex.question)
            if not probe.same_words(shape):
                continue
            score = probe.similarity(shape)
            if score >= threshold and (best is None or score > best[0]):
                best = (score, ex)
        return best[1] if best else None


@dataclass(frozen=True)
class _Shape:
    """A question reduced for comparison: its meaningful words and character trigrams."""

    content: frozenset[str]
    grams: frozenset[str]

    @classmethod
    def of(cls, question: str) -> _Shape:
        content = frozenset(stem(_CANONICAL.get(w, w)) for w in words(question) if w not in _FILLER)
        return cls(content, frozenset(char_ngrams(question)))

    def similarity(self, other: _Shape) -> float:
        """Mean of word Jaccard and character-trigram Dice similarity, in [0, 1]."""
        union = self.content | other.content
        jaccard = len(self.content & other.content) / len(union) if union else 1.0
        total = len(self.grams) + len(other.grams)
        dice = 2 * len(self.grams & other.grams) / total if total else 1.0
        return (jaccard + dice) / 2

    def same_words(self, other: _Shape) -> bool:
        """Equal meaningful words, allowing a one-edit typo in words of five letters or more."""
        left = self.content - other.content
        right = other.content - self.content
        if len(left) != len(right):
            return False
        unmatched = set(right)
        for word in left:
            partner = next(
                (
                    w
                    for w in unmatched
                    if len(word) >= 5
                    and len(w) >= 5
                    and not word.isdigit()
                    and within_one_edit(word, w)
                ),
                None,
            )
            if partner is None:
                return False
            unmatched.discard(partner)
        return True


# --------------------------------------------------------------------------- loading


def default_knowledge_path(db_target: str | os.PathLike[str] | None) -> Path | None:
    """Where the knowledge file of a database file lives: ``<stem>.knowledge.yaml`` beside it.

    Returns None for server URLs and in-memory databases (pass a path explicitly there).

    >>> default_knowledge_path("sample_data/cards.duckdb")
    PosixPath('sample_data/cards.knowledge.yaml')
    >>> default_knowledge_path("postgresql://localhost/shop") is None
    True
    """
    if db_target is None:
        return None
    text = os.fspath(db_target).strip()
    for scheme in ("duckdb:", "sqlite:"):
        if text.lower().startswith(scheme):
            rest = text[len(scheme) :].split("?", 1)[0]
            if rest.startswith("///"):
                text = rest[3:]
            elif rest.startswith("//"):
                text = rest[2:]
            else:
                text = rest
            break
    else:
        if "://" in text:
            return None
    if not text or text == ":memory:" or any(ch in text for ch in "*?["):
        return None
    path = Path(text).expanduser()
    if path.is_dir():
        return path / (path.resolve().name + KNOWLEDGE_SUFFIX)
    return path.with_name(path.stem + KNOWLEDGE_SUFFIX)


_CACHE: dict[Path, tuple[tuple[int, int], Knowledge]] = {}
_CACHE_LOCK = threading.Lock()


def load_knowledge(path: str | os.PathLike[str] | None) -> Knowledge:
    """Read a knowledge file. A missing file (or None) gives an empty ``Knowledge``.

    Raises ``ConfigError`` naming the file and the problem when the YAML is invalid or a
    value has the wrong shape. The result is cached until the file changes.
    """
    if path is None:
        return Knowledge()
    p = Path(path)
    try:
        stat = p.stat()
    except FileNotFoundError:
        return Knowledge(path=p)
    except OSError as exc:
        raise ConfigError(f"Knowledge file {p} cannot be read: {exc}") from None
    key = (stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(p)
        if cached is not None and cached[0] == key:
            return cached[1]
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Knowledge file {p} cannot be read: {exc}") from None
    knowledge = parse_knowledge(text, source=str(p))
    base = p.parent
    paths = tuple(str(base / Path(x).expanduser()) for x in knowledge.semantic_paths)
    knowledge = replace(knowledge, path=p, semantic_paths=paths)
    with _CACHE_LOCK:
        _CACHE[p] = (key, knowledge)
    return knowledge


def parse_knowledge(text: str, *, source: str = "<knowledge>") -> Knowledge:
    """Parse the YAML text of a knowledge file (see ``load_knowledge``)."""
    data = _load_yaml(text, source)
    if data is None:
        return Knowledge()
    if not isinstance(data, dict):
        raise _shape(source, "the file must hold a mapping with tables, definitions, verified")
    _no_unknown_keys(data, {"tables", "definitions", "verified", "semantic"}, source, "the file")
    return Knowledge(
        tables=MappingProxyType(_tables(data.get("tables"), source)),
        definitions=tuple(_definitions(data.get("definitions"), source)),
        verified=tuple(_verified(data.get("verified"), source)),
        semantic_paths=_synonyms(data.get("semantic"), source, "semantic"),
    )


def _load_yaml(text: str, source: str) -> Any:
    """The YAML's data: from the parsed copy on disk when this exact text was read before
    (importing ``yaml`` alone is a tenth of a cold ``ask``), else parsed and kept."""
    path = _parsed_path(text)
    with contextlib.suppress(OSError, ValueError), open(path, encoding="utf-8") as handle:
        return json.load(handle)
    data = _parse_yaml(text, source)
    _keep_parsed(path, data)
    return data


PARSED_VERSION = 1
"""Bumped when what is kept of a parsed knowledge file changes; older copies are ignored."""


def _parsed_path(text: str) -> str:
    """Where the parsed data of ``text`` is kept: named by a hash of the text itself, so an
    edited file is never read from an old copy."""
    from .schema_cache import default_cache_dir

    digest = hashlib.sha256(f"{PARSED_VERSION}\0{text}".encode()).hexdigest()[:32]
    return str(default_cache_dir() / "knowledge" / f"{digest}.json")


def _keep_parsed(path: str, data: Any) -> None:
    """Keep ``data`` as JSON when JSON gives it back exactly (YAML dates, binary values or
    non-text keys would not come back the same: such a file is parsed every time)."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return
    if json.loads(text) != data:
        return
    with contextlib.suppress(OSError):  # a copy that cannot be kept is parsed next time
        _write_atomically(Path(path), text)


def _parse_yaml(text: str, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a safe loader (the C one when built)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"Knowledge file {source} is not valid YAML: {' '.join(str(exc).split())}"
        ) from None


def _shape(source: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Knowledge file {source}: {problem}",
        hint="See sample_data/cards.knowledge.yaml for the format.",
    )


def _no_unknown_keys(data: Mapping[Any, Any], known: set[str], source: str, where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise _shape(
            source,
            f"unknown key(s) in {where}: {', '.join(unknown)} (known: {', '.join(sorted(known))})",
        )


def _text(value: Any, source: str, where: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise _shape(source, f"{where} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _shape(source, f"{where} must be text")
    text = str(value).strip()
    if required and not text:
        raise _shape(source, f"{where} must not be empty")
    return text or None


def _synonyms(value: Any, source: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _shape(source, f"{where} must be a list of words")
    out = []
    for item in value:
        text = _text(item, source, f"each entry of {where}")
        if text:
            out.append(text)
    return tuple(out)


def _tables(value: Any, source: str) -> dict[str, TableNote]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _shape(source, "tables must map table names to descriptions")
    out: dict[str, TableNote] = {}
    for name, body in value.items():
        where = f"tables.{name}"
        if isinstance(body, str) or body is None:
            out[str(name).lower()] = TableNote(description=_text(body, source, where))
            continue
        if not isinstance(body, dict):
            raise _shape(source, f"{where} must be a mapping (description, synonyms, columns)")
        _no_unknown_keys(body, {"description", "synonyms", "columns"}, source, where)
        columns: dict[str, ColumnNote] = {}
        raw_columns = body.get("columns") or {}
        if not isinstance(raw_columns, dict):
            raise _shape(source, f"{where}.columns must map column names to descriptions")
        for col, note in raw_columns.items():
            cwhere = f"{where}.columns.{col}"
            if isinstance(note, str) or note is None:
                columns[str(col).lower()] = ColumnNote(description=_text(note, source, cwhere))
                continue
            if not isinstance(note, dict):
                raise _shape(source, f"{cwhere} must be a description or a mapping")
            _no_unknown_keys(note, {"description", "synonyms"}, source, cwhere)
            columns[str(col).lower()] = ColumnNote(
                description=_text(note.get("description"), source, f"{cwhere}.description"),
                synonyms=_synonyms(note.get("synonyms"), source, f"{cwhere}.synonyms"),
            )
        out[str(name).lower()] = TableNote(
            description=_text(body.get("description"), source, f"{where}.description"),
            synonyms=_synonyms(body.get("synonyms"), source, f"{where}.synonyms"),
            columns=MappingProxyType(columns),
        )
    return out


def _items(value: Any, source: str, name: str, keys: tuple[str, str]) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if not isinstance(value, list):
        raise _shape(source, f"{name} must be a list")
    for i, item in enumerate(value, 1):
        where = f"{name} entry {i}"
        if not isinstance(item, dict):
            raise _shape(source, f"{where} must be a mapping with {keys[0]} and {keys[1]}")
        _no_unknown_keys(item, set(keys), source, where)
        first = _text(item.get(keys[0]), source, f"{where}: {keys[0]}", required=True)
        second = _text(item.get(keys[1]), source, f"{where}: {keys[1]}", required=True)
        assert first is not None and second is not None
        yield first, second


def _definitions(value: Any, source: str) -> Iterator[Definition]:
    for term, definition in _items(value, source, "definitions", ("term", "definition")):
        yield Definition(term, definition)


def _verified(value: Any, source: str) -> Iterator[VerifiedExample]:
    for question, sql in _items(value, source, "verified", ("question", "sql")):
        yield VerifiedExample(question, sql)


def with_verified(knowledge: Knowledge, pairs: Sequence[tuple[str, str]]) -> Knowledge:
    """``knowledge`` with more verified ``(question, sql)`` pairs (from a store); one asking
    the same as an example already there (same normalised words) is left out."""
    if not pairs:
        return knowledge
    seen = {_question_key(ex.question) for ex in knowledge.verified}
    extra = []
    for question, sql in pairs:
        key = _question_key(question)
        if key not in seen:
            seen.add(key)
            extra.append(VerifiedExample(question, sql))
    if not extra:
        return knowledge
    return replace(knowledge, verified=(*knowledge.verified, *extra))


# --------------------------------------------------------------------------- writing

_WRITE_LOCK = threading.Lock()


def add_verified(path: str | os.PathLike[str], question: str, sql: str) -> None:
    """Append a verified question and its SQL to the knowledge file at ``path``.

    The file is created when missing. The entry is added as text at the end of the
    ``verified`` list, so the rest of the file (comments, order, layout) is kept; only when
    the list is written in an unusual style is the file rewritten from its parsed data, which
    drops comments. A question already present (same normalised words) is not added again.
    The file is replaced atomically, so a reader never sees half a file.

    >>> add_verified("shop.knowledge.yaml", "How many customers are there?",
    ...              "SELECT COUNT(*) FROM customers")  # doctest: +SKIP
    """
    question = " ".join((question or "").split())
    sql = (sql or "").strip()
    if not question:
        raise UsageError("A verified example needs a question.")
    if not sql:
        raise UsageError("A verified example needs SQL.")
    p = Path(path)
    with _WRITE_LOCK, _file_lock(p):
        old_text = p.read_text(encoding="utf-8") if p.exists() else ""
        data = _load_yaml(old_text, str(p)) if old_text.strip() else None
        existing = parse_knowledge(old_text, source=str(p)) if old_text.strip() else Knowledge()
        wanted = _question_key(question)
        if any(_question_key(ex.question) == wanted for ex in existing.verified):
            return
        entry = {"question": question, "sql": sql}
        new_text = _append_as_text(old_text, entry)
        expected = dict(data or {})
        expected["verified"] = [*(expected.get("verified") or []), entry]
        if new_text is None or _load_yaml(new_text, str(p)) != expected:
            new_text = _dump(expected)
        _write_atomically(p, new_text)


def _question_key(question: str) -> tuple[str, ...]:
    return tuple(words(fold(question)))


def _append_as_text(text: str, entry: dict[str, str]) -> str | None:
    """``text`` with ``entry`` added at the end of its top-level ``verified:`` block list, or
    None when the list is not written as a block (then the caller rewrites the file)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if re.match(r"^verified\s*:", ln)), None)
    item_lines = _dump([entry]).splitlines()
    if start is None:
        body = text if not text or text.endswith("\n") else text + "\n"
        return body + "verified:\n" + "".join(f"  {ln}\n" for ln in item_lines)
    rest = lines[start].split(":", 1)[1].split("#", 1)[0].strip()
    if rest:  # "verified: []" or some other inline value
        return None
    end = start + 1  # one past the last content line of the block
    indent: str | None = None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        if line == stripped and not line.startswith("- ") and line != "-":
            break  # the next top-level key (or a document marker) ends the list
        if indent is None and (stripped.startswith("- ") or stripped == "-"):
            indent = line[: len(line) - len(stripped)]
        end = i + 1
    indent = "  " if indent is None else indent
    new_lines = [*lines[:end], *(indent + ln for ln in item_lines), *lines[end:]]
    return "\n".join(new_lines) + "\n"


def _dump(data: Any) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise writers of ``path`` across processes where the platform allows it."""
    try:
        import fcntl
    except ImportError:  # Windows: the in-process lock is all there is
        yield
        return
    # The folder is locked, not the file: the file is replaced (a new inode) on every write,
    # and a lock file beside it would litter the user's repository.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private; keep the old file's mode, or the usual one.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        with contextlib.suppress(OSError):
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def render_definitions(definitions: Sequence[Definition]) -> list[str]:
    """Definitions as comment lines for the model."""
    return [f"-- {' '.join(d.term.split())}: {' '.join(d.definition.split())}" for d in definitions]
