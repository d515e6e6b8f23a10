"""How the dashboard identifies people: the [auth] section, the trusted header, the bind
check, claims and headers to identities, and the provider probe (against real HTTP)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlagent.access.signin import (
    ENV_GROUPS_HEADER,
    ENV_HEADER,
    SignIn,
    check_bind,
    claims_identity,
    header_identity,
    is_loopback,
    probe_provider,
    providers,
    read_auth_section,
    sign_in,
)
from sqlagent.errors import AccessDenied, ConfigError, SignInUnavailable

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "0123456789abcdef0123456789",
    "client_id": "dash",
    "client_secret": "s3cret",
    "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration",
}


def _toml(section: dict[str, str]) -> str:
    return "[auth]\n" + "".join(f'{k} = "{v}"\n' for k, v in section.items())


def test_the_auth_section_is_merged_from_the_files_as_streamlit_does(tmp_path: Path) -> None:
    first = tmp_path / "home.toml"
    first.write_text(_toml({**AUTH, "client_id": "from-home"}))
    second = tmp_path / "project.toml"
    second.write_text('[other]\nx = "1"\n')
    third = tmp_path / "app.toml"
    third.write_text(_toml(AUTH))
    missing = tmp_path / "none.toml"
    assert read_auth_section([missing]) is None
    assert read_auth_section([first, second, missing])["client_id"] == "from-home"
    assert read_auth_section([first, third])["client_id"] == "dash"  # the later file wins
    broken = tmp_path / "broken.toml"
    broken.write_text("[auth\n")
    with pytest.raises(ConfigError, match=r"broken.toml is not valid TOML"):
        read_auth_section([broken])


def test_providers_default_and_named_and_incomplete_ones() -> None:
    [default] = providers(AUTH)
    assert default.name == "default" and default.metadata_url == AUTH["server_metadata_url"]
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    named = providers({**shared, "corp": provider, "client_kwargs": {"prompt": "login"}})
    assert [p.name for p in named] == ["corp"]
    assert providers(None) == () and providers({}) == ()
    with pytest.raises(ConfigError, match="lacks cookie_secret"):
        providers({k: v for k, v in AUTH.items() if k != "cookie_secret"})
    with pytest.raises(ConfigError, match=r"\[auth.corp\] section lacks client_secret"):
        providers({**shared, "corp": {**provider, "client_secret": ""}})
    with pytest.raises(ConfigError, match="names no provider"):
        providers(shared)
    with pytest.raises(ConfigError, match="must be an http"):
        providers({**AUTH, "server_metadata_url": "file:///etc/passwd"})


def test_the_mode_comes_from_the_auth_section_or_the_header_setting() -> None:
    assert sign_in(None, {}).mode == "local" and not sign_in(None, {}).names_people
    oidc = sign_in(AUTH, {})
    assert oidc.mode == "oidc" and oidc.names_people
    header = sign_in(None, {ENV_HEADER: " X-Forwarded-User ", ENV_GROUPS_HEADER: "X-Groups"})
    assert (header.mode, header.header, header.groups_header) == (
        "header",
        "X-Forwarded-User",
        "X-Groups",
    )
    with pytest.raises(ConfigError, match="Both an \\[auth\\] section"):
        sign_in(AUTH, {ENV_HEADER: "X-Forwarded-User"})
    with pytest.raises(ConfigError, match=f"{ENV_GROUPS_HEADER} is set without"):
        sign_in(None, {ENV_GROUPS_HEADER: "X-Groups"})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("192.168.1.20", False),
        ("dashboard.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_address_needs_someone_to_sign_people_in() -> None:
    check_bind("127.0.0.1", SignIn("local"))
    check_bind("0.0.0.0", SignIn("header", header="X-Forwarded-User"))
    check_bind("0.0.0.0", sign_in(AUTH, {}))
    refused = r"Refusing to serve the dashboard on 0\.0\.0\.0"
    with pytest.raises(ConfigError, match=refused) as caught:
        check_bind("0.0.0.0", SignIn("local"))
    assert caught.value.hint and "--auth" in caught.value.hint
    with pytest.raises(ConfigError, match="every interface"):
        check_bind("", SignIn("local"))


HEADER = SignIn("header", header="X-Forwarded-User", groups_header="X-Forwarded-Groups")


class _Headers:
    """Repeated headers, as Streamlit's ``st.context.headers`` keeps them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k.lower() == key.lower()]


def test_the_proxy_header_names_the_person_and_their_groups() -> None:
    person = header_identity(
        {"x-forwarded-user": "alice@example.com", "X-Forwarded-Groups": "sales, west,,sales"},
        HEADER,
    )
    assert person.name == "alice@example.com" and person.via == "header"
    assert person.groups == ("sales", "west")
    same = _Headers([("X-Forwarded-User", "bob"), ("x-forwarded-user", "bob")])
    assert header_identity(same, HEADER).name == "bob"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "carries no X-Forwarded-User header"),
        ({"X-Forwarded-User": "   "}, "carries no X-Forwarded-User header"),
        (_Headers([("X-Forwarded-User", "mallory"), ("X-Forwarded-User", "admin")]), "2 different"),
        ({"X-Forwarded-User": "a\nb"}, "does not hold a name"),
        ({"X-Forwarded-User": "x" * 400}, "does not hold a name"),
    ],
)
def test_a_missing_or_doubtful_header_lets_nobody_in(headers: object, message: str) -> None:
    with pytest.raises(AccessDenied, match=message):
        header_identity(headers, HEADER)


def test_claims_become_an_identity_without_the_tokens_own_claims() -> None:
    claims = {
        "is_logged_in": True,
        "provider": "default",
        "origin": "http://localhost:8501",
        "iss": "http://127.0.0.1:9400",
        "aud": "dash",
        "exp": 1,
        "nonce": "n",
        "sub": "bob",
        "email": "bob@example.com",
        "city": "Tucson",
        "roles": ["west"],
    }
    person = claims_identity(claims, group_claim="roles")
    assert person.name == "bob@example.com" and person.via == "oidc"
    assert person.groups == ("west",)
    assert dict(person.attributes) == {"sub": "bob", "email": "bob@example.com", "city": "Tucson"}
    with pytest.raises(AccessDenied, match="no usable name"):
        claims_identity({"is_logged_in": True, "iss": "x"})


class _Discovery(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        bodies = {
            "/ok": (200, json.dumps({"issuer": "x", "authorization_endpoint": "http://x/a"})),
            "/broken": (500, "oops"),
            "/html": (200, "<html>not a discovery document</html>"),
        }
        status, body = bodies.get(self.path, (404, "no"))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def discovery() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_provider_probe_says_why_signing_in_is_unavailable(discovery: str) -> None:
    assert probe_provider(f"{discovery}/ok")["authorization_endpoint"] == "http://x/a"
    with pytest.raises(SignInUnavailable, match="answered HTTP 500"):
        probe_provider(f"{discovery}/broken")
    with pytest.raises(SignInUnavailable, match="did not send an OpenID Connect discovery"):
        probe_provider(f"{discovery}/html")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SignInUnavailable, match=rf"127.0.0.1:{port} cannot be reached"):
        probe_provider(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    assert issubclass(SignInUnavailable, AccessDenied)  # never a way in
