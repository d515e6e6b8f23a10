"""Access tokens of the MCP server's users, kept in the store as hashes.

    tokens = TokenStore()                        # the history's store (file or URL)
    record, secret = tokens.add("alice", groups=("sales",), attributes={"region": "AZ"})
    tokens.identify(secret)                      # -> the record (None: unknown or revoked)
    tokens.revoke("alice")                       # by token id or user name

A token is ``sqa_<id>_<secret>``: the id (not secret) finds the row, the SHA-256 of the whole
token is compared in constant time with the stored one. The token itself is never stored,
so it is shown once, when it is made. The table is migration 4 of
``sqlagent.store.backends``: the same store as the history, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .backends import Backend, is_url, open_backend

if TYPE_CHECKING:
    from ..access.identity import Identity

__all__ = ["PREFIX", "AccessToken", "TokenStore", "parse_attributes"]

PREFIX = "sqa_"
"""What every access token starts with (secret scanners can look for it)."""
_TOKEN = re.compile(r"^sqa_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset({"name", "groups"})
"""Attributes every identity has already (its name and groups)."""
LAST_USED_EVERY = 60.0
"""Seconds between two writes of a token's ``last_used_at``: a request reads, seldom writes."""

_COLUMNS = "id, user_name, user_groups, user_attributes, created_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class AccessToken:
    """One token as stored (without its secret)."""

    id: str
    user: str
    groups: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    revoked_at: str | None = None
    last_used_at: str | None = None

    @property
    def revoked(self) -> bool:
        """True once revoked: the token is refused from then on."""
        return self.revoked_at is not None

    def identity(self) -> Identity:
        """The person this token stands for (``via="token"``)."""
        from ..access.identity import Identity

        return Identity(name=self.user, groups=self.groups, via="token").with_attributes(
            self.attributes
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (no secret: there is none to give)."""
        return {
            "id": self.id,
            "user": self.user,
            "groups": list(self.groups),
            "attributes": dict(self.attributes),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(row: tuple[Any, ...]) -> AccessToken:
    id_, user, groups, attributes, created, revoked, used = row
    return AccessToken(
        id=str(id_),
        user=str(user),
        groups=tuple(json.loads(groups or "[]")),
        attributes=json.loads(attributes or "{}"),
        created_at=str(created),
        revoked_at=revoked,
        last_used_at=used,
    )


def parse_attributes(items: Iterable[str]) -> dict[str, Any]:
    """``k=v`` strings as attributes; a name given twice collects its values in a list.

    Raises ``UsageError`` for a missing ``=``, a name that a row filter could not read
    (``:user.<name>``), or ``name``/``groups`` (every identity has those already).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--attr takes NAME=VALUE (e.g. region=AZ), not {item!r}")
        if not _ATTRIBUTE.match(key):
            raise UsageError(
                f"Attribute name {key!r} is not one a row filter can read as :user.<name>: "
                "use letters, digits and _ (not starting with a digit)."
            )
        if key in _RESERVED:
            raise UsageError(f"{key!r} is set from the user itself; pick another attribute name")
        if key in out:
            before = out[key]
            out[key] = [*(before if isinstance(before, list) else [before]), value]
        else:
            out[key] = value
    return out


def _check_user(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        raise UsageError(
            f"A user name is 1 to 200 printable characters, not {name[:40]!r}",
            hint="Use the name the policy file's users section knows them by (an email, say).",
        )
    return name


class TokenStore:
    """The access tokens in a store: a history file (by default the user's) or a URL.

    A file that does not exist yet holds no tokens and is not created by reading it, so an
    MCP server that nobody has added users to leaves no file behind.
    """

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        from .history import default_path

        self._location: str | Path = (
            str(location)
            if location is not None and is_url(location)
            else Path(location if location is not None else default_path())
        )
        self._backend: Backend | None = None

    @property
    def location(self) -> str:
        """The file or URL (password masked)."""
        if self._backend is not None:
            return self._backend.location
        from .backends import mask_url

        return mask_url(str(self._location))

    def _open(self, *, create: bool) -> Backend | None:
        if self._backend is None:
            if isinstance(self._location, Path) and not create and not self._location.exists():
                return None
            self._backend = open_backend(self._location)
        return self._backend

    def _read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        backend = self._open(create=False)
        return [] if backend is None else backend.read(sql, params)

    # ------------------------------------------------------------------ API

    def add(
        self,
        user: str,
        *,
        groups: Iterable[str] = (),
        attributes: Mapping[str, Any] | None = None,
    ) -> tuple[AccessToken, str]:
        """A new token for ``user``: its record and the token itself (shown once, never
        stored)."""
        user = _check_user(user)
        clean_groups = tuple(dict.fromkeys(g.strip() for g in groups if g.strip()))
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        record = AccessToken(
            id=token_id,
            user=user,
            groups=clean_groups,
            attributes=dict(attributes or {}),
            created_at=_now(),
        )
        backend = self._open(create=True)
        assert backend is not None
        with backend.write() as run:
            run(
                "INSERT INTO access_tokens (id, secret_sha256, user_name, user_groups, "
                "user_attributes, created_at) VALUES (:id, :digest, :user, :groups, "
                ":attributes, :created)",
                {
                    "id": token_id,
                    "digest": _digest(token),
                    "user": user,
                    "groups": json.dumps(list(clean_groups), ensure_ascii=False),
                    "attributes": json.dumps(record.attributes, ensure_ascii=False),
                    "created": record.created_at,
                },
            )
        return record, token

    def list(self, *, user: str | None = None) -> builtins.list[AccessToken]:
        """Every token (revoked ones too), oldest first; only ``user``'s when named."""
        where = " WHERE user_name = :user" if user is not None else ""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM access_tokens{where} ORDER BY created_at, id",
            {"user": user},
        )
        return [_record(r) for r in rows]

    def has_tokens(self) -> bool:
        """True once any token was made (revoked ones count: the server stays closed)."""
        return bool(self._read("SELECT 1 FROM access_tokens LIMIT 1"))

    def revoke(self, key: str) -> builtins.list[AccessToken]:
        """Revoke the token with id ``key``, else every live token of the user ``key``;
        returns those revoked. Raises ``UsageError`` when ``key`` is neither."""
        key = key.strip()
        backend = self._open(create=False)
        if backend is None or not key:
            raise UsageError(f"No access token or user {key!r} in {self.location}")
        now = _now()
        with backend.write() as run:
            rows = run(f"SELECT {_COLUMNS} FROM access_tokens WHERE id = :key", {"key": key})
            if not rows:
                rows = run(
                    f"SELECT {_COLUMNS} FROM access_tokens WHERE user_name = :key "
                    "ORDER BY created_at, id",
                    {"key": key},
                )
            if not rows:
                raise UsageError(
                    f"No access token or user {key!r} in {self.location}",
                    hint="See `sqlagent users list` for the ids and users.",
                )
            live = [r for r in rows if r[5] is None]
            for row in live:
                run(
                    "UPDATE access_tokens SET revoked_at = :now WHERE id = :id",
                    {"now": now, "id": row[0]},
                )
        return [_record((*r[:5], now, r[6])) for r in live]

    def identify(self, token: str) -> AccessToken | None:
        """The live token ``token`` is, or None (malformed, unknown or revoked). Raises
        ``StoreError`` when the store cannot be read: the caller must not let anyone in."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        rows = self._read(
            f"SELECT {_COLUMNS}, secret_sha256 FROM access_tokens WHERE id = :id",
            {"id": match.group(1)},
        )
        if not rows or not hmac.compare_digest(str(rows[0][-1]), _digest(token)):
            return None
        record = _record(rows[0][:-1])
        if record.revoked:
            return None
        self._touch(record)
        return record

    def _touch(self, record: AccessToken) -> None:
        """Note when the token was last used, at most every ``LAST_USED_EVERY`` seconds."""
        from .backends import StoreError

        now = _dt.datetime.now(_dt.timezone.utc)
        if record.last_used_at is not None:
            try:
                last = _dt.datetime.fromisoformat(record.last_used_at)
            except ValueError:
                last = None
            if last is not None and (now - last).total_seconds() < LAST_USED_EVERY:
                return
        backend = self._open(create=False)
        if backend is None:
            return
        try:
            with backend.write() as run:
                run(
                    "UPDATE access_tokens SET last_used_at = :now WHERE id = :id",
                    {"now": now.isoformat(timespec="seconds"), "id": record.id},
                )
        except StoreError:
            pass  # a busy store delays the note, never the request
