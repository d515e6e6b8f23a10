"""The value index and the profiles are kept on disk beside the cached schema, keyed by the
same catalog fingerprint and by what the policy lets the model see."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import pytest

from sqlagent import Agent
from sqlagent.context.profile import (
    ColumnProfile,
    TableProfile,
    profile_schema,
    profiles_from_data,
    profiles_to_data,
)
from sqlagent.context.schema_cache import CachedSchemaDatabase
from sqlagent.context.valueindex import ValueIndex
from sqlagent.settings import Policy, Settings


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE stores (id INTEGER PRIMARY KEY, city VARCHAR, name VARCHAR)")
    con.execute(
        "INSERT INTO stores VALUES (1, 'Phoenix', 'Desert Bloom'), (2, 'Tucson', 'Saguaro'),"
        " (3, 'Mesa', 'Sonoran Grill')"
    )
    con.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, day DATE, amount DECIMAL(8,2))")
    con.execute("INSERT INTO sales VALUES (1, DATE '2025-01-02', 10.5), (2, DATE '2025-03-04', 99)")
    con.close()
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SQLAGENT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def connect(path: Path, **changes: Any) -> Agent:
    settings = Settings(model="scripted", history=False).with_(**changes)
    agent = Agent.connect(path, settings=settings)
    assert isinstance(agent.db, CachedSchemaDatabase)
    return agent


def count_queries(agent: Agent) -> list[str]:
    """Record every statement sent to the database under the cache."""
    seen: list[str] = []
    db = agent.db
    assert isinstance(db, CachedSchemaDatabase)
    inner = db.inner
    original = inner.execute

    def execute(sql: str, **kw: Any) -> Any:
        seen.append(sql)
        return original(sql, **kw)

    inner.execute = execute  # type: ignore[method-assign]
    return seen


def test_a_new_process_reads_values_and_profiles_from_disk(shop: Path, cache: Path) -> None:
    with connect(shop) as first:
        values = first.values()
        profiles = first.profiles()
        assert values is not None and profiles
    files = sorted(p.name.split(".", 1)[1] for p in cache.iterdir())
    assert files == ["json", "profiles.json", "values.json"]

    with connect(shop) as second:
        seen = count_queries(second)
        again = second.values()
        again_profiles = second.profiles()
        # No query at all: not even the catalog's fingerprint, as the file is unchanged
        # since its schema was cached (file_stamp), nor distinct values or profiles.
        assert seen == []
    assert again is not None and again_profiles == profiles
    assert [m.value for m in again.search("stores in pheonix")] == ["Phoenix"]
    assert again.columns == values.columns and len(again) == len(values)
    context = second.context("sales in tucson")
    assert "'Tucson'" in context.text and "2025-01-02 .. 2025-03-04" in context.text


def test_a_changed_catalog_builds_them_again(shop: Path, cache: Path) -> None:
    with connect(shop) as first:
        assert first.values() is not None
    con = duckdb.connect(str(shop))
    con.execute("ALTER TABLE stores ADD COLUMN region VARCHAR")
    con.execute("UPDATE stores SET region = 'Sonoran Desert'")
    con.close()
    with connect(shop) as second:
        seen = count_queries(second)
        values = second.values()
        assert values is not None and len(seen) > 1
        assert [m.value for m in values.search("the sonoran desert")][:1] == ["Sonoran Desert"]


def test_an_old_entry_is_not_used(shop: Path, cache: Path) -> None:
    with connect(shop) as first:
        assert first.values() is not None
    path = next(cache.glob("*.values.json"))
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry["created"] -= 2 * 24 * 3600  # older than the schema cache's max_age
    path.write_text(json.dumps(data))
    with connect(shop) as second:
        seen = count_queries(second)
        assert second.values() is not None and len(seen) > 1


def test_a_policy_that_hides_a_column_never_gets_its_values_from_disk(
    shop: Path, cache: Path
) -> None:
    with connect(shop) as open_agent:
        values = open_agent.values()
        assert values is not None and ("stores", "city") in values.columns
    policy = Policy(denied_columns=("stores.city",))
    with connect(shop, policy=policy) as restricted:
        values = restricted.values()
        assert values is not None and ("stores", "city") not in values.columns
        assert not values.search("Phoenix")
    # Both entries are kept side by side.
    data = json.loads(next(cache.glob("*.values.json")).read_text())
    assert len(data["entries"]) == 2


def test_a_broken_file_is_ignored(shop: Path, cache: Path) -> None:
    with connect(shop) as first:
        assert first.values() is not None
    next(cache.glob("*.values.json")).write_text("{not json")
    with connect(shop) as second:
        values = second.values()
        assert values is not None and [m.value for m in values.search("mesa")] == ["Mesa"]


def test_value_index_round_trip() -> None:
    index = ValueIndex.from_values(
        [("t", "city", "Phoenix"), ("t", "city", "São Paulo"), ("u", "name", "The Who")]
    )
    back = ValueIndex.from_data(json.loads(json.dumps(index.to_data())))
    for question in ("phoenix", "sao paulo", "the who", "pheonix"):
        assert back.search(question) == index.search(question)


def test_profiles_round_trip_keeps_value_types(shop: Path) -> None:
    from sqlagent.db import connect as connect_db

    db = connect_db(shop)
    try:
        profiles = profile_schema(db, db.schema())
    finally:
        db.close()
    odd = TableProfile(
        "odd",
        None,
        0,
        False,
        MappingProxyType(
            {
                "t": ColumnProfile("t", "TIME", min=dt.time(1, 2), max=dt.time(23, 0)),
                "ts": ColumnProfile(
                    "ts", "TIMESTAMP", min=dt.datetime(2025, 1, 1, 8), max=dt.datetime(2025, 2, 1)
                ),
                "f": ColumnProfile("f", "DOUBLE", min=float("-inf"), max=2.5),
                "k": ColumnProfile("k", "VARCHAR", top_values=(("a", 3), ("b", 1))),
            }
        ),
    )
    profiles["odd"] = odd
    back = profiles_from_data(json.loads(json.dumps(profiles_to_data(profiles))))
    assert back == profiles
    sales = back["sales"].columns
    assert isinstance(sales["day"].min, dt.date) and isinstance(
        sales["amount"].max, decimal.Decimal
    )
    assert back["odd"].columns["ts"].min == dt.datetime(2025, 1, 1, 8)
