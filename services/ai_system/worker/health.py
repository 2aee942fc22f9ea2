"""``python -m ai_system.worker.health``: exit 0 iff the worker is connected and beating.

The worker touches HEALTH_FILE when it connects to the broker and at every heartbeat, and
removes it when it disconnects or stops, or when one task has kept it busy for longer than
TASK_TIMEOUT_SECONDS (its settings allow no such task: the runner is stuck); a file older
than three heartbeats means the heartbeat itself is stuck. The images' HEALTHCHECK runs
this module.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ai_system.config import WorkerSettings, load_or_report

MISSED_HEARTBEATS = 3


class HealthFile:
    """The file the worker keeps fresh while it is healthy."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def touch(self) -> None:
        self.path.touch(exist_ok=True)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def is_fresh(self, max_age_seconds: float) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        return age <= max_age_seconds


def main() -> int:
    settings = load_or_report(WorkerSettings.from_env, "unhealthy")
    if settings is None:
        return 1
    if HealthFile(settings.health_file).is_fresh(MISSED_HEARTBEATS * settings.heartbeat_seconds):
        return 0
    print(f"unhealthy: {settings.health_file} is missing or older than "
          f"{MISSED_HEARTBEATS} heartbeats", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
