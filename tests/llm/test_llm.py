"""OpenAILLM through the real openai client against FakeOpenAIServer, and ScriptedLLM."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from sqlagent.errors import (
    ConfigError,
    LLMTimeout,
    LLMUnavailable,
    ScriptExhausted,
)
from sqlagent.llm.client import LLM, OpenAILLM
from sqlagent.settings import Settings
from sqlagent.testing import FakeOpenAIServer, FakeReply, ScriptedLLM
from sqlagent.types import Completion, Usage

MESSAGES = [
    {"role": "system", "content": "You write SQL."},
    {"role": "user", "content": "How many cards are there?"},
]
SECRET = "sk-test-0123456789abcdefSECRET"


def _llm(server: FakeOpenAIServer, **kwargs: object) -> OpenAILLM:
    options: dict[str, object] = {"timeout": 5.0, "max_retries": 0}
    options.update(kwargs)
    return OpenAILLM("fake-model", base_url=server.base_url, **options)  # type: ignore[arg-type]


def _error_texts(exc: BaseException) -> str:
    """Everything a user could be shown about an error, its causes included."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "hint", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# --------------------------------------------------------------------------- replies


def test_plain_reply_text_usage_and_request() -> None:
    with FakeOpenAIServer(["SELECT COUNT(*) FROM cards"]) as server:
        completion = _llm(server).complete(MESSAGES, temperature=0.3)
    assert completion.text == "SELECT COUNT(*) FROM cards"
    assert completion.model == "fake-model"
    # FakeOpenAIServer counts ceil(chars / 4) per message: 4 + 7 prompt, 7 completion.
    assert completion.usage == Usage(prompt_tokens=11, completion_tokens=7)
    [request] = server.requests
    assert request["messages"] == MESSAGES
    assert request["model"] == "fake-model"
    assert request["temperature"] == 0.3
    assert not request.get("stream")


def test_streaming_sends_tokens_on_the_callers_thread_and_keeps_usage() -> None:
    text = "SELECT brand, COUNT(*) FROM cards GROUP BY brand"
    tokens: list[str] = []
    threads: set[int] = set()

    def on_token(piece: str) -> None:
        tokens.append(piece)
        threads.add(threading.get_ident())

    with FakeOpenAIServer([text]) as server:
        completion = _llm(server).complete(MESSAGES, on_token=on_token)
    assert len(tokens) > 3
    assert "".join(tokens) == text
    assert completion.text == text
    assert completion.usage == Usage(prompt_tokens=11, completion_tokens=12)
    assert threads == {threading.get_ident()}
    [request] = server.requests
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}


def test_a_server_error_is_retried_by_the_client() -> None:
    script: list[FakeReply | str] = [FakeReply("overloaded", status=500), "SELECT 1"]
    with FakeOpenAIServer(script) as server:
        started = time.monotonic()
        completion = _llm(server, max_retries=2).complete(MESSAGES)
    assert completion.text == "SELECT 1"
    assert len(server.requests) == 2
    assert time.monotonic() - started < 2  # retry-after-ms: 10 keeps the backoff short


def test_a_rate_limit_is_retried_by_the_client() -> None:
    script: list[FakeReply | str] = [FakeReply("slow down", status=429), "SELECT 1"]
    with FakeOpenAIServer(script) as server:
        assert _llm(server, max_retries=1).complete(MESSAGES).text == "SELECT 1"
    assert len(server.requests) == 2


def test_server_errors_past_the_retries_are_unavailable_with_status_and_body() -> None:
    script = [FakeReply("model crashed: CUDA out of memory", status=500)] * 2
    with FakeOpenAIServer(script) as server, pytest.raises(LLMUnavailable) as info:
        _llm(server, max_retries=1).complete(MESSAGES)
    assert len(server.requests) == 2
    assert "HTTP 500" in info.value.message
    assert "CUDA out of memory" in info.value.message


# --------------------------------------------------------------------------- time limits


