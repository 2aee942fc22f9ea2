"""Streams an answer to the master while the LLM writes it, in chunks of at most ~10 a second.

Best effort: the first refused or failed chunk ends the stream of that task (the master
refuses chunks of an attempt that is no longer current), and the final SendResult carries
the whole answer whatever happened to the chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ai_system.protocol import TaskMessage
from ai_system.rpc.worker_callback_pb2 import TaskChunk
from ai_system.worker.callback import ResultSender

# Coalescing: a chunk per delta of a fast LLM would be a gRPC call per word.
MIN_INTERVAL_SECONDS = 0.1


class ChunkStream:
    def __init__(self, sender: ResultSender, task: TaskMessage, worker_id: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sender = sender
        self._task = task
        self._worker_id = worker_id
        self._clock = clock
        self._pending: list[str] = []
        self._seq = 0
        self._sent_at = clock()
        self.open = True

    def add(self, text: str) -> None:
        """The answer grew by ``text`` (the provider's on_text)."""
        if not self.open:
            return
        self._pending.append(text)
        if self._clock() - self._sent_at >= MIN_INTERVAL_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Send what has not been sent yet."""
        if not self.open or not self._pending:
            return
        chunk = TaskChunk(task_id=self._task.task_id, worker_id=self._worker_id,
                          result_token=self._task.result_token, attempt=self._task.attempt,
                          seq=self._seq, text="".join(self._pending))
        self._pending.clear()
        self._sent_at = self._clock()
        if self._sender.send_chunk(self._task.grpc_endpoint, chunk):
            self._seq += 1
        else:
            self.open = False
