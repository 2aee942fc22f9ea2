"""Task de-duplication and the busy/idle state the worker reports."""

from __future__ import annotations

from ai_system.worker.dedup import RecentTasks
from ai_system.worker.state import WorkerState


def test_a_redelivered_task_is_seen_once_and_a_new_attempt_is_new() -> None:
    recent = RecentTasks()
    assert recent.first_time("t1", 1)
    assert not recent.first_time("t1", 1)
    assert recent.first_time("t1", 2)
    assert recent.first_time("t2", 1)


def test_only_the_most_recent_tasks_are_remembered() -> None:
    recent = RecentTasks(capacity=2)
    for task_id in ("t1", "t2", "t3"):
        assert recent.first_time(task_id, 1)
    assert not recent.first_time("t3", 1)
    assert recent.first_time("t1", 1)


def test_status_is_busy_with_the_current_task_then_idle_with_the_last() -> None:
    state = WorkerState("w1")
    assert (state.status().status, state.status().task_id) == ("idle", None)
    busy = state.start("t1")
    assert (busy.worker_id, busy.status, busy.task_id) == ("w1", "busy", "t1")
    idle = state.finish()
    assert (idle.status, idle.task_id) == ("idle", "t1")
    assert state.status().task_id == "t1"


def test_busy_for_tells_how_long_the_current_task_has_run() -> None:
    now = [100.0]
    state = WorkerState("w1", clock=lambda: now[0])
    assert state.busy_for() is None
    state.start("t1")
    now[0] = 130.5
    assert state.busy_for() == ("t1", 30.5)
    state.finish()
    assert state.busy_for() is None


def test_a_refused_task_leaves_the_worker_idle_naming_it() -> None:
    state = WorkerState("w1")
    state.start("t1")
    state.finish()
    refused = state.refuse("t2")
    assert (refused.status, refused.task_id) == ("idle", "t2")
    assert state.busy_for() is None
