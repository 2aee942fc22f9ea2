"""The MQTT side of the protocol: topics and payloads, parsed and validated in one place.

Master and workers both import this module; protos/README.md describes the same contract
for people writing a worker in another language. Payloads are JSON objects whose field
names follow the original assignment; fields added since are optional on input, so a
worker that sends only the original fields still works. Timestamps are milliseconds
since the epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypedDict, TypeVar

WorkerState = Literal["idle", "busy", "offline"]
WORKER_STATES: tuple[str, ...] = ("idle", "busy", "offline")
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Socket.IO event names of the original web UI.
EVENT_USER_QUERY = "user-query"
EVENT_SESSION = "session"
EVENT_TASK_QUEUED = "task-queued"
EVENT_AI_RESPONSE = "ai-response"
EVENT_TASK_ERROR = "task-error"
# This project's own events, which a page of the original UI ignores:
# a provider error that another attempt may cure; the question waits for it.
EVENT_TASK_RETRYING = "task-retrying"
# Part of an answer while the LLM writes it; the ai-response that follows replaces it.
EVENT_AI_CHUNK = "ai-chunk"
# The browser starts a new conversation: later questions carry no earlier turns.
EVENT_NEW_CONVERSATION = "new-conversation"
# Which answered questions the model is given again with the next one.
EVENT_CONVERSATION = "conversation"

# What went wrong when a result carries an error (TaskResult.error_kind). The master gives
# a task whose error is retryable to another attempt; the others are the user's answer.
ERROR_KINDS: tuple[str, ...] = ("bad_key", "rate_limited", "timeout", "upstream", "unexpected")
RETRYABLE_ERROR_KINDS: frozenset[str] = frozenset({"rate_limited", "timeout", "upstream"})


# The roles of the messages of a conversation (TaskMessage.history).
ROLES: tuple[str, ...] = ("user", "assistant")


class ChatMessage(TypedDict):
    """One message of a conversation: an earlier question (user) or its answer (assistant)."""

    role: Literal["user", "assistant"]
    content: str


def now_ms() -> int:
    return int(time.time() * 1000)


class ProtocolError(ValueError):
    """A payload that is not valid JSON or lacks a required field; the message says which."""


@dataclass(frozen=True)
class Topics:
    """Every topic, under one prefix (``upb`` by default)."""

    prefix: str = "upb"

    @property
    def register(self) -> str:
        return f"{self.prefix}/workers/register"

    @property
    def status(self) -> str:
        return f"{self.prefix}/workers/status"

    @property
    def logs(self) -> str:
        return f"{self.prefix}/logs"

    @property
    def master_status(self) -> str:
        """Retained ``{status: online|offline, timestamp}``; workers re-register on online."""
        return f"{self.prefix}/master/status"

    @property
    def all_tasks(self) -> str:
        return f"{self.prefix}/workers/+/tasks"

    def tasks(self, worker_id: str) -> str:
        return f"{self.prefix}/workers/{worker_id}/tasks"


# --- parsing helpers -------------------------------------------------------------------

def _load_object(payload: bytes | bytearray | str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def _str(data: dict[str, Any], name: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise ProtocolError(f"missing field {name!r}")
        return default
    if not isinstance(value, str):
        raise ProtocolError(f"field {name!r} must be a string")
    if required and not value:
        raise ProtocolError(f"field {name!r} must not be empty")
    return value


def _history(data: dict[str, Any]) -> tuple[ChatMessage, ...]:
    value = data.get("history")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProtocolError("field 'history' must be a list")
    for message in value:
        if (not isinstance(message, dict) or message.get("role") not in ROLES
                or not isinstance(message.get("content"), str)):
            raise ProtocolError("each message of 'history' must be {role: user|assistant, "
                                "content: text}")
    return tuple(value)


def _int(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"field {name!r} must be a number")
    return int(value)


T = TypeVar("T", bound="Message")


@dataclass(frozen=True)
class Message:
    """Base of the JSON payloads: ``to_json`` and ``from_json`` with validation."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        raise NotImplementedError

    @classmethod
    def from_json(cls: type[T], payload: bytes | bytearray | str) -> T:
        return cls.from_dict(_load_object(payload))

    def to_dict(self) -> dict[str, Any]:
        # Every field is a scalar or an immutable tuple of plain dicts, so a shallow copy is
        # enough (asdict is ~3x slower, and this runs several times per task).
        return dict(self.__dict__)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


