"""Counters and latency histograms for operators, in Prometheus' text format.

Every answer an agent gives (``Agent.ask`` / ``Agent.sql``) is counted here, by interface
(``cli``, ``mcp``, ``ui``, ``api``), operation (``ask``, ``sql``) and outcome (``answer``,
``refusal``, ``clarification``, ``error``); guard refusals and statement timeouts have
counters of their own, and the request's duration goes into a histogram. Counting costs a
lock and a few additions, so it is always on; exposing the numbers is opt-in:
``SQLAGENT_METRICS=[HOST:]PORT`` makes the long-running servers (``sqlagent mcp --http``
and the dashboard) serve ``GET /metrics`` on that address (``127.0.0.1`` unless a host is
given). Labels are names from the code, never values from the data or the question.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..types import Answer

ENV = "SQLAGENT_METRICS"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the latency histogram's buckets."""

_GUARD_REFUSALS = {
    "GuardError",
    "SQLParseError",
    "UnsafeSQL",
    "PolicyViolation",
    "UnknownTable",
    "UnknownColumn",
    "ReadOnlyViolation",
    "AccessDenied",
}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """A registry of the counters and the histogram; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._refusals: dict[Labels, int] = {}
        self._timeouts: dict[Labels, int] = {}
        self._tokens: dict[Labels, int] = {}
        self._latency: dict[Labels, list[float]] = {}  # bucket counts, then sum, then count

    def observe(self, answer: Answer, *, interface: str, operation: str, seconds: float) -> None:
        """Count one answer that took ``seconds``."""
        base = (("interface", interface), ("operation", operation))
        error_type = answer.error.type if answer.error is not None else ""
        usage = answer.trace.usage
        with self._lock:
            _add(self._requests, (*base, ("outcome", answer.kind)))
            if answer.kind == "error" and error_type in _GUARD_REFUSALS:
                _add(self._refusals, (*base, ("reason", error_type)))
            if error_type == "QueryTimeout":
                _add(self._timeouts, base)
            if usage.prompt_tokens:
                _add(self._tokens, (("interface", interface), ("direction", "input")),
                     usage.prompt_tokens)  # fmt: skip
            if usage.completion_tokens:
                _add(self._tokens, (("interface", interface), ("direction", "output")),
                     usage.completion_tokens)  # fmt: skip
            cells = self._latency.setdefault(base, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    cells[i] += 1
            cells[-2] += seconds
            cells[-1] += 1

    def exposition(self) -> str:
        """Everything counted, in the Prometheus text exposition format (0.0.4)."""
        with self._lock:
            requests, refusals = dict(self._requests), dict(self._refusals)
            timeouts, tokens = dict(self._timeouts), dict(self._tokens)
            latency = {k: list(v) for k, v in self._latency.items()}
        out: list[str] = []
        _counter(out, "sqlagent_requests_total", "Answers given, by outcome.", requests)
        _counter(out, "sqlagent_refusals_total", "Queries the guard refused.", refusals)
        _counter(out, "sqlagent_timeouts_total", "Statements stopped at their timeout.", timeouts)
        _counter(out, "sqlagent_llm_tokens_total", "Model tokens, in and out.", tokens)
        name = "sqlagent_request_duration_seconds"
        out.append(f"# HELP {name} Time to answer a request.")
        out.append(f"# TYPE {name} histogram")
        for labels, cells in sorted(latency.items()):
            counts = (*cells[: len(BUCKETS)], cells[-1])  # the +Inf bucket holds every request
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                le = "+Inf" if bound == float("inf") else _number(bound)
                out.append(f"{name}_bucket{_labels((*labels, ('le', le)))} {_number(count)}")
            out.append(f"{name}_sum{_labels(labels)} {_number(cells[-2])}")
            out.append(f"{name}_count{_labels(labels)} {_number(cells[-1])}")
        return "\n".join(out) + "\n"


def _add(table: dict[Labels, int], labels: Labels, n: int = 1) -> None:
    table[labels] = table.get(labels, 0) + n


def _counter(out: list[str], name: str, help_text: str, values: Mapping[Labels, int]) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} counter")
    out.extend(f"{name}{_labels(k)} {v}" for k, v in sorted(values.items()))


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + body + "}" if body else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


METRICS = Metrics()
"""The process's registry: every agent counts into it."""


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` as (host, port); loopback when no host is given."""
    host, _, port = text.strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(
            f"{ENV} must be a port or HOST:PORT, not {text!r}", hint=f"{ENV}=9464"
        ) from None
    if not 0 < number < 65536:
        raise ConfigError(f"{ENV} names port {number}: use 1 to 65535")
    return host, number


class MetricsServer:
    """``GET /metrics`` on a thread of its own."""

    def __init__(self, host: str, port: int, metrics: Metrics = METRICS) -> None:
        # Here, not at the top: every answer counts into METRICS, few processes serve them.
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        registry = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = registry.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a scrape every few seconds is not news

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                hint=f"Choose another address in {ENV}.",
            ) from None
        self.httpd.daemon_threads = True
        self.address = f"http://{host}:{self.httpd.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()


_SERVER: MetricsServer | None = None
_SERVER_LOCK = threading.Lock()


def serve_from_env(environ: Mapping[str, str] | None = None) -> MetricsServer | None:
    """Start the endpoint ``SQLAGENT_METRICS`` names (once per process), or None when unset."""
    global _SERVER
    env = os.environ if environ is None else environ
    text = (env.get(ENV) or "").strip()
    if not text or text.lower() in ("off", "0", "no", "false"):
        return None
    with _SERVER_LOCK:
        if _SERVER is None:
            _SERVER = MetricsServer(*parse_address(text))
        return _SERVER
