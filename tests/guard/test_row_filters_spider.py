"""The Spider gold queries with a row filter on each database's largest table: none is
refused, and with a filter every row meets, every answer is the gold query's own.

The measurement (and its timing) is benchmarks/row_filters.py; this test holds it to zero
refusals and zero changed answers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_no_false_refusal_and_no_changed_answer(spider: Path, capsys: pytest.CaptureFixture[str]):
    path = REPO / "benchmarks" / "row_filters.py"
    spec = importlib.util.spec_from_file_location("row_filters", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(["--spider", str(spider), "--repeat", "0"])
    out = capsys.readouterr().out
    assert status == 0, out
    lines = dict(
        line.rsplit(None, 1) for line in out.splitlines() if line[:1].isalpha() and "  " in line
    )
    assert int(lines["queries"]) == 523
    assert int(lines["same answer"]) == 523
    assert int(lines["read the filtered table"]) > 200
