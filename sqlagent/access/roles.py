"""Roles in a policy file, who holds them, and the policy each person gets.

A policy file's top-level settings apply to everyone; its ``roles`` narrow them per person:

    denied_columns: ["*.card_number"]          # everyone
    roles:
      sales:
        allowed_tables: [transactions, merchants]
        row_filters: {merchants: "state = :user.region"}
        max_rows: 500
      support:
        denied_columns: [cardholders.email]
      admin:
        admin: true                            # sees everyone's history and feedback
    users:                                     # by name (an email for signed-in people)
      alice@example.com: {role: sales, region: AZ}
      bob: support                             # just the role
    groups:                                    # groups (an OIDC claim, a proxy header)
      sales-west: sales
    default_role: support                      # anyone else; without it they are refused

A person's role is their ``users`` entry's, else that of the first ``groups`` entry they
belong to (in the file's order), else ``default_role``; with none of these they are refused
(``AccessDenied``). The role's settings combine with the top-level ones: denials and row
filters add up; ``allowed_tables``, ``allowed_functions`` and ``allow_server_info`` are the
role's when it sets them; limits take the lower value, and every limit set is a ceiling.
A ``users`` entry's other keys are attributes (``:user.region`` in a row filter), added to
those the sign-in provider sends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import AccessDenied, ConfigError
from ..settings import Policy, yaml_lines
from .identity import Identity

_LIMITS = (
    "max_rows", "statement_timeout", "max_sql_length", "max_literals", "max_query_blocks",
    "max_result_bytes",
)  # fmt: skip
_ADDED = ("denied_tables", "denied_columns", "row_filters")
_REPLACED = ("allowed_tables", "allowed_functions", "allow_server_info")


@dataclass(frozen=True)
class Role:
    """One role: the settings it sets (a partial policy) and whether it administers."""

    name: str
    policy: Policy
    keys: frozenset[str]
    """The settings the role's entry sets (the others come from the top level)."""
    admin: bool = False


@dataclass(frozen=True)
class Member:
    """A ``users`` entry: the role it names (if any) and its attributes."""

    name: str
    role: str | None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""


@dataclass(frozen=True)
class Grant:
    """What one person may do: their identity (with the file's attributes added), their
    role (None when the file defines no roles) and the policy the guard enforces for them,
    with their attributes bound into its row filters."""

    identity: Identity
    role: str | None
    policy: Policy
    admin: bool = False


@dataclass(frozen=True)
class AccessPolicy:
    """A policy file's roles and their holders."""

    roles: Mapping[str, Role] = field(default_factory=dict)
    users: Mapping[str, Member] = field(default_factory=dict)
    groups: tuple[tuple[str, str], ...] = ()
    default_role: str | None = None
    group_claim: str = "groups"
    source: str = ""

    @property
    def has_roles(self) -> bool:
        """True when the file defines roles (then every request is someone's)."""
        return bool(self.roles)

    def role_policy(self, role: str, base: Policy) -> Policy:
        """``base`` (the top-level settings, as the process lowered them) narrowed by
        ``role``; attributes not yet bound."""
        spec = self.roles[role]
        changes: dict[str, Any] = {}
        for key in _ADDED:
            if key in spec.keys:
                changes[key] = getattr(base, key) + getattr(spec.policy, key)
        for key in _REPLACED:
            if key in spec.keys:
                changes[key] = getattr(spec.policy, key)
        for key in _LIMITS:
            if key in spec.keys:
                changes[key] = min(getattr(base, key), getattr(spec.policy, key))
        ceilings = tuple(dict.fromkeys((*base.ceilings, *spec.policy.ceilings)))
        return replace(base, **changes, ceilings=ceilings)

    def role_of(self, identity: Identity) -> str | None:
        """The role ``identity`` holds, or None when it holds none."""
        member = self.member(identity)
        if member is not None and member.role is not None:
            return member.role
        held = {g.casefold() for g in identity.groups}
        for group, role in self.groups:
            if group.casefold() in held:
                return role
        return self.default_role

    def member(self, identity: Identity) -> Member | None:
        """The ``users`` entry of ``identity`` (names compared case-insensitively)."""
        return self.users.get(identity.name.casefold())

    def grant(self, identity: Identity, base: Policy) -> Grant:
        """What ``identity`` may see. Raises ``AccessDenied`` when roles are defined and
        the person holds none, and ``ConfigError`` when a row filter needs an attribute the
        person lacks (they read nothing rather than everything)."""
        member = self.member(identity)
        if member is not None and member.attributes:
            identity = identity.with_attributes(member.attributes)
        if not self.has_roles:
            return Grant(identity, None, base.bound(identity.values))
        role = self.role_of(identity)
        if role is None:
            raise AccessDenied(
                f"{identity.name} holds no role in {self.source or 'the policy'}",
                hint="Add them to the policy file's users or groups, or set default_role.",
            )
        policy = self.role_policy(role, base).bound(identity.values)
        return Grant(identity, role, policy, admin=self.roles[role].admin)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AccessPolicy:
        """The roles and holders of a policy file (none when it defines none)."""
        import yaml

        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            data = yaml.safe_load(text) or {}
            lines = yaml_lines(yaml.compose(text))
        except FileNotFoundError:
            raise ConfigError(f"Policy file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Policy file {p} cannot be read: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"Policy file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"Policy file {p} must hold a mapping of settings")
        return cls.from_mapping(data, source=str(p), lines=lines)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "", lines: Mapping[Any, int] | None = None
    ) -> AccessPolicy:
        """Read ``roles``, ``users``, ``groups``, ``default_role`` and ``group_claim``."""
        lines = lines or {}

        def at(*path: Any) -> str:
            for end in range(len(path), 0, -1):
                line = lines.get(path[:end])
                if line is not None:
                    return f"{source}:{line}" if source else f"line {line}"
            return source or "policy"

        roles = _roles(data.get("roles") or {}, source, lines, at)
        users = _users(data.get("users") or {}, roles, at)
        groups = _groups(data.get("groups") or {}, roles, at)
        default = data.get("default_role")
        if default is not None and (not isinstance(default, str) or default not in roles):
            raise ConfigError(
                f"{at('default_role')}: default_role {default!r} is not a role of this file",
                hint=f"Roles: {', '.join(sorted(roles)) or 'none defined'}",
            )
        if (users or groups or default) and not roles:
            raise ConfigError(f"{at('users')}: users and groups name roles, but none is defined")
        claim = data.get("group_claim", "groups")
        if not isinstance(claim, str) or not claim:
            raise ConfigError(f"{at('group_claim')}: group_claim must be a claim's name")
        return cls(roles, users, groups, default, claim, source)


