"""Evaluation sets: Spider, BIRD and our own YAML/JSONL golden sets, read into ``EvalItem``\\ s.

Spider: a folder with ``dev.json`` (``db_id``, ``question``, ``query``), ``tables.json`` and
``database/<db_id>/<db_id>.sqlite``.

BIRD: ``dev.json`` (``db_id``, ``question``, ``evidence``, ``SQL``) beside
``dev_databases/<db_id>/<db_id>.sqlite``; the evidence is appended to the question as a hint.

Golden sets (``.yaml``/``.yml``/``.jsonl``/``.json``): a list of items, or a mapping with
``items`` and optional ``db`` and ``rules``. An item has ``question`` and either ``sql`` (gold
SQL) or ``expected`` (rows, a list of lists, or ``{columns, rows}``; ``ordered: true`` when
row order matters), an optional ``id`` and ``db``; or ``turns``, a list of such questions
asked in one conversation::

    - question: How many merchants are in Phoenix?
      sql: SELECT count(DISTINCT merchant_id) FROM transactions WHERE city = 'Phoenix'
    - id: tucson-follow-up
      turns:
        - {question: How many merchants are in Phoenix?, expected: [[42]]}
        - {question: and in Tucson?, expected: [[17]]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import UsageError
from .exec_match import RULES, Rules

Format = Literal["spider", "bird", "golden"]

__all__ = ["Dataset", "EvalItem", "Turn", "detect_format", "load_dataset"]


@dataclass(frozen=True)
class Turn:
    """One question and how to score it: gold SQL, or expected rows."""

    question: str
    gold_sql: str | None = None
    expected: tuple[tuple[Any, ...], ...] | None = None
    ordered: bool = False
    """For ``expected`` rows: whether their order matters."""


@dataclass(frozen=True)
class EvalItem:
    """One evaluation item: a question (or a conversation) on one database."""

    id: str
    db_id: str
    """A short name of the database, for reports."""
    target: str
    """What the agent connects to: a URL or a file path."""
    turns: tuple[Turn, ...]
    conversation: bool = False
    """True when the turns are asked in one conversation (follow-ups)."""
    gold_target: str | None = None
    """Where the gold SQL runs, when not on ``target`` (the reference SQLite file)."""
    gold_dialect: str | None = None
    """The dialect the gold SQL is written in (``sqlite`` for Spider and BIRD)."""

    @property
    def question(self) -> str:
        return self.turns[0].question


@dataclass(frozen=True)
class Dataset:
    """The items of an evaluation set and how it is scored by default."""

    name: str
    format: Format
    path: Path
    items: tuple[EvalItem, ...]
    rules: Rules = "spider"


def detect_format(path: Path) -> Format:
    """``spider``, ``bird`` or ``golden``, from the files present and the item keys."""
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml", ".jsonl"):
        return "golden"
    folder = path if path.is_dir() else path.parent
    dev = path if path.is_file() else folder / "dev.json"
    if not dev.exists():
        raise UsageError(
            f"No evaluation set at {path}",
            hint="Give a Spider or BIRD folder (with dev.json) or a YAML/JSONL golden set.",
        )
    if (folder / "dev_databases").is_dir():
        return "bird"
    if (folder / "database").is_dir():
        return "spider"
    items = _read_json(dev)
    first = items[0] if isinstance(items, list) and items else {}
    if isinstance(first, Mapping) and "SQL" in first:
        return "bird"
    if isinstance(first, Mapping) and "query" in first and "db_id" in first:
        return "spider"
    return "golden"


def load_dataset(
    path: str | Path,
    *,
    db: str | None = None,
    limit: int | None = None,
    default_db: Callable[[], str] | None = None,
) -> Dataset:
    """Read an evaluation set; ``db`` is the database of a golden set (items may name their
    own), ``default_db`` gives one when neither names any. ``limit`` keeps the first items
    only."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "spider":
        ds = _load_spider(p if p.is_dir() else p.parent, p if p.is_file() else None)
    elif fmt == "bird":
        ds = _load_bird(p if p.is_dir() else p.parent, p if p.is_file() else None)
    else:
        ds = _load_golden(p, db, default_db)
    if limit is not None:
        ds = Dataset(ds.name, ds.format, ds.path, ds.items[: max(0, limit)], ds.rules)
    return ds


# --------------------------------------------------------------------------- Spider / BIRD


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}") from None


def _database_file(folder: Path, db_id: str) -> Path:
    path = folder / db_id / f"{db_id}.sqlite"
    if not path.exists():
        raise UsageError(f"The database {db_id!r} is missing: {path} does not exist")
    return path


def _load_spider(folder: Path, dev: Path | None) -> Dataset:
    dev = dev or folder / "dev.json"
    raw = _read_json(dev)
    items = []
    for i, entry in enumerate(raw):
        db_file = _database_file(folder / "database", entry["db_id"])
        items.append(
            EvalItem(
                id=f"{i:04d}",
                db_id=entry["db_id"],
                target=str(db_file),
                turns=(Turn(entry["question"].strip(), gold_sql=entry["query"]),),
                gold_dialect="sqlite",
            )
        )
    return Dataset(folder.name, "spider", folder, tuple(items), "spider")


