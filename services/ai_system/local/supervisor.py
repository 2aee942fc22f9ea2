"""When the local launcher starts a dead child again, and when it gives up.

As the swarm's restart policy does for a container: a child that stops is started again
after a short delay; one that keeps dying (``max_restarts`` times within ``window``
seconds) is broken, not unlucky, and the launcher stops with its last lines instead of
restarting it forever. ``RestartPolicy`` is the pure logic, with an explicit clock;
``supervise`` applies it to a running ``LocalSystem``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict, deque

from ai_system.local.processes import StartupError
from ai_system.local.system import LocalSystem

# Swarm waits 5 s by default; on one machine a second is enough to free the ports.
RESTART_DELAY_SECONDS = 1.0
MAX_RESTARTS = 5
WINDOW_SECONDS = 60.0


class RestartPolicy:
    def __init__(self, max_restarts: int = MAX_RESTARTS, window: float = WINDOW_SECONDS) -> None:
        self._max = max_restarts
        self._window = window
        self._restarts: defaultdict[str, deque[float]] = defaultdict(deque)

    def allow(self, name: str, now: float) -> bool:
        """Whether ``name`` may be started again now; if so, the restart is counted."""
        times = self._restarts[name]
        while times and now - times[0] > self._window:
            times.popleft()
        if len(times) >= self._max:
            return False
        times.append(now)
        return True

    def count(self, name: str) -> int:
        """Restarts of ``name`` within the window (as of the last ``allow``)."""
        return len(self._restarts[name])


def supervise(system: LocalSystem, stopping: threading.Event) -> int:
    """Start each child that stops again, as the swarm would, until asked to stop; give up
    (exit status 1) on one that keeps dying."""
    policy = RestartPolicy()
    while not stopping.wait(0.5):
        for proc in [p for p in system.processes() if not p.alive()]:
            if not policy.allow(proc.name, time.monotonic()):
                print(f"ai-system-local: {proc.name} stopped {policy.count(proc.name) + 1} "
                      "times within a minute; stopping the rest. Its last lines:\n"
                      f"{proc.tail()}", file=sys.stderr)
                return 1
            print(f"ai-system-local: {proc.name} stopped (exit {proc.returncode}); "
                  f"starting it again in {RESTART_DELAY_SECONDS:g} s", file=sys.stderr)
            if stopping.wait(RESTART_DELAY_SECONDS):
                return 0
            try:
                system.restart(proc)
            except (StartupError, OSError) as exc:
                print(f"ai-system-local: could not start {proc.name} again: {exc}",
                      file=sys.stderr)
    return 0