def _roles(raw: Any, source: str, lines: Mapping[Any, int], at: Any) -> dict[str, Role]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at('roles')}: roles must map role names to their settings")
    known = {f.name for f in fields(Policy)} - {"ceilings"}
    out: dict[str, Role] = {}
    for name, settings in raw.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{at('roles')}: a role needs a name")
        settings = settings or {}
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{at('roles', name)}: role {name!r} must map settings to values")
        admin = settings.get("admin", False)
        if not isinstance(admin, bool):
            raise ConfigError(f"{at('roles', name, 'admin')}: admin must be true or false")
        body = {k: v for k, v in settings.items() if k != "admin"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ConfigError(
                f"{at('roles', name, unknown[0])}: unknown setting {unknown[0]!r} in role "
                f"{name!r}",
                hint=f"Known settings: admin, {', '.join(sorted(known))}",
            )
        inner = {k[2:]: v for k, v in lines.items() if k[:2] == ("roles", name)}
        try:
            policy = Policy.from_mapping(body, source=source, lines=inner)
        except ConfigError as exc:
            if exc.message.startswith(source or "\0"):
                raise
            raise ConfigError(f"{at('roles', name)}: {exc.message}", hint=exc.hint) from None
        out[name] = Role(name, policy, frozenset(body), admin)
    return out


def _users(raw: Any, roles: Mapping[str, Role], at: Any) -> dict[str, Member]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at('users')}: users must map names to a role or settings")
    out: dict[str, Member] = {}
    for name, entry in raw.items():
        where = at("users", name)
        if isinstance(entry, str):
            entry = {"role": entry}
        if not isinstance(name, str) or not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: a user entry is a role name or a mapping")
        attributes = {str(k): v for k, v in entry.items() if k != "role"}
        role = entry.get("role")
        if role is not None and role not in roles:
            raise ConfigError(
                f"{where}: user {name!r} has the role {role!r}, which is not defined",
                hint=f"Roles: {', '.join(sorted(roles)) or 'none defined'}",
            )
        out[name.casefold()] = Member(name, role, attributes, where)
    return out


def _groups(raw: Any, roles: Mapping[str, Role], at: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at('groups')}: groups must map group names to roles")
    out: list[tuple[str, str]] = []
    for group, role in raw.items():
        if not isinstance(role, str) or role not in roles:
            raise ConfigError(
                f"{at('groups', group)}: group {group!r} maps to {role!r}, which is not a role",
                hint=f"Roles: {', '.join(sorted(roles)) or 'none defined'}",
            )
        out.append((str(group), role))
    return tuple(out)
