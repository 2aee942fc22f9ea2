"""Waiting on a running system through its own /api/status (no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ai_system.local import LocalSystem, online_workers

Status = dict[str, Any]


def wait_status(system: LocalSystem, condition: Callable[[Status], bool], what: str,
                timeout: float = 30.0) -> Status:
    """Poll /api/status until ``condition`` holds; fail with the last status seen."""
    deadline = time.monotonic() + timeout
    status: Status = {}
    while time.monotonic() < deadline:
        status = system.status()
        if status and condition(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                         f"last /api/status: {status}")


def all_idle(status: Status) -> bool:
    workers = online_workers(status).values()
    return status.get("queue_depth") == 0 and bool(workers) and all(
        worker.get("state") == "idle" for worker in workers)


def wait_idle(system: LocalSystem, timeout: float = 60.0) -> Status:
    """Until every online worker is idle and nothing is queued (a test's clean start)."""
    return wait_status(system, all_idle, "all workers idle and an empty queue", timeout)


def holder_of(status: Status, task_id: str) -> str | None:
    """The worker /api/status says holds ``task_id``."""
    for worker in status.get("workers", []):
        if worker.get("task_id") == task_id:
            return str(worker["worker_id"])
    return None
