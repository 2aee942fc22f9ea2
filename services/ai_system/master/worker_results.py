"""What the gRPC servicer (results.py) hands the dispatcher from a worker's SendResult and
SendChunk, and what it gets back: plain data, free of gRPC."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkerResult:
    """What a worker's SendResult carries that the master uses."""

    task_id: str
    worker_id: str
    session_id: str = ""
    result_token: str = field(default="", repr=False)
    response: str = ""
    error: str = ""  # a provider failure, worded for the user
    error_kind: str = ""  # protocol.ERROR_KINDS
    provider: str = ""
    model: str = ""
    processing_time_ms: int = 0


@dataclass(frozen=True)
class WorkerChunk:
    """What a worker's SendChunk carries."""

    task_id: str
    worker_id: str
    result_token: str = field(default="", repr=False)
    attempt: int = 1
    seq: int = 0
    text: str = ""


@dataclass(frozen=True)
class Ack:
    """The answer to a worker's SendResult."""

    success: bool
    message: str


@dataclass(frozen=True)
class HeldTask:
    """The open task a worker holds, for a result that names no task (original.py)."""

    task_id: str
    result_token: str = field(repr=False)
    assigned_to_it: bool  # not since taken over by another worker
