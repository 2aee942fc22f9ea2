"""Provider choice from settings, the offline provider, key rotation in KeyedProvider."""

from __future__ import annotations

from pathlib import Path

import pytest

from ai_system.config import WorkerSettings
from ai_system.worker.providers.base import Endpoint, KeyedProvider
from ai_system.worker.providers.errors import (
    BadKeyError,
    QuotaExhaustedError,
    RateLimitedError,
)
from ai_system.worker.providers.factory import Providers
from ai_system.worker.providers.gemini import GeminiProvider
from ai_system.worker.providers.keys import KeyPool
from ai_system.worker.providers.offline import OfflineProvider
from ai_system.worker.providers.openai_compat import OpenAICompatProvider


def settings(**env: str) -> WorkerSettings:
    return WorkerSettings.from_env({"WORKER_ID": "w1", **env})


def test_no_keys_means_offline_for_the_worker_and_gemini_for_user_keys() -> None:
    providers = Providers(settings())
    assert isinstance(providers.choose(""), OfflineProvider)
    user = providers.choose("user-key")
    assert isinstance(user, GeminiProvider)
    assert (user.name, user.model) == ("gemini", "gemini-2.5-flash")


def test_user_key_provider_applies_when_the_worker_is_offline() -> None:
    user = Providers(settings(USER_KEY_PROVIDER="deepseek")).choose("user-key")
    assert isinstance(user, OpenAICompatProvider)
    assert (user.name, user.model) == ("deepseek", "deepseek-chat")
    assert user.endpoint.base_url == "https://api.deepseek.com"


def test_auto_picks_the_first_provider_with_keys_and_user_keys_go_to_it() -> None:
    providers = Providers(settings(DEEPSEEK_API_KEYS="d1,d2", USER_KEY_PROVIDER="openai"))
    default = providers.choose("")
    assert isinstance(default, OpenAICompatProvider)
    assert default.name == "deepseek"
    assert providers.choose("user-key") is default


def test_openai_compatible_base_url_and_model_come_from_settings() -> None:
    provider = Providers(settings(
        LLM_PROVIDER="openai", OPENAI_API_KEYS="o1", LLM_BASE_URL="http://ollama:11434/v1",
        LLM_MODEL="llama3.2", LLM_TIMEOUT_SECONDS="7")).choose("")
    assert isinstance(provider, OpenAICompatProvider)
    assert provider.endpoint == Endpoint("openai", "llama3.2", "http://ollama:11434/v1", 7.0)


def test_keys_from_a_docker_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "gemini_keys"
    secret.write_text("g1\ng2\n\n")
    loaded = settings(GEMINI_API_KEYS_FILE=str(secret))
    assert (loaded.provider, loaded.api_keys) == ("gemini", ("g1", "g2"))
    assert "g1" not in repr(loaded) and "g1" not in repr(Providers(loaded).choose(""))


def test_offline_answers_deterministically_and_says_how_to_get_real_answers() -> None:
    provider = OfflineProvider("offline-echo", "gemini")
    first = provider.ask("What is MQTT?")
    assert first == provider.ask("What is MQTT?")
    assert (first.provider, first.model) == ("offline", "offline-echo")
    assert "offline" in first.text and "What is MQTT?" in first.text
    assert "GEMINI_API_KEYS" in first.text and "3 words" in first.text
    assert len(provider.ask("x" * 4000).text) < 1000


def test_offline_says_how_many_earlier_questions_the_conversation_holds() -> None:
    provider = OfflineProvider("offline-echo", "gemini")
    alone = provider.ask("What is my name?").text
    history = ({"role": "user", "content": "My name is Ana."},
               {"role": "assistant", "content": "Nice to meet you."})
    one = provider.ask("What is my name?", history=history).text
    assert one == alone.replace('"What is my name?". ', '"What is my name?". This conversation '
                                'holds 1 earlier question. ')
    assert "holds 2 earlier questions." in provider.ask("q", history=history * 2).text


class ScriptedProvider(KeyedProvider[str]):
    """Answers from a script of outcomes per key; records the keys it was asked with."""

    def __init__(self, pool: KeyPool, limited: set[str], bad: frozenset[str] = frozenset()) -> None:
        super().__init__(Endpoint("scripted", "m", "", 1.0), pool)
        self.limited, self.bad, self.used, self.made = limited, bad, [], []

    def _make_client(self, key: str) -> str:
        self.made.append(key)
        return f"client-for-{key}"

    def _complete(self, client: str, query: str, history: object, key: str,
                  on_text: object = None) -> str:
        self.used.append(key)
        assert client == f"client-for-{key}"
        if key in self.limited:
            raise RateLimitedError("429")
        if key in self.bad:
            raise BadKeyError("scripted rejected the API key (HTTP 401); check the key.")
        return f"answer to {query}"


def test_429_moves_to_the_next_key_and_cools_the_first() -> None:
    provider = ScriptedProvider(KeyPool(["k1", "k2", "k3"], 60), limited={"k1"})
    assert provider.ask("q").text == "answer to q"
    assert provider.used == ["k1", "k2"]
    provider.ask("q")
    provider.ask("q")
    assert provider.used == ["k1", "k2", "k3", "k2"]


def test_one_sdk_client_per_key_and_only_the_most_recent_users_keys_are_kept() -> None:
    provider = ScriptedProvider(KeyPool(["k1"], 60), limited=set())
    provider.ask("q")
    provider.ask("q")
    assert provider.made == ["k1"]  # made once, then reused
    # Every user key typed in the chat gets a client; the least recently used go beyond 32.
    for n in range(32):
        provider.ask("q", user_key=f"user-{n}")
    provider.ask("q", user_key="user-0")
    assert provider.made.count("user-0") == 1  # k1 left, user-0 stayed
    provider.ask("q")
    assert provider.made.count("k1") == 2


def test_429_on_every_key_is_a_quota_error() -> None:
    provider = ScriptedProvider(KeyPool(["k1", "k2"], 60), limited={"k1", "k2"})
    with pytest.raises(QuotaExhaustedError, match="All 2 scripted API keys"):
        provider.ask("q")
    assert provider.used == ["k1", "k2"]
    with pytest.raises(QuotaExhaustedError):
        provider.ask("q")
    assert provider.used == ["k1", "k2"]


def test_zero_cool_down_still_tries_each_key_once_per_question() -> None:
    provider = ScriptedProvider(KeyPool(["k1", "k2"], 0), limited={"k1", "k2"})
    with pytest.raises(QuotaExhaustedError):
        provider.ask("q")
    assert provider.used == ["k1", "k2"]


def test_a_user_key_is_used_alone_and_its_429_is_reported_as_the_users() -> None:
    provider = ScriptedProvider(KeyPool(["k1"], 60), limited={"mine"})
    with pytest.raises(QuotaExhaustedError, match="Your scripted API key"):
        provider.ask("q", "mine")
    assert provider.used == ["mine"]
    assert provider.ask("q").text == "answer to q"


def test_a_rejected_key_is_not_rotated_away() -> None:
    provider = ScriptedProvider(KeyPool(["k1", "k2"], 60), limited=set(), bad={"k1"})
    with pytest.raises(BadKeyError):
        provider.ask("q")
    assert provider.used == ["k1"]


def test_no_key_at_all_is_a_clear_error() -> None:
    provider = ScriptedProvider(KeyPool([], 60), limited=set())
    with pytest.raises(BadKeyError, match="No scripted API key is configured"):
        provider.ask("q")
