"""The workers the master knows and the order in which idle ones get tasks.

Pure bookkeeping under the service's lock, like the rest of the dispatcher: what a worker
holds is the task lifecycle's to decide (lifecycle.py); the registry says who is online,
who may take a task and who goes next.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from ai_system.master.domain import UnknownWorkerError, Worker
from ai_system.protocol import WorkerRegistration, WorkerStatus


class WorkerRegistry:
    """Every known worker by id, and the idle ones, longest-waiting first."""

    # A Last Will counts only this long after it came: a broker that stops sends the will of
    # every client it drops, the living ones too (mosquitto does), and the master loses that
    # broker a moment later, which drops the wills still held (the workers register with the
    # next broker and keep their tasks).
    WILL_HOLD_SECONDS = 1.0

    def __init__(self, *, forget_offline_after: float = 3600.0,
                 wall_offset: float = 0.0) -> None:
        # Replaced containers come back under new ids: the old ones leave /api/status.
        self._forget_offline_after = forget_offline_after
        self._wall_offset = wall_offset  # time.time() - time.monotonic()
        self._workers: dict[str, Worker] = {}
        # Workers ready for a task, longest-waiting first: popping the front is both O(1)
        # and fair (the least recently busy worker gets the next task).
        self._idle: OrderedDict[str, None] = OrderedDict()
        # Read-only views for the task side, which looks workers up on every question's
        # path: the same dicts, no copy and no call.
        self.by_id: Mapping[str, Worker] = self._workers
        self.idle: Mapping[str, None] = self._idle
        # Last Wills not yet counted, by worker id, with when each came.
        self._wills: dict[str, tuple[float, WorkerStatus]] = {}

    def knows(self, worker_id: str) -> bool:
        return worker_id in self._workers

    def __iter__(self) -> Iterator[Worker]:
        return iter(self._workers.values())

    def register(self, now: float, reg: WorkerRegistration) -> tuple[Worker, bool]:
        """The worker as it announced itself, online; and whether it is a new process
        (another ``instance_id``), which holds none of the old one's work."""
        worker = self._workers.get(reg.worker_id)
        if worker is None:
            worker = self._workers[reg.worker_id] = Worker(reg.worker_id)
        restarted = bool(worker.instance_id and reg.instance_id
                         and worker.instance_id != reg.instance_id)
        worker.instance_id = reg.instance_id or worker.instance_id
        worker.node = reg.node or reg.hostname
        worker.language = reg.language
        worker.provider = reg.provider
        worker.user_key_provider = reg.user_key_provider
        worker.hostname = reg.hostname
        worker.online = True
        worker.confirmed = True
        worker.last_seen = now
        self._wills.pop(reg.worker_id, None)
        return worker, restarted

    def status(self, now: float, status: WorkerStatus) -> Worker:
        """The worker heard from: online unless it says offline, blocked while busy on
        something it was not handed. Raises UnknownWorkerError."""
        worker = self._workers.get(status.worker_id)
        if worker is None:
            raise UnknownWorkerError(status.worker_id)
        self._wills.pop(status.worker_id, None)
        worker.last_seen = now
        worker.confirmed = True
        if status.status == "offline":
            worker.online = False
            return worker
        worker.online = True
        if status.status != "busy":
            worker.blocked = False
        elif worker.task_id is None and status.task_id is not None:
            worker.blocked = True  # busy on something we did not hand it
        return worker

    def hold_will(self, now: float, will: WorkerStatus) -> None:
        """A Last Will (``offline`` naming no task), held for WILL_HOLD_SECONDS; meanwhile
        its worker gets no task. Raises UnknownWorkerError."""
        worker = self._workers.get(will.worker_id)
        if worker is None:
            raise UnknownWorkerError(will.worker_id)
        self._wills[will.worker_id] = (now, will)
        worker.confirmed = False
        self._idle.pop(will.worker_id, None)

    def due_wills(self, now: float) -> list[WorkerStatus]:
        """The held wills whose time came, no longer held."""
        due = [will for at, will in self._wills.values() if now - at >= self.WILL_HOLD_SECONDS]
        for will in due:
            del self._wills[will.worker_id]
        return due

    def restored(self, now: float, worker_id: str, instance_id: str) -> Worker:
        """The worker a task rebuilt from the journal was handed to: an offline stand-in
        until it is heard from, unless it is known already."""
        worker = self._workers.get(worker_id)
        if worker is None:
            worker = self._workers[worker_id] = Worker(
                worker_id, online=False, confirmed=False, last_seen=now,
                instance_id=instance_id)
        return worker

    def update_idle(self, worker: Worker) -> None:
        """Put the worker in the idle order (at the back) if it may take a task, else out."""
        ready = worker.online and worker.confirmed and not worker.blocked and not worker.task_id
        if not ready:
            self._idle.pop(worker.worker_id, None)
        elif worker.worker_id not in self._idle:
            self._idle[worker.worker_id] = None

    def pick(self, tried: set[str]) -> Worker:
        """Take the longest-idle worker out of the idle order, preferring one not in
        ``tried`` (those whose attempt at the task failed). Call only with one idle."""
        worker_id = next((w for w in self._idle if w not in tried), None)
        if worker_id is None:
            worker_id = next(iter(self._idle))
        del self._idle[worker_id]
        return self._workers[worker_id]

    def forget_offline(self, now: float) -> list[str]:
        """Drop workers offline (and silent) for long; return their ids."""
        gone = [w.worker_id for w in self._workers.values()
                if not w.online and not w.task_id
                and now - w.last_seen >= self._forget_offline_after]
        for worker_id in gone:
            del self._workers[worker_id]
        return gone

    def unconfirm_all(self) -> None:
        """No worker gets a task until it is heard from again, and the wills held are
        dropped (the broker changed)."""
        self._wills.clear()
        for worker in self._workers.values():
            worker.confirmed = False
            self._idle.pop(worker.worker_id, None)

    def states(self) -> Counter[str]:
        """How many workers are idle, busy and offline."""
        return Counter(worker.state for worker in self._workers.values())

    def snapshot(self, now: float | None = None) -> list[dict[str, Any]]:
        """Each worker, with the task it holds and, given ``now``, for how long."""
        return [
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
        ]
