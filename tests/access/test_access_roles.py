"""Policy files with roles: who holds which role, what each role may see, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlagent.access.filters import FilterSyntaxError, bind, parse_condition
from sqlagent.access.identity import Identity, coerce_identity
from sqlagent.access.roles import AccessPolicy
from sqlagent.errors import AccessDenied, ConfigError
from sqlagent.settings import Policy, Settings

POLICY = """\
denied_columns: [customers.email]
max_rows: 5000
roles:
  sales:
    allowed_tables: [orders, customers]
    row_filters:
      orders: "region = :user.region"
    max_rows: 200
  support:
    denied_tables: [orders]
    max_rows: 90000
  admin:
    admin: true
users:
  Alice@Example.com: {role: sales, region: West}
  bob: support
  carol: {region: East}
groups:
  sales-east: sales
  staff: support
default_role: support
"""


def _write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_come_from_users_then_groups_then_the_default(tmp_path: Path) -> None:
    access = AccessPolicy.from_file(_write(tmp_path, POLICY))
    assert access.role_of(Identity("alice@example.com")) == "sales"  # names fold case
    assert access.role_of(Identity("bob", groups=("sales-east",))) == "support"  # entry wins
    # carol's entry names no role: her groups decide, in the file's order.
    assert access.role_of(Identity("carol", groups=("staff", "sales-east"))) == "sales"
    assert access.role_of(Identity("dave")) == "support"


def test_a_person_without_a_role_is_refused(tmp_path: Path) -> None:
    text = POLICY.replace("default_role: support\n", "")
    access = AccessPolicy.from_file(_write(tmp_path, text))
    with pytest.raises(AccessDenied, match="dave holds no role"):
        access.grant(Identity("dave"), Policy())


def test_a_role_narrows_the_top_level_settings(tmp_path: Path) -> None:
    path = _write(tmp_path, POLICY)
    base = Settings.from_env({"SQLAGENT_POLICY": str(path)}).policy
    assert base.denied_columns == ("customers.email",) and base.row_filters == ()
    access = AccessPolicy.from_file(path)
    sales = access.grant(Identity("alice@example.com"), base)
    assert sales.role == "sales" and not sales.admin
    assert sales.policy.allowed_tables == ("orders", "customers")
    assert sales.policy.denied_columns == ("customers.email",)  # the top level still holds
    assert sales.policy.max_rows == 200
    (rf,) = sales.policy.row_filters
    assert rf.values == (("region", "West"),) and rf.origin == f"{path}:7"
    support = access.grant(Identity("bob"), base)
    assert support.policy.denied_tables == ("orders",)
    assert support.policy.max_rows == 5000  # a role cannot raise the file's ceiling
    # Limits a role sets are ceilings for the process's own settings too.
    assert sales.policy.limited(max_rows=10_000).max_rows == 200
    assert access.grant(Identity("root", groups=()), base).role == "support"


def test_an_admin_role_is_marked(tmp_path: Path) -> None:
    text = POLICY.replace("  carol: {region: East}\n", "  carol: {region: East}\n  root: admin\n")
    access = AccessPolicy.from_file(_write(tmp_path, text))
    grant = access.grant(Identity("root"), Policy())
    assert grant.role == "admin" and grant.admin


def test_the_file_attributes_join_the_sign_in_attributes(tmp_path: Path) -> None:
    access = AccessPolicy.from_file(_write(tmp_path, POLICY))
    signed_in = Identity.from_claims(
        {"email": "alice@example.com", "groups": ["x"], "region": "South", "dept": "ops"}
    )
    grant = access.grant(signed_in, Policy())
    values = grant.identity.values
    assert values["region"] == "West"  # the file's word wins over the provider's
    assert values["dept"] == "ops" and values["groups"] == ("x",)
    assert grant.policy.row_filters[0].values == (("region", "West"),)


def test_a_row_filter_needing_a_missing_attribute_refuses_the_person(tmp_path: Path) -> None:
    access = AccessPolicy.from_file(_write(tmp_path, POLICY))
    with pytest.raises(ConfigError, match="needs the user attribute"):
        access.grant(Identity("zed", groups=("sales-east",)), Policy())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (POLICY.replace('"region = :user.region"', '"region = = :user.region"'), ":7: .*parse"),
        (POLICY.replace('"region = :user.region"', '"region IN (SELECT 1)"'), ":7: .*subquery"),
        (POLICY.replace('"region = :user.region"', '"region = :region"'), ":7: .*:user"),
        (POLICY.replace('"region = :user.region"', '"o.region = 1"'), ":7: .*qualifier"),
        (POLICY.replace('"region = :user.region"', '"count(*) > 1"'), ":7: .*aggregate"),
        (POLICY.replace("bob: support", "bob: nobody"), ":16: .*'nobody'.*not defined"),
        (POLICY.replace("staff: support", "staff: ghosts"), ":20: .*ghosts"),
        (POLICY.replace("default_role: support", "default_role: x"), ":21: .*default_role"),
        (POLICY.replace("    max_rows: 200", "    max_rowz: 200"), ":8: .*max_rowz"),
        (POLICY.replace("    admin: true", "    admin: yes please"), ":13: .*admin"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        Settings.from_env({"SQLAGENT_POLICY": str(path)})
        AccessPolicy.from_file(path)
    assert str(path) in err.value.message


def test_a_top_level_row_filter_is_checked_when_the_settings_load(tmp_path: Path) -> None:
    path = _write(tmp_path, 'row_filters:\n  orders: "region ="\n')
    with pytest.raises(ConfigError, match=rf"{path}:2: .*does not parse"):
        Settings.from_env({"SQLAGENT_POLICY": str(path)})


def test_filters_bind_values_as_literals_for_each_dialect() -> None:
    hostile = "x' OR '1'='1"
    for dialect in ("duckdb", "postgres", "mysql", "sqlite", "spark"):
        sql = bind("region = :user.region", {"region": hostile}).sql(dialect)
        assert sql.count("'") >= 4 and " OR " in sql  # inside the literal, not a new predicate
        reparsed = parse_condition(bind("region = :user.region", {"region": hostile}).sql())
        assert reparsed.expression.this == hostile
    assert bind("team IN (:user.teams)", {"teams": ()}).sql() == "team IN (NULL)"
    assert bind("active = :user.on", {"on": True}).sql() == "active = TRUE"
    with pytest.raises(FilterSyntaxError, match="holds a list"):
        bind("team = :user.teams", {"teams": ("a",)})


def test_users_are_given_as_names_mappings_or_identities() -> None:
    assert coerce_identity("ann").name == "ann"
    mapped = coerce_identity({"name": "ann", "groups": "g", "region": "West"})
    assert mapped.groups == ("g",) and mapped.values["region"] == "West"
    with pytest.raises(ValueError):
        coerce_identity({"region": "West"})
    assert Identity.local().via == "local"
