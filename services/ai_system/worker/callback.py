"""Returns task results to the master: the gRPC client of WorkerCallback.SendResult.

One long-lived channel per master endpoint (endpoints come from the tasks), a deadline on
every call, grpc's own retry policy for a master that refuses connections for a moment,
and a bounded outer loop with exponential backoff for one that is away for seconds.
"""

from __future__ import annotations

import json
import logging
import threading

import grpc

from ai_system.rpc import worker_callback_pb2_grpc
from ai_system.rpc.worker_callback_pb2 import TaskResult

log = logging.getLogger(__name__)

_RETRY_POLICY = {
    "methodConfig": [{
        "name": [{"service": "ai_system.rpc.WorkerCallback"}],
        "retryPolicy": {
            "maxAttempts": 4,
            "initialBackoff": "0.1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }],
}
_CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(_RETRY_POLICY)),
    # grpc's default reconnect backoff grows to 120 s; a restarted master is back sooner.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 5.0


class ResultSender:
    """Sends each ``TaskResult`` to the endpoint its task named; thread-safe."""

    def __init__(self, timeout_seconds: float, max_attempts: int,
                 stopping: threading.Event) -> None:
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._stopping = stopping
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, worker_callback_pb2_grpc.WorkerCallbackStub] = {}
        self._lock = threading.Lock()

    def send(self, endpoint: str, result: TaskResult) -> bool:
        """True once the master accepted the result; False if it refused or stayed away.

        Gives up early when the worker is stopping (the master requeues the task).
        """
        stub = self._stub(endpoint)
        backoff = _FIRST_BACKOFF_SECONDS
        for attempt in range(1, self._max_attempts + 1):
            try:
                ack = stub.SendResult(result, timeout=self._timeout)
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                if code not in _RETRYABLE or attempt == self._max_attempts:
                    log.error("could not return the result of task %s to %s after %d "
                              "attempt(s): %s", result.task_id, endpoint, attempt, code)
                    return False
                log.warning("master at %s: %s; retrying the result of task %s in %.1f s",
                            endpoint, code, result.task_id, backoff)
                if self._stopping.wait(backoff):
                    return False
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                continue
            if not ack.success:
                # The master no longer knows the task (restarted, or it gave up on it).
                log.warning("master refused the result of task %s: %s",
                            result.task_id, ack.message)
            return ack.success
        return False

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

    def _stub(self, endpoint: str) -> worker_callback_pb2_grpc.WorkerCallbackStub:
        with self._lock:
            stub = self._stubs.get(endpoint)
            if stub is None:
                channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
                stub = worker_callback_pb2_grpc.WorkerCallbackStub(channel)
                self._channels[endpoint] = channel
                self._stubs[endpoint] = stub
            return stub
