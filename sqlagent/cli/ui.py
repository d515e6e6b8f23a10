"""``sqlagent ui``: the browser dashboard, started after the database and policy check out."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import ConfigError
from .common import EXIT_OK, _settings

if TYPE_CHECKING:
    from ..access.signin import SignIn


def dashboard_app() -> Path:
    """Where the dashboard's Streamlit script is: ``ui/app.py`` beside the package."""
    return Path(__file__).resolve().parents[2] / "ui" / "app.py"


def _sign_in(args: argparse.Namespace, env: dict[str, str], app: Path) -> SignIn:
    """How the dashboard will sign people in, with ``--auth`` and ``--trusted-header``
    put into ``env``. Raises ``ConfigError`` for an incomplete or unreadable ``[auth]``
    section, or one given together with a trusted header."""
    from ..access import signin

    if args.trusted_header is not None:
        if not args.trusted_header.strip():
            raise ConfigError("--trusted-header needs a header's name (X-Forwarded-User).")
        env[signin.ENV_HEADER] = args.trusted_header.strip()
    auth_file = args.auth or env.get(signin.ENV_AUTH_FILE)
    if auth_file:
        path = Path(auth_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"The secrets file {path} does not exist.")
        section = signin.read_auth_section([path])
        if section is None:
            raise ConfigError(f"The secrets file {path} has no [auth] section.")
        env[signin.ENV_AUTH_FILE] = str(path.resolve())
    else:
        section = signin.read_auth_section(signin.secrets_files(app=app))
    return signin.sign_in(section, env)


def streamlit_command(args: argparse.Namespace, app: Path) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` command line and environment for ``args``. Raises
    ``ConfigError`` when the dashboard would serve data to other machines without signing
    people in."""
    from ..access.signin import ENV_AUTH_FILE, check_bind

    env = dict(os.environ)
    mode = _sign_in(args, env, app)
    check_bind(args.host, mode)
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.address",
        args.host,
        "--browser.gatherUsageStats",
        "false",
    ]
    if env.get(ENV_AUTH_FILE):
        cmd += ["--secrets.files", env[ENV_AUTH_FILE]]
    if args.headless:
        cmd += ["--server.headless", "true"]
    if args.db:
        env["SQLAGENT_DB"] = args.db
    if args.max_rows:
        env["SQLAGENT_MAX_ROWS"] = str(args.max_rows)
    if args.timeout:
        env["SQLAGENT_STATEMENT_TIMEOUT"] = str(args.timeout)
    if args.policy:
        env["SQLAGENT_POLICY"] = args.policy
    return cmd, env


def _cmd_ui(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..db.targets import parse_target

    app = dashboard_app()
    if not app.exists():
        raise ConfigError(
            f"The dashboard app is not at {app}.",
            hint="Install sqlagent from a clone of its repository (pip install -e .).",
        )
    # Mistakes are reported here, with exit code 2, not later on the page.
    cmd, env = streamlit_command(args, app)
    _settings(args)  # the policy file, --max-rows, --timeout
    if args.db:
        from ..db import connect

        parse_target(args.db)
        connect(args.db).close()  # a wrong URL, driver, password or host

    host = args.host if ":" not in args.host else f"[{args.host}]"
    out.write(f"Starting the dashboard on http://{host}:{args.port}\n")
    out.flush()
    # Streamlit takes this process over, so stopping it (Ctrl-C, kill) stops the server.
    os.execve(sys.executable, cmd, env)
    return EXIT_OK  # not reached
