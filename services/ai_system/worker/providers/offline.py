"""The offline provider: no network, a deterministic answer that says what it is."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from ai_system.protocol import ChatMessage
from ai_system.worker.providers.base import Answer, Provider, TextSink

_EXCERPT_CHARS = 200


class OfflineProvider(Provider):
    """The default when no API key is configured, so the system works without any LLM."""

    name = "offline"

    def __init__(self, model: str, user_key_provider: str, word_seconds: float = 0.0) -> None:
        self.model = model
        self._word_seconds = word_seconds  # the pace of a streamed answer
        self._hint = (
            "This worker runs the offline provider because it has no LLM API key. For real "
            "answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the "
            f"workers, or type your own {user_key_provider} API key in the chat.")

    def ask(self, query: str, user_key: str = "", on_text: TextSink | None = None, *,
            history: Sequence[ChatMessage] = ()) -> Answer:
        excerpt = query if len(query) <= _EXCERPT_CHARS else query[:_EXCERPT_CHARS] + "..."
        earlier = sum(1 for message in history if message["role"] == "user")
        # What an LLM would be given, said plainly: the conversation reaches the worker.
        memory = (f"This conversation holds {earlier} earlier "
                  f"question{'' if earlier == 1 else 's'}. " if earlier else "")
        text = (f"[offline answer, no LLM was asked] Your question has {len(query.split())} "
                f"words and {len(query)} characters: \"{excerpt}\". {memory}{self._hint}")
        if on_text is not None:
            # Word by word, as an LLM would write it.
            for word in re.findall(r"\S+\s*", text):
                on_text(word)
                if self._word_seconds:
                    time.sleep(self._word_seconds)
        return Answer(text=text, provider=self.name, model=self.model)
