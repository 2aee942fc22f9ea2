"""The real SDK clients, through our provider classes, against local stand-in servers.

Each failure must come out as the error class whose ``kind`` the master acts on
(``TaskResult.error_kind``): bad_key, rate_limited, timeout or upstream.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from support.llm_stand_in import StandIn

from ai_system.config import WorkerSettings
from ai_system.worker.providers.base import Provider
from ai_system.worker.providers.errors import (
    BadKeyError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    UpstreamError,
)
from ai_system.worker.providers.factory import Providers

# The provider name each dialect is configured as, and the variable holding its keys.
CONFIG = {"openai": ("openai", "OPENAI_API_KEYS"), "gemini": ("gemini", "GEMINI_API_KEYS")}
REJECTED = {"openai": 401, "gemini": 400}


@pytest.fixture(params=["openai", "gemini"])
def stand_in(request: pytest.FixtureRequest) -> Iterator[StandIn]:
    with StandIn(request.param) as server:
        yield server


def providers_for(server: StandIn, keys: str, **env: str) -> Providers:
    name, keys_var = CONFIG[server.dialect]
    return Providers(WorkerSettings.from_env({
        "WORKER_ID": "w1", "LLM_PROVIDER": name, keys_var: keys,
        "LLM_BASE_URL": server.base_url, "LLM_MODEL": "test-model",
        "LLM_TIMEOUT_SECONDS": "0.5", **env,
    }))


def ask(provider: Provider, query: str = "What is MQTT?", user_key: str = "") -> str:
    return provider.ask(query, user_key).text


def assert_no_key(error: ProviderError, *keys: str) -> None:
    for key in keys:
        assert key not in str(error) and key not in repr(error)


def test_success_sends_the_model_and_question_with_the_first_key(stand_in: StandIn) -> None:
    provider = providers_for(stand_in, "key-a,key-b").choose("")
    answer = provider.ask("What is MQTT?")
    assert answer.text == "stand-in answer: What is MQTT?"
    assert (answer.provider, answer.model) == (CONFIG[stand_in.dialect][0], "test-model")
    assert stand_in.keys_seen == ["key-a"]
    seen = stand_in.seen[0]
    if stand_in.dialect == "openai":
        assert seen.path == "/v1/chat/completions"
        assert seen.body["model"] == "test-model"
        assert seen.body["messages"] == [{"role": "user", "content": "What is MQTT?"}]
    else:
        # google-genai 3 calls the stable v1 API by default; older releases called v1beta.
        assert re.fullmatch(r"/v1(beta)?/models/test-model:generateContent", seen.path)
        assert seen.body["contents"][0]["parts"] == [{"text": "What is MQTT?"}]


def test_the_conversation_goes_before_the_question_in_the_apis_own_form(
        stand_in: StandIn) -> None:
    history = ({"role": "user", "content": "My name is Ana."},
               {"role": "assistant", "content": "Nice to meet you, Ana."})
    provider = providers_for(stand_in, "key-a").choose("")
    provider.ask("What is my name?", history=history)
    provider.ask("What is my name?", on_text=lambda _text: None, history=history)  # streamed
    for seen in stand_in.seen:
        if stand_in.dialect == "openai":
            assert seen.body["messages"] == [*history,
                                             {"role": "user", "content": "What is my name?"}]
        else:
            assert seen.body["contents"] == [
                {"role": "user", "parts": [{"text": "My name is Ana."}]},
                {"role": "model", "parts": [{"text": "Nice to meet you, Ana."}]},
                {"role": "user", "parts": [{"text": "What is my name?"}]}]
    assert len(stand_in.seen) == 2


def test_a_key_typed_by_the_user_is_the_one_sent(stand_in: StandIn) -> None:
    providers = providers_for(stand_in, "key-a")
    assert ask(providers.choose("user-key"), user_key="user-key").startswith("stand-in")
    assert stand_in.keys_seen == ["user-key"]


def test_a_rejected_key_is_a_bad_key_error(stand_in: StandIn) -> None:
    stand_in.behaviour["key-a"] = REJECTED[stand_in.dialect]
    with pytest.raises(BadKeyError, match="rejected the API key") as caught:
        ask(providers_for(stand_in, "key-a,key-b").choose(""))
    assert_no_key(caught.value, "key-a")
    assert stand_in.keys_seen == ["key-a"]
    assert caught.value.kind == "bad_key"


def test_permission_denied_is_a_bad_key_error(stand_in: StandIn) -> None:
    stand_in.behaviour["user-key"] = 403
    with pytest.raises(BadKeyError, match=r"HTTP 403"):
        ask(providers_for(stand_in, "").choose("user-key"), user_key="user-key")


def test_429_on_the_first_key_rotates_to_the_second(stand_in: StandIn) -> None:
    stand_in.behaviour["key-a"] = 429
    provider = providers_for(stand_in, "key-a,key-b").choose("")
    assert ask(provider) == "stand-in answer: What is MQTT?"
    assert stand_in.keys_seen == ["key-a", "key-b"]
    # key-a cools down: the next question goes straight to key-b.
    ask(provider)
    assert stand_in.keys_seen == ["key-a", "key-b", "key-b"]


def test_429_on_every_key_is_a_quota_error(stand_in: StandIn) -> None:
    stand_in.behaviour.update({"key-a": 429, "key-b": 429})
    with pytest.raises(QuotaExhaustedError, match="try again in 60 s") as caught:
        ask(providers_for(stand_in, "key-a,key-b", KEY_COOLDOWN_SECONDS="60").choose(""))
    assert_no_key(caught.value, "key-a", "key-b")
    assert stand_in.keys_seen == ["key-a", "key-b"]
    assert caught.value.kind == "rate_limited"


def test_429_on_a_users_key_is_rate_limited(stand_in: StandIn) -> None:
    stand_in.behaviour["user-key"] = 429
    with pytest.raises(QuotaExhaustedError, match=r"Your \w+ API key") as caught:
        ask(providers_for(stand_in, "key-a").choose("user-key"), user_key="user-key")
    assert caught.value.kind == "rate_limited"
    assert stand_in.keys_seen == ["user-key"]


def test_a_slow_provider_is_a_timeout_error_and_is_not_retried(stand_in: StandIn) -> None:
    stand_in.behaviour["key-a"] = "slow"
    with pytest.raises(ProviderTimeoutError, match=r"did not answer within 0\.5 s") as caught:
        ask(providers_for(stand_in, "key-a,key-b").choose(""))
    assert caught.value.kind == "timeout"
    assert stand_in.keys_seen == ["key-a"]  # neither the SDK nor the pool tried again


def test_a_server_error_is_reported_with_the_key_redacted(stand_in: StandIn) -> None:
    stand_in.behaviour["key-a"] = 500
    with pytest.raises(UpstreamError, match="HTTP 500") as caught:
        ask(providers_for(stand_in, "key-a").choose(""))
    assert "[redacted]" in str(caught.value)
    assert_no_key(caught.value, "key-a")
    assert caught.value.kind == "upstream"


@pytest.mark.parametrize(("behaviour", "status"), [(503, 503), ("html-502", 502)])
def test_an_overloaded_or_unreachable_api_behind_a_proxy_is_an_upstream_error(
        stand_in: StandIn, behaviour: str | int, status: int) -> None:
    stand_in.behaviour["key-a"] = behaviour
    with pytest.raises(UpstreamError, match=f"HTTP {status}") as caught:
        ask(providers_for(stand_in, "key-a,key-b").choose(""))
    assert caught.value.kind == "upstream"
    assert stand_in.keys_seen == ["key-a"]  # a 5xx is the API's, not the key's: no rotation


def test_an_unreachable_provider_is_an_upstream_error(stand_in: StandIn) -> None:
    providers = providers_for(stand_in, "key-a")
    stand_in.__exit__()
    with pytest.raises(UpstreamError, match="could not be reached") as caught:
        ask(providers.choose(""))
    assert caught.value.kind == "upstream"


def test_a_connection_the_server_drops_is_an_upstream_error(stand_in: StandIn) -> None:
    # Something listens but closes every connection at once (a crashed API behind a
    # load balancer, a wrong port).
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        threading.Thread(target=_drop_connections, args=(listener,), daemon=True).start()
        base_url = re.sub(r":\d+", f":{port}", stand_in.base_url)
        provider = providers_for(stand_in, "key-a", LLM_BASE_URL=base_url).choose("")
        with pytest.raises(UpstreamError) as caught:
            ask(provider)
    assert caught.value.kind == "upstream"


def _drop_connections(listener: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.close()


def test_deepseek_uses_the_openai_wire_format() -> None:
    with StandIn("openai") as server:
        provider = Providers(WorkerSettings.from_env({
            "WORKER_ID": "w1", "DEEPSEEK_API_KEYS": "ds-key", "LLM_BASE_URL": server.base_url,
        })).choose("")
        answer = provider.ask("hello")
        assert (answer.provider, answer.model) == ("deepseek", "deepseek-chat")
        assert server.keys_seen == ["ds-key"]
        assert server.seen[0].body["model"] == "deepseek-chat"


def test_a_streamed_answer_arrives_in_pieces_that_add_up_to_the_answer(
        stand_in: StandIn) -> None:
    provider = providers_for(stand_in, "key-a").choose("")
    pieces: list[str] = []
    answer = provider.ask("Stream it, please", on_text=pieces.append)
    assert answer.text == "stand-in answer: Stream it, please"
    assert len(pieces) == 5 and "".join(pieces) == answer.text
    seen = stand_in.seen[0]
    if stand_in.dialect == "openai":
        assert seen.body["stream"] is True
    else:
        assert re.fullmatch(r"/v1(beta)?/models/test-model:streamGenerateContent\?alt=sse",
                            seen.path)


def test_a_streamed_request_fails_with_the_same_kinds_of_error(stand_in: StandIn) -> None:
    stand_in.behaviour["key-a"] = 429
    stand_in.behaviour["key-b"] = 500
    pieces: list[str] = []
    with pytest.raises(ProviderError) as failed:
        providers_for(stand_in, "key-a,key-b").choose("").ask("?", on_text=pieces.append)
    assert failed.value.kind == "upstream" and pieces == []
    assert stand_in.keys_seen == ["key-a", "key-b"]  # the 429 rotated to the next key
