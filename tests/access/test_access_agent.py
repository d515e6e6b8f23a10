"""An agent answers each person with what their role lets them see: rows, context, history."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sqlagent import Agent
from sqlagent.errors import AccessDenied, ConfigError
from sqlagent.settings import Settings
from sqlagent.store.history import HistoryStore
from sqlagent.testing import ScriptedLLM

POLICY = """\
denied_columns: [shops.owner_email]
roles:
  west:
    row_filters:
      shops: "state IN (:user.states)"
      sales: "shop_id IN (1, 2, 3, 4) AND region = :user.region"
  auditor:
    admin: true
  narrow:
    allowed_tables: [sales]
users:
  wendy: {role: west, states: [AZ, NV], region: W}
  tex: {role: west, states: [TX], region: S}
  nick: narrow
  root: auditor
"""

# Cities that exist only in one state each, so a value index shows whose rows it read.
SHOPS = [
    (1, "Camelback Coffee", "Phoenix", "AZ", "a@x"),
    (2, "Strip Snacks", "Las Vegas", "NV", "b@x"),
    (3, "Alamo Tacos", "San Antonio", "TX", "c@x"),
    (4, "Bayou Books", "Houston", "TX", "d@x"),
    (5, "Fisherman Fish", "San Francisco", "CA", "e@x"),
]


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "shops.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE shops (shop_id INTEGER PRIMARY KEY, name VARCHAR, city VARCHAR, "
        "state VARCHAR, owner_email VARCHAR)"
    )
    con.executemany("INSERT INTO shops VALUES (?, ?, ?, ?, ?)", SHOPS)
    con.execute("CREATE TABLE sales (sale_id INTEGER, shop_id INTEGER, region VARCHAR, amount INT)")
    con.executemany(
        "INSERT INTO sales VALUES (?, ?, ?, ?)",
        [(i, 1 + i % 5, "W" if i % 2 else "S", i * 10) for i in range(1, 41)],
    )
    con.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    return db, policy


def _agent(db: Path, policy: Path, tmp_path: Path, llm: ScriptedLLM | None = None) -> Agent:
    settings = Settings.from_env(
        {"SQLAGENT_POLICY": str(policy), "SQLAGENT_HOME": str(tmp_path / "home")}
    ).with_(history_path=str(tmp_path / "history.sqlite3"), schema_cache=False)
    return Agent.connect(f"duckdb:///{db}", llm=llm, settings=settings)


def test_the_same_question_gives_each_person_their_rows(setup: tuple[Path, Path], tmp_path: Path):
    db, policy = setup
    sql = "SELECT s.name, sum(x.amount) AS total FROM shops s JOIN sales x USING (shop_id) " \
          "GROUP BY s.name ORDER BY s.name"  # fmt: skip
    llm = ScriptedLLM([f"```sql\n{sql}\n```", "Totals.", f"```sql\n{sql}\n```", "Totals."])
    agent = _agent(db, policy, tmp_path, llm)
    wendy = agent.ask("Sales per shop?", user="wendy")
    tex = agent.ask("Sales per shop?", user="tex")
    assert wendy.ok and tex.ok
    assert [r[0] for r in wendy.rows] == ["Camelback Coffee", "Strip Snacks"]
    assert [r[0] for r in tex.rows] == ["Alamo Tacos", "Bayou Books"]
    # Only region W sales of wendy's shops: shop 1 holds sales 1, 6, 11... (odd ones are W).
    expected = sum(i * 10 for i in range(1, 41) if 1 + i % 5 == 1 and i % 2)
    assert dict(wendy.rows)["Camelback Coffee"] == expected
    # What the model was shown for each differs only in what their rows hold.
    first, second = llm.calls[0].prompt, llm.calls[2].prompt
    assert "owner_email" not in first and "owner_email" not in second


def test_each_person_gets_their_own_value_index(setup: tuple[Path, Path], tmp_path: Path):
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    wendy, tex = agent.for_user("wendy"), agent.for_user("tex")
    hits_w = {m.value for m in (wendy.values() or ()).search("shops in Houston or Phoenix")}
    hits_t = {m.value for m in (tex.values() or ()).search("shops in Houston or Phoenix")}
    assert "Phoenix" in hits_w and "Houston" not in hits_w
    assert "Houston" in hits_t and "Phoenix" not in hits_t
    # Nor does the context they are shown (samples, profiles) name the other's values.
    assert "Houston" not in wendy.context("shops in Houston").text
    assert "San Francisco" not in wendy.context("which cities").text
    assert "Phoenix" not in tex.context("shops in Phoenix").text
    # The schema they see carries no row count of the whole table.
    shops = wendy.schema().table("shops")
    assert shops is not None and shops.row_count is None
    assert all(not c.samples for c in shops.columns)


def test_a_role_without_a_table_sees_neither_it_nor_examples_naming_it(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    agent.save_verified("How many shops?", "SELECT count(*) FROM shops")
    agent.save_verified("How many sales?", "SELECT count(*) FROM sales")
    nick = agent.for_user("nick")
    assert [t.name for t in nick.schema().tables] == ["sales"]
    assert [ex.question for ex in nick.knowledge().verified] == ["How many sales?"]
    refused = nick.sql("SELECT count(*) FROM shops")
    assert refused.error is not None and refused.error.type == "PolicyViolation"
    assert len(agent.for_user("wendy").knowledge().verified) == 2


def test_the_store_records_who_asked_and_their_role(setup: tuple[Path, Path], tmp_path: Path):
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    ok = agent.sql("SELECT count(*) FROM shops", user="tex")
    refused = agent.sql("SELECT count(*) FROM shops", user="nick")
    agent.for_user("tex").feedback(ok, 1, "good")
    store = HistoryStore(tmp_path / "history.sqlite3")
    by_id = {e.id: e for e in store.list(limit=10)}
    assert (by_id[ok.id].asked_by, by_id[ok.id].role) == ("tex", "west")
    assert (by_id[refused.id].asked_by, by_id[refused.id].outcome) == ("nick", "error")
    assert [e.id for e in store.list(user="nick")] == [refused.id]
    assert by_id[ok.id].rating == 1


def test_nobody_named_runs_as_the_local_user(
    setup: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    monkeypatch.setattr("getpass.getuser", lambda: "stranger")
    with pytest.raises(AccessDenied, match="stranger holds no role"):
        agent.sql("SELECT 1")
    monkeypatch.setattr("getpass.getuser", lambda: "tex")
    answer = agent.sql("SELECT count(*) FROM shops")
    assert answer.rows == ((2,),)


def test_a_filter_naming_a_missing_column_stops_with_its_line(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    db, policy = setup
    policy.write_text(POLICY.replace("state IN (:user.states)", "province = 'x'"))
    agent = _agent(db, policy, tmp_path)
    with pytest.raises(ConfigError, match=rf"{policy}:5: .*province"):
        agent.sql("SELECT 1", user="tex")
    policy.write_text(POLICY.replace("      shops:", "      shopz:"))
    agent = _agent(db, policy, tmp_path)
    with pytest.raises(ConfigError, match=rf"{policy}:5: .*shopz"):
        agent.sql("SELECT 1", user="tex")


def test_a_hostile_attribute_is_a_value_not_sql(setup: tuple[Path, Path], tmp_path: Path):
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    hostile = {"name": "eve", "region": "W' OR '1'='1", "states": ["AZ') OR ('1'='1"]}
    settings = agent.settings
    text = POLICY.replace("  root: auditor\n", "  root: auditor\n  eve: west\n")
    policy.write_text(text)
    agent = Agent.connect(f"duckdb:///{db}", settings=settings)
    answer = agent.sql("SELECT count(*) FROM shops", user=hostile)
    assert answer.ok and answer.rows == ((0,),)


def test_an_edited_policy_file_takes_effect_without_a_restart(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    db, policy = setup
    agent = _agent(db, policy, tmp_path)
    assert agent.sql("SELECT count(*) FROM shops", user="tex").rows == ((2,),)
    policy.write_text(POLICY.replace("  tex: {role: west, states: [TX], region: S}\n", ""))
    with pytest.raises(AccessDenied, match="tex holds no role"):
        agent.sql("SELECT count(*) FROM shops", user="tex")
