"""Each answer as an OpenTelemetry trace, for the team's own observability stack.

With ``SQLAGENT_OTEL=on`` every answer (``Agent.ask`` and ``Agent.sql``, so the CLI, the
dashboard and the MCP server alike) becomes one trace: a root span for the request, one span
per step of the chain (``context``, ``generate``, ``check``, ``execute``, ``repair``,
``narrate`` ...) with its outcome, and under each model call a span that follows the
OpenTelemetry GenAI semantic conventions (``chat <model>``, ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` and
``output_tokens``; its duration is the latency). The spans are written from the answer's
trace once it is complete, with the times the steps really took, and sent by the SDK's
OTLP exporter configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables.

What a span may carry is bounded by what the person may see: the SQL only of an answer that
passed the guard (a refused attempt may name a denied column), row counts, error types and
error messages stripped of the values they quote; never result values.

The ``opentelemetry`` packages (the ``otel`` extra) are imported only when this is on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..guard.redact import scrub_values

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from ..types import Answer, Step

ENV = "SQLAGENT_OTEL"
INSTALL_HINT = 'pip install "sqlagent[otel]"'
_MAX_TEXT = 4000


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Is ``SQLAGENT_OTEL`` on?"""
    env = os.environ if environ is None else environ
    return (env.get(ENV) or "off").strip().lower() in ("on", "1", "true", "yes")


class AnswerSpans:
    """Writes answers as traces through ``provider`` (an SDK ``TracerProvider``)."""

    def __init__(self, provider: TracerProvider, *, base_url: str | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("sqlagent")
        except PackageNotFoundError:  # run from a source tree that was never installed
            release = None
        self.provider = provider
        self._tracer = provider.get_tracer("sqlagent", release)
        self._server = urlsplit(base_url) if base_url else None

    def export(
        self,
        answer: Answer,
        *,
        operation: str,
        database: str,
        dialect: str,
        user: str | None = None,
        role: str | None = None,
    ) -> None:
        """One trace for ``answer`` (``operation`` is ``ask`` or ``sql``)."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        steps = [s for s in answer.trace.steps if s.started is not None]
        end = time.time()
        start = min((s.started for s in steps if s.started is not None), default=end)
        end = max([end, *((s.started or 0) + s.duration for s in steps)])
        attributes: dict[str, Any] = {
            "sqlagent.operation": operation,
            "sqlagent.kind": answer.kind,
            "sqlagent.verified": answer.verified,
            "db.system.name": dialect,
            "db.namespace": database,
            "sqlagent.question": answer.question[:_MAX_TEXT],
            "sqlagent.prompt_version": answer.trace.prompt_version,
        }
        if answer.ok:
            attributes["db.query.text"] = (answer.sql or "")[:_MAX_TEXT]
            attributes["db.response.returned_rows"] = answer.row_count
            attributes["sqlagent.truncated"] = answer.truncated
        if user:
            attributes["user.id"] = user
        if role:
            attributes["sqlagent.role"] = role
        usage = answer.trace.usage
        if usage.total_tokens:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        root = self._tracer.start_span(
            f"sqlagent {operation}", start_time=_ns(start), attributes=attributes
        )
        if answer.kind == "error" and answer.error is not None:
            root.set_attribute("error.type", answer.error.type)
            message = _safe_error(answer.error.type, answer.error.message)
            root.set_status(Status(StatusCode.ERROR, message))
        parent = trace.set_span_in_context(root)
        for step in steps:
            self._step(step, parent, answer)
        root.end(end_time=_ns(end))

    def _step(self, step: Step, parent: Any, answer: Answer) -> None:
        """The span of one step of the chain, with its model call under it."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode

        started = step.started or 0.0
        attributes: dict[str, Any] = {"sqlagent.step": step.name}
        error = step.detail.get("error") if isinstance(step.detail, Mapping) else None
        for key in ("attempt", "tables", "candidates", "regenerated", "replaced_by_listing"):
            value = step.detail.get(key)
            if isinstance(value, (bool, int, float, str)):
                attributes[f"sqlagent.{key}"] = value
        if "removed_markup" in step.detail:
            attributes["sqlagent.removed_markup"] = len(step.detail["removed_markup"])
        attributes["sqlagent.outcome"] = "error" if error else "ok"
        if step.name == "execute" and not error and answer.ok:
            attributes["db.response.returned_rows"] = answer.row_count
        span = self._tracer.start_span(
            f"sqlagent.{step.name}",
            context=parent,
            start_time=_ns(started),
            attributes=attributes,
        )
        if error:
            kind = str(error.get("type", "Error"))
            span.set_attribute("error.type", kind)
            message = _safe_error(kind, str(error.get("message", "")))
            span.set_status(Status(StatusCode.ERROR, message))
        if step.usage is not None:  # the step called the model
            self._model_call(step, trace.set_span_in_context(span), answer, error)
        span.end(end_time=_ns(started + step.duration))

    def _model_call(self, step: Step, parent: Any, answer: Answer, error: Any) -> None:
        """The GenAI span of a model call: ``chat <model>`` with its tokens."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        model = answer.trace.model or "unknown"
        usage = step.usage
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.request.temperature": 0.0,
        }
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if self._server is not None and self._server.hostname:
            attributes["server.address"] = self._server.hostname
            if self._server.port:
                attributes["server.port"] = self._server.port
        span = self._tracer.start_span(
            f"chat {model}",
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=_ns(step.started or 0.0),
            attributes=attributes,
        )
        if error and str(error.get("type", "")).startswith("LLM"):
            span.set_attribute("error.type", str(error.get("type")))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=_ns((step.started or 0.0) + step.duration))

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Send what is buffered (the exporter batches)."""
        return bool(self.provider.force_flush(timeout_ms))


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _safe_error(kind: str, message: str) -> str:
    """An error message fit for a span: a policy refusal only by type (it may name what is
    denied), others without the values they quote."""
    if kind == "PolicyViolation":
        return "refused by the policy"
    return scrub_values(message)[:_MAX_TEXT]


def from_env(
    environ: Mapping[str, str] | None = None, *, base_url: str | None = None
) -> AnswerSpans | None:
    """The exporter ``SQLAGENT_OTEL`` asks for, or None when it is off.

    Spans go through the SDK's OTLP exporter: over HTTP/protobuf by default, gRPC when
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` (or ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``) says ``grpc``;
    endpoint, headers and timeouts come from the standard ``OTEL_EXPORTER_OTLP_*``
    variables, the service name from ``OTEL_SERVICE_NAME`` (default ``sqlagent``).
    """
    env = os.environ if environ is None else environ
    if not enabled(env):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError(
            f"{ENV}=on needs the OpenTelemetry SDK.", hint=f"Install it: {INSTALL_HINT}"
        ) from None
    protocol = (
        (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        .strip()
        .lower()
    )
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        elif protocol in ("http/protobuf", "http/json"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment,unused-ignore]
                OTLPSpanExporter,
            )
        else:
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not one sqlagent can send.",
                hint="Use http/protobuf (the default) or grpc.",
            )
    except ImportError:
        raise ConfigError(
            f"{ENV}=on needs the OTLP exporter for {protocol}.",
            hint=f"Install it: {INSTALL_HINT}"
            + (' and "opentelemetry-exporter-otlp-proto-grpc"' if protocol == "grpc" else ""),
        ) from None
    service = env.get("OTEL_SERVICE_NAME") or "sqlagent"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return AnswerSpans(provider, base_url=base_url)
