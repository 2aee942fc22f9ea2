"""Chooses the provider for each task from the worker's settings."""

from __future__ import annotations

import time

from ai_system.config import DEFAULT_BASE_URLS, DEFAULT_MODELS, WorkerSettings
from ai_system.worker.providers.base import Endpoint, Provider
from ai_system.worker.providers.gemini import GeminiProvider
from ai_system.worker.providers.keys import Clock, KeyPool
from ai_system.worker.providers.offline import OfflineProvider
from ai_system.worker.providers.openai_compat import OpenAICompatProvider


class Providers:
    """The worker's own provider, and the one used with a key the user typed in the chat.

    A user's key goes to the worker's provider, or to USER_KEY_PROVIDER (with its default
    model) when the worker runs offline.
    """

    def __init__(self, settings: WorkerSettings, clock: Clock = time.monotonic) -> None:
        offline = settings.provider == "offline"
        name = settings.key_provider
        self.pool = KeyPool(settings.api_keys, settings.key_cooldown_seconds, clock)
        keyed = _keyed(Endpoint(
            name=name,
            model=DEFAULT_MODELS[name] if offline else settings.model,
            base_url=settings.base_url or DEFAULT_BASE_URLS[name],
            timeout_seconds=settings.llm_timeout_seconds,
        ), self.pool)
        self.for_user_keys = keyed
        self.default: Provider = (
            OfflineProvider(settings.model, settings.user_key_provider,
                            settings.offline_word_seconds) if offline else keyed)

    def choose(self, user_key: str) -> Provider:
        return self.for_user_keys if user_key else self.default


def _keyed(endpoint: Endpoint, pool: KeyPool) -> Provider:
    if endpoint.name == "gemini":
        return GeminiProvider(endpoint, pool)
    return OpenAICompatProvider(endpoint, pool)
