"""The worker registry: who is known, who may take a task and who goes next."""

from __future__ import annotations

import pytest

from ai_system.master.domain import UnknownWorkerError, Worker
from ai_system.master.workers import WorkerRegistry
from ai_system.protocol import WorkerRegistration, WorkerStatus


def registry_with(*worker_ids: str, now: float = 0.0) -> WorkerRegistry:
    """Registered and idle, in this order."""
    registry = WorkerRegistry(forget_offline_after=60.0, wall_offset=1000.0)
    for worker_id in worker_ids:
        worker, _ = registry.register(now, WorkerRegistration(worker_id=worker_id))
        registry.update_idle(worker)
    return registry


def status(registry: WorkerRegistry, worker_id: str, state: str,
           task_id: str | None = None, now: float = 0.0) -> Worker:
    return registry.status(now, WorkerStatus(worker_id=worker_id, status=state,  # type: ignore[arg-type]
                                             task_id=task_id))


def test_the_longest_idle_worker_goes_first_unless_it_failed_the_task() -> None:
    registry = registry_with("w1", "w2", "w3")
    assert registry.pick(set()).worker_id == "w1"
    assert registry.pick({"w2"}).worker_id == "w3"
    assert registry.idle
    assert registry.pick({"w2"}).worker_id == "w2"  # the only one left, tried or not
    assert not registry.idle


def test_a_worker_back_from_a_task_joins_the_idle_order_at_the_back() -> None:
    registry = registry_with("w1", "w2")
    first = registry.pick(set())
    registry.update_idle(first)
    assert [registry.pick(set()).worker_id for _ in range(2)] == ["w2", "w1"]


@pytest.mark.parametrize("change", ["offline", "blocked", "holding", "unconfirmed"])
def test_only_an_online_confirmed_free_worker_is_idle(change: str) -> None:
    registry = registry_with("w1")
    worker = registry.by_id.get("w1")
    assert worker is not None
    if change == "offline":
        worker.online = False
    elif change == "blocked":
        worker.blocked = True
    elif change == "holding":
        worker.task_id = "t1"
    else:
        worker.confirmed = False
    registry.update_idle(worker)
    assert not registry.idle
    assert worker.state == ("offline" if change == "offline" else
                            "busy" if change in ("blocked", "holding") else "idle")


def test_a_new_process_is_told_apart_from_a_reconnect() -> None:
    registry = WorkerRegistry()
    _, restarted = registry.register(0.0, WorkerRegistration(worker_id="w1", instance_id="a"))
    assert not restarted
    _, restarted = registry.register(1.0, WorkerRegistration(worker_id="w1", instance_id="a"))
    assert not restarted
    _, restarted = registry.register(2.0, WorkerRegistration(worker_id="w1"))  # names none
    assert not restarted
    worker, restarted = registry.register(3.0, WorkerRegistration(worker_id="w1",
                                                                  instance_id="b"))
    assert restarted
    assert (worker.instance_id, worker.last_seen, worker.online) == ("b", 3.0, True)


def test_status_marks_a_worker_busy_on_work_it_was_not_handed() -> None:
    registry = registry_with("w1")
    with pytest.raises(UnknownWorkerError):
        status(registry, "stranger", "idle")
    assert status(registry, "w1", "busy", task_id="not-ours", now=4.0).blocked
    worker = status(registry, "w1", "offline")
    assert (worker.online, worker.blocked) == (False, True)
    worker = status(registry, "w1", "idle", now=5.0)
    assert (worker.online, worker.blocked, worker.last_seen) == (True, False, 5.0)
    worker.task_id = "t1"
    assert not status(registry, "w1", "busy", task_id="t1").blocked  # its own task


def test_a_restored_task_s_worker_waits_offline_until_heard_from() -> None:
    registry = WorkerRegistry()
    stand_in = registry.restored(7.0, "w1", "instance-a")
    assert (stand_in.online, stand_in.confirmed, stand_in.instance_id) == (
        False, False, "instance-a")
    assert registry.restored(8.0, "w1", "instance-b") is stand_in
    assert registry.knows("w1")


def test_workers_offline_for_long_are_forgotten_unless_they_hold_a_task() -> None:
    registry = registry_with("w1", "w2", "w3")
    for worker_id in ("w1", "w2"):
        status(registry, worker_id, "offline", now=10.0)
    holder = registry.by_id.get("w2")
    assert holder is not None
    holder.task_id = "t1"
    assert registry.forget_offline(69.0) == []
    assert registry.forget_offline(70.0) == ["w1"]
    assert [w.worker_id for w in registry] == ["w2", "w3"]


def test_a_broker_change_leaves_no_worker_idle_until_heard_from() -> None:
    registry = registry_with("w1", "w2")
    registry.unconfirm_all()
    assert not registry.idle
    assert all(not worker.confirmed for worker in registry)
    registry.update_idle(status(registry, "w2", "idle"))
    assert registry.pick(set()).worker_id == "w2"


def test_states_and_snapshot() -> None:
    registry = registry_with("w1", "w2", "w3", now=2.0)
    busy = registry.pick(set())
    busy.task_id, busy.assigned_at = "t1", 3.0
    status(registry, "w3", "offline", now=2.5)
    assert registry.states() == {"busy": 1, "idle": 1, "offline": 1}
    rows = {row["worker_id"]: row for row in registry.snapshot(now=4.25)}
    assert rows["w1"]["task_seconds"] == 1.2
    assert rows["w1"]["task_id"] == "t1"
    assert rows["w2"]["task_seconds"] is None
    assert rows["w3"]["last_seen"] == 1_002_500  # wall-clock milliseconds
    assert registry.snapshot()[0]["task_seconds"] is None  # no time given
