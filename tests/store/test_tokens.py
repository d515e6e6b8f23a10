"""Access tokens in the store on every backend (file, SQLite URL, PostgreSQL): kept hashed,
found by their secret only, revoked for good; and migration 4 on a store written before it."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import dbfixtures
import pytest
from test_history import make_answer
from test_store import FIXTURES, location, pg  # noqa: F401  (fixtures)

from sqlagent.errors import UsageError
from sqlagent.store.backends import LATEST
from sqlagent.store.history import HistoryStore
from sqlagent.store.tokens import TokenStore, parse_attributes

V3_ANSWER = "1a49f28f7b714bd5a386424af1a7719f"
"""The answer in fixtures/history_v3.sqlite3 (written by the release before tokens)."""


def test_tokens_round_trip_hashed_and_revoked(location: str) -> None:  # noqa: F811
    tokens = TokenStore(location)
    assert tokens.list() == [] and not tokens.has_tokens()
    alice, secret = tokens.add("alice", groups=["sales", "sales"], attributes={"region": "AZ"})
    bob, bob_secret = tokens.add("bob")
    assert tokens.has_tokens() and secret.startswith("sqa_" + alice.id + "_")
    found = tokens.identify(secret)
    assert found is not None and found.user == "alice" and found.groups == ("sales",)
    identity = found.identity()
    assert identity.via == "token" and identity.values["region"] == "AZ"
    assert identity.values["groups"] == ("sales",)
    # A token with the right id but another secret, or any made-up one, is nobody.
    assert tokens.identify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert tokens.identify("sqa_" + alice.id) is None and tokens.identify("") is None
    # Only the hash is stored, never the token.
    store = HistoryStore(location)
    rows = store._read("SELECT id, secret_sha256, user_name FROM access_tokens ORDER BY user_name")
    assert [(r[0], r[2]) for r in rows] == [(alice.id, "alice"), (bob.id, "bob")]
    assert rows[0][1] == hashlib.sha256(secret.encode()).hexdigest()
    everything = " ".join(str(v) for r in store._read("SELECT * FROM access_tokens") for v in r)
    assert secret not in everything and secret[len(alice.id) + 5 :] not in everything
    # Used: noted; revoked by id: refused from then on, the other token still works.
    assert {t.user: t.last_used_at is not None for t in tokens.list()} == {
        "alice": True,
        "bob": False,
    }
    [gone] = tokens.revoke(alice.id)
    assert gone.id == alice.id and gone.revoked
    assert tokens.identify(secret) is None
    assert TokenStore(location).identify(bob_secret) is not None
    assert tokens.revoke("alice") == []  # already revoked: nothing more to do
    assert tokens.has_tokens()  # revoked tokens still close the server to anonymous callers
    with pytest.raises(UsageError, match="No access token or user 'carol'"):
        tokens.revoke("carol")
    assert [t.user for t in tokens.list(user="bob")] == ["bob"]


def test_revoking_a_name_revokes_each_of_its_tokens(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "history.sqlite3")
    secrets = [tokens.add("dana")[1] for _ in range(3)]
    keep = tokens.add("eve")[1]
    assert len(tokens.revoke("dana")) == 3
    assert all(tokens.identify(s) is None for s in secrets)
    assert tokens.identify(keep) is not None


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "history.sqlite3"
    tokens = TokenStore(path)
    assert tokens.list() == [] and not tokens.has_tokens()
    assert tokens.identify("sqa_0123456789ab_" + "A" * 43) is None
    with pytest.raises(UsageError):
        tokens.revoke("x")
    assert not path.parent.exists()


def test_bad_user_names_and_attributes_are_usage_errors(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path / "history.sqlite3")
    for name in ("", "  ", "a\nb", "x" * 201):
        with pytest.raises(UsageError, match="user name"):
            tokens.add(name)
    assert parse_attributes(["region=AZ", "team=a", "team=b", "note=x=y"]) == {
        "region": "AZ",
        "team": ["a", "b"],
        "note": "x=y",
    }
    for bad, message in (
        ("region", "NAME=VALUE"),
        ("=AZ", "NAME=VALUE"),
        ("1x=2", "row filter can read"),
        ("a-b=2", "row filter can read"),
        ("name=bob", "set from the user"),
        ("groups=x", "set from the user"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_attributes([bad])


def test_a_version_3_store_gets_migration_4_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    shutil.copy(FIXTURES / "history_v3.sqlite3", path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    con.close()
    tokens = TokenStore(path)
    _, secret = tokens.add("carol", attributes={"region": "East"})
    assert tokens.identify(secret) is not None
    entry = HistoryStore(path).get(V3_ANSWER)
    assert entry is not None and (entry.asked_by, entry.role, entry.rating) == ("carol", "field", 1)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST == 4
    versions = [v for (v,) in con.execute("SELECT version FROM sqlagent_migrations ORDER BY 1")]
    con.close()
    assert versions == [1, 2, 3, 4]
    # Through a SQLite URL too.
    other = tmp_path / "other.sqlite3"
    shutil.copy(FIXTURES / "history_v3.sqlite3", other)
    assert TokenStore(f"sqlite:///{other}").list() == []
    assert HistoryStore(f"sqlite:///{other}").get(V3_ANSWER) is not None


def test_a_postgresql_store_at_version_3_gets_the_token_table(pg: dbfixtures.Scratch) -> None:  # noqa: F811
    from sqlagent.store.backends import MIGRATIONS

    statements = [s for m in MIGRATIONS[:3] for s in m.postgresql]
    pg.run(
        *statements,
        "CREATE TABLE sqlagent_migrations (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, applied_at TEXT NOT NULL)",
        "INSERT INTO sqlagent_migrations VALUES (1, 'a', 'x'), (2, 'b', 'x'), (3, 'c', 'x')",
    )
    HistoryStore(pg.url).record(make_answer("before"), database="db", user="carol")
    tokens = TokenStore(pg.url)
    record, secret = tokens.add("carol", groups=["finance"])
    found = tokens.identify(secret)
    assert found is not None and (found.id, found.groups) == (record.id, ("finance",))
    assert tokens.list()[0].last_used_at is not None
    assert pg.rows("SELECT user_name, user_groups FROM access_tokens") == [("carol", '["finance"]')]
    assert [v for (v,) in pg.rows("SELECT version FROM sqlagent_migrations ORDER BY 1")] == [
        1,
        2,
        3,
        4,
    ]
    assert [e.asked_by for e in HistoryStore(pg.url).list(user="carol")] == ["carol"]
    assert tokens.revoke("carol")[0].id == record.id and tokens.identify(secret) is None
