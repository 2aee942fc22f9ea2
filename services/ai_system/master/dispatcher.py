"""The master's bookkeeping: workers, tasks and the queue, as plain Python with no I/O.

Every method takes the current time (``now``, ``time.monotonic`` seconds) and returns the
effects for the caller to carry out, in order: record a task or a conversation's turn in
the journal, publish a task to a worker, tell a session its place in the queue, a retry,
an answer or an error. Each task carries its session's conversation so far
(conversations.py), and each answer joins it.
A ``Persist`` always comes before the effects that follow from the change it records, so
the caller can write the journal first and act second. The caller (service.py) holds a
lock around each call; nothing here blocks, sleeps or touches the network, which is what
lets the unit tests walk through worker deaths, deadlines, forged and duplicate results,
retries and restarts without waiting. Per task, the work is a few dict and deque operations.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ai_system.master.answers import Answers
from ai_system.master.conversations import Conversations
from ai_system.master.counters import Counters
from ai_system.master.effects import Effect, Persist
from ai_system.master.journal import ConversationStart, TaskRecord, Turn
from ai_system.master.lifecycle import TaskLifecycle
from ai_system.master.worker_results import Ack, HeldTask, WorkerChunk, WorkerResult
from ai_system.master.workers import WorkerRegistry
from ai_system.protocol import WorkerRegistration, WorkerStatus


class Dispatcher:
    """Workers, tasks and the fair queue; one task per worker at a time.

    The façade the service calls. It composes the worker registry (workers.py), the task
    lifecycle (lifecycle.py) and the check of the workers' answers (answers.py), which
    share one set of counters and the conversations; an event that concerns both a worker
    and its task (a registration, a status) is put together here.
    """

    def __init__(
        self,
        *,
        grpc_endpoint: str,
        task_timeout: float,
        max_attempts: int,
        retry_backoff: float = 2.0,
        max_pending_per_session: int = 0,
        max_queued: int = 0,
        stale_idle_grace: float = 5.0,
        restore_grace: float = 15.0,
        ack_timeout: float = 10.0,
        finished_memory: int = 10_000,
        forget_offline_after: float = 3600.0,
        wall_offset: float = 0.0,
        conversations: Conversations | None = None,
    ) -> None:
        # time.time() - time.monotonic(): messages and the journal carry wall-clock times.
        self._wall_offset = wall_offset
        # Without one, every question goes alone.
        self._conversations = (conversations if conversations is not None
                               else Conversations(max_turns=0, max_chars=0, ttl=0))
        self._counters = Counters()
        self._workers = WorkerRegistry(forget_offline_after=forget_offline_after,
                                       wall_offset=wall_offset)
        self._tasks = TaskLifecycle(
            self._workers, self._counters, self._conversations,
            grpc_endpoint=grpc_endpoint, task_timeout=task_timeout,
            max_attempts=max_attempts, retry_backoff=retry_backoff,
            max_pending_per_session=max_pending_per_session, max_queued=max_queued,
            stale_idle_grace=stale_idle_grace, restore_grace=restore_grace,
            ack_timeout=ack_timeout, finished_memory=finished_memory,
            wall_offset=wall_offset)
        self._answers = Answers(
            self._tasks, self._workers, self._counters, self._conversations,
            max_attempts=max_attempts, wall_offset=wall_offset)

    def knows(self, worker_id: str) -> bool:
        return self._workers.knows(worker_id)

    # --- inputs ------------------------------------------------------------------------

    def submit(
        self,
        now: float,
        *,
        task_id: str,
        session_id: str,
        query: str,
        result_token: str,
        api_key: str = "",
        request_id: str | None = None,
    ) -> list[Effect]:
        """A new question: handed to the longest-idle worker, or queued in its session's
        line. Raises RefusedError when the session or the whole queue is full."""
        return self._tasks.submit(now, task_id=task_id, session_id=session_id, query=query,
                                  result_token=result_token, api_key=api_key,
                                  request_id=request_id)

    def register(self, now: float, reg: WorkerRegistration) -> list[Effect]:
        """A worker (re)announced itself: it is online; its assignment is unchanged,
        unless it is a new process (another ``instance_id``), which holds nothing.

        Registered busy without a task from us, it gets none until it reports idle.
        """
        worker, restarted = self._workers.register(now, reg)
        effects = self._tasks.take_back(now, worker) if restarted and worker.task_id else []
        self._tasks.returned(worker)
        if reg.status == "idle":
            worker.blocked = False
        elif reg.status == "busy" and worker.task_id is None:
            worker.blocked = True  # busy on something we did not hand it
        return effects + self._tasks.sync(now, worker)

    def status(self, now: float, status: WorkerStatus) -> list[Effect]:
        """idle, busy or offline (Last Will or shutdown); raises UnknownWorkerError.

        A Last Will (offline naming no task) counts at ``expire`` a moment later, unless the
        broker changes or the worker is heard from first (see WorkerRegistry.hold_will)."""
        if status.status == "offline" and status.task_id is None:
            self._workers.hold_will(now, status)
            return []
        if status.status == "offline":
            return self._offline(now, status)
        worker = self._workers.status(now, status)
        if status.status == "busy":
            if worker.task_id is not None and status.task_id in (None, worker.task_id):
                self._tasks.acknowledged(worker)  # (a worker of the original protocol names none)
            return self._tasks.sync(now, worker)
        return self._tasks.idle_report(now, worker, status.task_id) + self._tasks.sync(now, worker)

    def _offline(self, now: float, status: WorkerStatus) -> list[Effect]:
        worker = self._workers.status(now, status)
        # Naming its task, it stops on purpose and gives it back (a Last Will names none).
        handed_back = status.task_id is not None and status.task_id == worker.task_id
        return self._tasks.take_back(now, worker, handed_back) + self._tasks.sync(now, worker)

    def result(self, now: float, result: WorkerResult) -> tuple[Ack, list[Effect]]:
        """A worker's answer (or provider error) for a task; the first answer wins
        (see Answers.result)."""
        return self._answers.result(now, result)

    def chunk(self, now: float, chunk: WorkerChunk) -> tuple[Ack, list[Effect]]:
        """Part of an answer: passed to the session only from the task's current attempt."""
        return self._answers.chunk(now, chunk)

    def expire(self, now: float) -> list[Effect]:
        """Deadlines passed, or hand-overs a worker did not acknowledge in time: the tasks go
        back to the queue, their workers wait for idle. Retries whose backoff is over join
        the queue again."""
        effects = [effect for will in self._workers.due_wills(now)
                   for effect in self._offline(now, will)]
        return effects + self._tasks.expire(now)

    def forget_offline(self, now: float) -> list[str]:
        """Drop workers offline (and silent) for long; return their ids."""
        return self._workers.forget_offline(now)

    def broker_changed(self) -> None:
        """The master's broker connection dropped or is new: hand out no task to a worker
        until it is heard from again.

        While the broker is away, and after a broker restart until a worker has
        re-subscribed, a task published to it could be lost until its deadline; it waits
        in the queue instead.
        """
        self._workers.unconfirm_all()

    def queue_positions(self) -> list[Effect]:
        """A task-queued update for each queued task whose position changed since last told.

        O(queue length): called on a timer, not per task.
        """
        return self._tasks.queue_positions()

    def restore(self, now: float, records: list[TaskRecord], turns: list[Turn] | None = None,
                starts: list[ConversationStart] | None = None) -> tuple[list[Effect],
                                                                        list[TaskRecord]]:
        """Rebuild from the journal (tasks and turns oldest first) at start; call before any
        other input.

        Returns the effects (the questions whose key was lost fail) and the finished
        records whose outcomes the sessions may still be owed.
        """
        for start in starts or ():
            self._conversations.start(start)
        for turn in turns or ():
            self._conversations.add(turn, asked_at=turn.at)
        return self._tasks.restore(now, records)

    def new_conversation(self, now: float, session_id: str) -> list[Effect]:
        """The session's next questions carry none of its earlier turns, nor do the answers
        to questions it asked before now join the new conversation."""
        start = ConversationStart(session_id=session_id, at=now + self._wall_offset)
        self._conversations.start(start)
        return [Persist(start)]

    def context(self, session_id: str) -> list[str]:
        """The task ids of the turns the session's next question carries, oldest first."""
        return self._conversations.context(session_id)

    def forget_conversations(self, now: float) -> int:
        """Drop conversations past their time to live; return how many went."""
        return self._conversations.purge(now + self._wall_offset)

    def count_rejection(self, reason: str) -> None:
        """A question the service refused before it reached the queue, counted with the
        queue's own refusals."""
        self._counters.rejected[reason] += 1

    def count_untokened(self) -> None:
        """A result taken without its task's token, as the operator allows."""
        self._counters.untokened_results += 1

    # --- readings ----------------------------------------------------------------------

    @property
    def completed(self) -> int:
        """Questions answered so far (an answer or a provider error)."""
        return self._counters.completed

    @property
    def failed(self) -> int:
        """Questions given up so far."""
        return self._counters.failed

    @property
    def requeued(self) -> int:
        """Hand-overs taken back so far from workers that went away or missed a deadline."""
        return self._counters.requeued

    def held_task(self, worker_id: str, session_id: str) -> HeldTask | None:
        """The open task of ``session_id`` that ``worker_id`` holds, if any."""
        worker = self._workers.by_id.get(worker_id)
        task = self._tasks.open_tasks.get(worker.task_id or "") if worker is not None else None
        if task is None or task.session_id != session_id:
            return None
        return HeldTask(task.task_id, task.result_token,
                        assigned_to_it=task.worker_id == worker_id)

    def queue_depth(self) -> int:
        return self._tasks.queue_depth()

    def worker_states(self) -> Counter[str]:
        """How many workers are idle, busy and offline."""
        return self._workers.states()

    def oldest_waiting(self, now: float) -> float:
        """Seconds the longest-waiting queued question has waited (0 with none)."""
        return self._tasks.oldest_waiting(now)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Workers (with the task each holds and, given ``now``, for how long), queue depth
        and task counts."""
        last_answer = self._answers.last_answer
        return {
            "workers": self._workers.snapshot(now),
            "queue_depth": self._tasks.queue_depth(),
            # Wall-clock milliseconds, like last_seen; None until the first answer.
            "last_answer": (None if last_answer is None
                            else round((last_answer + self._wall_offset) * 1000)),
            "tasks": {**self._tasks.counts(), **self._counters.snapshot()},
        }
