"""Settings and policy: what the environment and policy files may set, and their ceilings."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlagent.errors import ConfigError
from sqlagent.settings import Policy, Settings


def test_a_policy_file_limit_is_a_ceiling_for_the_environment(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_rows: 500\nstatement_timeout: 5\n")
    env = {
        "SQLAGENT_POLICY": str(policy),
        "SQLAGENT_MAX_ROWS": "2000",
        "SQLAGENT_STATEMENT_TIMEOUT": "100",
    }
    settings = Settings.from_env(env)
    assert (settings.max_rows, settings.statement_timeout) == (500, 5.0)
    lower = Settings.from_env({**env, "SQLAGENT_MAX_ROWS": "50"})
    assert lower.max_rows == 50


def test_a_policy_file_without_limits_caps_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("denied_columns: [customers.email]\n")
    env = {"SQLAGENT_POLICY": str(policy), "SQLAGENT_MAX_ROWS": "3000"}
    assert Settings.from_env(env).max_rows == 3000
    # --policy on the command line replaces the variable, and keeps the other variables.
    other = tmp_path / "other.yaml"
    other.write_text("denied_tables: [cards]\n")
    settings = Settings.from_env({**env, "SQLAGENT_MAX_ROWS": "5"}, policy_file=str(other))
    assert settings.max_rows == 5 and settings.policy.denied_tables == ("cards",)


def test_policies_made_with_lists_are_values() -> None:
    policy = Policy(denied_columns=["customers.email"])  # type: ignore[arg-type]
    assert policy.denied_columns == ("customers.email",)
    assert hash(policy) == hash(Policy(denied_columns=("customers.email",)))


@pytest.mark.parametrize("content", [None, b"\xff\xfe max_rows: 5"])
def test_an_unreadable_policy_file_is_a_config_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "policy.yaml"
    if content is None:
        path.mkdir()  # a folder where a file was expected
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot be read"):
        Policy.from_file(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
def test_a_timeout_must_be_a_finite_positive_number(value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"SQLAGENT_STATEMENT_TIMEOUT": value})
