"""What the worker is doing: busy with a task, or idle after its last one."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ai_system.protocol import TaskMessage, WorkerStatus


@dataclass(frozen=True)
class Delivery:
    """A task as it came off the bus, with its receipt time (``time.monotonic``)."""

    task: TaskMessage
    received_at: float


class WorkerState:
    """Shared by the runner (which changes it) and the bus (which reports it)."""

    def __init__(self, worker_id: str) -> None:
        self._worker_id = worker_id
        self._current: str | None = None
        self._last: str | None = None
        self._lock = threading.Lock()

    def start(self, task_id: str) -> WorkerStatus:
        with self._lock:
            self._current = task_id
            return self._status()

    def finish(self) -> WorkerStatus:
        with self._lock:
            self._last, self._current = self._current, None
            return self._status()

    def status(self) -> WorkerStatus:
        """busy with the current task, or idle with the last one (None before any)."""
        with self._lock:
            return self._status()

    def _status(self) -> WorkerStatus:
        if self._current is not None:
            return WorkerStatus(self._worker_id, "busy", self._current)
        return WorkerStatus(self._worker_id, "idle", self._last)
