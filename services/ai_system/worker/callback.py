"""Returns task results to the master: the gRPC client of WorkerCallback.SendResult.

Results go only to the endpoints of GRPC_ENDPOINTS: one long-lived channel each (over TLS,
checked against GRPC_TLS_CA_FILE, when that is set), a deadline on every call, and one
bounded retry loop with exponential backoff (protos/README.md's schedule, which the Node.js,
Go and Java workers follow too). ``close`` ends every call in flight and refuses new ones, so
nothing is sent after the worker said goodbye.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import grpc

from ai_system.config import WorkerSettings
from ai_system.rpc import worker_callback_pb2_grpc
from ai_system.rpc.worker_callback_pb2 import ResultAck, TaskChunk, TaskResult
from ai_system.worker import original

log = logging.getLogger(__name__)

_CHANNEL_OPTIONS = [
    # grpc's default reconnect backoff grows to 120 s; a restarted master is back sooner.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# A chunk late by more than this is not worth the wait: the final answer follows anyway.
_CHUNK_TIMEOUT_SECONDS = 2.0


class ResultSender:
    """Sends each ``TaskResult`` to the endpoint its task named, if allowed; thread-safe."""

    def __init__(self, settings: WorkerSettings, stopping: threading.Event) -> None:
        self._timeout = settings.grpc_timeout_seconds
        self._backoffs = settings.result_backoffs()
        self._stopping = stopping
        self.endpoints = settings.grpc_endpoints
        credentials = None
        if settings.grpc_tls_ca_file:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=Path(settings.grpc_tls_ca_file).read_bytes())
        self._channels = {endpoint: _channel(settings.grpc_connect_to or endpoint, credentials)
                          for endpoint in self.endpoints}
        self._stubs = {endpoint: worker_callback_pb2_grpc.WorkerCallbackStub(channel)
                       for endpoint, channel in self._channels.items()}
        # SendResult per endpoint: ours, or the original assignment's (original.py) once a
        # master answered ours with UNIMPLEMENTED (remembered for the endpoint).
        self._send_result: dict[str, grpc.UnaryUnaryMultiCallable[TaskResult, ResultAck]] = {
            endpoint: stub.SendResult for endpoint, stub in self._stubs.items()}
        self._no_streaming: set[str] = set()  # endpoints that answered SendChunk UNIMPLEMENTED
        self._original: set[str] = set()  # endpoints of masters of the original assignment
        self._closed = False
        self._lock = threading.Lock()

    def allows(self, endpoint: str) -> bool:
        """Whether ``endpoint`` is one of GRPC_ENDPOINTS (results go nowhere else)."""
        return endpoint in self._stubs

    def send(self, endpoint: str, result: TaskResult) -> bool:
        """True once the master accepted the result; False if it refused or stayed away.

        ``endpoint`` must be one ``allows``. Gives up early when the worker is stopping (the
        master requeues the task).
        """
        attempts = len(self._backoffs) + 1
        for attempt in range(1, attempts + 1):
            try:
                ack = self._call(endpoint, result)
            except grpc.RpcError as exc:
                if self._closed:  # cancelled by close()
                    return False
                code = exc.code()
                if code == grpc.StatusCode.UNIMPLEMENTED and self._use_original(endpoint):
                    return self.send(endpoint, result)
                if code not in _RETRYABLE or attempt == attempts:
                    log.error("could not return the result of task %s to %s after %d "
                              "attempt(s): %s %s", result.task_id, endpoint, attempt, code,
                              exc.details())
                    return False
                backoff = self._backoffs[attempt - 1]
                log.warning("master at %s: %s; retrying the result of task %s in %.1f s",
                            endpoint, code, result.task_id, backoff)
                if self._stopping.wait(backoff):
                    return False
                continue
            except _Closed:
                return False
            if not ack.success:
                # The master no longer knows the task (restarted, or it gave up on it).
                log.warning("master refused the result of task %s: %s",
                            result.task_id, ack.message)
            return ack.success
        return False

    def send_chunk(self, endpoint: str, chunk: TaskChunk) -> bool:
        """Part of an answer, best effort: one try, a short deadline. False means stop
        streaming this task (refused, unreachable, or a master without SendChunk, which is
        then not asked again)."""
        if endpoint in self._no_streaming or self._closed or self._stopping.is_set():
            return False
        try:
            ack = self._stubs[endpoint].SendChunk(chunk, timeout=_CHUNK_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.info("the master at %s takes no streamed chunks; sending whole answers",
                         endpoint)
                self._no_streaming.add(endpoint)
            return False
        return bool(ack.success)

    def close(self) -> None:
        """Refuses new calls and closes the channels, which cancels the calls in flight."""
        with self._lock:
            self._closed = True
            for channel in self._channels.values():
                channel.close()

    def _use_original(self, endpoint: str) -> bool:
        """Switch ``endpoint`` to the original service name; False if it already was."""
        with self._lock:
            if endpoint in self._original:
                return False
            self._original.add(endpoint)
            self._send_result[endpoint] = original.send_result(self._channels[endpoint])
        log.info("the master at %s speaks the original assignment's worker.WorkerCallback: "
                 "results go there by that name from now on", endpoint)
        return True

    def _call(self, endpoint: str, result: TaskResult) -> ResultAck:
        with self._lock:
            if self._closed or self._stopping.is_set():
                raise _Closed
            send_result = self._send_result[endpoint]
        # A blocking call, not .future(): grpcio starts a thread for every future.
        return send_result(result, timeout=self._timeout)


class _Closed(Exception):
    """The sender was closed (the worker is stopping) before or during the call."""


def _channel(endpoint: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
    return grpc.secure_channel(endpoint, credentials, options=_CHANNEL_OPTIONS)
