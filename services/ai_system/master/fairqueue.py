"""The waiting questions: one FIFO per session, served round-robin across sessions.

One session's backlog never delays another session's question by more than one task per
round: the next task always comes from the session that has waited longest for a turn.
Plain data structures, no I/O; every operation but ``remove`` and ``order`` is O(1).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator


class FairQueue:
    """Task ids per session id; ``pop`` takes the front task of the next session in turn."""

    def __init__(self) -> None:
        # Sessions with waiting tasks, in turn order (the next to be served first).
        self._turns: OrderedDict[str, deque[str]] = OrderedDict()
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def push(self, session_id: str, task_id: str) -> None:
        """At the back of its session's line; a session new to the queue waits a full round."""
        line = self._turns.get(session_id)
        if line is None:
            line = self._turns[session_id] = deque()
        line.append(task_id)
        self._length += 1

    def push_front(self, session_id: str, task_id: str) -> None:
        """First in its session's line, and that session served next (a task taken back
        from a worker has waited longest)."""
        line = self._turns.get(session_id)
        if line is None:
            line = self._turns[session_id] = deque()
        line.appendleft(task_id)
        self._turns.move_to_end(session_id, last=False)
        self._length += 1

    def pop(self) -> str | None:
        """The next task in turn, or None when nothing waits."""
        if not self._turns:
            return None
        session_id, line = next(iter(self._turns.items()))
        task_id = line.popleft()
        self._length -= 1
        if line:
            self._turns.move_to_end(session_id)
        else:
            del self._turns[session_id]
        return task_id

    def remove(self, session_id: str, task_id: str) -> bool:
        """Take a task out wherever it waits; False if it was not queued."""
        line = self._turns.get(session_id)
        if line is None or task_id not in line:
            return False
        line.remove(task_id)
        self._length -= 1
        if not line:
            del self._turns[session_id]
        return True

    def position(self, session_id: str) -> int:
        """The 1-based place in ``order()`` of the last task in the session's line:
        O(sessions waiting)."""
        line = self._turns.get(session_id)
        if line is None:
            return 0
        rounds = len(line)  # served in round rounds - 1 (0-based)
        position = 0
        before = True
        for other, other_line in self._turns.items():
            if other == session_id:
                before = False
                position += rounds
            else:
                position += min(len(other_line), rounds if before else rounds - 1)
        return position

    def heads(self) -> list[str]:
        """The first task of each session's line (each line is oldest first)."""
        return [line[0] for line in self._turns.values()]

    def sessions(self) -> int:
        return len(self._turns)

    def order(self) -> Iterator[str]:
        """Every task in the order ``pop`` would hand them out (O(queue length))."""
        lines = [iter(line) for line in self._turns.values()]
        while lines:
            remaining = []
            for line in lines:
                task_id = next(line, None)
                if task_id is not None:
                    yield task_id
                    remaining.append(line)
            lines = remaining
