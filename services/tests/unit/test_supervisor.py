"""The local launcher's restart policy: start a dead child again, give up on a broken one."""

from __future__ import annotations

from ai_system.supervisor import RestartPolicy


def test_a_child_is_restarted_until_it_dies_too_often_within_the_window() -> None:
    policy = RestartPolicy(max_restarts=3, window=60.0)
    assert [policy.allow("worker-1", t) for t in (0.0, 1.0, 2.0, 3.0)] == [
        True, True, True, False]
    assert policy.allow("worker-2", 3.0)  # each child counts its own
    assert policy.allow("worker-1", 61.0)  # the first restart has left the window


def test_a_child_that_dies_now_and_then_is_always_restarted() -> None:
    policy = RestartPolicy(max_restarts=2, window=10.0)
    assert all(policy.allow("master", t) for t in range(0, 200, 6))
