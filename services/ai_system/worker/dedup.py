"""Remembers recently accepted tasks, so a QoS 1 redelivery is processed only once."""

from __future__ import annotations

from collections import OrderedDict


class RecentTasks:
    """A small LRU set of ``(task_id, attempt)``; a requeued task comes with a new attempt."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()

    def first_time(self, task_id: str, attempt: int) -> bool:
        """True the first time this delivery is seen (and remembers it), False after."""
        key = (task_id, attempt)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
