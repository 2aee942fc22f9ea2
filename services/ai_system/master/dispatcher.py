"""The master's bookkeeping: workers, tasks and the queue, as plain Python with no I/O.

Every method takes the current time (``now``, seconds since the epoch) and returns the
effects for the caller to carry out: publish a task to a worker, tell a session its place
in the queue, deliver an answer or an error. The caller (service.py) holds a lock around
each call and carries the effects out afterwards; nothing here blocks, sleeps or touches
the network, which is what lets the unit tests walk through worker deaths, deadlines and
duplicate results without waiting. Per task, the work is a few dict and deque operations.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ai_system.protocol import (
    EVENT_AI_RESPONSE,
    EVENT_TASK_ERROR,
    EVENT_TASK_QUEUED,
    TaskMessage,
    WorkerRegistration,
    WorkerStatus,
)

TaskState = Literal["queued", "assigned"]


class UnknownWorkerError(KeyError):
    """A status message from a worker that never registered with this master."""


@dataclass
class Worker:
    worker_id: str
    node: str = ""
    language: str = ""
    provider: str = ""
    hostname: str = ""
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
    api_key: str = field(default="", repr=False)
    request_id: str | None = None
    created_at: float = 0.0
    attempt: int = 0  # hand-overs to a worker so far
    worker_id: str | None = None
    assigned_at: float | None = None
    deadline: float | None = None
    state: TaskState = "queued"
    reported_position: int = 0  # the queue position the session was last told


# --- effects ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Assign:
    """Publish ``message`` on the worker's task topic."""

    message: TaskMessage


@dataclass(frozen=True)
class SessionEffect:
    """A Socket.IO event for every browser of one session."""

    session_id: str
    task_id: str | None
    request_id: str | None

    event: ClassVar[str]
    # Kept for a browser that is away and handed over when it reconnects.
    keep_if_away: ClassVar[bool] = True

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task_id": self.task_id}
        data.update(self._fields())
        if self.request_id is not None:
            data["request_id"] = self.request_id
        return data

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Queued(SessionEffect):
    position: int = 1  # 1-based

    event: ClassVar[str] = EVENT_TASK_QUEUED
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"position": self.position}


@dataclass(frozen=True)
class Deliver(SessionEffect):
    response: str = ""
    worker_id: str = ""
    node: str = ""
    provider: str = ""
    model: str = ""
    processing_time_ms: int = 0
    queue_wait_ms: int = 0

    event: ClassVar[str] = EVENT_AI_RESPONSE

    def _fields(self) -> dict[str, Any]:
        return {
            "response": self.response,
            "worker_id": self.worker_id,
            "node": self.node,
            "provider": self.provider,
            "model": self.model,
            "processing_time_ms": self.processing_time_ms,
            "queue_wait_ms": self.queue_wait_ms,
        }


@dataclass(frozen=True)
class Fail(SessionEffect):
    error: str = ""

    event: ClassVar[str] = EVENT_TASK_ERROR

    def _fields(self) -> dict[str, Any]:
        return {"error": self.error}


Effect = Assign | SessionEffect


@dataclass(frozen=True)
class WorkerResult:
    """What a worker's SendResult carries that the master uses."""

    task_id: str
    worker_id: str
    session_id: str = ""
    response: str = ""
    error: str = ""  # a provider failure, worded for the user
    provider: str = ""
    model: str = ""
    processing_time_ms: int = 0


@dataclass(frozen=True)
class Ack:
    """The answer to a worker's SendResult."""

    success: bool
    message: str


@dataclass
class Counters:
    submitted: int = 0
    completed: int = 0  # answered, including answers that carry a provider error
    failed: int = 0  # attempts exhausted
    requeued: int = 0
    duplicates: int = 0
    unknown_results: int = 0


