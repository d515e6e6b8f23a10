"""``sqlagent knowledge import``: what is read and skipped, as a user runs it, and clear
errors (no traceback) for a missing file or invalid YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.test_cli import no_traceback, run_cli

ROOT = Path(__file__).resolve().parents[2]
JAFFLE = ROOT / "tests" / "fixtures" / "semantic" / "jaffle_shop"
SAMPLE = ROOT / "sample_data" / "semantic"


def test_import_lists_what_was_read_and_what_was_skipped_with_file_and_line():
    proc = run_cli("knowledge", "import", str(JAFFLE))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Read 6 files:" in out
    assert f"{JAFFLE / 'orders.yml'} (dbt MetricFlow)" in out
    assert "Tables (6): customers, locations, order_items, orders, products, supplies" in out
    assert "Metrics (18):" in out and "Measures (4):" in out
    assert (
        f"  large_orders on orders: SUM(1) WHERE order_total >= 20  [{JAFFLE / 'orders.yml'}:138]"
        in out
    )
    assert "Skipped (4):" in out
    assert (
        f"  {JAFFLE / 'order_items.yml'}:138: metric revenue_growth_mom: period-over-period "
        "offsets (offset_window, offset_to_grain) cannot be written as one expression"
    ) in out


def test_import_json_and_the_database_check(sample_db_path):
    proc = run_cli("knowledge", "import", str(SAMPLE), "--db", str(sample_db_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["counts"]["metrics"] == 14 and report["counts"]["verified queries"] == 2
    assert {s["what"] for s in report["skipped"]} == {"relationships", "metric spend_growth_mom"}
    decline = next(e for e in report["expressions"] if e["name"] == "decline_rate")
    assert decline["origin"].endswith("cards_metrics.yml:131")
    # The published jaffle-shop model against the cards database: almost nothing fits.
    proc = run_cli("knowledge", "import", str(JAFFLE), "--db", str(sample_db_path), "--json")
    report = json.loads(proc.stdout)
    assert [e["name"] for e in report["expressions"]] == ["customers"]
    reasons = {s["what"]: s["reason"] for s in report["skipped"]}
    assert reasons["metric revenue"] == "the database has no table order_items"


def test_missing_file_and_invalid_yaml_are_clear_errors(tmp_path):
    proc = run_cli("knowledge", "import", str(tmp_path / "nope.yml"))
    assert proc.returncode == 2 and no_traceback(proc)
    assert "error: Semantic model path not found" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  - name: x\n    base_table: {table: [\n")
    proc = run_cli("knowledge", "import", str(bad))
    assert proc.returncode == 2 and no_traceback(proc)
    assert f"error: Semantic file {bad}:4 is not valid YAML" in proc.stderr
    proc = run_cli("knowledge", "import", str(JAFFLE), "--db", str(tmp_path / "missing.duckdb"))
    assert proc.returncode == 2 and no_traceback(proc), proc.stderr


def test_ask_reads_the_semantic_models_named_in_the_environment(sample_db_path, tmp_path):
    from sqlagent.testing import FakeOpenAIServer

    line = re.compile(r"^-- (\w+) \(metric on (\w+)\): (.+?) WHERE (.+?)(?: -- .*)?$", re.M)

    def reply(body):
        # A model that uses the first metric its prompt defines, written as given.
        prompt = "\n".join(m["content"] for m in body["messages"])
        found = line.search(prompt)
        if found is None:
            return "```sql\nSELECT 0 AS refunded\n```"
        name, table, sql, where = found.groups()
        return f"```sql\nSELECT {sql} AS {name} FROM {table} WHERE {where}\n```"

    question = "What was the total refunded amount in 2025?"
    env = {
        "OPENAI_BASE_URL": "",
        "SQLAGENT_MODEL": "fake-model",
        "SQLAGENT_KNOWLEDGE": str(tmp_path / "none.knowledge.yaml"),
    }
    for semantic, expect_metric in ((str(SAMPLE), True), ("", False)):
        with FakeOpenAIServer([reply]) as server:
            env["OPENAI_BASE_URL"] = server.base_url
            env["SQLAGENT_SEMANTIC"] = semantic
            proc = run_cli(
                "ask", question, "--db", str(sample_db_path), "--json", "--no-narrate", env=env
            )
        assert proc.returncode == 0, proc.stderr
        payload = json.loads(proc.stdout)
        if expect_metric:
            assert payload["columns"] == ["refunded_amount"]
            assert "WHERE status = 'refunded'" in payload["sql"]
            assert payload["rows"][0][0] > 0
        else:
            assert payload["rows"] == [[0]]
