"""The provider interface, its answer, and what every keyed provider shares.

``KeyedProvider`` holds the key rotation (next key on HTTP 429) and the cache of SDK
clients (one per key, so connections are reused); the provider modules only talk to
their SDK and translate its exceptions into ``ai_system.worker.providers.errors``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

from ai_system.protocol import ChatMessage
from ai_system.worker.providers.errors import (
    BadKeyError,
    QuotaExhaustedError,
    RateLimitedError,
)
from ai_system.worker.providers.keys import KeyPool

# Users may type many different keys; the clients of the least recently used ones go.
_CLIENT_CACHE_SIZE = 32

ClientT = TypeVar("ClientT")
# Receives the answer's text as it is written, a piece at a time (the worker streams it on).
TextSink = Callable[[str], None]


@dataclass(frozen=True)
class Answer:
    text: str
    provider: str
    model: str


class Provider(ABC):
    """Answers one query, with the user's own key or with a key from the worker's pool."""

    name: str
    model: str

    @abstractmethod
    def ask(self, query: str, user_key: str = "", on_text: TextSink | None = None, *,
            history: Sequence[ChatMessage] = ()) -> Answer:
        """The answer to ``query`` after the conversation's ``history``, or a
        ``ProviderError`` whose message is meant for the user. With ``on_text``, the text
        also goes there as it is written."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how a keyed provider is reached."""

    name: str
    model: str
    base_url: str
    timeout_seconds: float


class KeyedProvider(Provider, Generic[ClientT]):
    """A provider behind API keys. Subclasses implement ``_make_client`` and ``_complete``."""

    def __init__(self, endpoint: Endpoint, pool: KeyPool) -> None:
        self.name = endpoint.name
        self.model = endpoint.model
        self.endpoint = endpoint
        self._pool = pool
        self._clients: LRUCache[str, ClientT] = LRUCache(maxsize=_CLIENT_CACHE_SIZE)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r}, {self._pool!r})"

    @abstractmethod
    def _make_client(self, key: str) -> ClientT:
        """A new SDK client using ``key``."""

    @abstractmethod
    def _complete(self, client: ClientT, query: str, history: Sequence[ChatMessage],
                  key: str, on_text: TextSink | None) -> str:
        """The answer text, streamed to ``on_text`` if given; SDK exceptions translated
        (``key`` only to redact messages)."""

    def ask(self, query: str, user_key: str = "", on_text: TextSink | None = None, *,
            history: Sequence[ChatMessage] = ()) -> Answer:
        if user_key:
            try:
                return self._answer(query, history, user_key, on_text)
            except RateLimitedError:
                raise QuotaExhaustedError(
                    f"Your {self.name} API key is rate-limited or out of quota (HTTP 429); "
                    "try again later or use another key.") from None
        if not len(self._pool):
            raise BadKeyError(
                f"No {self.name} API key is configured on this worker and none was typed "
                "in the chat.")
        # Each key is tried at most once per question, so a zero cool-down cannot loop.
        for _ in range(len(self._pool)):
            key = self._pool.acquire(self.name)
            try:
                return self._answer(query, history, key, on_text)
            except RateLimitedError:
                self._pool.cool_down(key)
        raise self._pool.exhausted_error(self.name)

    def _answer(self, query: str, history: Sequence[ChatMessage], key: str,
                on_text: TextSink | None) -> Answer:
        text = self._complete(self._client(key), query, history, key, on_text)
        return Answer(text=text, provider=self.name, model=self.model)

    def _client(self, key: str) -> ClientT:
        with self._lock:
            client = self._clients.get(key)
        if client is None:
            client = self._make_client(key)
            with self._lock:
                self._clients[key] = client
        return client
