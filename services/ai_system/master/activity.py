"""What the operator's dashboard shows of the last minutes: recent tasks, the log, history.

Bounded ring buffers fed by the service (finished tasks from the outbox thread, samples
from the ticker, log records from the MQTT thread) and read by the dashboard's push loop.
A recent task names its session by a short prefix of the public id and never carries the
question or a key.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from ai_system.master.journal import TaskRecord
from ai_system.protocol import EVENT_AI_RESPONSE, LogRecord

RECENT_TASKS = 50
LOG_LINES = 500
# One sample a second: ten minutes of charts.
HISTORY_SAMPLES = 600


@dataclass(frozen=True)
class Sample:
    at: int  # ms since the epoch
    completed: int  # counters so far: the page turns them into rates
    failed: int
    queue_depth: int
    busy: int
    online: int


class Activity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: deque[dict[str, Any]] = deque(maxlen=RECENT_TASKS)
        self._logs: deque[dict[str, Any]] = deque(maxlen=LOG_LINES)
        self._log_seq = 0
        self._history: deque[Sample] = deque(maxlen=HISTORY_SAMPLES)

    def record(self, record: TaskRecord) -> None:
        """A task's record changed; finished ones join the recent tasks."""
        if record.state != "finished" or record.payload is None or record.finished_at is None:
            return
        payload = record.payload
        answered = record.event == EVENT_AI_RESPONSE
        summary = {
            "at": round(record.finished_at * 1000),
            "session": record.session_id[:8],
            "worker": payload.get("worker_id") or record.worker_id or "",
            "attempts": record.attempt,
            "queue_wait_ms": payload.get("queue_wait_ms"),
            "processing_ms": payload.get("processing_time_ms"),
            "latency_ms": round((record.finished_at - record.created_at) * 1000),
            "outcome": "answered" if answered else "error",
            "error": "" if answered else str(payload.get("error", "")),
        }
        with self._lock:
            self._tasks.appendleft(summary)

    def log(self, record: LogRecord) -> None:
        with self._lock:
            self._log_seq += 1
            self._logs.append({"seq": self._log_seq, **record.to_dict()})

    def sample(self, sample: Sample) -> None:
        with self._lock:
            self._history.append(sample)

    def view(self, after_log: int = 0, after_sample: int = 0) -> dict[str, Any]:
        """Recent tasks (newest first), and what is new since the viewer's last look: the
        samples after ``after_sample`` (ms) and the log lines after ``after_log``."""
        with self._lock:
            return {
                "recent_tasks": list(self._tasks),
                "history": [asdict(s) for s in self._history if s.at > after_sample],
                "logs": [line for line in self._logs if line["seq"] > after_log],
            }
