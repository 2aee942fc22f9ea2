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

import heapq
import hmac
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from cachetools import FIFOCache

from ai_system.master.conversations import Conversations
from ai_system.master.fairqueue import FairQueue
from ai_system.master.journal import ConversationStart, Record, TaskRecord, Turn
from ai_system.protocol import (
    EVENT_AI_CHUNK,
    EVENT_AI_RESPONSE,
    EVENT_TASK_ERROR,
    EVENT_TASK_QUEUED,
    EVENT_TASK_RETRYING,
    RETRYABLE_ERROR_KINDS,
    ChatMessage,
    TaskMessage,
    WorkerRegistration,
    WorkerStatus,
)

TaskState = Literal["queued", "assigned", "delayed"]


class UnknownWorkerError(KeyError):
    """A status message from a worker that never registered with this master."""


class RefusedError(ValueError):
    """A question the queue will not take; ``reason`` names the limit, the message is for
    the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Worker:
    worker_id: str
    node: str = ""
    language: str = ""
    provider: str = ""
    user_key_provider: str = ""  # where a key typed in the chat goes on this worker
    hostname: str = ""
    instance_id: str = ""  # the worker process; a new one holds none of the old one's work
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
    # Has reported busy on a task it was handed: from then on, a hand-over it does not
    # acknowledge that way in time means it is gone (PUBLISH_TASK_STATUS=false never does).
    acknowledges: bool = False
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
    result_token: str = field(repr=False)
    api_key: str = field(default="", repr=False)
    # The user typed a key. Keys live in memory only: a task rebuilt from the journal
    # has this set and an empty api_key, and cannot be handed out again.
    has_key: bool = False
    request_id: str | None = None
    created_at: float = 0.0
    attempt: int = 0  # hand-overs to a worker so far
    worker_id: str | None = None
    assigned_at: float | None = None
    deadline: float | None = None
    state: TaskState = "queued"
    reported_position: int = 0  # the queue position the session was last told
    # Workers whose attempt ended in a retryable provider error: others go first.
    tried: set[str] = field(default_factory=set)
    retry_at: float = 0.0
    acknowledged: bool = False  # the worker said it is busy on this attempt
    # Attempts that stopping workers handed back (SIGTERM: an update, a drain): they were not
    # lost to a failure, so they do not count against max_attempts.
    handed_back: int = 0
    # The conversation before this question, as it stood when the question was asked.
    history: tuple[ChatMessage, ...] = field(default=(), repr=False)

    @property
    def key_lost(self) -> bool:
        return self.has_key and not self.api_key


# --- effects ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Persist:
    """Write ``record`` to the journal before carrying out the effects after it."""

    record: Record


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
class Retrying(SessionEffect):
    """A provider error that another attempt may cure: the question waits for it."""

    error: str = ""
    attempt: int = 1  # the attempt that failed
    max_attempts: int = 1
    retry_in_ms: int = 0

    event: ClassVar[str] = EVENT_TASK_RETRYING
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"error": self.error, "attempt": self.attempt,
                "max_attempts": self.max_attempts, "retry_in_ms": self.retry_in_ms}


@dataclass(frozen=True)
class Partial(SessionEffect):
    """Part of the answer of the task's current attempt, as the worker streams it."""

    seq: int = 0
    text: str = ""
    attempt: int = 1

    event: ClassVar[str] = EVENT_AI_CHUNK
    keep_if_away: ClassVar[bool] = False

    def _fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "text": self.text, "attempt": self.attempt}


@dataclass(frozen=True)
class Deliver(SessionEffect):
    response: str = ""
    worker_id: str = ""
    node: str = ""
    provider: str = ""
    model: str = ""
    processing_time_ms: int = 0
    queue_wait_ms: int = 0
    # The task ids of the turns the session's next question carries, this one included
    # if it joined them: the page marks the others as outside the model's memory.
    context: tuple[str, ...] = ()

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
            "context": list(self.context),
        }


@dataclass(frozen=True)
class Fail(SessionEffect):
    error: str = ""

    event: ClassVar[str] = EVENT_TASK_ERROR

    def _fields(self) -> dict[str, Any]:
        return {"error": self.error}


Effect = Persist | Assign | SessionEffect


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


@dataclass
class Counters:
    submitted: int = 0
    completed: int = 0  # answered, including answers that carry a provider error
    failed: int = 0  # attempts exhausted
    requeued: int = 0
    retried: int = 0  # sent back after a retryable provider error
    duplicates: int = 0
    unknown_results: int = 0
    forged_results: int = 0  # the result token did not match
    untokened_results: int = 0  # accepted without a token (ACCEPT_UNTOKENED_RESULTS)
    rejected: Counter[str] = field(default_factory=Counter)  # refusals by reason
    # Provider failures the workers reported, by (provider, error kind).
    provider_errors: Counter[tuple[str, str]] = field(default_factory=Counter)


