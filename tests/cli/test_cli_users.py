"""``sqlagent users add | list | revoke`` and ``sqlagent history --user``, run as a user would
(the console script in a fresh process): tokens shown once, never listed, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_cli import no_traceback, run_cli

from sqlagent.store.history import HistoryStore
from sqlagent.store.tokens import TokenStore
from sqlagent.types import Answer


def make_answer(question: str) -> Answer:
    return Answer(question=question, sql="SELECT 1", columns=("one",), rows=((1,),))


def test_add_list_revoke_round_trip(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    added = run_cli(
        "users", "add", "alice@example.com", "--group", "sales", "--attr", "region=AZ",
        "--attr", "team=a", "--attr", "team=b", "--store", store,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = re.search(r"^  (sqa_\S+)$", added.stdout, re.MULTILINE)
    assert token and "Authorization: Bearer" in added.stdout and "once" in added.stdout
    found = TokenStore(store).identify(token.group(1))
    assert found is not None and found.user == "alice@example.com"
    assert found.attributes == {"region": "AZ", "team": ["a", "b"]} and found.groups == ("sales",)
    # The store from the environment, as for the other commands.
    other = run_cli("users", "add", "bob", env={"SQLAGENT_STORE": store})
    assert other.returncode == 0, other.stderr

    listed = run_cli("users", "list", "--store", store)
    assert listed.returncode == 0
    assert "alice@example.com" in listed.stdout and "bob" in listed.stdout
    assert "region=AZ" in listed.stdout and "sales" in listed.stdout
    assert token.group(1) not in listed.stdout and "sqa_" not in listed.stdout
    as_json = [
        json.loads(line)
        for line in run_cli("users", "list", "--json", "--store", store).stdout.splitlines()
    ]
    assert {r["user"] for r in as_json} == {"alice@example.com", "bob"}
    assert all(r["revoked_at"] is None and "sqa_" not in json.dumps(r) for r in as_json)

    revoked = run_cli("users", "revoke", found.id, "--store", store)
    assert revoked.returncode == 0 and f"Revoked token {found.id}" in revoked.stdout
    assert TokenStore(store).identify(token.group(1)) is None
    again = run_cli("users", "--store", store, "revoke", "alice@example.com")
    assert again.returncode == 0 and "revoked already" in again.stdout
    after = [
        json.loads(line)
        for line in run_cli("users", "list", "--json", "--store", store).stdout.splitlines()
    ]
    assert {r["user"]: r["revoked_at"] is not None for r in after} == {
        "alice@example.com": True,
        "bob": False,
    }


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    cases = [
        (("users", "add", "alice", "--attr", "region"), "--attr takes NAME=VALUE"),
        (("users", "add", "alice", "--attr", "my-region=AZ"), ":user.<name>"),
        (("users", "add", "alice", "--attr", "name=x"), "set from the user"),
        (("users", "add", " "), "user name"),
        (("users", "revoke", "0123456789ab"), "No access token or user '0123456789ab'"),
    ]
    for args, message in cases:
        proc = run_cli(*args, "--store", store)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and no_traceback(proc), (args, proc.stderr)
    assert run_cli("users", "add", "x", "--store", store).returncode == 0
    proc = run_cli("users", "revoke", "nobody", "--store", store)
    assert proc.returncode == 2 and "sqlagent users list" in proc.stderr
    empty = run_cli("users", "list", "--store", str(tmp_path / "none.sqlite3"))
    assert empty.returncode == 0 and "No access tokens" in empty.stdout
    assert not (tmp_path / "none.sqlite3").exists()


def test_history_lists_only_what_one_user_asked(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3")
    history = HistoryStore(store)
    history.record(make_answer("alice one"), database="db", user="alice", role="field")
    history.record(make_answer("bob one"), database="db", user="bob", role="finance")
    history.record(make_answer("alice two"), database="db", user="alice", role="field")
    history.record(make_answer("nobody"), database="db")
    proc = run_cli("history", "--user", "alice", "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "alice two" in proc.stdout and "alice one" in proc.stdout
    assert "bob one" not in proc.stdout and "nobody" not in proc.stdout
    assert "user" in proc.stdout.splitlines()[0]  # who asked is a column once people are named
    proc = run_cli("history", "--store", store, "list", "--user", "bob", "--json")
    assert [json.loads(line)["question"] for line in proc.stdout.splitlines()] == ["bob one"]
    proc = run_cli("history", "--user", "carol", "--store", store)
    assert proc.returncode == 0 and "No answers asked by carol" in proc.stdout
    everyone = run_cli("history", "--store", store)
    assert all(q in everyone.stdout for q in ("alice one", "bob one", "nobody"))
