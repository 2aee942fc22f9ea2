"""Token buckets that pace the questions of one session and of one client address.

Pure logic: the caller passes the time (``time.monotonic`` seconds). The buckets of keys not
seen for a while are forgotten (a full bucket is the same as no bucket), so a flood of new
sessions or addresses cannot grow the master's memory without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``allow(key, now)``: True and one token spent, or False when the key's bucket is empty.

    ``per_minute`` tokens flow in per minute up to ``burst``; ``per_minute == 0`` allows all.
    """

    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._buckets: LRUCache[str, _Bucket] = LRUCache(maxsize=max_keys)

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def allow(self, key: str, now: float) -> bool:
        if not self.enabled:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may ask again (0 when it may now)."""
        bucket = self._buckets.get(key)
        if not self.enabled or bucket is None:
            return 0.0
        tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        return max(0.0, (1.0 - tokens) / self._rate)
