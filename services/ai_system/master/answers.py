"""A worker's results and chunks: which count, and what each does to its task.

A result counts once, for the task whose token it carries; a chunk counts only from the
task's current attempt. What follows, a delivery, a failure or a retry, is the
task lifecycle's (lifecycle.py). No I/O, like the rest of the dispatcher.
"""

from __future__ import annotations

import hmac

from ai_system.master.conversations import Conversations
from ai_system.master.counters import Counters
from ai_system.master.domain import Worker
from ai_system.master.effects import Deliver, Effect, Fail, Partial, Persist, SessionEffect
from ai_system.master.journal import Turn
from ai_system.master.lifecycle import TaskLifecycle
from ai_system.master.worker_results import Ack, WorkerChunk, WorkerResult
from ai_system.master.workers import WorkerRegistry
from ai_system.protocol import RETRYABLE_ERROR_KINDS


class Answers:
    """Results and chunks checked against the open and recently finished tasks."""

    def __init__(
        self,
        lifecycle: TaskLifecycle,
        workers: WorkerRegistry,
        counters: Counters,
        conversations: Conversations,
        *,
        max_attempts: int,
        wall_offset: float,
    ) -> None:
        self._lifecycle = lifecycle
        self._tasks = lifecycle.open_tasks
        self._finished = lifecycle.finished
        self._workers = workers
        self._counters = counters
        self._conversations = conversations
        self._max_attempts = max_attempts
        self._wall_offset = wall_offset  # time.time() - time.monotonic()
        self.last_answer: float | None = None  # when the last answer came (monotonic)

    def result(self, now: float, result: WorkerResult) -> tuple[Ack, list[Effect]]:
        """A worker's answer (or provider error) for a task; the first answer wins. Only a
        result carrying the task's token counts."""
        worker_id, task_id = result.worker_id, result.task_id
        sender = self._workers.by_id.get(worker_id)
        if task_id in self._finished:
            if not _same(result.result_token, self._finished[task_id]):
                return self._forged(), []
            self._counters.duplicates += 1
            return Ack(True, "duplicate ignored"), self._release(now, sender, task_id)
        task = self._tasks.get(task_id)
        if task is None:
            self._counters.unknown_results += 1
            return Ack(False, "unknown task"), []
        if not _same(result.result_token, task.result_token):
            return self._forged(), []
        current = task.state == "assigned" and task.worker_id == worker_id
        if result.error:
            self._counters.provider_errors[result.provider, result.error_kind or "unexpected"] += 1
        if result.error and result.error_kind in RETRYABLE_ERROR_KINDS:
            if not current:  # an earlier attempt's error: the task is already under way again
                return Ack(True, "retry already under way"), self._release(now, sender, task_id)
            if task.attempt < self._max_attempts:
                return (Ack(True, "error recorded, retrying"),
                        self._lifecycle.retry(now, task, result))
        assignee = self._workers.by_id.get(task.worker_id or "")
        # Out of the queue before the assignee's next task is picked: it cannot be this one.
        self._lifecycle.unqueue(task)
        effects: list[Effect] = []
        # The assignee stays reserved if someone else answered: it is still busy on it.
        if assignee is not None and task.worker_id == worker_id and assignee.task_id == task_id:
            assignee.task_id = None
            assignee.completed += 1
            effects = self._lifecycle.sync(now, assignee)
        self._counters.completed += 1
        self.last_answer = now
        outcome: SessionEffect
        remembered: list[Effect] = []
        if result.error:
            outcome = Fail(session_id=task.session_id, task_id=task_id,
                           request_id=task.request_id, error=result.error)
            message = "error recorded"
        else:
            turn = Turn(task_id=task_id, session_id=task.session_id, question=task.query,
                        answer=result.response, at=self._wall(now))
            if self._conversations.add(turn, asked_at=self._wall(task.created_at)):
                remembered.append(Persist(turn))
            outcome = Deliver(
                session_id=task.session_id, task_id=task_id, request_id=task.request_id,
                response=result.response,
                worker_id=worker_id,
                node=sender.node if sender is not None else "",
                provider=result.provider,
                model=result.model,
                processing_time_ms=result.processing_time_ms,
                queue_wait_ms=max(0, round(((task.assigned_at or now) - task.created_at) * 1000)),
                context=tuple(self._conversations.context(task.session_id)),
            )
            message = "result delivered"
        return Ack(True, message), [*remembered, *self._lifecycle.finish(now, task, outcome),
                                    *effects]

    def chunk(self, now: float, chunk: WorkerChunk) -> tuple[Ack, list[Effect]]:
        """Part of an answer: passed to the session only from the task's current attempt."""
        task = self._tasks.get(chunk.task_id)
        if task is None:
            return Ack(False, "unknown task"), []
        if not _same(chunk.result_token, task.result_token):
            return self._forged(), []
        if (task.state != "assigned" or task.worker_id != chunk.worker_id
                or task.attempt != chunk.attempt):
            return Ack(False, "not the current attempt"), []
        worker = self._workers.by_id.get(chunk.worker_id)
        if worker is not None:
            worker.last_seen = now
            self._lifecycle.acknowledged(worker)  # streaming: it is on the task
        return Ack(True, "chunk passed on"), [Partial(
            session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
            seq=chunk.seq, text=chunk.text, attempt=chunk.attempt)]

    def _release(self, now: float, sender: Worker | None, task_id: str) -> list[Effect]:
        """A worker still holding a task that another finished or took over is free again."""
        if sender is None or sender.task_id != task_id:
            return []
        sender.task_id = None
        return self._lifecycle.sync(now, sender)

    def _forged(self) -> Ack:
        self._counters.forged_results += 1
        return Ack(False, "result token does not match the task")

    def _wall(self, now: float) -> float:
        return now + self._wall_offset


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of result tokens (an empty token never matches)."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
