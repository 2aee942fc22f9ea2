"""Nothing lost: questions survive a killed master, and each is answered exactly once."""

from __future__ import annotations

import time

import pytest
from support.chat import ChatClient
from support.system import SystemFactory, wait_idle, wait_status

from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR

pytestmark = pytest.mark.integration

# Time for a late duplicate to show up: longer than a worker's whole turn-around here.
DUPLICATE_GRACE_SECONDS = 2.0


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_questions_waiting_and_running_survive_a_master_restart(
        system_factory: SystemFactory, stop: str) -> None:
    system = system_factory(workers=1, simulated_seconds=2)
    assert system.master is not None
    user = ChatClient(system.url).connect()
    token = user.session_token
    # One runs on the only worker, two wait in the queue.
    acks = [user.ask(f"Do you remember question {n}?") for n in range(3)]
    wait_status(system, lambda s: s["tasks"]["queued"] == 2, "two questions queued")
    user.disconnect()
    if stop == "SIGKILL":
        system.master.kill()
    else:
        assert system.master.stop() == 0
    system.start_master(wait=True)

    with ChatClient(system.url, token) as back:
        assert back.session_id == user.session_id
        answers = [back.wait_answer(ack["task_id"], timeout=60) for ack in acks]
        wait_idle(system)
        time.sleep(DUPLICATE_GRACE_SECONDS)
        for ack in acks:
            assert len(back.about(ack["task_id"], EVENT_AI_RESPONSE)) == 1
        assert back.events(EVENT_TASK_ERROR) == []
    assert [f"Do you remember question {n}?" in a["response"] for n, a in enumerate(answers)] == [
        True, True, True]


def test_a_question_asked_while_the_master_is_down_is_sent_when_it_is_back(
        system_factory: SystemFactory) -> None:
    """Socket.IO's client buffers what the page emits while disconnected."""
    system = system_factory(workers=1, simulated_seconds=0)
    assert system.master is not None
    with ChatClient(system.url) as user:
        token = user.session_token
    system.master.kill()
    system.start_master(wait=True)
    with ChatClient(system.url, token) as back:
        answer = back.wait_answer(back.ask("Are you back?")["task_id"])
    assert "Are you back?" in answer["response"]
