"""The chat path end to end: Socket.IO in, MQTT to a worker, gRPC back, Socket.IO out."""

from __future__ import annotations

import pytest
from support.chat import ChatClient
from support.system import SIMULATED_SECONDS, SystemFactory, wait_idle, wait_status

from ai_system.local.system import LocalSystem
from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR, EVENT_TASK_QUEUED

pytestmark = pytest.mark.integration


def test_one_question_is_answered_with_its_metadata(shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    with ChatClient(shared_system.url) as user:
        ack = user.ask("What does a message broker do?", request_id="first-question")
        assert set(ack) == {"task_id"}, ack
        answer = user.wait_answer(ack["task_id"])

    assert answer["request_id"] == "first-question"
    assert answer["worker_id"] in shared_system.workers
    assert answer["node"]
    assert answer["provider"] == "offline"
    assert answer["model"]
    assert "What does a message broker do?" in answer["response"]
    # The worker's simulated work is part of the processing time it reports.
    assert answer["processing_time_ms"] >= SIMULATED_SECONDS * 1000
    assert answer["queue_wait_ms"] >= 0


def test_ten_questions_from_three_sessions_each_answered_in_its_own_session(
        shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    users = [ChatClient(shared_system.url).connect() for _ in range(3)]
    try:
        assert len({user.session_id for user in users}) == 3
        owner: dict[str, int] = {}
        for number in range(10):
            index = number % 3
            ack = users[index].ask(f"Question {number} from user {index}",
                                   request_id=f"u{index}-q{number}")
            owner[ack["task_id"]] = index
        answers = {task_id: users[index].wait_answer(task_id, timeout=60)
                   for task_id, index in owner.items()}
    finally:
        for user in users:
            user.disconnect()

    for index, user in enumerate(users):
        mine = {task_id for task_id, who in owner.items() if who == index}
        # Every event a session got is about its own questions, and it got all answers.
        assert {e.data["task_id"] for e in user.events(EVENT_AI_RESPONSE)} == mine
        assert {e.data["task_id"] for e in user.events(EVENT_TASK_QUEUED)} <= mine
        assert not user.events(EVENT_TASK_ERROR)
    for task_id, answer in answers.items():
        number = next(n for n in range(10) if answer["request_id"].endswith(f"-q{n}"))
        assert answer["request_id"] == f"u{owner[task_id]}-q{number}"
        assert f"Question {number} from user {owner[task_id]}" in answer["response"]
    # Ten questions for two workers: some waited in the queue and were told where.
    queued = [e.data for user in users for e in user.events(EVENT_TASK_QUEUED)]
    assert queued, "no question was queued although both workers were busy"
    assert all(isinstance(q["position"], int) and q["position"] >= 1 for q in queued)
    assert {answer["worker_id"] for answer in answers.values()} == set(shared_system.workers)


@pytest.mark.parametrize(("query", "why"), [
    ("", "empty"),
    ("   \n\t ", "blank"),
    ("x" * 4001, "one character over the 4000 limit"),
    (42, "not a string"),
])
def test_a_rejected_query_gets_task_error_and_the_session_goes_on(
        shared_system: LocalSystem, query: object, why: str) -> None:
    with ChatClient(shared_system.url) as user:
        ack = user.ask(query, request_id="bad")  # type: ignore[arg-type]
        assert set(ack) == {"error"}, f"{why}: {ack}"
        assert ack["error"]
        error = user.wait_for(EVENT_TASK_ERROR)[0]
        assert error["task_id"] is None
        assert error["request_id"] == "bad"
        assert error["error"] == ack["error"]
        # The same connection still works.
        ok = user.ask("And now a proper question?")
        user.wait_answer(ok["task_id"])


def test_a_query_at_the_limit_is_accepted(shared_system: LocalSystem) -> None:
    with ChatClient(shared_system.url) as user:
        ack = user.ask("y" * 4000)
        assert "task_id" in ack, ack
        user.wait_answer(ack["task_id"])


def test_a_returning_browser_gets_the_answer_that_arrived_while_it_was_away(
        system_factory: SystemFactory) -> None:
    # Long simulated work: the answer surely comes after the browser left.
    system = system_factory(workers=1, simulated_seconds=3)
    away = ChatClient(system.url).connect()
    session_id, token = away.session_id, away.session_token
    ack = away.ask("Will you keep my answer?", request_id="kept")
    away.disconnect()
    assert not away.events(EVENT_AI_RESPONSE)
    wait_status(system, lambda s: s["sessions"]["sessions_with_kept_results"] >= 1,
                "the master to keep the answer for the absent session")

    with ChatClient(system.url) as stranger, ChatClient(system.url, token) as back:
        assert back.session_id == session_id
        answer = back.wait_answer(ack["task_id"])
        assert answer["request_id"] == "kept"
        assert "Will you keep my answer?" in answer["response"]
        assert stranger.session_id != session_id
    assert not stranger.events(EVENT_AI_RESPONSE)

