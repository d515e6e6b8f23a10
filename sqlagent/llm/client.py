"""The language model: one small protocol and one implementation over the ``openai`` package.

Any OpenAI-compatible endpoint works: OpenAI itself, or a local Ollama, vLLM or llama.cpp server
given by its base URL. Every failure of the endpoint is translated into the package's own errors
here, in ``_translate``, and nowhere else.

``openai`` takes about a second to import, so it is imported on first use, never at module
import: the CLI's ``--help`` must stay fast.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from ..errors import ConfigError, LLMError, LLMTimeout, LLMUnavailable
from ..types import Completion, Message, Usage

if TYPE_CHECKING:
    import openai

    from ..settings import Settings

__all__ = ["LLM", "CompletionStream", "OpenAILLM"]

NO_KEY_PLACEHOLDER = "sk-no-key-required"
"""Sent as the API key to a server given by base URL without a key (local servers ignore it)."""

DEFAULT_ENDPOINT = "https://api.openai.com/v1"


@runtime_checkable
class LLM(Protocol):
    """A chat model: messages in, one completion out.

    ``on_token``, when given, is called with each piece of text as it arrives; the returned
    ``Completion`` still holds the whole text and the token usage. Implementations may also
    accept ``max_tokens``, ``response_format`` and ``prediction`` keywords; the chain passes
    them only when it needs them (a reply cut off, structured output switched on, a repair
    whose output is mostly the previous query) and, for ``prediction``, only to an
    implementation whose ``complete`` names it.
    """

    model: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        on_token: Callable[[str], None] | None = None,
    ) -> Completion: ...


# Optional request parameters some OpenAI-compatible servers reject, remembered per endpoint
# for the life of the process so that each endpoint is asked with them at most once.
_UNSUPPORTED: dict[str, set[str]] = {}
_UNSUPPORTED_LOCK = threading.Lock()
# Words in a server's error that name each parameter.
_PARAM_WORDS = {
    "response_format": ("response_format", "json_schema", "response format"),
    "stream_options": ("stream_options", "include_usage", "stream options"),
    "prediction": ("prediction", "predicted output"),
}


def forget_unsupported(endpoint: str) -> None:
    """Forget what ``endpoint`` (a base URL) rejected: a new server now answers there."""
    with _UNSUPPORTED_LOCK:
        _UNSUPPORTED.pop(_without_userinfo(endpoint.rstrip("/")), None)


# `stream` itself, but not `stream_options` nor "stream options".
_STREAM_WORD = re.compile(r"\bstream(?:ing)?\b(?![ _-]?options)")


class CompletionStream:
    """The text deltas of one streamed reply, then (``completion``) the whole reply.

    Iterate it for the deltas; once it is exhausted ``completion`` holds the text, the usage
    reported at the end of the stream and the finish reason. An endpoint that does not
    stream yields its whole text once.
    """

    def __init__(self, events: Iterator[str | Completion]) -> None:
        self._events = events
        self.completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        for item in self._events:
            if isinstance(item, Completion):
                self.completion = item
            else:
                yield item

    def close(self) -> None:
        """Stop the request (the reply is abandoned at its next chunk)."""
        close = getattr(self._events, "close", None)
        if callable(close):
            close()


class OpenAILLM:
    """A chat model behind an OpenAI-compatible endpoint.

    Example::

        llm = OpenAILLM("llama3.1", base_url="http://localhost:11434/v1")
        reply = llm.complete([{"role": "user", "content": "Say hi"}])
        print(reply.text, reply.usage.total_tokens)

    ``timeout`` bounds each call as a whole, retries included: a server that accepts the
    request and then sends nothing, or trickles tokens forever, is abandoned after ``timeout``
    seconds with ``LLMTimeout``. Transient failures (connection errors, 429, 5xx) are retried
    ``max_retries`` times by the ``openai`` client, with its backoff (it honours
    ``Retry-After``). Without ``api_key`` the ``openai`` client reads ``OPENAI_API_KEY``;
    with a ``base_url`` but no key a placeholder is sent, as local servers need none.

    ``response_format`` (structured output), ``stream_options`` (usage of a stream),
    ``prediction`` (predicted output) and streaming itself are optional: a server that
    rejects one with HTTP 400/422 is asked again without it, and the endpoint is remembered
    as not supporting it (``unsupported``). A rejected JSON schema is first tried as a plain
    JSON object (``json_object``), which more servers accept. A server that answers a
    streamed request with a whole JSON reply is remembered as not streaming (``stream``).
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        client: openai.OpenAI | None = None,
    ) -> None:
        if timeout <= 0:
            raise ConfigError(f"The LLM timeout must be greater than zero, not {timeout!r}")
        self.model = model
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self._api_key = api_key
        self._base_url = base_url
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAILLM:
        """The model the settings describe (model name, key, base URL, timeout, retries)."""
        return cls(
            settings.model,
            api_key=settings.api_key,
            base_url=settings.base_url,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAILLM(model={self.model!r}, endpoint={self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        """The base URL calls go to, without any credentials it may embed."""
        if self._client is not None:
            url = str(self._client.base_url)
        else:
            url = self._base_url or DEFAULT_ENDPOINT
        return _without_userinfo(url.rstrip("/"))

    @property
    def unsupported(self) -> frozenset[str]:
        """Optional parameters this endpoint has rejected (not sent to it again)."""
        with _UNSUPPORTED_LOCK:
            return frozenset(_UNSUPPORTED.get(self.endpoint, ()))

    def _remember_unsupported(self, names: set[str]) -> None:
        with _UNSUPPORTED_LOCK:
            _UNSUPPORTED.setdefault(self.endpoint, set()).update(names)

    # ----------------------------------------------------------------------- calling

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
        """Send ``messages`` and return the reply; stream it to ``on_token`` when given.

        ``max_tokens`` bounds the reply; ``response_format`` asks for structured output
        (dropped, with a fallback to plain text, where the endpoint rejects it);
        ``prediction`` is text most of the reply is expected to repeat (OpenAI's predicted
        outputs: a repaired query), dropped where the endpoint rejects it.
        """
        options = self._options(max_tokens, response_format, prediction)
        result: Completion | None = None
        for item in self._call(messages, temperature, on_token is not None, options):
            if isinstance(item, Completion):
                result = item
            elif on_token is not None:
                on_token(item)
        assert result is not None
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        prediction: str | None = None,
    ) -> CompletionStream:
        """Stream the reply to ``messages``: iterate the result for its text deltas, then read
        its ``completion`` (whole text and usage).

        Usage is asked for at the end of the stream (``stream_options``) where the endpoint
        accepts it. An endpoint that refuses to stream (HTTP 400 naming ``stream``, or a whole
        JSON reply to a streamed request) is asked normally, its text yielded once, and is
        not asked to stream again.
        """
        options = self._options(max_tokens, response_format, prediction)
        return CompletionStream(self._call(messages, temperature, True, options))

    def _options(
        self,
        max_tokens: int | None,
        response_format: Mapping[str, Any] | None,
        prediction: str | None,
    ) -> dict[str, Any]:
        """The optional request parameters, less those this endpoint is known to reject."""
        options: dict[str, Any] = {}
        if max_tokens is not None:
            options["max_tokens"] = int(max_tokens)
        if response_format is not None:
            options["response_format"] = dict(response_format)
        if prediction:
            options["prediction"] = {"type": "content", "content": prediction}
        unsupported = self.unsupported
        if "json_schema" in unsupported and _is_schema(options.get("response_format")):
            options["response_format"] = {"type": "json_object"}
        if "max_tokens" in unsupported and "max_tokens" in options:
            options["max_completion_tokens"] = options.pop("max_tokens")
        for name in unsupported:
            options.pop(name, None)
        return options

    def _call(
        self,
        messages: Sequence[Message],
        temperature: float,
        stream: bool,
        options: dict[str, Any],
    ) -> Iterator[str | Completion]:
        """Run one request; yield its text deltas (when streamed), then the ``Completion``."""
        client = self._get_client()
        if stream and "stream" in self.unsupported:
            stream = False
            fallback = True  # asked to stream: the whole text comes as one delta
        else:
            fallback = False
        if stream and "stream_options" not in self.unsupported:
            options["stream_options"] = {"include_usage": True}
        payload = [dict(m) for m in messages]
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancel = threading.Event()
        # The request runs on a daemon thread so that the caller can give up on it after
        # `timeout` seconds in total: the openai client's own timeout applies to each read and
        # each retry separately, so a slow trickle or a retried hang would outlast it. Tokens
        # travel back through the queue and are yielded on the caller's thread (UI
        # frameworks only allow drawing from there).
        worker = threading.Thread(
            target=self._request,
            args=(client, payload, temperature, stream, options, events, cancel),
            name="sqlagent-llm",
            daemon=True,
        )
        deadline = time.monotonic() + self.timeout
        worker.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error()
                try:
                    kind, value = events.get(timeout=remaining)
                except queue.Empty:
                    raise self._timeout_error() from None
                if kind == "token":
                    yield value
                elif kind == "fallback":
                    fallback = True
                elif kind == "done":
                    result: Completion = value
                    if fallback and result.text:
                        yield result.text
                    yield result
                    return
                else:
                    raise self._translate(value)
        finally:
            # Whatever happened, an abandoned request stops streaming at the next chunk.
            cancel.set()

    def _request(
        self,
        client: openai.OpenAI,
        messages: list[dict[str, str]],
        temperature: float,
        stream: bool,
        options: dict[str, Any],
        events: queue.Queue[tuple[str, Any]],
        cancel: threading.Event,
    ) -> None:
        """Run one call on the worker thread, reporting tokens, the result or the error.

        A 400/422 that names an optional parameter (or any 400/422 while optional ones were
        sent) is answered by asking once more without them.
        """
        import openai

        tentative: set[str] = set()
        try:
            while True:
                try:
                    if stream:
                        result = self._stream(
                            client, messages, temperature, options, events, cancel
                        )
                    else:
                        result = self._plain(client, messages, temperature, options)
                except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                    text = f"{exc.message} {_error_text(exc)}".lower()
                    others = (w for k in options if k in _PARAM_WORDS for w in _PARAM_WORDS[k])
                    if stream and _STREAM_WORD.search(text) and not any(w in text for w in others):
                        # Streaming refused (and nothing else named): ask for the whole
                        # reply, handed over as one delta.
                        self._remember_unsupported({"stream"})
                        stream = False
                        options.pop("stream_options", None)
                        events.put(("fallback", None))
                        continue
                    if "max_tokens" in options and "max_completion_tokens" in text:
                        # Newer OpenAI models take the bound under its newer name.
                        options["max_completion_tokens"] = options.pop("max_tokens")
                        self._remember_unsupported({"max_tokens"})
                        continue
                    optional = {k for k in options if k in _PARAM_WORDS}
                    if not optional or tentative:
                        raise
                    named = {k for k in optional if any(w in text for w in _PARAM_WORDS[k])}
                    if "response_format" in named and _is_schema(options["response_format"]):
                        # Some servers take a plain JSON object but no schema: try that next.
                        self._remember_unsupported({"json_schema"})
                        options["response_format"] = {"type": "json_object"}
                        continue
                    if named:
                        self._remember_unsupported(named)
                    else:  # unnamed: only remembered if the plain request then succeeds
                        named = tentative = optional
                    for name in named:
                        options.pop(name, None)
                    continue
                if tentative:
                    self._remember_unsupported(tentative)
                events.put(("done", result))
                return
        except Exception as exc:  # handed to the caller's thread, translated there
            events.put(("error", exc))

    def _plain(
        self,
        client: openai.OpenAI,
        messages: list[dict[str, str]],
        temperature: float,
        options: dict[str, Any],
    ) -> Completion:
        response = client.chat.completions.create(
            model=self.model,
            messages=cast(Any, messages),
            temperature=temperature,
            timeout=self.timeout,
            **{k: v for k, v in options.items() if k != "stream_options"},
        )
        return _from_response(response, self.model)

    def _stream(
        self,
        client: openai.OpenAI,
        messages: list[dict[str, str]],
        temperature: float,
        options: dict[str, Any],
        events: queue.Queue[tuple[str, Any]],
        cancel: threading.Event,
    ) -> Completion:
        stream = client.chat.completions.create(
            model=self.model,
            messages=cast(Any, messages),
            temperature=temperature,
            timeout=self.timeout,
            stream=True,
            **options,
        )
        content_type = stream.response.headers.get("content-type", "")
        if "json" in content_type:
            # The server ignored `stream` and sent the whole reply: read it as one, hand it
            # over as one delta, and do not ask this endpoint to stream again.
            import openai.types.chat

            try:
                data = json.loads(stream.response.read())
            finally:
                stream.close()
            self._remember_unsupported({"stream"})
            reply = openai.types.chat.ChatCompletion.model_validate(data)
            result = _from_response(reply, self.model)
            if result.text:
                events.put(("token", result.text))
            return result
        parts: list[str] = []
        usage = Usage()
        model = ""
        finish: str | None = None
        try:
            for chunk in stream:
                if cancel.is_set():
                    break
                model = chunk.model or model
                if chunk.usage is not None:  # some servers report it on every chunk
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    finish = choice.finish_reason or finish
                    piece = choice.delta.content
                    if piece:
                        parts.append(piece)
                        events.put(("token", piece))
        finally:
            stream.close()
        return Completion("".join(parts), usage, model or self.model, finish_reason=finish)

    def prepare(self) -> None:
        """Import ``openai`` and build the client now, so that the first call's time is the
        model's own (the chain times this as its ``setup`` step). Errors surface at the
        first call instead."""
        with contextlib.suppress(Exception):
            self._get_client()

    def _get_client(self) -> openai.OpenAI:
        """The openai client, built on first use (importing openai is slow)."""
        with self._lock:
            if self._client is None:
                import openai

                api_key = self._api_key
                if api_key is None and self._base_url is not None:
                    api_key = NO_KEY_PLACEHOLDER
                try:
                    self._client = openai.OpenAI(
                        api_key=api_key,
                        base_url=self._base_url,
                        timeout=self.timeout,
                        max_retries=self.max_retries,
                    )
                except openai.OpenAIError:
                    raise ConfigError(
                        "No language model is configured: there is no API key and no base URL.",
                        hint="Set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
                        "(Ollama, vLLM, llama.cpp) that needs no key.",
                    ) from None
            return self._client

    # ----------------------------------------------------------------------- errors

    def _timeout_error(self) -> LLMTimeout:
        return LLMTimeout(
            f"The model {self.model!r} at {self.endpoint} did not answer within "
            f"{self.timeout:g} seconds.",
            hint="Check that the endpoint is up and not overloaded, try a faster model, or "
            "raise SQLAGENT_LLM_TIMEOUT.",
        )

    def _translate(self, exc: BaseException) -> BaseException:
        """The package error for a failure of the ``openai`` client (the one place it happens).

        Anything that is not an ``openai`` API error is returned unchanged: it is a bug, not
        an endpoint failure, and must not be disguised as one.
        """
        import openai

        error: LLMError
        if isinstance(exc, openai.APITimeoutError):
            error = self._timeout_error()
        elif isinstance(exc, openai.APIConnectionError):
            error = LLMUnavailable(
                f"Could not reach the model endpoint at {self.endpoint}.",
                hint="Check that the server is running and that OPENAI_BASE_URL points at it "
                "(a local server usually ends in /v1).",
            )
        elif isinstance(exc, openai.APIStatusError):
            error = self._status_error(exc)
        elif isinstance(exc, openai.APIError):  # an error event in the middle of a stream
            error = LLMUnavailable(
                f"The model endpoint at {self.endpoint} reported an error: {_excerpt(exc.message)}"
            )
        else:
            return exc
        error.message = self._redact(error.message)
        error.args = (error.message,)
        # The original exception is kept for debugging, except for refused credentials,
        # where the server's text may echo the key.
        error.__cause__ = None if getattr(exc, "status_code", None) in (401, 403) else exc
        error.__suppress_context__ = True
        return error

    def _status_error(self, exc: openai.APIStatusError) -> LLMError:
        status = exc.status_code
        detail = _error_text(exc)
        if status in (401, 403):
            return LLMUnavailable(
                f"The model endpoint at {self.endpoint} refused the credentials (HTTP {status}).",
                hint="Check OPENAI_API_KEY: it must be a valid key for this endpoint "
                "(and OPENAI_BASE_URL, if the key belongs to another provider).",
            )
        if status == 404:
            return LLMUnavailable(
                f"The model {self.model!r} was not found at {self.endpoint} (HTTP 404)"
                + (f": {detail}" if detail else "."),
                hint="Set SQLAGENT_MODEL to a model this endpoint serves, and check that "
                "OPENAI_BASE_URL is right (it usually ends in /v1).",
            )
        if status == 429:
            return LLMUnavailable(
                f"The model endpoint at {self.endpoint} is rate limiting requests (HTTP 429)"
                + (f": {detail}" if detail else "."),
                hint="Wait a moment and try again, or check the quota of the account.",
            )
        return LLMUnavailable(
            f"The model endpoint at {self.endpoint} answered HTTP {status}"
            + (f": {detail}" if detail else "."),
        )

    def _redact(self, text: str) -> str:
        """``text`` without the API key in it, whatever the server chose to echo."""
        keys = {self._api_key}
        if self._client is not None:
            keys.add(getattr(self._client, "api_key", None))
        for key in keys:
            if key and len(key) >= 4 and key != NO_KEY_PLACEHOLDER:
                text = text.replace(key, "***")
        return _KEY_LIKE.sub("sk-***", text)


_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*]{8,}")
"""Anything shaped like an OpenAI key, in case a server echoes a key other than ours."""


def _is_schema(response_format: Any) -> bool:
    return isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"


def _from_response(response: Any, model: str) -> Completion:
    """A whole ``chat.completion`` as a ``Completion`` (tool-call arguments as its text)."""
    if not response.choices:
        return Completion("", _usage(response.usage), response.model or model)
    choice = response.choices[0]
    message = choice.message
    text = message.content or ""
    if not text.strip() and message.tool_calls:
        # A tool call instead of text: its arguments are where the query is.
        text = "\n".join(_tool_call_text(call) for call in message.tool_calls)
    return Completion(
        text,
        _usage(response.usage),
        response.model or model,
        finish_reason=choice.finish_reason,
        refusal=getattr(message, "refusal", None) or None,
    )


def _tool_call_text(call: Any) -> str:
    """A tool call as the JSON text a model would have written: name and arguments."""
    function = getattr(call, "function", None)
    name = getattr(function, "name", "") or ""
    arguments = getattr(function, "arguments", "") or ""
    try:
        parsed: Any = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        parsed = arguments
    return json.dumps({"name": name, "arguments": parsed}, ensure_ascii=False)


def _usage(usage: Any) -> Usage:
    """The API's usage object as a ``Usage`` (zero for what the server did not report)."""
    if usage is None:
        return Usage()
    return Usage(
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _error_text(exc: openai.APIStatusError) -> str:
    """A short excerpt of what the server said: the error message, else the raw body."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error")
        if isinstance(message, str):
            return _excerpt(message)
    if isinstance(body, str):
        return _excerpt(body)
    try:
        return _excerpt(exc.response.text)
    except Exception:  # the body of a streamed response may be unreadable by now
        return ""


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (a base URL may carry credentials)."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url)
