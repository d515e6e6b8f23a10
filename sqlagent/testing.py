"""Test doubles for the language model, for sqlagent's tests and for yours.

``ScriptedLLM`` is an in-process model that replies from a script. ``FakeOpenAIServer`` is a
local OpenAI-compatible HTTP server, so that the real ``openai`` client (retries, streaming,
timeouts) can be tested without a network::

    from sqlagent.llm.client import OpenAILLM
    from sqlagent.testing import FakeOpenAIServer, FakeReply

    with FakeOpenAIServer(["SELECT 1", FakeReply(status=500), "SELECT 2"]) as server:
        llm = OpenAILLM("fake-model", base_url=server.base_url)
        assert llm.complete([{"role": "user", "content": "hi"}]).text == "SELECT 1"
"""

from __future__ import annotations

import difflib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeAlias, cast

from .errors import ScriptExhausted
from .types import Completion, Message, Usage

__all__ = ["FakeOpenAIServer", "FakeReply", "ScriptedCall", "ScriptedLLM", "fake_token_count"]


def fake_token_count(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return math.ceil(len(text) / 4)


def _chunks(text: str, parts: int = 3) -> list[str]:
    """``text`` cut into at most ``parts`` pieces that join back to it."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------- ScriptedLLM

ScriptItem: TypeAlias = (
    str
    | Completion
    | BaseException
    | type[BaseException]
    | Callable[[list[dict[str, str]]], str | Completion]
)
"""A reply text, a whole ``Completion``, an exception (or exception class) to raise, or a
function of the messages returning a text or a ``Completion``."""


class ScriptedCall(list[dict[str, str]]):
    """One call a ``ScriptedLLM`` received: the list of messages, plus how it was called."""

    def __init__(
        self,
        messages: Sequence[Message],
        temperature: float,
        streamed: bool,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        prediction: str | None = None,
    ) -> None:
        super().__init__(dict(m) for m in messages)
        self.temperature = temperature
        self.streamed = streamed
        self.max_tokens = max_tokens
        self.response_format = response_format
        self.prediction = prediction

    @property
    def messages(self) -> list[dict[str, str]]:
        """The messages of the call (the call itself is that list)."""
        return self

    @property
    def prompt(self) -> str:
        """The content of the last user message, where a question usually is."""
        for message in reversed(self):
            if message.get("role") == "user":
                return message.get("content", "")
        return ""


class ScriptedLLM:
    """A model that replies from a script, in order, and records every call.

    Example::

        llm = ScriptedLLM(["SELECT 1", TimeoutError("slow"), lambda msgs: "SELECT 2"])
        llm.complete([{"role": "user", "content": "one?"}]).text   # "SELECT 1"
        llm.calls[0].prompt                                          # "one?"

    Items are used once each; a call past the end raises ``ScriptExhausted`` (and is still
    recorded in ``calls``, to show what was asked). Token counts are
    fake but deterministic (about four characters a token) so that traces carry numbers.
    """

    def __init__(self, replies: Sequence[ScriptItem], *, model: str = "scripted") -> None:
        self.model = model
        self._replies = list(replies)
        self._next = 0
        self._lock = threading.Lock()
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._replies) - self._next

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        prediction: str | None = None,
    ) -> Completion:
        """The next scripted reply (raised, if it is an exception)."""
        call = ScriptedCall(
            messages, temperature, on_token is not None, max_tokens, response_format, prediction
        )
        with self._lock:
            self.calls.append(call)
            if self._next >= len(self._replies):
                raise ScriptExhausted(
                    f"ScriptedLLM was called {len(self.calls)} times but only "
                    f"{len(self._replies)} replies were scripted; the unexpected call asked: "
                    f"{call.prompt[:200]!r}",
                    hint="Add a reply to the script, or check why the model is called again.",
                )
            item = self._replies[self._next]
            self._next += 1
        completion = self._resolve(item, call)
        if on_token is not None:
            for piece in _chunks(completion.text):
                on_token(piece)
        return completion

    def _resolve(self, item: ScriptItem, call: ScriptedCall) -> Completion:
        if isinstance(item, type) and issubclass(item, BaseException):
            raise item(f"scripted {item.__name__}")
        if isinstance(item, BaseException):
            raise item
        reply: object = item
        if callable(item) and not isinstance(item, (str, Completion)):
            # The call is a list of messages that also carries .temperature and .streamed.
            reply = cast(Callable[[list[dict[str, str]]], object], item)(call)
        if isinstance(reply, Completion):
            return reply
        if isinstance(reply, str):
            prompt = sum(fake_token_count(m.get("content", "")) for m in call)
            return Completion(reply, Usage(prompt, fake_token_count(reply)), self.model)
        raise TypeError(
            "A ScriptedLLM reply must be a str, a Completion, an exception or a function "
            f"returning a str or a Completion, not {type(reply).__name__}"
        )


# --------------------------------------------------------------------------- FakeOpenAIServer


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer of ``FakeOpenAIServer``.

    ``status`` other than 200 answers with an OpenAI-style error body whose message is ``text``
    (or ``body``, a dict or str, sent as is). ``delay`` waits that many seconds before
    answering (a hanging server); ``chunk_delay`` waits between streamed chunks (a slow one).
    ``headers`` are added to the response. Error answers ask the client to retry after 10 ms
    (``retry-after-ms``) unless ``headers`` say otherwise, so retried tests stay fast.
    ``finish_reason`` is sent as is ("length": a reply cut off at the token limit);
    ``tool_calls`` (name and arguments pairs) are sent as the message's tool calls, and
    ``refusal`` as its refusal field.
    """

    text: str = ""
    status: int = 200
    delay: float = 0.0
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] | None = None
    chunk_delay: float = 0.0
    finish_reason: str = "stop"
    tool_calls: Sequence[tuple[str, str]] = ()
    refusal: str | None = None


