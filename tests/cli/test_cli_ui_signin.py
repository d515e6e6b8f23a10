"""``sqlagent ui`` and signing in: loopback by default, another address refused without
OpenID Connect or a trusted header, and the options passed on to Streamlit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqlagent.cli import build_parser
from sqlagent.cli.ui import dashboard_app, streamlit_command
from sqlagent.errors import ConfigError

AUTH = """\
[auth]
redirect_uri = "http://dash.example.com:8501/oauth2callback"
cookie_secret = "0123456789abcdef0123456789abcdef"
client_id = "dash"
client_secret = "s3cret"
server_metadata_url = "https://id.example.com/.well-known/openid-configuration"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sqlagent ui ARGS`` in a fresh process, with no secrets file of the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SQLAGENT_"))}
    env.update(SQLAGENT_HISTORY="off", HOME=str(tmp_path), SQLAGENT_HOME=str(tmp_path / "h"))
    exe = Path(sys.executable).with_name("sqlagent")
    return subprocess.run(
        [str(exe), "ui", "--headless", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_another_address_without_sign_in_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    port = _free_port()
    started = time.monotonic()
    proc = _run(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    assert proc.returncode == 2
    assert "Refusing to serve the dashboard on 0.0.0.0 without sign-in" in proc.stderr
    assert "--auth" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert "Starting the dashboard" not in proc.stdout
    assert time.monotonic() - started < 30 and not _listening(port)


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ("--auth", "nope.toml"), "nope.toml does not exist"),
        ({"s.toml": '[other]\nx = "1"\n'}, ("--auth", "s.toml"), "has no [auth] section"),
        (
            {"s.toml": AUTH.replace('cookie_secret = "0123456789abcdef0123456789abcdef"\n', "")},
            ("--auth", "s.toml"),
            "lacks cookie_secret",
        ),
        ({"s.toml": "[auth\n"}, ("--auth", "s.toml"), "is not valid TOML"),
        (
            {"s.toml": AUTH},
            ("--auth", "s.toml", "--trusted-header", "X-Forwarded-User"),
            "Both an [auth] section",
        ),
        ({}, ("--trusted-header", " "), "needs a header's name"),
    ],
)
def test_a_wrong_sign_in_setting_is_a_usage_error(
    tmp_path: Path, files: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = _run(tmp_path, "--host", "0.0.0.0", "--port", str(_free_port()), *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_secrets_file_in_the_working_directory_counts_as_streamlit_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SQLAGENT_TRUSTED_HEADER", raising=False)
    monkeypatch.delenv("SQLAGENT_AUTH_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["ui", "--host", "0.0.0.0"])
    with pytest.raises(ConfigError, match="Refusing"):
        streamlit_command(args, dashboard_app())
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(AUTH)
    cmd, _ = streamlit_command(args, dashboard_app())
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert "--secrets.files" not in cmd  # Streamlit finds the same file itself


def test_the_options_reach_streamlit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SQLAGENT_TRUSTED_HEADER", raising=False)
    monkeypatch.delenv("SQLAGENT_AUTH_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    parse = build_parser().parse_args
    cmd, env = streamlit_command(parse(["ui"]), dashboard_app())
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"  # loopback by default
    assert "SQLAGENT_TRUSTED_HEADER" not in env

    header = parse(["ui", "--host", "0.0.0.0", "--trusted-header", "X-Forwarded-User"])
    cmd, env = streamlit_command(header, dashboard_app())
    assert env["SQLAGENT_TRUSTED_HEADER"] == "X-Forwarded-User"

    secrets = tmp_path / "auth.toml"
    secrets.write_text(AUTH)
    oidc = parse(["ui", "--host", "::", "--auth", "auth.toml"])
    cmd, env = streamlit_command(oidc, dashboard_app())
    assert cmd[cmd.index("--secrets.files") + 1] == str(secrets.resolve())
    assert env["SQLAGENT_AUTH_FILE"] == str(secrets.resolve())
