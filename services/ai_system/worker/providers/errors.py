"""The errors a user may see when a provider fails, and ``redact`` for upstream text.

Every error carries a message written for the person in the chat (``str(error)``). None
ever contains an API key: providers build the messages from the provider name, the HTTP
status and the upstream message with every key removed by ``redact``. Its ``kind`` goes
to the master as ``TaskResult.error_kind`` (``protocol.ERROR_KINDS``): the master tries a
task again after ``rate_limited``, ``timeout`` or ``upstream``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

_MAX_UPSTREAM_MESSAGE = 300


class ProviderError(Exception):
    """A failure the user is told about; ``str(error)`` is the user-facing message."""

    kind: ClassVar[str] = "unexpected"


class BadKeyError(ProviderError):
    """The provider rejected the key (HTTP 401/403, or Gemini's API_KEY_INVALID)."""

    kind = "bad_key"


class RateLimitedError(ProviderError):
    """One key got HTTP 429: the pool cools it down and the request moves to the next key."""

    kind = "rate_limited"


class QuotaExhaustedError(ProviderError):
    """Every key is rate-limited or out of quota."""

    kind = "rate_limited"


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within LLM_TIMEOUT_SECONDS."""

    kind = "timeout"


class UpstreamError(ProviderError):
    """Anything else the provider answered or failed with (5xx, connection refused, ...)."""

    kind = "upstream"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` shortened and with every secret replaced, safe to show or log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    if len(text) > _MAX_UPSTREAM_MESSAGE:
        text = text[:_MAX_UPSTREAM_MESSAGE] + "..."
    return text
