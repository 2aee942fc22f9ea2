"""The offline provider: no network, a deterministic answer that says what it is."""

from __future__ import annotations

from ai_system.worker.providers.base import Answer, Provider

_EXCERPT_CHARS = 200


class OfflineProvider(Provider):
    """The default when no API key is configured, so the system works without any LLM."""

    name = "offline"

    def __init__(self, model: str, user_key_provider: str) -> None:
        self.model = model
        self._hint = (
            "This worker runs the offline provider because it has no LLM API key. For real "
            "answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the "
            f"workers, or type your own {user_key_provider} API key in the chat.")

    def ask(self, query: str, user_key: str = "") -> Answer:
        excerpt = query if len(query) <= _EXCERPT_CHARS else query[:_EXCERPT_CHARS] + "..."
        text = (f"[offline answer, no LLM was asked] Your question has {len(query.split())} "
                f"words and {len(query)} characters: \"{excerpt}\". {self._hint}")
        return Answer(text=text, provider=self.name, model=self.model)