ServerItem: TypeAlias = str | FakeReply | Callable[[dict[str, Any]], str | FakeReply]


class FakeOpenAIServer:
    """A local OpenAI-compatible server answering from a script, for tests.

    Serves ``POST /v1/chat/completions`` (plain and streamed, with the final usage chunk when
    ``stream_options.include_usage`` is set) and ``GET /v1/models``. Each chat request takes
    the next script item: a reply text, a ``FakeReply``, or a function of the request's JSON
    returning either. Every request body is recorded in ``requests`` (and its headers in
    ``headers``). Past the end of the script it answers 500, saying so, without retry.

    ``rejects`` names request parameters this server does not support (``response_format``,
    ``stream_options``, ``stream``, ``prediction``, ...), or one value of one
    (``response_format:json_schema``): a request carrying one is answered 400 naming it, as
    vLLM, llama.cpp and older proxies do, without using a script item.

    ``tokens_per_second`` makes the server generate at that rate (tokens as
    ``fake_token_count`` counts them): a streamed reply sends its words as they are
    "generated", a plain one answers once all are. A request's ``prediction`` (OpenAI's
    predicted outputs) is honoured: the tokens of the reply it predicts cost no time, and the
    usage reports them as accepted (``completion_tokens_details``). ``streams=False`` makes a
    server that ignores ``stream`` and always answers with one JSON reply.
    """

    def __init__(
        self,
        script: Sequence[ServerItem] = (),
        *,
        models: Sequence[str] = ("fake-model",),
        rejects: Sequence[str] = (),
        tokens_per_second: float | None = None,
        streams: bool = True,
    ) -> None:
        if tokens_per_second is not None and tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be greater than zero")
        self.rejects = tuple(rejects)
        self.tokens_per_second = tokens_per_second
        self.streams = streams
        self._script = list(script)
        self._next = 0
        self.models = tuple(models)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running; use it in a with block")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what ``OPENAI_BASE_URL`` would be set to."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Bind a free port on 127.0.0.1 and serve on a background thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # Handler threads may be asleep in a scripted delay: never wait for them.
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        # A port used by an earlier server is a new endpoint now: nothing it rejected holds.
        from .llm.client import forget_unsupported

        forget_unsupported(self.base_url)
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; handlers still sleeping in a delay wake up and hang up."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------------- script

    @property
    def remaining(self) -> int:
        """How many script items have not been used yet."""
        return len(self._script) - self._next

    def _take(self, request: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
            if self._next >= len(self._script):
                return FakeReply(
                    f"FakeOpenAIServer script exhausted: request {len(self.requests)} came "
                    f"after all {len(self._script)} scripted replies were used",
                    status=500,
                    headers={"x-should-retry": "false"},
                )
            item = self._script[self._next]
            self._next += 1
        if callable(item) and not isinstance(item, (str, FakeReply)):
            item = item(request)
        return item if isinstance(item, FakeReply) else FakeReply(text=item)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; True when it is stopping."""
        if seconds > 0:
            return self._stopping.wait(seconds)
        return self._stopping.is_set()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        return

    # ----------------------------------------------------------------------- routes

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "sqlagent"}
                for m in self.fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"No route GET {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(404, f"No route POST {self.path}", "not_found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_error(400, "The request body is not valid JSON", "invalid_request_error")
            return
        rejected = [name for name in self.fake.rejects if _carries(request, name)]
        if rejected:
            with self.fake._lock:
                self.fake.requests.append(request)
                self.fake.headers.append({k.lower(): v for k, v in self.headers.items()})
            self._send_error(
                400,
                f"Unsupported parameter: '{rejected[0]}' is not supported by this server",
                "invalid_request_error",
                {"x-should-retry": "false"},
            )
            return
        reply = self.fake._take(request, {k.lower(): v for k, v in self.headers.items()})
        if self.fake._wait(reply.delay):
            return  # stopping: hang up without an answer
        if reply.status != 200:
            self._send_failure(reply)
        elif request.get("stream") and self.fake.streams:
            self._send_stream(request, reply)
        else:
            if self.fake._wait(self._generation_seconds(request, reply.text)):
                return
            self._send_json(200, _completion(request, reply), reply.headers)

    def _generation_seconds(self, request: Mapping[str, Any], text: str) -> float:
        """How long generating ``text`` takes at the server's rate: predicted tokens are free."""
        rate = self.fake.tokens_per_second
        if rate is None:
            return 0.0
        accepted, _ = _prediction_tokens(request, text)
        return max(0, fake_token_count(text) - accepted) / rate

    # ----------------------------------------------------------------------- answers

    def _send_failure(self, reply: FakeReply) -> None:
        headers = {"retry-after-ms": "10", **(reply.headers or {})}
        if isinstance(reply.body, str):
            self._send_bytes(reply.status, reply.body.encode(), "text/plain", headers)
        elif reply.body is not None:
            self._send_json(reply.status, dict(reply.body), headers)
        else:
            message = reply.text or f"Fake error {reply.status}"
            self._send_error(reply.status, message, _error_type(reply.status), headers)

    def _send_error(
        self, status: int, message: str, kind: str, headers: Mapping[str, str] | None = None
    ) -> None:
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send_json(status, body, headers)

    def _send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(data).encode(), "application/json", headers)

    def _send_bytes(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timed out) first
            pass

    def _send_stream(self, request: dict[str, Any], reply: FakeReply) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            for name, value in (reply.headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            chunks = list(_stream_chunks(request, reply.text, reply.finish_reason))
            # The generation time, spread over the chunks that carry text.
            pieces = sum(
                1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")
            )
            per_piece = self._generation_seconds(request, reply.text) / max(pieces, 1)
            for i, chunk in enumerate(chunks):
                delay = reply.chunk_delay if i else 0.0
                if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    delay += per_piece
                if delay and self.fake._wait(delay):
                    return
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) first
            pass


