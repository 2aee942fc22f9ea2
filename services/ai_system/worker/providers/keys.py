"""KeyPool: round-robin over a provider's API keys, cooling down a key that got HTTP 429."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from ai_system.worker.providers.errors import QuotaExhaustedError

Clock = Callable[[], float]


class KeyPool:
    """The keys of one provider. Never shows them: ``repr`` gives only the count."""

    def __init__(self, keys: Sequence[str], cooldown_seconds: float,
                 clock: Clock = time.monotonic) -> None:
        self._keys = tuple(keys)
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._next = 0
        self._cooling_until: dict[str, float] = {}
        self.cooldowns = 0  # keys put to rest so far (the worker's metrics read it)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyPool({len(self._keys)} keys)"

    def acquire(self, provider: str) -> str:
        """The next key that is not cooling down, round-robin.

        Raises ``QuotaExhaustedError`` (naming ``provider``) when every key is cooling.
        """
        with self._lock:
            now = self._clock()
            for offset in range(len(self._keys)):
                index = (self._next + offset) % len(self._keys)
                key = self._keys[index]
                if self._cooling_until.get(key, 0.0) <= now:
                    self._next = index + 1
                    return key
        raise self.exhausted_error(provider)

    def cool_down(self, key: str) -> None:
        with self._lock:
            self._cooling_until[key] = self._clock() + self._cooldown
            self.cooldowns += 1

    def cooling(self) -> int:
        """How many keys rest right now."""
        with self._lock:
            now = self._clock()
            return sum(1 for until in self._cooling_until.values() if until > now)

    def retry_after(self) -> float:
        """Seconds until the first key is usable again (0 if one already is)."""
        with self._lock:
            now = self._clock()
            soonest = min((self._cooling_until.get(key, 0.0) for key in self._keys),
                          default=0.0)
            return max(0.0, soonest - now)

    def exhausted_error(self, provider: str) -> QuotaExhaustedError:
        wait = math.ceil(self.retry_after())
        when = f"in {wait} s" if wait else "in a moment"
        return QuotaExhaustedError(
            f"All {len(self._keys)} {provider} API keys of this worker are rate-limited or "
            f"out of quota (HTTP 429); try again {when}, or type your own key in the chat.")
