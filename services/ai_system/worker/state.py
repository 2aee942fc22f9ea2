"""What the worker is doing: busy with a task (since when), or idle after its last one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ai_system.protocol import TaskMessage, WorkerStatus


@dataclass(frozen=True)
class Delivery:
    """A task as it came off the bus, with its receipt time (``time.monotonic``)."""

    task: TaskMessage
    received_at: float


class WorkerState:
    """Shared by the runner (which changes it) and the bus (which reports it)."""

    def __init__(self, worker_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._worker_id = worker_id
        self._clock = clock
        self._current: str | None = None
        self._started_at = 0.0
        self._last: str | None = None
        self._lock = threading.Lock()

    def start(self, task_id: str) -> WorkerStatus:
        with self._lock:
            self._current, self._started_at = task_id, self._clock()
            return self._status()

    def finish(self) -> WorkerStatus:
        with self._lock:
            self._last, self._current = self._current, None
            return self._status()

    def refuse(self, task_id: str) -> WorkerStatus:
        """A task not worked on: idle, naming it as the last one (the master requeues it)."""
        with self._lock:
            self._current, self._last = None, task_id
            return self._status()

    def status(self) -> WorkerStatus:
        """busy with the current task, or idle with the last one (None before any)."""
        with self._lock:
            return self._status()

    def busy_for(self) -> tuple[str, float] | None:
        """The current task and how many seconds it has been running, or None when idle."""
        with self._lock:
            if self._current is None:
                return None
            return self._current, self._clock() - self._started_at

    def _status(self) -> WorkerStatus:
        if self._current is not None:
            return WorkerStatus(self._worker_id, "busy", self._current)
        return WorkerStatus(self._worker_id, "idle", self._last)