def bird_question(question: str, evidence: str | None) -> str:
    """BIRD's question with its evidence appended as a hint."""
    question = question.strip()
    if evidence and evidence.strip():
        return f"{question}\nHint: {evidence.strip()}"
    return question


def _load_bird(folder: Path, dev: Path | None) -> Dataset:
    dev = dev or folder / "dev.json"
    raw = _read_json(dev)
    items = []
    for i, entry in enumerate(raw):
        db_file = _database_file(folder / "dev_databases", entry["db_id"])
        gold = entry.get("SQL") or entry.get("query")
        items.append(
            EvalItem(
                id=str(entry.get("question_id", f"{i:04d}")),
                db_id=entry["db_id"],
                target=str(db_file),
                turns=(Turn(bird_question(entry["question"], entry.get("evidence")), gold),),
                gold_dialect="sqlite",
            )
        )
    return Dataset(folder.name, "bird", folder, tuple(items), "bird")


# --------------------------------------------------------------------------- golden sets


def _read_golden(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".jsonl":
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise UsageError(f"{path}:{n} is not valid JSON: {exc}") from None
        return items
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from None


def _turn(data: Any, where: str) -> Turn:
    if not isinstance(data, Mapping) or not str(data.get("question") or "").strip():
        raise UsageError(f"{where}: an item needs a 'question'")
    sql = data.get("sql") or data.get("gold_sql") or data.get("query")
    expected = data.get("expected")
    if sql is None and expected is None:
        raise UsageError(f"{where}: give the gold 'sql' or the 'expected' rows")
    rows: tuple[tuple[Any, ...], ...] | None = None
    if isinstance(expected, Mapping):  # {columns: [...], rows: [...]}, as in questions.yaml
        expected = expected.get("rows")
        if expected is None:
            raise UsageError(f"{where}: 'expected' as a mapping needs its 'rows'")
    if expected is not None:
        if not isinstance(expected, Sequence) or isinstance(expected, str):
            raise UsageError(f"{where}: 'expected' must be a list of rows")
        rows = tuple(
            tuple(r) if isinstance(r, Sequence) and not isinstance(r, str) else (r,)
            for r in expected
        )
    return Turn(
        str(data["question"]).strip(),
        gold_sql=str(sql) if sql is not None else None,
        expected=rows,
        ordered=bool(data.get("ordered", False)),
    )


def _resolve_db(value: str, base: Path) -> str:
    """A database named in a golden file: URLs as they are, paths relative to the file."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def _load_golden(path: Path, db: str | None, default_db: Callable[[], str] | None) -> Dataset:
    data = _read_golden(path)
    rules: Rules = "spider"
    if isinstance(data, Mapping):
        if data.get("db") and db is None:
            db = _resolve_db(str(data["db"]), path.parent)
        if data.get("rules"):
            if data["rules"] not in RULES:
                raise UsageError(f"{path}: rules must be one of {', '.join(RULES)}")
            rules = data["rules"]
        data = data.get("items")
    if not isinstance(data, list) or not data:
        raise UsageError(f"{path} holds no items", hint="Write a list of questions.")
    items = []
    seen: set[str] = set()
    for i, entry in enumerate(data):
        where = f"{path.name} item {i + 1}"
        if not isinstance(entry, Mapping):
            raise UsageError(f"{where}: an item must be a mapping")
        item_db = _resolve_db(str(entry["db"]), path.parent) if entry.get("db") else db
        if not item_db and default_db is not None:
            item_db = db = default_db()
        if not item_db:
            raise UsageError(
                f"{where}: no database", hint="Pass --db, or give 'db' in the file or the item."
            )
        if "turns" in entry:
            raw_turns = entry["turns"]
            if not isinstance(raw_turns, list) or not raw_turns:
                raise UsageError(f"{where}: 'turns' must be a non-empty list")
            turns = tuple(_turn(t, f"{where} turn {k + 1}") for k, t in enumerate(raw_turns))
            conversation = True
        else:
            turns = (_turn(entry, where),)
            conversation = False
        item_id = str(entry.get("id", f"{i:04d}"))
        if item_id in seen:
            raise UsageError(f"{where}: the id {item_id!r} is used twice")
        seen.add(item_id)
        items.append(
            EvalItem(
                id=item_id,
                db_id=_short_name(item_db),
                target=item_db,
                turns=turns,
                conversation=conversation,
            )
        )
    return Dataset(path.stem, "golden", path, tuple(items), rules)


def _short_name(target: str) -> str:
    if "://" in target:
        tail = target.rsplit("/", 1)[-1]
        return tail.split("?", 1)[0] or target
    return Path(target).stem
