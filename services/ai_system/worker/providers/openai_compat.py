"""DeepSeek and any OpenAI-compatible API (OpenAI, Ollama, vLLM) through the ``openai`` SDK."""

from __future__ import annotations

from collections.abc import Sequence

import openai
from openai.types.chat import ChatCompletionMessageParam

from ai_system.protocol import ChatMessage
from ai_system.worker.providers.base import KeyedProvider, TextSink
from ai_system.worker.providers.errors import (
    BadKeyError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    UpstreamError,
    redact,
)

# DeepSeek answers 402 when a key's balance is used up: like a 429, another key may work.
_OUT_OF_QUOTA = (402, 429)


class OpenAICompatProvider(KeyedProvider[openai.OpenAI]):
    """Chat completions: the conversation and the question in, the first choice's content out."""

    def _make_client(self, key: str) -> openai.OpenAI:
        # Retries are ours (rotation on 429); the SDK's would multiply the timeout.
        return openai.OpenAI(api_key=key, base_url=self.endpoint.base_url or None,
                             timeout=self.endpoint.timeout_seconds, max_retries=0)

    def _complete(self, client: openai.OpenAI, query: str, history: Sequence[ChatMessage],
                  key: str, on_text: TextSink | None) -> str:
        messages = [*map(_message, history), _message({"role": "user", "content": query})]
        try:
            if on_text is not None:
                return self._stream(client, messages, on_text)
            completion = client.chat.completions.create(model=self.model, messages=messages)
        except openai.OpenAIError as exc:
            raise self._translate(exc, key) from None
        if not completion.choices:
            raise UpstreamError(f"{self.name} returned no answer.")
        choice = completion.choices[0]
        if not choice.message.content:
            raise UpstreamError(
                f"{self.name} returned an empty answer (finish reason: {choice.finish_reason}).")
        return choice.message.content

    def _stream(self, client: openai.OpenAI, messages: list[ChatCompletionMessageParam],
                on_text: TextSink) -> str:
        """The answer as server-sent chunks (``stream=True``), each delta passed on."""
        parts: list[str] = []
        finish = None
        with client.chat.completions.create(model=self.model, messages=messages,
                                            stream=True) as stream:
            for chunk in stream:
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                if choice.delta.content:
                    parts.append(choice.delta.content)
                    on_text(choice.delta.content)
        if not parts:
            raise UpstreamError(f"{self.name} returned an empty answer (finish reason: {finish}).")
        return "".join(parts)

    def _translate(self, exc: openai.OpenAIError, key: str) -> ProviderError:
        name = self.name
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(
                f"{name} did not answer within {self.endpoint.timeout_seconds:g} s; "
                "try again later.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamError(f"{name} could not be reached; try again later.")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status in (401, 403):
                return BadKeyError(f"{name} rejected the API key (HTTP {status}); "
                                   "check the key.")
            if status in _OUT_OF_QUOTA:
                return RateLimitedError(f"{name} rate limit or quota (HTTP {status}).")
            return UpstreamError(f"{name} failed with HTTP {status}: {redact(exc.message, [key])}")
        return UpstreamError(f"{name} failed: {redact(str(exc), [key])}")


def _message(message: ChatMessage) -> ChatCompletionMessageParam:
    """A message of the conversation as the API takes it: the roles are the same."""
    if message["role"] == "assistant":
        return {"role": "assistant", "content": message["content"]}
    return {"role": "user", "content": message["content"]}
