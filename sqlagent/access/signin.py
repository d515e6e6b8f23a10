"""How the dashboard knows who is using it: OpenID Connect, a trusted proxy's header, or
nobody but the person at this machine.

* ``oidc``: an ``[auth]`` section in Streamlit's secrets (``.streamlit/secrets.toml``, or
  the file ``sqlagent ui --auth`` names) configures ``st.login``; people sign in with the
  provider and their claims become an ``Identity``.
* ``header``: ``SQLAGENT_TRUSTED_HEADER`` names the header a reverse proxy sets to the
  signed-in person's name (``SQLAGENT_TRUSTED_GROUPS_HEADER`` optionally their groups,
  comma-separated). Only safe when nothing but the proxy can reach the dashboard.
* ``local``: neither; one person on this machine, the operating-system user.

A dashboard bound to an address other than loopback must use one of the first two
(``check_bind``). Nothing here imports Streamlit: the command line checks the same rules
before it starts the server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomllib

from ..errors import AccessDenied, ConfigError, SignInUnavailable
from .identity import Identity

Mode = Literal["oidc", "header", "local"]

ENV_AUTH_FILE = "SQLAGENT_AUTH_FILE"
ENV_HEADER = "SQLAGENT_TRUSTED_HEADER"
ENV_GROUPS_HEADER = "SQLAGENT_TRUSTED_GROUPS_HEADER"

PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SHARED_KEYS = ("redirect_uri", "cookie_secret")

# Claims about the token rather than the person: not attributes for row filters.
_TOKEN_CLAIMS = frozenset(
    {
        "is_logged_in", "origin", "provider", "iss", "aud", "exp", "iat", "nbf", "nonce",
        "at_hash", "c_hash", "auth_time", "azp", "sid", "jti", "tokens",
    }
)  # fmt: skip
_MAX_NAME = 320
"""The longest name a header may carry (an email address's limit)."""


@dataclass(frozen=True)
class Provider:
    """One OpenID Connect provider of the ``[auth]`` section: the name ``st.login`` takes
    (``default`` for the keys at the top of the section) and its discovery document."""

    name: str
    metadata_url: str


@dataclass(frozen=True)
class SignIn:
    """How this dashboard identifies people."""

    mode: Mode
    providers: tuple[Provider, ...] = ()
    header: str | None = None
    groups_header: str | None = None

    @property
    def names_people(self) -> bool:
        """True when people sign in (OIDC or a proxy), not just the person at this machine."""
        return self.mode != "local"


def secrets_files(cwd: Path | None = None, app: Path | None = None) -> tuple[Path, ...]:
    """The secrets files Streamlit reads by default, in its order (later ones win): the
    user's ``~/.streamlit``, the working directory's, the app's folder's."""
    cwd = cwd or Path.cwd()
    files = [Path.home() / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]
    if app is not None:
        script = app.resolve().parent / ".streamlit" / "secrets.toml"
        if script not in files:
            files.append(script)
    return tuple(files)


def read_auth_section(files: Sequence[Path]) -> dict[str, Any] | None:
    """The ``[auth]`` section of the first-to-last merge of ``files`` (as Streamlit merges
    them), or None when none has one. Raises ``ConfigError`` for a file that is not TOML."""
    section: dict[str, Any] | None = None
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"The secrets file {path} cannot be read: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"The secrets file {path} is not valid TOML: {exc}") from None
        auth = data.get("auth")
        if isinstance(auth, Mapping):
            section = dict(auth)
    return section


def providers(auth: Mapping[str, Any] | None) -> tuple[Provider, ...]:
    """The providers an ``[auth]`` section configures. Raises ``ConfigError`` naming the
    missing keys when the section is incomplete (a half-configured sign-in must not let
    anyone in)."""
    if not auth:
        return ()
    missing = [k for k in SHARED_KEYS if not auth.get(k)]
    if missing:
        raise ConfigError(
            f"The [auth] section lacks {', '.join(missing)}.",
            hint="Set redirect_uri (http://HOST:PORT/oauth2callback) and a long random "
            "cookie_secret; see the README's 'Signing in to the dashboard'.",
        )
    found: list[Provider] = []
    if any(k in auth for k in PROVIDER_KEYS):
        found.append(_provider("default", auth))
    for name, value in auth.items():
        if isinstance(value, Mapping) and name != "client_kwargs":
            found.append(_provider(str(name), value))
    if not found:
        raise ConfigError(
            "The [auth] section names no provider.",
            hint="Set client_id, client_secret and server_metadata_url in [auth] (or in "
            "[auth.NAME] for each provider).",
        )
    return tuple(found)


def _provider(name: str, section: Mapping[str, Any]) -> Provider:
    where = "[auth]" if name == "default" else f"[auth.{name}]"
    missing = [k for k in PROVIDER_KEYS if not section.get(k)]
    if missing:
        raise ConfigError(f"The {where} section lacks {', '.join(missing)}.")
    url = str(section["server_metadata_url"])
    if urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(f"{where} server_metadata_url must be an http(s) URL, not {url!r}")
    return Provider(name, url)


def sign_in(
    auth: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> SignIn:
    """How people are identified, from an ``[auth]`` section and the environment.

    Raises ``ConfigError`` when the ``[auth]`` section is incomplete, or when both OIDC and
    a trusted header are configured (the two would disagree about who is asking).
    """
    env = os.environ if environ is None else environ
    header = (env.get(ENV_HEADER) or "").strip()
    groups_header = (env.get(ENV_GROUPS_HEADER) or "").strip() or None
    found = providers(auth)
    if found and header:
        raise ConfigError(
            f"Both an [auth] section (OpenID Connect) and {ENV_HEADER} are configured.",
            hint="Use one way of signing people in: remove one of them.",
        )
    if found:
        return SignIn("oidc", providers=found)
    if header:
        return SignIn("header", header=header, groups_header=groups_header)
    if groups_header:
        raise ConfigError(f"{ENV_GROUPS_HEADER} is set without {ENV_HEADER}.")
    return SignIn("local")


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8,
    ``::1``). An empty host binds every interface, so it is not.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    host = host.strip().strip("[]")
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name that resolves elsewhere, or every interface


def check_bind(host: str, signin: SignIn) -> None:
    """Refuse to serve data on an address other people can reach without signing them in.

    Raises ``ConfigError`` when ``host`` is not loopback and the mode is ``local``.
    """
    if is_loopback(host) or signin.names_people:
        return
    raise ConfigError(
        f"Refusing to serve the dashboard on {host or 'every interface'} without sign-in: "
        "anyone who can reach it would read the data as you.",
        hint="Configure OpenID Connect (an [auth] section, sqlagent ui --auth FILE) or a "
        f"trusted proxy header ({ENV_HEADER}, --trusted-header), or bind 127.0.0.1.",
    )


def header_values(headers: Any, name: str) -> list[str]:
    """Every value of the header ``name`` (case-insensitive) in ``headers``: a mapping, or
    an object with ``get_all`` as Streamlit's ``st.context.headers`` is."""
    get_all = getattr(headers, "get_all", None)
    if callable(get_all):
        return [str(v) for v in get_all(name)]
    wanted = name.casefold()
    return [str(v) for k, v in dict(headers).items() if str(k).casefold() == wanted]


def header_identity(headers: Any, signin: SignIn) -> Identity:
    """The person the trusted proxy names in its header.

    Raises ``AccessDenied`` when the header is missing, empty, repeated (a client's own
    header beside the proxy's) or implausible: nobody is let in as somebody unnamed.
    """
    assert signin.header is not None
    values = [v.strip() for v in header_values(headers, signin.header)]
    if not values or not values[0]:
        raise AccessDenied(
            f"The request carries no {signin.header} header naming who you are.",
            hint="Open the dashboard through the sign-in proxy.",
        )
    if len(values) > 1 and len(set(values)) > 1:
        raise AccessDenied(f"The request carries {len(values)} different {signin.header} headers.")
    name = values[0]
    if len(name) > _MAX_NAME or any(ord(c) < 32 for c in name):
        raise AccessDenied(f"The {signin.header} header does not hold a name.")
    groups: tuple[str, ...] = ()
    if signin.groups_header:
        raw = ",".join(header_values(headers, signin.groups_header))
        groups = tuple(dict.fromkeys(g.strip() for g in raw.split(",") if g.strip()))
    return Identity(name=name, groups=groups, via="header")


def claims_identity(claims: Mapping[str, Any], *, group_claim: str = "groups") -> Identity:
    """The signed-in person from their OpenID Connect claims (``st.user``), without the
    claims that describe the token. Raises ``AccessDenied`` when no claim names them."""
    person = {k: v for k, v in claims.items() if k not in _TOKEN_CLAIMS}
    try:
        return Identity.from_claims(person, via="oidc", group_claim=group_claim)
    except ValueError as exc:
        raise AccessDenied(f"Signing in gave no usable name: {exc}.") from None


def probe_provider(url: str, *, timeout: float = 3.0) -> dict[str, Any]:
    """The provider's discovery document; raises ``SignInUnavailable`` (saying why) when it
    cannot be read, so the page says so instead of sending people to a dead link."""
    host = urlsplit(url).netloc or url
    hint = "Try again in a moment. If it persists, the administrator should check the provider."
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = reply.read(1_000_000)
    except urllib.error.HTTPError as exc:
        raise SignInUnavailable(
            f"Signing in is unavailable: the identity provider at {host} answered "
            f"HTTP {exc.code}.",
            hint=hint,
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SignInUnavailable(
            f"Signing in is unavailable: the identity provider at {host} cannot be reached "
            f"({reason}).",
            hint=hint,
        ) from None
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not document.get("authorization_endpoint"):
        raise SignInUnavailable(
            f"Signing in is unavailable: {host} did not send an OpenID Connect discovery "
            "document.",
            hint="The administrator should check server_metadata_url in the [auth] section.",
        )
    return document