class Dispatcher:
    """Workers, tasks and the FIFO queue; one task per worker at a time."""

    def __init__(
        self,
        *,
        grpc_endpoint: str,
        task_timeout: float,
        max_attempts: int,
        stale_idle_grace: float = 5.0,
        finished_memory: int = 10_000,
        forget_offline_after: float = 3600.0,
    ) -> None:
        self._grpc_endpoint = grpc_endpoint
        self._task_timeout = task_timeout
        self._max_attempts = max_attempts
        # An idle status not naming the held task that arrives this soon after the
        # hand-over was sent before the worker received it; later, it means the worker
        # never got the task or lost it (restarted).
        self._stale_idle_grace = stale_idle_grace
        self._finished_memory = finished_memory
        # Replaced containers come back under new ids: the old ones leave /api/status.
        self._forget_offline_after = forget_offline_after
        self._workers: dict[str, Worker] = {}
        # Workers ready for a task, longest-waiting first: popping the front is both O(1)
        # and fair (the least recently busy worker gets the next task).
        self._idle: OrderedDict[str, None] = OrderedDict()
        self._tasks: dict[str, Task] = {}  # queued or assigned
        self._queue: deque[str] = deque()
        # Recently finished task ids, so a late or repeated result is recognised.
        self._finished: OrderedDict[str, None] = OrderedDict()
        self.counters = Counters()

    def knows(self, worker_id: str) -> bool:
        return worker_id in self._workers

    # --- inputs ------------------------------------------------------------------------

    def submit(
        self,
        now: float,
        *,
        task_id: str,
        session_id: str,
        query: str,
        api_key: str = "",
        request_id: str | None = None,
    ) -> list[Effect]:
        """A new question: handed to the longest-idle worker, or queued at the back."""
        task = Task(task_id=task_id, session_id=session_id, query=query, api_key=api_key,
                    request_id=request_id, created_at=now)
        self._tasks[task_id] = task
        self.counters.submitted += 1
        if self._idle:  # the queue is empty whenever a worker is idle
            return [self._assign(now, task, self._next_idle())]
        self._queue.append(task_id)
        return [self._queued(task, len(self._queue))]

    def register(self, now: float, reg: WorkerRegistration) -> list[Effect]:
        """A worker (re)announced itself: it is online; its assignment is unchanged.

        Registered busy without a task from us, it gets none until it reports idle.
        """
        worker = self._workers.get(reg.worker_id)
        if worker is None:
            worker = self._workers[reg.worker_id] = Worker(reg.worker_id)
        worker.node = reg.node or reg.hostname
        worker.language = reg.language
        worker.provider = reg.provider
        worker.hostname = reg.hostname
        worker.online = True
        worker.confirmed = True
        worker.last_seen = now
        if reg.status == "idle":
            worker.blocked = False
        elif reg.status == "busy" and worker.task_id is None:
            worker.blocked = True  # busy on something we did not hand it
        return self._sync(now, worker)

    def status(self, now: float, status: WorkerStatus) -> list[Effect]:
        """idle, busy or offline (Last Will or shutdown); raises UnknownWorkerError."""
        worker = self._workers.get(status.worker_id)
        if worker is None:
            raise UnknownWorkerError(status.worker_id)
        worker.last_seen = now
        worker.confirmed = True
        if status.status == "offline":
            worker.online = False
            return self._take_back(now, worker) + self._sync(now, worker)
        worker.online = True
        if status.status == "busy":
            if worker.task_id is None and status.task_id is not None:
                worker.blocked = True  # busy on something we did not hand it
            return self._sync(now, worker)
        worker.blocked = False
        return self._idle_report(now, worker, status.task_id) + self._sync(now, worker)

    def result(self, now: float, result: WorkerResult) -> tuple[Ack, list[Effect]]:
        """A worker's answer (or provider error) for a task; the first answer wins.

        A worker of the original protocol sends no task id: its held task is meant if the
        session matches.
        """
        worker_id, task_id = result.worker_id, result.task_id
        sender = self._workers.get(worker_id)
        if not task_id and sender is not None and sender.task_id:
            held = self._tasks.get(sender.task_id)
            if held is not None and held.session_id == result.session_id:
                task_id = held.task_id
        if task_id in self._finished:
            self.counters.duplicates += 1
            effects = []
            if sender is not None and sender.task_id == task_id:
                sender.task_id = None
                effects = self._sync(now, sender)
            return Ack(True, "duplicate ignored"), effects
        task = self._tasks.get(task_id)
        if task is None:
            self.counters.unknown_results += 1
            return Ack(False, "unknown task"), []
        self._finish(task)
        if task.state == "queued":  # a late answer from an earlier attempt
            self._queue.remove(task_id)
        effects: list[Effect] = []
        assignee = self._workers.get(task.worker_id or "")
        # The assignee stays reserved if someone else answered: it is still busy on it.
        if assignee is not None and task.worker_id == worker_id:
            assignee.task_id = None
            assignee.completed += 1
            effects = self._sync(now, assignee)
        self.counters.completed += 1
        common = {"session_id": task.session_id, "task_id": task_id,
                  "request_id": task.request_id}
        if result.error:
            return Ack(True, "error recorded"), [Fail(**common, error=result.error), *effects]
        queue_wait = (task.assigned_at or now) - task.created_at
        answer = Deliver(
            **common,
            response=result.response,
            worker_id=worker_id,
            node=sender.node if sender is not None else "",
            provider=result.provider,
            model=result.model,
            processing_time_ms=result.processing_time_ms,
            queue_wait_ms=max(0, round(queue_wait * 1000)),
        )
        return Ack(True, "result delivered"), [answer, *effects]

    def expire(self, now: float) -> list[Effect]:
        """Tasks past their deadline go back to the queue; their workers wait for idle."""
        effects: list[Effect] = []
        for worker in self._workers.values():
            task = self._tasks.get(worker.task_id or "")
            if task is not None and task.deadline is not None and task.deadline <= now:
                worker.blocked = True
                effects += self._take_back(now, worker) + self._sync(now, worker)
        return effects

    def forget_offline(self, now: float) -> list[str]:
        """Drop workers offline (and silent) for long; return their ids."""
        gone = [w.worker_id for w in self._workers.values()
                if not w.online and now - w.last_seen >= self._forget_offline_after]
        for worker_id in gone:
            del self._workers[worker_id]
        return gone

    def broker_changed(self) -> None:
        """The master's broker connection dropped or is new: hand out no task to a worker
        until it is heard from again.

        While the broker is away, and after a broker restart until a worker has
        re-subscribed, a task published to it could be lost until its deadline; it waits
        in the queue instead.
        """
        for worker in self._workers.values():
            worker.confirmed = False
            self._idle.pop(worker.worker_id, None)

    def queue_positions(self) -> list[Effect]:
        """A task-queued update for each queued task whose position changed since last told.

        O(queue length): called on a timer, not per task.
        """
        effects: list[Effect] = []
        for index, task_id in enumerate(self._queue, start=1):
            task = self._tasks[task_id]
            if task.reported_position != index:
                effects.append(self._queued(task, index))
        return effects

    def snapshot(self) -> dict[str, Any]:
        """Workers, queue depth and task counts, for /api/status."""
        assigned = len(self._tasks) - len(self._queue)
        return {
            "workers": [
                {
                    "worker_id": w.worker_id,
                    "node": w.node,
                    "hostname": w.hostname,
                    "language": w.language,
                    "provider": w.provider,
                    "state": w.state,
                    "task_id": w.task_id,
                    "completed": w.completed,
                    "last_seen": round(w.last_seen * 1000),
                }
                for w in self._workers.values()
            ],
            "queue_depth": len(self._queue),
            "tasks": {"queued": len(self._queue), "assigned": assigned,
                      **vars(self.counters)},
        }

    # --- internals ---------------------------------------------------------------------

    def _next_idle(self) -> Worker:
        worker_id, _ = self._idle.popitem(last=False)
        return self._workers[worker_id]

    def _assign(self, now: float, task: Task, worker: Worker) -> Assign:
        self._idle.pop(worker.worker_id, None)
        task.state = "assigned"
        task.worker_id = worker.worker_id
        task.attempt += 1
        task.assigned_at = now
        task.deadline = now + self._task_timeout
        worker.task_id = task.task_id
        worker.assigned_at = now
        return Assign(TaskMessage(
            worker_id=worker.worker_id,
            session_id=task.session_id,
            query=task.query,
            api_key=task.api_key,
            grpc_endpoint=self._grpc_endpoint,
            timestamp=round(now * 1000),
            task_id=task.task_id,
            attempt=task.attempt,
        ))

    def _sync(self, now: float, worker: Worker) -> list[Effect]:
        """Put the worker in or out of the idle set, then hand out queued tasks."""
        ready = worker.online and worker.confirmed and not worker.blocked and not worker.task_id
        if not ready:
            self._idle.pop(worker.worker_id, None)
        elif worker.worker_id not in self._idle:
            self._idle[worker.worker_id] = None
        effects: list[Effect] = []
        while self._queue and self._idle:
            task = self._tasks[self._queue.popleft()]
            effects.append(self._assign(now, task, self._next_idle()))
        return effects

    def _idle_report(self, now: float, worker: Worker, last_task: str | None) -> list[Effect]:
        held = worker.task_id
        if held is None:
            return []
        if held not in self._tasks:  # finished meanwhile by another worker's answer
            worker.task_id = None
            return []
        if last_task == held:  # it gave up sending the result
            return self._take_back(now, worker)
        if now - worker.assigned_at >= self._stale_idle_grace:
            return self._take_back(now, worker)  # restarted, or the broker lost the task
        return []  # an idle report sent before the current task reached it

    def _take_back(self, now: float, worker: Worker) -> list[Effect]:
        """The worker will not return its task: requeue it at the front, or fail it."""
        task = self._tasks.get(worker.task_id or "")
        worker.task_id = None
        if task is None:
            return []
        if task.attempt >= self._max_attempts:
            self._finish(task)
            self.counters.failed += 1
            return [Fail(
                session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
                error=(f"No worker could answer this question: {task.attempt} attempts were "
                       "lost to stopped or unresponsive workers. Please ask again."),
            )]
        self.counters.requeued += 1
        task.state = "queued"
        task.worker_id = None
        task.deadline = None
        task.reported_position = 0  # the next queue_positions() tells the session
        # The front: it has waited longest.
        self._queue.appendleft(task.task_id)
        return []

    def _queued(self, task: Task, position: int) -> Queued:
        task.reported_position = position
        return Queued(session_id=task.session_id, task_id=task.task_id,
                      request_id=task.request_id, position=position)

    def _finish(self, task: Task) -> None:
        del self._tasks[task.task_id]
        self._finished[task.task_id] = None
        if len(self._finished) > self._finished_memory:
            self._finished.popitem(last=False)