def test_a_hanging_server_is_abandoned_after_the_timeout() -> None:
    import openai  # noqa: F401 - imported before timing starts: the first import is slow

    with FakeOpenAIServer([FakeReply("SELECT 1", delay=5)] * 3) as server:
        llm = _llm(server, timeout=0.5, max_retries=2)
        started = time.monotonic()
        with pytest.raises(LLMTimeout) as info:
            llm.complete(MESSAGES)
        elapsed = time.monotonic() - started
    assert elapsed < 2
    assert "0.5 seconds" in info.value.message
    assert "fake-model" in info.value.message


def test_a_stream_that_trickles_forever_is_abandoned_after_the_timeout() -> None:
    # Every chunk arrives well within the per-read timeout; only the overall bound stops it.
    text = " ".join(["word"] * 100)
    tokens: list[str] = []
    with FakeOpenAIServer([FakeReply(text, chunk_delay=0.05)]) as server:
        started = time.monotonic()
        with pytest.raises(LLMTimeout):
            _llm(server, timeout=0.6).complete(MESSAGES, on_token=tokens.append)
        elapsed = time.monotonic() - started
    assert elapsed < 2
    assert 0 < len(tokens) < 100


# --------------------------------------------------------------------------- refusals


def test_refused_credentials_give_a_hint_and_never_the_key() -> None:
    reply = FakeReply(f"Incorrect API key provided: {SECRET}.", status=401)
    with FakeOpenAIServer([reply]) as server:
        llm = OpenAILLM("fake-model", api_key=SECRET, base_url=server.base_url, max_retries=0)
        with pytest.raises(LLMUnavailable) as info:
            llm.complete(MESSAGES)
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"
    assert "401" in info.value.message
    assert "OPENAI_API_KEY" in (info.value.hint or "")
    assert SECRET not in _error_texts(info.value)
    assert SECRET not in repr(llm)


def test_forbidden_is_a_credentials_problem_too() -> None:
    server = FakeOpenAIServer([FakeReply("project has no access", status=403)])
    with server, pytest.raises(LLMUnavailable) as info:
        _llm(server).complete(MESSAGES)
    assert "403" in info.value.message
    assert "OPENAI_API_KEY" in (info.value.hint or "")


def test_unknown_model_names_the_model_and_the_setting() -> None:
    reply = FakeReply('model "fake-model" not found, try pulling it first', status=404)
    with FakeOpenAIServer([reply]) as server, pytest.raises(LLMUnavailable) as info:
        _llm(server).complete(MESSAGES)
    assert "'fake-model'" in info.value.message
    assert "not found" in info.value.message
    assert "SQLAGENT_MODEL" in (info.value.hint or "")


def test_other_statuses_show_status_and_a_short_body_excerpt() -> None:
    long_body = "context length exceeded " + "x" * 5000
    server = FakeOpenAIServer([FakeReply(long_body, status=400)])
    with server, pytest.raises(LLMUnavailable) as info:
        _llm(server).complete(MESSAGES)
    assert "HTTP 400" in info.value.message
    assert "context length exceeded" in info.value.message
    assert len(info.value.message) < 400


def test_a_non_json_error_body_is_shown_as_text() -> None:
    reply = FakeReply(status=502, body="<html>Bad Gateway</html>")
    with FakeOpenAIServer([reply]) as server, pytest.raises(LLMUnavailable) as info:
        _llm(server).complete(MESSAGES)
    assert "HTTP 502" in info.value.message
    assert "Bad Gateway" in info.value.message


def test_connection_refused_names_the_base_url() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    llm = OpenAILLM("fake-model", base_url=base_url, max_retries=0, timeout=5)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as info:
        llm.complete(MESSAGES)
    assert time.monotonic() - started < 2
    assert base_url in info.value.message
    assert "OPENAI_BASE_URL" in (info.value.hint or "")


# --------------------------------------------------------------------------- configuration


def test_a_base_url_without_a_key_sends_a_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(["SELECT 1"]) as server:
        assert _llm(server).complete(MESSAGES).text == "SELECT 1"
    assert server.headers[0]["authorization"].startswith("Bearer ")


def test_no_key_and_no_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError) as info:
        OpenAILLM("gpt-4.1-mini").complete(MESSAGES)
    assert "OPENAI_API_KEY" in (info.value.hint or "")


