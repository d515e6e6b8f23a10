"""The person asking: a name, the groups they belong to, and attributes for row filters."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..settings import FilterValue

Via = str
"""How the person was identified: ``local`` (the operating-system user), ``api`` (named by
the caller), ``oidc`` (signed in), ``header`` (a trusted proxy's header), ``token`` (an MCP
bearer token)."""


@dataclass(frozen=True)
class Identity:
    """Who asks. ``attributes`` are what row filters read as ``:user.<name>``; ``name`` is
    also the attribute ``name``, and ``groups`` the attribute ``groups``."""

    name: str
    groups: tuple[str, ...] = ()
    attributes: tuple[tuple[str, FilterValue], ...] = ()
    via: Via = "api"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an identity needs a non-empty name")
        if not isinstance(self.groups, tuple):
            object.__setattr__(self, "groups", tuple(self.groups))
        if isinstance(self.attributes, Mapping):
            object.__setattr__(self, "attributes", _pairs(self.attributes))

    @property
    def values(self) -> dict[str, FilterValue]:
        """The attributes as a mapping, with ``name`` and ``groups`` among them."""
        out: dict[str, FilterValue] = {"name": self.name, "groups": self.groups}
        out.update(self.attributes)
        return out

    def with_attributes(self, extra: Mapping[str, Any]) -> Identity:
        """This identity with ``extra`` attributes added (replacing those of the same name)."""
        merged = dict(self.attributes)
        merged.update({k: _value(v) for k, v in extra.items()})
        return replace(self, attributes=_pairs(merged))

    @classmethod
    def local(cls) -> Identity:
        """The operating-system user running this process."""
        try:
            name = getpass.getuser()
        except Exception:  # no login name (some containers): still one person, on one machine
            name = "local"
        return cls(name=name, via="local")

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], *, via: Via = "oidc", group_claim: str = "groups"
    ) -> Identity:
        """An identity from OpenID Connect claims: the name is ``email``, else
        ``preferred_username``, else ``sub``; groups from ``group_claim``; every other
        scalar or list claim becomes an attribute."""
        name = next(
            (str(claims[k]) for k in ("email", "preferred_username", "sub") if claims.get(k)),
            "",
        )
        if not name:
            raise ValueError("the sign-in provider sent no email, preferred_username or sub")
        raw_groups = claims.get(group_claim) or ()
        groups = (raw_groups,) if isinstance(raw_groups, str) else tuple(raw_groups)
        attributes = {
            k: v
            for k, v in claims.items()
            if k != group_claim and isinstance(v, (str, int, float, bool, list, tuple))
        }
        return cls(
            name=name,
            groups=tuple(str(g) for g in groups),
            attributes=_pairs(attributes),
            via=via,
        )


def coerce_identity(user: Identity | str | Mapping[str, Any]) -> Identity:
    """``user`` as an ``Identity``: a name, a mapping (``name``, ``groups``, attributes) or
    an identity as it is."""
    if isinstance(user, Identity):
        return user
    if isinstance(user, str):
        return Identity(name=user, via="api")
    if isinstance(user, Mapping):
        data = dict(user)
        name = data.pop("name", None)
        groups = data.pop("groups", ())
        if isinstance(groups, str):
            groups = (groups,)
        return Identity(
            name=str(name or ""), groups=tuple(groups), attributes=_pairs(data), via="api"
        )
    raise TypeError(f"a user is a name, a mapping or an Identity, not {type(user).__name__}")


def _value(value: Any) -> FilterValue:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(v if isinstance(v, (str, int, float, bool)) else str(v) for v in value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _pairs(
    items: Mapping[str, Any] | Iterable[tuple[str, Any]],
) -> tuple[tuple[str, FilterValue], ...]:
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple(sorted((str(k), _value(v)) for k, v in pairs))
