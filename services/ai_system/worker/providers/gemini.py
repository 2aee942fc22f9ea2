"""Google Gemini through the google-genai SDK (``from google import genai``)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx2
from google import genai
from google.genai import errors, types

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


class GeminiProvider(KeyedProvider[genai.Client]):
    """generateContent with the conversation and the query as contents; the answer's text out."""

    def _make_client(self, key: str) -> genai.Client:
        # The SDK does not retry unless told to (retry_options): rotation on 429 is ours.
        options = types.HttpOptions(base_url=self.endpoint.base_url or None,
                                    timeout=int(self.endpoint.timeout_seconds * 1000))
        return genai.Client(api_key=key, vertexai=False, http_options=options)

    def _complete(self, client: genai.Client, query: str, history: Sequence[ChatMessage],
                  key: str, on_text: TextSink | None) -> str:
        contents = _contents(query, history)
        try:
            if on_text is not None:
                return self._stream(client, contents, on_text)
            response = client.models.generate_content(model=self.model, contents=contents)
        except errors.APIError as exc:
            raise self._translate(exc, key) from None
        except httpx2.TimeoutException:
            raise ProviderTimeoutError(
                f"{self.name} did not answer within {self.endpoint.timeout_seconds:g} s; "
                "try again later.") from None
        except httpx2.TransportError:
            raise UpstreamError(f"{self.name} could not be reached; try again later.") from None
        if not response.text:
            reason = response.candidates[0].finish_reason if response.candidates else None
            raise UpstreamError(f"{self.name} returned no text (finish reason: {reason}).")
        return response.text

    def _stream(self, client: genai.Client, contents: list[types.Content],
                on_text: TextSink) -> str:
        """streamGenerateContent: each response's text passed on as it arrives."""
        parts: list[str] = []
        reason = None
        for response in client.models.generate_content_stream(model=self.model,
                                                               contents=contents):
            if response.candidates:
                reason = response.candidates[0].finish_reason or reason
            if response.text:
                parts.append(response.text)
                on_text(response.text)
        if not parts:
            raise UpstreamError(f"{self.name} returned no text (finish reason: {reason}).")
        return "".join(parts)

    def _translate(self, exc: errors.APIError, key: str) -> ProviderError:
        name, code = self.name, exc.code
        # Google answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        if code in (401, 403) or (code == 400 and "API_KEY_INVALID" in str(exc.details)):
            return BadKeyError(f"{name} rejected the API key (HTTP {code}); check the key.")
        if code == 429:
            return RateLimitedError(f"{name} rate limit or quota (HTTP 429).")
        message = redact(exc.message or exc.status or "", [key])
        return UpstreamError(f"{name} failed with HTTP {code}: {message}")


def _contents(query: str, history: Sequence[ChatMessage]) -> list[types.Content]:
    """Gemini's turns: the conversation's, its answers as the ``model`` role, then the query."""
    return [*(types.Content(role="model" if m["role"] == "assistant" else "user",
                            parts=[types.Part(text=m["content"])]) for m in history),
            types.Content(role="user", parts=[types.Part(text=query)])]
