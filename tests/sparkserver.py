"""A local Spark Connect server started from the installed ``pyspark`` (local mode, 2 cores).

Tests share one server per session (``spark_server`` in conftest.py). ``$SQLAGENT_TEST_SPARK``
(``sc://host:port``, with ``$SQLAGENT_TEST_SPARK_UI`` for its status API) points them at a
server already running instead, which is how ``.ci/run`` does it:

    python tests/sparkserver.py --serve DIR     # prints the two URLs, serves until killed
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 180.0
"""Seconds allowed for the JVM to start and the server to listen (a busy 2-core machine)."""
DRIVER_MEMORY = "1g"


@dataclass
class SparkServer:
    """A running server: its Spark Connect URL, the base of its UI's REST API, its process."""

    url: str
    ui: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def stop(self) -> None:
        """Stop the server this object started (a server found through the environment is
        left alone)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def unavailable() -> str | None:
    """Why no Spark server can be started here, or None."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java is not installed (Spark needs a JVM: apt-get install openjdk-17-jre-headless)"
    try:
        import pyspark  # noqa: F401
        from pyspark.sql.connect import session  # noqa: F401
    except ImportError as exc:
        return f"pyspark with Spark Connect is not installed ({exc}): pip install -e '.[spark]'"
    return None


def from_environment() -> SparkServer | None:
    """The server named by ``$SQLAGENT_TEST_SPARK``, if any."""
    url = os.environ.get("SQLAGENT_TEST_SPARK")
    if not url:
        return None
    return SparkServer(url, os.environ.get("SQLAGENT_TEST_SPARK_UI", "http://127.0.0.1:4040"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(workdir: Path) -> SparkServer:
    """Start a server whose warehouse and logs live in ``workdir``; raises ``RuntimeError``
    with the log's tail when it does not come up."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port, ui_port = _free_port(), _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "spark-connect.log"
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1")
    cmd = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--driver-memory", DRIVER_MEMORY,
        "--name", "sqlagent-test",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.ui.port={ui_port}",
        "--conf", f"spark.sql.warehouse.dir={workdir / 'warehouse'}",
        "--conf", "spark.sql.catalogImplementation=in-memory",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.ui.showConsoleProgress=false",
        "--conf", f"spark.driver.extraJavaOptions=-Djava.io.tmpdir={workdir}",
        "spark-internal",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = SparkServer(f"sc://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _listening(port):
            return server
        time.sleep(0.5)
    server.stop()
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the Spark Connect server did not start:\n{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Start a local Spark Connect server.")
    parser.add_argument("--serve", metavar="DIR", required=True, help="work folder")
    args = parser.parse_args()
    why = unavailable()
    if why:
        print(f"SKIP {why}", flush=True)
        return 1
    server = start(Path(args.serve))
    print(f"SQLAGENT_TEST_SPARK={server.url}", flush=True)
    print(f"SQLAGENT_TEST_SPARK_UI={server.ui}", flush=True)

    def stop(*_: object) -> None:
        server.stop()
        os._exit(0)  # the main thread is blocked in wait(): leave at once

    signal.signal(signal.SIGTERM, stop)
    try:
        assert server.process is not None
        server.process.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
