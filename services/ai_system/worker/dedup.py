"""Remembers recently accepted tasks, so a QoS 1 redelivery is processed only once."""

from __future__ import annotations

from cachetools import LRUCache


class RecentTasks:
    """The last ``capacity`` (task_id, attempt) seen; a requeued task comes with a new attempt."""

    def __init__(self, capacity: int = 256) -> None:
        self._seen: LRUCache[tuple[str, int], None] = LRUCache(maxsize=capacity)

    def first_time(self, task_id: str, attempt: int) -> bool:
        """True the first time this delivery is seen (and remembers it), False after."""
        key = (task_id, attempt)
        seen = key in self._seen
        self._seen[key] = None  # (again) among the most recent
        return not seen
