"""The worker's one processing thread: takes tasks one at a time and returns their results.

Per task: check that its result may go where the task says, report busy, ask the
provider (with STREAM_ANSWERS, passing the answer on in chunks as it is written), simulate
the work, send the result over gRPC, report idle. The two reports go out
only with PUBLISH_TASK_STATUS, except an idle after a task that was refused or whose result
could not be delivered: it makes the master requeue the task at once. A provider failure
becomes a result with ``error`` and ``error_kind`` set, so the user hears about it (or the
master tries again) and the worker carries on. Once the worker is stopping, a task is
abandoned: no result, no idle (its goodbye names the task). Per-task logs are DEBUG: the
hot path stays quiet.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from ai_system.config import WorkerSettings
from ai_system.protocol import WorkerStatus, now_ms
from ai_system.rpc.worker_callback_pb2 import TaskResult
from ai_system.worker.callback import ResultSender
from ai_system.worker.chunks import ChunkStream
from ai_system.worker.metrics import WorkerMetrics
from ai_system.worker.providers.errors import ProviderError
from ai_system.worker.providers.factory import Providers
from ai_system.worker.state import Delivery, WorkerState

log = logging.getLogger(__name__)


class TaskRunner:
    """Consumes ``tasks`` until ``stopping`` is set (a ``None`` in the queue wakes it up)."""

    def __init__(
        self,
        settings: WorkerSettings,
        providers: Providers,
        sender: ResultSender,
        tasks: queue.Queue[Delivery | None],
        state: WorkerState,
        publish_status: Callable[[WorkerStatus], None],
        stopping: threading.Event,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._worker_id = settings.worker_id
        self._simulated_seconds = settings.simulated_work_seconds
        self._per_task_status = settings.publish_task_status
        self._stream_answers = settings.stream_answers
        self._providers = providers
        self._sender = sender
        self._tasks = tasks
        self._state = state
        self._publish_status = publish_status
        self._stopping = stopping
        self._metrics = metrics or WorkerMetrics()
        self._thread = threading.Thread(target=self._run, name="task-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Abandons the current task (its master requeues it) and waits up to ``timeout``."""
        self._stopping.set()
        self._tasks.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            delivery = self._tasks.get()
            if delivery is None:
                continue
            try:
                self.process(delivery)
            except Exception:
                # A bug must not end the only processing thread; the master requeues the task.
                log.exception("task %s failed in the worker", delivery.task.task_id)
                self._publish_status(self._state.finish())

    def process(self, delivery: Delivery) -> None:
        self._metrics.busy.set(1)
        try:
            outcome = self._process(delivery)
        finally:
            self._metrics.busy.set(0)
        self._metrics.tasks.labels(outcome).inc()

    def _process(self, delivery: Delivery) -> str:
        """Handle one task; return its outcome (metrics.OUTCOMES)."""
        task = delivery.task
        if not self._sender.allows(task.grpc_endpoint):
            # A forged task, or a master advertising an endpoint we were not told about:
            # neither gets the provider's answer (nor the key's quota).
            log.warning("refused task %s: its result would go to %r, which is not one of "
                        "GRPC_ENDPOINTS (%s)", task.task_id, task.grpc_endpoint,
                        ", ".join(self._sender.endpoints))
            self._publish_status(self._state.refuse(task.task_id))
            return "refused"
        busy = self._state.start(task.task_id)
        if self._per_task_status:
            self._publish_status(busy)
        provider = self._providers.choose(task.api_key)
        chunks = (ChunkStream(self._sender, task, self._worker_id) if self._stream_answers
                  else None)
        asked_at = time.monotonic()
        text, error, error_kind, model = "", "", "", provider.model
        try:
            answer = provider.ask(task.query, task.api_key,
                                  chunks.add if chunks is not None else None,
                                  history=task.history)
            if chunks is not None:
                chunks.flush()
            text, model = answer.text, answer.model
        except ProviderError as exc:
            error, error_kind = str(exc), exc.kind
            log.warning("task %s: %s", task.task_id, error)
        except Exception as exc:
            # An SDK surprise (say, a malformed response) is still an answer to the user.
            # Only the type is logged: SDK messages and tracebacks may quote request details.
            log.error("task %s: %s failed unexpectedly (%s)", task.task_id, provider.name,
                      type(exc).__name__)
            error = f"{provider.name} failed unexpectedly; try again later."
            error_kind = ProviderError.kind  # "unexpected"
        provider_seconds = time.monotonic() - asked_at
        self._metrics.provider_seconds.labels(provider.name).observe(provider_seconds)
        if error:
            self._metrics.provider_errors.labels(provider.name, error_kind).inc()
        # Only an answer is worth the simulated work; an error reaches the user at once.
        if not error and self._simulated_seconds:
            self._stopping.wait(self._simulated_seconds)
        if self._stopping.is_set():
            return "abandoned"  # the goodbye names the task, the master requeues it
        processing_seconds = time.monotonic() - delivery.received_at
        self._metrics.task_seconds.observe(processing_seconds)
        result = TaskResult(
            worker_id=self._worker_id,
            session_id=task.session_id,
            original_query=task.query,
            ai_response=text,
            processing_time_ms=int(processing_seconds * 1000),
            query_timestamp=task.timestamp,
            completion_timestamp=now_ms(),
            task_id=task.task_id,
            provider=provider.name,
            model=model,
            error=error,
            attempt=task.attempt,
            provider_time_ms=int(provider_seconds * 1000),
            result_token=task.result_token,
            error_kind=error_kind,
        )
        delivered = self._sender.send(task.grpc_endpoint, result)
        if delivered:
            log.debug("task %s done in %d ms", task.task_id, result.processing_time_ms)
        elif self._stopping.is_set():
            return "abandoned"
        idle = self._state.finish()
        # A delivered result already frees us at the master; an undelivered one must not wait
        # for the task's deadline there.
        if self._per_task_status or not delivered:
            self._publish_status(idle)
        if not delivered:
            return "undelivered"
        return "provider_error" if error else "answered"
