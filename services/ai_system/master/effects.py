"""What the dispatcher asks the service (service.py) to do: write a journal record, publish a
task to a worker, or send a session a Socket.IO event, whose payload each effect builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ai_system.master.journal import Record
from ai_system.protocol import (
    EVENT_AI_CHUNK,
    EVENT_AI_RESPONSE,
    EVENT_TASK_ERROR,
    EVENT_TASK_QUEUED,
    EVENT_TASK_RETRYING,
    TaskMessage,
)


@dataclass(frozen=True)
class Persist:
    """Write ``record`` to the journal before carrying out the effects after it."""

    record: Record


@dataclass(frozen=True)
class Assign:
    """Publish ``message`` on the worker's task topic."""

    message: TaskMessage


@dataclass(frozen=True)
class SessionEffect:
    """A Socket.IO event for every browser of one session."""

    session_id: str
    task_id: str | None
    request_id: str | None

    event: ClassVar[str]
    # Kept for a browser that is away and handed over when it reconnects.
    keep_if_away: ClassVar[bool] = True

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task_id": self.task_id}
        data.update(self._fields())
        if self.request_id is not None:
            data["request_id"] = self.request_id
        return data

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Queued(SessionEffect):
    position: int = 1  # 1-based

    event: ClassVar[str] = EVENT_TASK_QUEUED
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"position": self.position}


@dataclass(frozen=True)
class Retrying(SessionEffect):
    """A provider error that another attempt may cure: the question waits for it."""

    error: str = ""
    attempt: int = 1  # the attempt that failed
    max_attempts: int = 1
    retry_in_ms: int = 0

    event: ClassVar[str] = EVENT_TASK_RETRYING
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"error": self.error, "attempt": self.attempt,
                "max_attempts": self.max_attempts, "retry_in_ms": self.retry_in_ms}


@dataclass(frozen=True)
class Partial(SessionEffect):
    """Part of the answer of the task's current attempt, as the worker streams it."""

    seq: int = 0
    text: str = ""
    attempt: int = 1

    event: ClassVar[str] = EVENT_AI_CHUNK
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "text": self.text, "attempt": self.attempt}


@dataclass(frozen=True)
class Deliver(SessionEffect):
    response: str = ""
    worker_id: str = ""
    node: str = ""
    provider: str = ""
    model: str = ""
    processing_time_ms: int = 0
    queue_wait_ms: int = 0
    # The task ids of the turns the session's next question carries, this one included
    # if it joined them: the page marks the others as outside the model's memory.
    context: tuple[str, ...] = ()

    event: ClassVar[str] = EVENT_AI_RESPONSE

    def _fields(self) -> dict[str, Any]:
        return {
            "response": self.response,
            "worker_id": self.worker_id,
            "node": self.node,
            "provider": self.provider,
            "model": self.model,
            "processing_time_ms": self.processing_time_ms,
            "queue_wait_ms": self.queue_wait_ms,
            "context": list(self.context),
        }


@dataclass(frozen=True)
class Fail(SessionEffect):
    error: str = ""

    event: ClassVar[str] = EVENT_TASK_ERROR

    def _fields(self) -> dict[str, Any]:
        return {"error": self.error}


Effect = Persist | Assign | SessionEffect
