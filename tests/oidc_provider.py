"""A real OpenID Connect provider process for the sign-in tests.

It is ``oidc-provider-mock`` (from PyPI, built on Authlib and Flask): discovery, JWKS, an
authorize page with a form (type a subject, or click a predefined user), token, userinfo and
end-session endpoints, signing RS256 ID tokens. Started with ``python -m oidc_provider_mock``
on a free loopback port, its users given as JSON claims; stopped (really: the port closes)
with ``stop``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OIDCProvider:
    """``oidc-provider-mock`` as a process on ``127.0.0.1``; ``users`` are claims with a
    ``sub`` each (they appear as one-click buttons on its authorize page)."""

    def __init__(self, users: Sequence[Mapping[str, Any]], log: Path) -> None:
        self.users = [dict(u) for u in users]
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    def start(self) -> OIDCProvider:
        cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port)]
        for user in self.users:
            cmd += ["--user-claims", json.dumps(user)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the provider exited:\n{self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.metadata_url, timeout=1) as reply:
                    if json.loads(reply.read()).get("authorization_endpoint"):
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the provider did not start in {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
