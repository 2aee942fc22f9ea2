"""When the local launcher starts a dead child again, and when it gives up.

As the swarm's restart policy does for a container: a child that stops is started again
after a short delay; one that keeps dying (``max_restarts`` times within ``window``
seconds) is broken, not unlucky, and the launcher stops with its last lines instead of
restarting it forever. Pure logic with an explicit clock.
"""

from __future__ import annotations

from collections import defaultdict, deque

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