def _carries(request: Mapping[str, Any], rejected: str) -> bool:
    """True when ``request`` has the parameter (``name``) or typed value (``name:type``)."""
    name, _, kind = rejected.partition(":")
    if name not in request:
        return False
    value = request[name]
    return not kind or (isinstance(value, Mapping) and value.get("type") == kind)


def _error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")


def _usage_for(request: Mapping[str, Any], text: str) -> dict[str, int]:
    prompt = sum(
        fake_token_count(str(m.get("content", "")))
        for m in request.get("messages", [])
        if isinstance(m, dict)
    )
    completion = fake_token_count(text)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if request.get("prediction"):
        accepted, rejected = _prediction_tokens(request, text)
        usage["completion_tokens_details"] = {
            "accepted_prediction_tokens": accepted,
            "rejected_prediction_tokens": rejected,
        }
    return usage


def _prediction_tokens(request: Mapping[str, Any], text: str) -> tuple[int, int]:
    """Tokens of ``text`` the request's ``prediction`` foresaw, and those of it that it did not
    (the characters the two have in common, in order, as tokens)."""
    prediction = request.get("prediction")
    content = prediction.get("content") if isinstance(prediction, Mapping) else None
    if not isinstance(content, str) or not content:
        return 0, 0
    matcher = difflib.SequenceMatcher(None, content, text, autojunk=False)
    common = sum(block.size for block in matcher.get_matching_blocks())
    accepted = min(fake_token_count(text), common // 4)
    return accepted, max(0, fake_token_count(content) - accepted)


def _completion(request: Mapping[str, Any], reply: FakeReply) -> dict[str, Any]:
    """A ``chat.completion`` object as OpenAI sends it."""
    text = reply.text
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": reply.refusal}
    if reply.tool_calls:
        message["content"] = text or None
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for i, (name, arguments) in enumerate(reply.tool_calls)
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage_for(request, text),
    }


def _stream_chunks(
    request: Mapping[str, Any], text: str, finish_reason: str = "stop"
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects OpenAI streams for ``text``, in order."""
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
    }
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**base, "choices": [choice], **extra}

    yield chunk({"role": "assistant", "content": ""})
    # Word by word (whitespace kept) so that a client sees several deltas.
    for piece in re.findall(r"\S+\s*|\s+", text):
        yield chunk({"content": piece})
    yield chunk({}, finish_reason)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage_for(request, text)}
