"""A run directory: ``meta.json`` (what was run), ``results.jsonl`` (one record a question),
``summary.json`` and the reports. Records are appended as questions finish, so a run that is
interrupted keeps what it did and can be resumed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError

__all__ = ["RunDir"]

RESULTS = "results.jsonl"
META = "meta.json"
SUMMARY = "summary.json"


class RunDir:
    """Read and write the files of one evaluation run."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    @property
    def meta_path(self) -> Path:
        return self.path / META

    def exists(self) -> bool:
        return self.meta_path.exists() or self.results_path.exists()

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ records

    def records(self) -> list[dict[str, Any]]:
        """Every complete record (a line cut short by a crash is skipped)."""
        if not self.results_path.exists():
            return []
        out = []
        with self.results_path.open(encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # the unfinished last line of an interrupted run
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def repair_tail(self) -> None:
        """Cut an unfinished last line, so that appended records start on a line of their own."""
        p = self.results_path
        if not p.exists() or p.stat().st_size == 0:
            return
        with p.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            f.seek(0)
            f.truncate(data.rfind(b"\n") + 1)

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records in one write (the records of one item land together or not at all
        as lines; a torn last line is dropped on reading)."""
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
        with self.results_path.open("a", encoding="utf-8") as f:
            f.write(text)
            f.flush()

    def done_items(self, turns_per_item: Mapping[str, int]) -> set[str]:
        """Items whose every turn has a record."""
        counts: dict[str, int] = {}
        for r in self.records():
            item = str(r.get("item"))
            counts[item] = counts.get(item, 0) + 1
        return {i for i, n in counts.items() if n >= turns_per_item.get(i, 1)}

    # ------------------------------------------------------------------ metadata

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_path.exists():
            return {}
        try:
            data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{self.meta_path} is not valid JSON: {exc}") from None
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        """Write ``name`` atomically (a temporary file renamed over it)."""
        target = self.path / name
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, target)

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        self.write_json(META, meta)

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str]) -> RunDir:
        """A run directory that must already hold results (for ``--compare``)."""
        run = cls(path)
        if not run.results_path.exists():
            raise UsageError(f"{run.path} is not an evaluation run (no {RESULTS})")
        return run
