"""Stand-ins for the master's MQTT publisher and Socket.IO emitter that record the calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

WAIT_SECONDS = 10.0  # a failure bound only


class Recorder:
    """Collects calls from the service's outbox thread; waits without fixed sleeps."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._changed = threading.Condition()

    def __call__(self, *args: Any) -> None:
        with self._changed:
            self.calls.append(args)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[tuple[Any, ...]]], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.calls), WAIT_SECONDS), self.calls
