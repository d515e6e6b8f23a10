"""``sqlagent ui``: the browser dashboard, started after the database and policy check out."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError
from .common import EXIT_OK, _settings


def dashboard_app() -> Path:
    """Where the dashboard's Streamlit script is: ``ui/app.py`` beside the package."""
    return Path(__file__).resolve().parents[2] / "ui" / "app.py"


def _cmd_ui(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..db.targets import parse_target

    # Mistakes are reported here, with exit code 2, not later on the page.
    _settings(args)  # the policy file, --max-rows, --timeout
    if args.db:
        from ..db import connect

        parse_target(args.db)
        connect(args.db).close()  # a wrong URL, driver, password or host

    app = dashboard_app()
    if not app.exists():
        raise ConfigError(
            f"The dashboard app is not at {app}.",
            hint="Install sqlagent from a clone of its repository (pip install -e .).",
        )
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
    ]
    if args.headless:
        cmd += ["--server.headless", "true"]
    env = dict(os.environ)
    if args.db:
        env["SQLAGENT_DB"] = args.db
    if args.max_rows:
        env["SQLAGENT_MAX_ROWS"] = str(args.max_rows)
    if args.timeout:
        env["SQLAGENT_STATEMENT_TIMEOUT"] = str(args.timeout)
    if args.policy:
        env["SQLAGENT_POLICY"] = args.policy
    out.write(f"Starting the dashboard on http://localhost:{args.port}\n")
    out.flush()
    # Streamlit takes this process over, so stopping it (Ctrl-C, kill) stops the server.
    os.execve(sys.executable, cmd, env)
    return EXIT_OK  # not reached
