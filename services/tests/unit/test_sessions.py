"""Sessions: connections per session id, answers kept for the away."""

from __future__ import annotations

from ai_system.master.sessions import Sessions

SESSION = "5b1f0c52-0d55-4c1e-9a51-3f7f0f1a2b3c"


def test_two_connections_of_one_session_count_until_both_leave() -> None:
    s = Sessions(ttl=60)
    assert s.connect("sid-1", SESSION, now=0) == []
    s.connect("sid-2", SESSION, now=0)
    assert s.session_of("sid-2") == SESSION
    assert s.disconnect("sid-1") == SESSION
    assert s.is_connected(SESSION)
    s.disconnect("sid-2")
    assert not s.is_connected(SESSION)
    assert s.disconnect("sid-2") is None
    assert s.counts() == {"connections": 0, "sessions": 0, "sessions_with_kept_results": 0}


def test_kept_events_are_handed_over_once_on_reconnect_in_order() -> None:
    s = Sessions(ttl=60)
    s.keep(SESSION, "ai-response", {"task_id": "t1"}, now=0, delivered=False)
    s.keep(SESSION, "task-error", {"task_id": "t2"}, now=1, delivered=False)
    s.keep("other-session", "ai-response", {"task_id": "t3"}, now=1, delivered=False)
    assert s.connect("sid", SESSION, now=2) == [
        ("ai-response", {"task_id": "t1"}), ("task-error", {"task_id": "t2"})]
    s.disconnect("sid")
    assert s.connect("sid", SESSION, now=3) == []
    assert s.counts()["sessions_with_kept_results"] == 1


def test_kept_events_expire() -> None:
    s = Sessions(ttl=10)
    s.keep(SESSION, "ai-response", {"task_id": "old"}, now=0, delivered=False)
    s.keep(SESSION, "ai-response", {"task_id": "new"}, now=5, delivered=False)
    assert s.purge(now=10) == 1
    assert s.connect("sid", SESSION, now=12) == [("ai-response", {"task_id": "new"})]


def test_expired_events_are_not_handed_over_even_before_a_purge() -> None:
    s = Sessions(ttl=10)
    s.keep(SESSION, "ai-response", {"task_id": "old"}, now=0, delivered=False)
    assert s.connect("sid", SESSION, now=11) == []


def test_a_session_keeps_a_bounded_number_of_events_dropping_the_oldest() -> None:
    s = Sessions(ttl=60, max_kept_per_session=3)
    for i in range(5):
        s.keep(SESSION, "ai-response", {"task_id": f"t{i}"}, now=0, delivered=False)
    assert [payload["task_id"] for _, payload in s.connect("sid", SESSION, now=1)] == [
        "t2", "t3", "t4"]


def test_purge_forgets_sessions_with_nothing_left() -> None:
    s = Sessions(ttl=1)
    s.keep(SESSION, "ai-response", {}, now=0, delivered=False)
    s.purge(now=5)
    assert s.counts()["sessions_with_kept_results"] == 0


def test_delivered_events_are_kept_briefly_for_a_connection_that_died_silently() -> None:
    s = Sessions(ttl=3600, recent_ttl=60)
    s.connect("sid", SESSION, now=0)
    s.keep(SESSION, "ai-response", {"task_id": "emitted"}, now=0, delivered=True)
    s.keep(SESSION, "ai-response", {"task_id": "later"}, now=50, delivered=True)
    s.disconnect("sid")
    s.keep(SESSION, "ai-response", {"task_id": "away"}, now=55, delivered=False)
    assert s.purge(now=61) == 1
    assert [payload["task_id"] for _, payload in s.connect("sid-2", SESSION, now=100)] == [
        "later", "away"]
