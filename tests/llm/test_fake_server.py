"""FakeOpenAIServer speaks the OpenAI wire format: checked with the real openai client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from sqlagent.testing import FakeOpenAIServer, FakeReply

MESSAGES: list[Any] = [{"role": "user", "content": "How many cards?"}]


def _client(server: FakeOpenAIServer, **kwargs: Any) -> openai.OpenAI:
    options: dict[str, Any] = {"max_retries": 0, "timeout": 5.0}
    options.update(kwargs)
    return openai.OpenAI(api_key="test-key", base_url=server.base_url, **options)


def test_base_url_is_local_and_ends_in_v1() -> None:
    with FakeOpenAIServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        assert server.port > 0


def test_plain_completion_parses_as_a_chat_completion() -> None:
    with FakeOpenAIServer(["SELECT 1"]) as server:
        response = _client(server).chat.completions.create(
            model="some-model", messages=MESSAGES, temperature=0
        )
    assert response.object == "chat.completion"
    assert response.model == "some-model"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == "SELECT 1"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (4, 2)
    assert response.usage.total_tokens == 6
    assert server.requests == [{"model": "some-model", "messages": MESSAGES, "temperature": 0}]


def test_stream_sends_deltas_then_usage_then_done() -> None:
    text = "SELECT brand FROM cards"
    with FakeOpenAIServer([text]) as server:
        stream = _client(server).chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(d or "" for d in deltas) == text
    assert [d for d in deltas if d] == ["SELECT ", "brand ", "FROM ", "cards"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    with FakeOpenAIServer(["SELECT 1"]) as server:
        chunks = list(
            _client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True)
        )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_raw_stream_is_server_sent_events_ending_in_done() -> None:
    with FakeOpenAIServer(["a b"]) as server:
        body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"] == "text/event-stream"
            events = response.read().decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(e.startswith("data: {") for e in events[:-2])


def test_models_are_listed() -> None:
    with FakeOpenAIServer(models=["llama3", "qwen2.5-coder"]) as server:
        ids = [m.id for m in _client(server).models.list()]
    assert ids == ["llama3", "qwen2.5-coder"]


def test_callable_items_see_the_request() -> None:
    def answer(request: dict[str, Any]) -> str:
        return f"-- asked {request['messages'][-1]['content']}"

    with FakeOpenAIServer([answer, lambda _: FakeReply("nope", status=400)]) as server:
        client = _client(server)
        first = client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="m", messages=MESSAGES)
    assert first.choices[0].message.content == "-- asked How many cards?"


def test_error_replies_use_the_openai_error_shape() -> None:
    server = FakeOpenAIServer([FakeReply("rate limited", status=429)])
    with server, pytest.raises(openai.RateLimitError) as info:
        _client(server).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 429
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"] == "rate limited"
    assert info.value.body["type"] == "rate_limit_error"
    assert info.value.response.headers["retry-after-ms"] == "10"


def test_custom_body_and_headers() -> None:
    reply = FakeReply(
        status=503, body={"detail": "warming up"}, headers={"x-should-retry": "false"}
    )
    with FakeOpenAIServer([reply]) as server, pytest.raises(openai.InternalServerError) as info:
        _client(server, max_retries=3).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.body == {"detail": "warming up"}
    assert len(server.requests) == 1  # x-should-retry: false was obeyed


def test_the_client_retries_a_500_and_then_succeeds() -> None:
    with FakeOpenAIServer([FakeReply(status=500), FakeReply(status=500), "ok"]) as server:
        started = time.monotonic()
        response = _client(server, max_retries=2).chat.completions.create(
            model="m", messages=MESSAGES
        )
    assert response.choices[0].message.content == "ok"
    assert len(server.requests) == 3
    assert time.monotonic() - started < 1


def test_exhausted_script_answers_500_once_and_says_so() -> None:
    with FakeOpenAIServer(["only one"]) as server:
        client = _client(server, max_retries=2)
        client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert server.remaining == 0
    assert "script exhausted" in info.value.message
    assert len(server.requests) == 2  # recorded, and not retried


def test_unknown_routes_are_404() -> None:
    with FakeOpenAIServer() as server, pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.base_url}/embeddings", timeout=5)
    assert info.value.code == 404


def test_shutdown_is_fast_while_a_handler_hangs() -> None:
    with FakeOpenAIServer([FakeReply("late", delay=30)]) as server:
        client = _client(server, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        started = time.monotonic()
    assert time.monotonic() - started < 1
    assert len(server.requests) == 1
