"""A task's life in the master: queued, handed to a worker, taken back, retried, finished.

Like the dispatcher it serves (dispatcher.py), no I/O: each method returns the effects for
the service to carry out, a ``Persist`` before the effects that follow from the change it
records. The workers are the registry's (workers.py), which of their results count is
answers.py's; this side sets which task each worker holds.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping

from cachetools import FIFOCache

from ai_system.master.conversations import Conversations
from ai_system.master.counters import Counters
from ai_system.master.domain import RefusedError, Task, Worker
from ai_system.master.effects import (
    Assign,
    Effect,
    Fail,
    Persist,
    Queued,
    Retrying,
    SessionEffect,
)
from ai_system.master.fairqueue import FairQueue
from ai_system.master.journal import TaskRecord
from ai_system.master.worker_results import WorkerResult
from ai_system.master.workers import WorkerRegistry
from ai_system.protocol import TaskMessage

_KEY_LOST = ("The server restarted before a worker took this question. Your API key is "
             "never written to disk, so it is gone: please ask again.")


class TaskLifecycle:
    """The open tasks, the fair queue and the retries waiting out their backoff."""

    def __init__(
        self,
        workers: WorkerRegistry,
        counters: Counters,
        conversations: Conversations,
        *,
        grpc_endpoint: str,
        task_timeout: float,
        max_attempts: int,
        retry_backoff: float,
        max_pending_per_session: int,
        max_queued: int,
        stale_idle_grace: float,
        restore_grace: float,
        ack_timeout: float,
        finished_memory: int,
        wall_offset: float,
    ) -> None:
        self._workers = workers
        self._counters = counters
        self._conversations = conversations
        self._grpc_endpoint = grpc_endpoint
        self._task_timeout = task_timeout
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._max_pending = max_pending_per_session
        self._max_queued = max_queued
        # An idle status not naming the held task that arrives this soon after the
        # hand-over was sent before the worker received it; later, it means the worker
        # never got the task or lost it (restarted).
        self._stale_idle_grace = stale_idle_grace
        # How long a task rebuilt from the journal waits for its worker to be heard from.
        self._restore_grace = restore_grace
        # How long a worker that acknowledges hand-overs may take to do so (0: no limit).
        # A task handed to a worker that died unnoticed comes back this soon, not at the
        # deadline.
        self._ack_timeout = ack_timeout
        # time.time() - time.monotonic(): messages and the journal carry wall-clock times.
        self._wall_offset = wall_offset
        self._tasks: dict[str, Task] = {}  # queued, delayed or assigned
        self._queue = FairQueue()
        self._delayed: list[tuple[float, str]] = []  # (retry_at, task id), a heap
        self._pending: Counter[str] = Counter()  # unfinished tasks per session
        # Recently finished task ids and their tokens, so a late or repeated result is
        # recognised (and a forged one still refused).
        self._finished: FIFOCache[str, str] = FIFOCache(maxsize=finished_memory)
        # Read-only views for answers.py, which looks tasks up on every result's path.
        self.open_tasks: Mapping[str, Task] = self._tasks
        self.finished: Mapping[str, str] = self._finished

    # --- a question's way to a worker and back -------------------------------------------

    def submit(self, now: float, *, task_id: str, session_id: str, query: str,
               result_token: str, api_key: str, request_id: str | None) -> list[Effect]:
        """Handed to the longest-idle worker, or queued in its session's line. Raises
        RefusedError when the session or the whole queue is full."""
        if self._max_pending and self._pending[session_id] >= self._max_pending:
            raise self._refuse("too_many_pending", (
                f"You already have {self._pending[session_id]} questions waiting; ask again "
                "when one is answered."))
        waiting = len(self._queue) + len(self._delayed)
        if self._max_queued and waiting >= self._max_queued and not self._workers.idle:
            raise self._refuse("queue_full", (
                f"The system is busy: {waiting} questions are waiting. Please ask again in a "
                "few minutes."))
        task = Task(task_id=task_id, session_id=session_id, query=query,
                    result_token=result_token, api_key=api_key, has_key=bool(api_key),
                    request_id=request_id, created_at=now,
                    history=self._conversations.history(session_id))
        self._tasks[task_id] = task
        self._pending[session_id] += 1
        self._counters.submitted += 1
        if self._workers.idle:  # the queue is empty whenever a worker is idle
            return self._assign(now, task, self._workers.pick(task.tried))
        self._queue.push(session_id, task_id)
        position = self._queue.position(session_id)
        return [self._persist(task), self._queued(task, position)]

    # --- what a worker's news means for its task -----------------------------------------

    def sync(self, now: float, worker: Worker) -> list[Effect]:
        """Put the worker in or out of the idle order, then hand out queued tasks."""
        self._workers.update_idle(worker)
        return self._dispatch(now)

    def acknowledged(self, worker: Worker) -> None:
        """The worker said it is on the task it holds."""
        task = self._tasks.get(worker.task_id or "")
        if task is not None and task.worker_id == worker.worker_id:
            task.acknowledged = True
            worker.acknowledges = True

    def returned(self, worker: Worker) -> None:
        """The worker registered: a task rebuilt from the journal that waited for it gets
        the rest of its time."""
        held = self._tasks.get(worker.task_id or "")
        if held is not None and held.deadline is not None and held.worker_id == worker.worker_id:
            held.deadline = max(held.deadline, worker.assigned_at + self._task_timeout)

    def idle_report(self, now: float, worker: Worker, last_task: str | None) -> list[Effect]:
        """The worker says it is idle (after ``last_task``): take back the task it holds
        unless the report predates the hand-over."""
        held = worker.task_id
        if held is None:
            return []
        task = self._tasks.get(held)
        if task is None or task.worker_id != worker.worker_id:
            worker.task_id = None  # finished meanwhile, or taken over by another worker
            return []
        if last_task == held:  # it gave up sending the result
            return self.take_back(now, worker)
        if now - worker.assigned_at >= self._stale_idle_grace:
            return self.take_back(now, worker)  # restarted, or the broker lost the task
        return []  # an idle report sent before the current task reached it

    def take_back(self, now: float, worker: Worker, handed_back: bool = False) -> list[Effect]:
        """The worker will not return its task: requeue it at the front, or fail it once
        max_attempts were lost (one ``handed_back`` is not lost: a stopping worker returned
        it, or the worker never started it)."""
        task = self._tasks.get(worker.task_id or "")
        worker.task_id = None
        if task is None or task.state != "assigned" or task.worker_id != worker.worker_id:
            return []
        task.handed_back += handed_back
        if task.attempt - task.handed_back >= self._max_attempts:
            self._counters.failed += 1
            return self.finish(now, task, Fail(
                session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
                error=(f"No worker could answer this question: {task.attempt - task.handed_back} "
                       "attempts were lost to stopped or unresponsive workers. Please ask again."),
            ))
        self._counters.requeued += 1
        self._requeue(task)
        # The front: it has waited longest.
        self._queue.push_front(task.session_id, task.task_id)
        return [self._persist(task)]

    def expire(self, now: float) -> list[Effect]:
        """Deadlines passed, or hand-overs a worker did not acknowledge in time: the tasks go
        back to the queue, their workers wait for idle. Retries whose backoff is over join
        the queue again.

        A hand-over never acknowledged is not a lost attempt, once per worker: a node that
        died with several idle workers would otherwise spend every attempt on them before
        their Last Wills arrive. The next hand-over prefers a worker not tried yet.
        """
        effects: list[Effect] = []
        for worker in self._workers:
            task = self._tasks.get(worker.task_id or "")
            if task is None or task.worker_id != worker.worker_id:
                continue
            late = task.deadline is not None and task.deadline <= now
            unacknowledged = (self._ack_timeout and worker.acknowledges and not task.acknowledged
                              and now - worker.assigned_at >= self._ack_timeout)
            if late or unacknowledged:
                worker.blocked = worker.online  # until it is heard from, idle
                never_started = not late and worker.worker_id not in task.tried
                task.tried.add(worker.worker_id)
                effects += self.take_back(now, worker, never_started) + self.sync(now, worker)
        while self._delayed and self._delayed[0][0] <= now:
            _, task_id = heapq.heappop(self._delayed)
            task = self._tasks.get(task_id)
            if task is not None and task.state == "delayed":
                task.state = "queued"
                self._queue.push_front(task.session_id, task_id)
        return effects + self._dispatch(now)

    # --- outcomes (answers.py decides on them) -------------------------------------------

    def retry(self, now: float, task: Task, result: WorkerResult) -> list[Effect]:
        """A retryable provider error: the task waits a backoff, then goes to another
        worker if there is one."""
        self._counters.retried += 1
        worker = self._workers.by_id.get(result.worker_id)
        task.tried.add(result.worker_id)
        self._requeue(task)
        delay = self._retry_backoff * 2 ** (task.attempt - 1)
        task.state, task.retry_at = "delayed", now + delay
        heapq.heappush(self._delayed, (task.retry_at, task.task_id))
        effects: list[Effect] = [self._persist(task), Retrying(
            session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
            error=result.error, attempt=task.attempt, max_attempts=self._max_attempts,
            retry_in_ms=round(delay * 1000))]
        if worker is not None and worker.task_id == task.task_id:
            worker.task_id = None
            worker.completed += 1
            effects += self.sync(now, worker)
        return effects

    def unqueue(self, task: Task) -> None:
        """A task answered while it waited (a late answer from an earlier attempt)."""
        if task.state == "queued":
            self._queue.remove(task.session_id, task.task_id)
        elif task.state == "delayed":
            self._delayed = [item for item in self._delayed if item[1] != task.task_id]
            heapq.heapify(self._delayed)

    def finish(self, now: float, task: Task, outcome: SessionEffect) -> list[Effect]:
        """The task is done: record its outcome, then tell the session."""
        self.unqueue(task)
        del self._tasks[task.task_id]
        self._pending[task.session_id] -= 1
        if self._pending[task.session_id] <= 0:
            del self._pending[task.session_id]
        self._finished[task.task_id] = task.result_token
        record = TaskRecord(
            task_id=task.task_id, session_id=task.session_id, query="",
            request_id=task.request_id, result_token=task.result_token,
            has_key=task.has_key, created_at=self._wall(task.created_at),
            attempt=task.attempt, state="finished", worker_id=task.worker_id,
            finished_at=self._wall(now), event=outcome.event, payload=outcome.payload())
        return [Persist(record), outcome]

    # --- the queue and the journal -------------------------------------------------------

    def queue_positions(self) -> list[Effect]:
        """A task-queued update for each queued task whose position changed since last told.

        O(queue length): called on a timer, not per task.
        """
        effects: list[Effect] = []
        for index, task_id in enumerate(self._queue.order(), start=1):
            task = self._tasks[task_id]
            if task.reported_position != index:
                effects.append(self._queued(task, index))
        return effects

    def restore(self, now: float,
                records: list[TaskRecord]) -> tuple[list[Effect], list[TaskRecord]]:
        """Rebuild the tasks from the journal (oldest first), after the conversations;
        see Dispatcher.restore."""
        effects: list[Effect] = []
        finished: list[TaskRecord] = []
        for record in records:
            if record.state == "finished":
                self._finished[record.task_id] = record.result_token
                finished.append(record)
                continue
            task = Task(task_id=record.task_id, session_id=record.session_id,
                        query=record.query, result_token=record.result_token,
                        has_key=record.has_key, request_id=record.request_id,
                        created_at=self._mono(record.created_at), attempt=record.attempt,
                        # The conversation as restored, journaled apart from its tasks.
                        history=self._conversations.history(record.session_id))
            self._tasks[task.task_id] = task
            self._pending[task.session_id] += 1
            if record.state == "assigned" and record.worker_id:
                # Its worker may still be on it: wait a little for it to be heard from.
                worker = self._workers.restored(now, record.worker_id, record.worker_instance)
                task.state, task.worker_id = "assigned", worker.worker_id
                task.assigned_at = self._mono(record.assigned_at or record.created_at)
                task.deadline = now + self._restore_grace
                worker.task_id, worker.assigned_at = task.task_id, now
            elif task.key_lost:
                effects += self.finish(now, task, self._lost_key(task))
            else:
                self._queue.push(task.session_id, task.task_id)
        return effects, finished

    def queue_depth(self) -> int:
        return len(self._queue)

    def oldest_waiting(self, now: float) -> float:
        """Seconds the longest-waiting queued question has waited (0 with none)."""
        heads = (self._tasks[task_id].created_at for task_id in self._queue.heads())
        return max((now - created for created in heads), default=0.0)

    def counts(self) -> dict[str, int]:
        """The open tasks in each state."""
        queued, delayed = len(self._queue), len(self._delayed)
        return {"queued": queued, "retrying": delayed,
                "assigned": len(self._tasks) - queued - delayed}

    # --- internals -----------------------------------------------------------------------

    def _wall(self, now: float) -> float:
        return now + self._wall_offset

    def _mono(self, wall: float) -> float:
        return wall - self._wall_offset

    def _refuse(self, reason: str, message: str) -> RefusedError:
        self._counters.rejected[reason] += 1
        return RefusedError(reason, message)

    def _assign(self, now: float, task: Task, worker: Worker) -> list[Effect]:
        """Hand the task to the worker (taken out of the idle order by ``pick``)."""
        task.state = "assigned"
        task.worker_id = worker.worker_id
        task.acknowledged = False
        task.attempt += 1
        task.assigned_at = now
        task.deadline = now + self._task_timeout
        worker.task_id = task.task_id
        worker.assigned_at = now
        return [self._persist(task, worker), Assign(TaskMessage(
            worker_id=worker.worker_id,
            session_id=task.session_id,
            query=task.query,
            api_key=task.api_key,
            grpc_endpoint=self._grpc_endpoint,
            timestamp=round(self._wall(now) * 1000),
            task_id=task.task_id,
            attempt=task.attempt,
            result_token=task.result_token,
            history=task.history,
        ))]

    def _dispatch(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while self._workers.idle and (task_id := self._queue.pop()) is not None:
            task = self._tasks[task_id]
            if task.key_lost:
                effects += self.finish(now, task, self._lost_key(task))
            else:
                effects += self._assign(now, task, self._workers.pick(task.tried))
        return effects

    def _requeue(self, task: Task) -> None:
        task.state = "queued"
        task.worker_id = None
        task.deadline = None
        task.reported_position = 0  # the next queue_positions() tells the session

    def _queued(self, task: Task, position: int) -> Queued:
        task.reported_position = position
        return Queued(session_id=task.session_id, task_id=task.task_id,
                      request_id=task.request_id, position=position)

    def _lost_key(self, task: Task) -> Fail:
        self._counters.failed += 1
        return Fail(session_id=task.session_id, task_id=task.task_id,
                    request_id=task.request_id, error=_KEY_LOST)

    def _persist(self, task: Task, worker: Worker | None = None) -> Persist:
        """The journal's copy of a queued or assigned task (a delayed one counts as queued)."""
        assigned = task.state == "assigned"
        return Persist(TaskRecord(
            task_id=task.task_id, session_id=task.session_id, query=task.query,
            request_id=task.request_id, result_token=task.result_token,
            has_key=task.has_key, created_at=self._wall(task.created_at),
            attempt=task.attempt, state="assigned" if assigned else "queued",
            worker_id=task.worker_id if assigned else None,
            worker_instance=worker.instance_id if worker is not None else "",
            assigned_at=self._wall(task.assigned_at) if assigned and task.assigned_at else None))

