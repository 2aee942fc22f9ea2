"""The master's domain: the workers it knows and the tasks it holds, and the two refusals
its dispatcher raises. Plain data; the rules that change it are in workers.py,
lifecycle.py and answers.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ai_system.protocol import ChatMessage

TaskState = Literal["queued", "assigned", "delayed"]


class UnknownWorkerError(KeyError):
    """A status message from a worker that never registered with this master."""


class RefusedError(ValueError):
    """A question the queue will not take; ``reason`` names the limit, the message is for
    the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Worker:
    worker_id: str
    node: str = ""
    language: str = ""
    provider: str = ""
    user_key_provider: str = ""  # where a key typed in the chat goes on this worker
    hostname: str = ""
    instance_id: str = ""  # the worker process; a new one holds none of the old one's work
    online: bool = True
    # The task handed to it that it has not yet returned (it may already be finished
    # by another worker's late answer: the worker is then still busy on it).
    task_id: str | None = None
    assigned_at: float = 0.0
    # Missed a deadline or reported busy on a task it does not hold: no new task until
    # it reports idle.
    blocked: bool = False
    # Seen since the master's MQTT connection was last (re)established, so its task
    # subscription is known to exist on the broker.
    confirmed: bool = True
    # Has reported busy on a task it was handed: from then on, a hand-over it does not
    # acknowledge that way in time means it is gone (PUBLISH_TASK_STATUS=false never does).
    acknowledges: bool = False
    last_seen: float = 0.0
    completed: int = 0

    @property
    def state(self) -> str:
        if not self.online:
            return "offline"
        return "busy" if self.task_id or self.blocked else "idle"


@dataclass
class Task:
    task_id: str
    session_id: str
    query: str = field(repr=False)
    result_token: str = field(repr=False)
    api_key: str = field(default="", repr=False)
    # The user typed a key. Keys live in memory only: a task rebuilt from the journal
    # has this set and an empty api_key, and cannot be handed out again.
    has_key: bool = False
    request_id: str | None = None
    created_at: float = 0.0
    attempt: int = 0  # hand-overs to a worker so far
    worker_id: str | None = None
    assigned_at: float | None = None
    deadline: float | None = None
    state: TaskState = "queued"
    reported_position: int = 0  # the queue position the session was last told
    # Workers whose attempt ended in a retryable provider error: others go first.
    tried: set[str] = field(default_factory=set)
    retry_at: float = 0.0
    acknowledged: bool = False  # the worker said it is busy on this attempt
    # Attempts that stopping workers handed back (SIGTERM: an update, a drain): they were not
    # lost to a failure, so they do not count against max_attempts.
    handed_back: int = 0
    # The conversation before this question, as it stood when the question was asked.
    history: tuple[ChatMessage, ...] = field(default=(), repr=False)

    @property
    def key_lost(self) -> bool:
        return self.has_key and not self.api_key