_KEY_LOST = ("The server restarted before a worker took this question. Your API key is "
             "never written to disk, so it is gone: please ask again.")


class Dispatcher:
    """Workers, tasks and the fair queue; one task per worker at a time."""

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
        accept_untokened: bool = False,
        conversations: Conversations | None = None,
    ) -> None:
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
        # Replaced containers come back under new ids: the old ones leave /api/status.
        self._forget_offline_after = forget_offline_after
        # time.time() - time.monotonic(): messages and the journal carry wall-clock times.
        self._wall_offset = wall_offset
        # Workers of the original protocol send neither task id nor token: their result for
        # the task they hold counts only if the operator says so.
        self._accept_untokened = accept_untokened
        self._workers: dict[str, Worker] = {}
        # Workers ready for a task, longest-waiting first: popping the front is both O(1)
        # and fair (the least recently busy worker gets the next task).
        self._idle: OrderedDict[str, None] = OrderedDict()
        self._tasks: dict[str, Task] = {}  # queued, delayed or assigned
        self._queue = FairQueue()
        self._delayed: list[tuple[float, str]] = []  # (retry_at, task id), a heap
        self._pending: Counter[str] = Counter()  # unfinished tasks per session
        self._last_answer: float | None = None  # when the last answer came (monotonic)
        # Recently finished task ids and their tokens, so a late or repeated result is
        # recognised (and a forged one still refused).
        self._finished: FIFOCache[str, str] = FIFOCache(maxsize=finished_memory)
        # Without one, every question goes alone.
        self._conversations = (conversations if conversations is not None
                               else Conversations(max_turns=0, max_chars=0, ttl=0))
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
        result_token: str,
        api_key: str = "",
        request_id: str | None = None,
    ) -> list[Effect]:
        """A new question: handed to the longest-idle worker, or queued in its session's
        line. Raises RefusedError when the session or the whole queue is full."""
        if self._max_pending and self._pending[session_id] >= self._max_pending:
            raise self._refuse("too_many_pending", (
                f"You already have {self._pending[session_id]} questions waiting; ask again "
                "when one is answered."))
        waiting = len(self._queue) + len(self._delayed)
        if self._max_queued and waiting >= self._max_queued and not self._idle:
            raise self._refuse("queue_full", (
                f"The system is busy: {waiting} questions are waiting. Please ask again in a "
                "few minutes."))
        task = Task(task_id=task_id, session_id=session_id, query=query,
                    result_token=result_token, api_key=api_key, has_key=bool(api_key),
                    request_id=request_id, created_at=now,
                    history=self._conversations.history(session_id))
        self._tasks[task_id] = task
        self._pending[session_id] += 1
        self.counters.submitted += 1
        if self._idle:  # the queue is empty whenever a worker is idle
            return self._assign(now, task, self._pick_worker(task))
        self._queue.push(session_id, task_id)
        position = self._queue.position(session_id)
        return [self._persist(task), self._queued(task, position)]

    def register(self, now: float, reg: WorkerRegistration) -> list[Effect]:
        """A worker (re)announced itself: it is online; its assignment is unchanged,
        unless it is a new process (another ``instance_id``), which holds nothing.

        Registered busy without a task from us, it gets none until it reports idle.
        """
        worker = self._workers.get(reg.worker_id)
        if worker is None:
            worker = self._workers[reg.worker_id] = Worker(reg.worker_id)
        effects: list[Effect] = []
        restarted = bool(worker.instance_id and reg.instance_id
                         and worker.instance_id != reg.instance_id)
        if restarted and worker.task_id:
            effects += self._take_back(now, worker)
        worker.instance_id = reg.instance_id or worker.instance_id
        worker.node = reg.node or reg.hostname
        worker.language = reg.language
        worker.provider = reg.provider
        worker.user_key_provider = reg.user_key_provider
        worker.hostname = reg.hostname
        worker.online = True
        worker.confirmed = True
        worker.last_seen = now
        held = self._tasks.get(worker.task_id or "")
        if held is not None and held.deadline is not None and held.worker_id == worker.worker_id:
            # A task rebuilt from the journal waited for this worker: it is back.
            held.deadline = max(held.deadline, worker.assigned_at + self._task_timeout)
        if reg.status == "idle":
            worker.blocked = False
        elif reg.status == "busy" and worker.task_id is None:
            worker.blocked = True  # busy on something we did not hand it
        return effects + self._sync(now, worker)

    def _acknowledged(self, worker: Worker) -> None:
        task = self._tasks.get(worker.task_id or "")
        if task is not None and task.worker_id == worker.worker_id:
            task.acknowledged = True
            worker.acknowledges = True

    def status(self, now: float, status: WorkerStatus) -> list[Effect]:
        """idle, busy or offline (Last Will or shutdown); raises UnknownWorkerError."""
        worker = self._workers.get(status.worker_id)
        if worker is None:
            raise UnknownWorkerError(status.worker_id)
        worker.last_seen = now
        worker.confirmed = True
        if status.status == "offline":
            worker.online = False
            # Naming its task, it stops on purpose and gives it back (a Last Will names none).
            handed_back = status.task_id is not None and status.task_id == worker.task_id
            return self._take_back(now, worker, handed_back) + self._sync(now, worker)
        worker.online = True
        if status.status == "busy":
            if worker.task_id is None and status.task_id is not None:
                worker.blocked = True  # busy on something we did not hand it
            elif worker.task_id is not None and status.task_id in (None, worker.task_id):
                self._acknowledged(worker)  # (a worker of the original protocol names none)
            return self._sync(now, worker)
        worker.blocked = False
        return self._idle_report(now, worker, status.task_id) + self._sync(now, worker)

    def result(self, now: float, result: WorkerResult) -> tuple[Ack, list[Effect]]:
        """A worker's answer (or provider error) for a task; the first answer wins.

        Only a result carrying the task's token counts. A worker of the original protocol
        sends no task id: its held task is meant if the session matches; without a token
        too, it counts only where the operator accepts untokened results.
        """
        worker_id, task_id = result.worker_id, result.task_id
        sender = self._workers.get(worker_id)
        held_match = False
        if not task_id and sender is not None and sender.task_id:
            held = self._tasks.get(sender.task_id)
            if held is not None and held.session_id == result.session_id:
                task_id, held_match = held.task_id, True
        untokened = (held_match and not result.result_token and self._accept_untokened)
        if task_id in self._finished:
            if not _same(result.result_token, self._finished[task_id]):
                return self._forged(), []
            self.counters.duplicates += 1
            effects: list[Effect] = []
            if sender is not None and sender.task_id == task_id:
                sender.task_id = None
                effects = self._sync(now, sender)
            return Ack(True, "duplicate ignored"), effects
        task = self._tasks.get(task_id)
        if task is None:
            self.counters.unknown_results += 1
            return Ack(False, "unknown task"), []
        if untokened and task.worker_id == worker_id:
            self.counters.untokened_results += 1
        elif not _same(result.result_token, task.result_token):
            return self._forged(), []
        current = task.state == "assigned" and task.worker_id == worker_id
        if result.error:
            self.counters.provider_errors[result.provider, result.error_kind or "unexpected"] += 1
        if result.error and result.error_kind in RETRYABLE_ERROR_KINDS:
            if not current:  # an earlier attempt's error: the task is already under way again
                return Ack(True, "retry already under way"), self._release(now, sender, task_id)
            if task.attempt < self._max_attempts:
                return Ack(True, "error recorded, retrying"), self._retry(now, task, result)
        assignee = self._workers.get(task.worker_id or "")
        self._unqueue(task)
        effects = []
        # The assignee stays reserved if someone else answered: it is still busy on it.
        if assignee is not None and task.worker_id == worker_id and assignee.task_id == task_id:
            assignee.task_id = None
            assignee.completed += 1
            effects = self._sync(now, assignee)
        self.counters.completed += 1
        self._last_answer = now
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
        return Ack(True, message), [*remembered, *self._finish(now, task, outcome), *effects]

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
        worker = self._workers.get(chunk.worker_id)
        if worker is not None:
            worker.last_seen = now
            self._acknowledged(worker)  # streaming: it is on the task
        return Ack(True, "chunk passed on"), [Partial(
            session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
            seq=chunk.seq, text=chunk.text, attempt=chunk.attempt)]

    def expire(self, now: float) -> list[Effect]:
        """Deadlines passed, or hand-overs a worker did not acknowledge in time: the tasks go
        back to the queue, their workers wait for idle. Retries whose backoff is over join
        the queue again."""
        effects: list[Effect] = []
        for worker in self._workers.values():
            task = self._tasks.get(worker.task_id or "")
            if task is None or task.worker_id != worker.worker_id:
                continue
            late = task.deadline is not None and task.deadline <= now
            unacknowledged = (self._ack_timeout and worker.acknowledges and not task.acknowledged
                              and now - worker.assigned_at >= self._ack_timeout)
            if late or unacknowledged:
                worker.blocked = worker.online  # until it is heard from, idle
                effects += self._take_back(now, worker) + self._sync(now, worker)
        while self._delayed and self._delayed[0][0] <= now:
            _, task_id = heapq.heappop(self._delayed)
            task = self._tasks.get(task_id)
            if task is not None and task.state == "delayed":
                task.state = "queued"
                self._queue.push_front(task.session_id, task_id)
        return effects + self._dispatch(now)

    def forget_offline(self, now: float) -> list[str]:
        """Drop workers offline (and silent) for long; return their ids."""
        gone = [w.worker_id for w in self._workers.values()
                if not w.online and not w.task_id
                and now - w.last_seen >= self._forget_offline_after]
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
        for index, task_id in enumerate(self._queue.order(), start=1):
            task = self._tasks[task_id]
            if task.reported_position != index:
                effects.append(self._queued(task, index))
        return effects

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
                worker = self._workers.get(record.worker_id)
                if worker is None:
                    worker = self._workers[record.worker_id] = Worker(
                        record.worker_id, online=False, confirmed=False, last_seen=now,
                        instance_id=record.worker_instance)
                task.state, task.worker_id = "assigned", worker.worker_id
                task.assigned_at = self._mono(record.assigned_at or record.created_at)
                task.deadline = now + self._restore_grace
                worker.task_id, worker.assigned_at = task.task_id, now
            elif task.key_lost:
                effects += self._finish(now, task, self._lost_key(task))
            else:
                self._queue.push(task.session_id, task.task_id)
        return effects, finished

    def new_conversation(self, now: float, session_id: str) -> list[Effect]:
        """The session's next questions carry none of its earlier turns, nor do the answers
        to questions it asked before now join the new conversation."""
        start = ConversationStart(session_id=session_id, at=self._wall(now))
        self._conversations.start(start)
        return [Persist(start)]

    def context(self, session_id: str) -> list[str]:
        """The task ids of the turns the session's next question carries, oldest first."""
        return self._conversations.context(session_id)

    def forget_conversations(self, now: float) -> int:
        """Drop conversations past their time to live; return how many went."""
        return self._conversations.purge(self._wall(now))

    def queue_depth(self) -> int:
        return len(self._queue)

    def worker_states(self) -> Counter[str]:
        """How many workers are idle, busy and offline."""
        return Counter(worker.state for worker in self._workers.values())

    def oldest_waiting(self, now: float) -> float:
        """Seconds the longest-waiting queued question has waited (0 with none)."""
        heads = (self._tasks[task_id].created_at for task_id in self._queue.heads())
        return max((now - created for created in heads), default=0.0)

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """Workers (with the task each holds and, given ``now``, for how long), queue depth
        and task counts."""
        queued, delayed = len(self._queue), len(self._delayed)
        return {
            "workers": [
                {
                    "worker_id": w.worker_id,
                    "node": w.node,
                    "hostname": w.hostname,
                    "language": w.language,
                    "provider": w.provider,
                    "user_key_provider": w.user_key_provider,
                    "state": w.state,
                    "task_id": w.task_id,
                    "task_seconds": (round(now - w.assigned_at, 1)
                                     if now is not None and w.task_id else None),
                    "completed": w.completed,
                    "last_seen": round((w.last_seen + self._wall_offset) * 1000),
                }
                for w in self._workers.values()
            ],
            "queue_depth": queued,
            # Wall-clock milliseconds, like last_seen; None until the first answer.
            "last_answer": (None if self._last_answer is None
                            else round(self._wall(self._last_answer) * 1000)),
            "tasks": {"queued": queued, "retrying": delayed,
                      "assigned": len(self._tasks) - queued - delayed,
                      **{name: value for name, value in vars(self.counters).items()
                         if not isinstance(value, Counter)},
                      "rejected": sum(self.counters.rejected.values()),
                      "rejections": dict(self.counters.rejected),
                      "provider_errors": [
                          {"provider": provider, "kind": kind, "count": count}
                          for (provider, kind), count in self.counters.provider_errors.items()]},
        }

    # --- internals ---------------------------------------------------------------------

    def _wall(self, now: float) -> float:
        return now + self._wall_offset

    def _mono(self, wall: float) -> float:
        return wall - self._wall_offset

    def _refuse(self, reason: str, message: str) -> RefusedError:
        self.counters.rejected[reason] += 1
        return RefusedError(reason, message)

    def _forged(self) -> Ack:
        self.counters.forged_results += 1
        return Ack(False, "result token does not match the task")

    def _pick_worker(self, task: Task) -> Worker:
        """The longest-idle worker, preferring one that has not failed this task."""
        worker_id = next((w for w in self._idle if w not in task.tried), None)
        if worker_id is None:
            worker_id = next(iter(self._idle))
        del self._idle[worker_id]
        return self._workers[worker_id]

    def _assign(self, now: float, task: Task, worker: Worker) -> list[Effect]:
        self._idle.pop(worker.worker_id, None)
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

    def _sync(self, now: float, worker: Worker) -> list[Effect]:
        """Put the worker in or out of the idle set, then hand out queued tasks."""
        ready = worker.online and worker.confirmed and not worker.blocked and not worker.task_id
        if not ready:
            self._idle.pop(worker.worker_id, None)
        elif worker.worker_id not in self._idle:
            self._idle[worker.worker_id] = None
        return self._dispatch(now)

    def _dispatch(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while self._idle and (task_id := self._queue.pop()) is not None:
            task = self._tasks[task_id]
            if task.key_lost:
                effects += self._finish(now, task, self._lost_key(task))
            else:
                effects += self._assign(now, task, self._pick_worker(task))
        return effects

    def _release(self, now: float, sender: Worker | None, task_id: str) -> list[Effect]:
        """A worker that was still on a task someone else took over is free again."""
        if sender is None or sender.task_id != task_id:
            return []
        sender.task_id = None
        return self._sync(now, sender)

    def _idle_report(self, now: float, worker: Worker, last_task: str | None) -> list[Effect]:
        held = worker.task_id
        if held is None:
            return []
        task = self._tasks.get(held)
        if task is None or task.worker_id != worker.worker_id:
            worker.task_id = None  # finished meanwhile, or taken over by another worker
            return []
        if last_task == held:  # it gave up sending the result
            return self._take_back(now, worker)
        if now - worker.assigned_at >= self._stale_idle_grace:
            return self._take_back(now, worker)  # restarted, or the broker lost the task
        return []  # an idle report sent before the current task reached it

    def _take_back(self, now: float, worker: Worker, handed_back: bool = False) -> list[Effect]:
        """The worker will not return its task: requeue it at the front, or fail it once
        max_attempts were lost (one handed back by a stopping worker is not lost)."""
        task = self._tasks.get(worker.task_id or "")
        worker.task_id = None
        if task is None or task.state != "assigned" or task.worker_id != worker.worker_id:
            return []
        task.handed_back += handed_back
        if task.attempt - task.handed_back >= self._max_attempts:
            self.counters.failed += 1
            return self._finish(now, task, Fail(
                session_id=task.session_id, task_id=task.task_id, request_id=task.request_id,
                error=(f"No worker could answer this question: {task.attempt - task.handed_back} "
                       "attempts were lost to stopped or unresponsive workers. Please ask again."),
            ))
        self.counters.requeued += 1
        self._requeue(task)
        # The front: it has waited longest.
        self._queue.push_front(task.session_id, task.task_id)
        return [self._persist(task)]

    def _retry(self, now: float, task: Task, result: WorkerResult) -> list[Effect]:
        """A retryable provider error: the task waits a backoff, then goes to another
        worker if there is one."""
        self.counters.retried += 1
        worker = self._workers.get(result.worker_id)
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
            effects += self._sync(now, worker)
        return effects

    def _requeue(self, task: Task) -> None:
        task.state = "queued"
        task.worker_id = None
        task.deadline = None
        task.reported_position = 0  # the next queue_positions() tells the session

    def _unqueue(self, task: Task) -> None:
        """A task answered while it waited (a late answer from an earlier attempt)."""
        if task.state == "queued":
            self._queue.remove(task.session_id, task.task_id)
        elif task.state == "delayed":
            self._delayed = [item for item in self._delayed if item[1] != task.task_id]
            heapq.heapify(self._delayed)

    def _queued(self, task: Task, position: int) -> Queued:
        task.reported_position = position
        return Queued(session_id=task.session_id, task_id=task.task_id,
                      request_id=task.request_id, position=position)

    def _lost_key(self, task: Task) -> Fail:
        self.counters.failed += 1
        return Fail(session_id=task.session_id, task_id=task.task_id,
                    request_id=task.request_id, error=_KEY_LOST)

    def _finish(self, now: float, task: Task, outcome: SessionEffect) -> list[Effect]:
        """The task is done: record its outcome, then tell the session."""
        self._unqueue(task)
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


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of result tokens (an empty token never matches)."""
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