def test_from_settings_uses_every_llm_setting() -> None:
    with FakeOpenAIServer([FakeReply("x", status=500), "SELECT 1"]) as server:
        settings = Settings(
            model="fake-model", base_url=server.base_url, llm_timeout=7.5, llm_retries=1
        )
        llm = OpenAILLM.from_settings(settings)
        assert (llm.model, llm.timeout, llm.max_retries) == ("fake-model", 7.5, 1)
        assert llm.endpoint == server.base_url
        assert llm.complete(MESSAGES).text == "SELECT 1"


def test_endpoint_hides_credentials_in_the_url() -> None:
    llm = OpenAILLM("m", base_url="https://user:pa55@llm.example.com/v1/")
    assert llm.endpoint == "https://llm.example.com/v1"
    assert "pa55" not in repr(llm)


def test_an_explicit_client_is_used() -> None:
    import openai

    with FakeOpenAIServer(["SELECT 42"]) as server:
        client = openai.OpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        llm = OpenAILLM("fake-model", client=client)
        assert llm.complete(MESSAGES).text == "SELECT 42"
        assert llm.endpoint == server.base_url


def test_importing_the_module_does_not_import_openai() -> None:
    code = "import sys, sqlagent.llm.client, sqlagent.llm.extract; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- ScriptedLLM


def test_scripted_llm_replies_in_order_and_records_calls() -> None:
    llm = ScriptedLLM(["SELECT 1", "SELECT 2"])
    assert isinstance(llm, LLM)
    first = llm.complete(MESSAGES, temperature=0.2)
    second = llm.complete([{"role": "user", "content": "again"}])
    assert (first.text, second.text) == ("SELECT 1", "SELECT 2")
    assert first.model == "scripted"
    assert first.usage == Usage(prompt_tokens=11, completion_tokens=2)
    assert llm.calls[0] == MESSAGES
    assert llm.calls[0].temperature == 0.2
    assert llm.calls[1].prompt == "again"
    assert llm.remaining == 0


def test_scripted_llm_calls_are_copies() -> None:
    messages = [{"role": "user", "content": "q"}]
    llm = ScriptedLLM(["SELECT 1"])
    llm.complete(messages)
    messages[0]["content"] = "changed"
    assert llm.calls[0].messages == [{"role": "user", "content": "q"}]


def test_scripted_llm_exhaustion_is_a_clear_error() -> None:
    llm = ScriptedLLM(["SELECT 1"])
    llm.complete(MESSAGES)
    with pytest.raises(ScriptExhausted) as info:
        llm.complete([{"role": "user", "content": "one more question"}])
    assert "called 2 times" in info.value.message
    assert "only 1" in info.value.message
    assert "one more question" in info.value.message


def test_scripted_llm_raises_exception_items_and_carries_on() -> None:
    llm = ScriptedLLM([LLMTimeout("too slow"), LLMUnavailable, "SELECT 1"])
    with pytest.raises(LLMTimeout, match="too slow"):
        llm.complete(MESSAGES)
    with pytest.raises(LLMUnavailable):
        llm.complete(MESSAGES)
    assert llm.complete(MESSAGES).text == "SELECT 1"
    assert len(llm.calls) == 3


def test_scripted_llm_callables_and_completions() -> None:
    fixed = Completion("SELECT 9", Usage(100, 5), "big-model")
    llm = ScriptedLLM([lambda msgs: f"-- {len(msgs)} messages\nSELECT 1", fixed])
    assert llm.complete(MESSAGES).text == "-- 2 messages\nSELECT 1"
    assert llm.complete(MESSAGES) is fixed


def test_scripted_llm_streams_the_reply_in_pieces() -> None:
    tokens: list[str] = []
    llm = ScriptedLLM(["SELECT brand FROM cards"])
    completion = llm.complete(MESSAGES, on_token=tokens.append)
    assert len(tokens) > 1
    assert "".join(tokens) == completion.text
    assert llm.calls[0].streamed


def test_scripted_llm_rejects_a_bad_item() -> None:
    llm = ScriptedLLM([42])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="int"):
        llm.complete(MESSAGES)