@dataclass(frozen=True)
class WorkerRegistration(Message):
    """``<prefix>/workers/register``: a worker announces itself (on every connect)."""

    worker_id: str
    language: str = "python"
    hostname: str = ""
    node: str = ""
    provider: str = ""
    status: WorkerState = "idle"
    timestamp: int = field(default_factory=now_ms)
    # Optional, as the original registration has neither. New at every process start, so the
    # master can tell a restarted worker (which holds nothing) from a reconnected one (which
    # still works on its task).
    instance_id: str = ""
    # The provider a key typed in the chat is used with on this worker.
    user_key_provider: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerRegistration:
        status = _str(data, "status", required=False, default="idle")
        if status not in WORKER_STATES:
            raise ProtocolError(f"field 'status' must be one of {', '.join(WORKER_STATES)}")
        return cls(
            worker_id=_str(data, "worker_id"),
            language=_str(data, "language", required=False, default="unknown"),
            hostname=_str(data, "hostname", required=False),
            node=_str(data, "node", required=False),
            provider=_str(data, "provider", required=False),
            # Checked above; mypy does not narrow a str to the Literal through `in`.
            status=status,  # type: ignore[arg-type]
            timestamp=_int(data, "timestamp", now_ms()),
            instance_id=_str(data, "instance_id", required=False),
            user_key_provider=_str(data, "user_key_provider", required=False),
        )


@dataclass(frozen=True)
class WorkerStatus(Message):
    """``<prefix>/workers/status``: idle, busy (with its task) or offline (the Last Will).

    ``task_id`` is the task being worked on when busy, and the last task handled when idle
    (absent before the first task): the master uses it to tell a stale idle report from a
    worker that lost its task.
    """

    worker_id: str
    status: WorkerState
    task_id: str | None = None
    timestamp: int = field(default_factory=now_ms)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerStatus:
        status = _str(data, "status")
        if status not in WORKER_STATES:
            raise ProtocolError(f"field 'status' must be one of {', '.join(WORKER_STATES)}")
        task_id = data.get("task_id")
        if task_id is not None and not isinstance(task_id, str):
            raise ProtocolError("field 'task_id' must be a string or null")
        return cls(
            worker_id=_str(data, "worker_id"),
            # Checked above; mypy does not narrow a str to the Literal through `in`.
            status=status,  # type: ignore[arg-type]
            task_id=task_id or None,
            timestamp=_int(data, "timestamp", now_ms()),
        )


@dataclass(frozen=True)
class TaskMessage(Message):
    """``<prefix>/workers/<worker_id>/tasks`` (QoS 1): one question for one worker.

    ``api_key`` is the user's own key typed in the chat, or empty; it is never logged.
    ``result_token`` is the task's secret: the master accepts a result only if it carries it.
    ``history`` is the conversation before ``query``, oldest first (users' words: never logged).
    """

    worker_id: str
    session_id: str
    query: str
    api_key: str = field(default="", repr=False)
    grpc_endpoint: str = ""
    timestamp: int = field(default_factory=now_ms)
    task_id: str = ""
    attempt: int = 1
    result_token: str = field(default="", repr=False)
    history: tuple[ChatMessage, ...] = field(default=(), repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskMessage:
        session_id = _str(data, "session_id")
        timestamp = _int(data, "timestamp", now_ms())
        return cls(
            worker_id=_str(data, "worker_id"),
            session_id=session_id,
            query=_str(data, "query"),
            api_key=_str(data, "api_key", required=False),
            grpc_endpoint=_str(data, "grpc_endpoint"),
            timestamp=timestamp,
            task_id=(_str(data, "task_id", required=False)
                     or original_task_id(session_id, timestamp)),
            attempt=max(1, _int(data, "attempt", 1)),
            result_token=_str(data, "result_token", required=False),
            history=_history(data),
        )


def original_task_id(session_id: str, timestamp: int) -> str:
    """The id of a task from a master that sends none (the original assignment's): its
    session's questions stay apart, and a redelivery of one keeps the same id."""
    return f"{session_id}@{timestamp}"


@dataclass(frozen=True)
class MasterStatus(Message):
    """``<prefix>/master/status`` (retained): lets workers re-register after a master restart."""

    status: Literal["online", "offline"]
    timestamp: int = field(default_factory=now_ms)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MasterStatus:
        status = _str(data, "status")
        if status not in ("online", "offline"):
            raise ProtocolError("field 'status' must be 'online' or 'offline'")
        # Checked above; mypy does not narrow a str to the Literal through `in`.
        return cls(status=status, timestamp=_int(data, "timestamp", now_ms()))  # type: ignore[arg-type]


@dataclass(frozen=True)
class LogRecord(Message):
    """``<prefix>/logs``: one log line from any component."""

    source: str
    message: str
    level: str = "INFO"
    timestamp: int = field(default_factory=now_ms)

    LEVELS: ClassVar[tuple[str, ...]] = LOG_LEVELS

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogRecord:
        level = _str(data, "level", required=False, default="INFO").upper()
        return cls(
            source=_str(data, "source"),
            message=_str(data, "message", required=False),
            level=level if level in LOG_LEVELS else "INFO",
            timestamp=_int(data, "timestamp", now_ms()),
        )
