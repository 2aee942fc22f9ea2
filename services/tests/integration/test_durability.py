"""Nothing lost: questions survive killed masters and workers and transient provider errors,
and each is answered exactly once."""

from __future__ import annotations

import time

import pytest
from support.chat import ChatClient
from support.llm_stand_in import StandIn
from support.system import SystemFactory, wait_idle, wait_status

from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_TASK_ERROR, EVENT_TASK_RETRYING

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
        code = system.master.stop()
        assert code == 0, f"the master exited {code} on SIGTERM:\n{system.master.output()}"
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


def test_a_worker_killed_and_restarted_under_its_id_answers_its_question_once(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=1, simulated_seconds=3)
    worker_id = next(iter(system.workers))
    with ChatClient(system.url) as user:
        task_id = user.ask("Will the restarted worker answer me twice?")["task_id"]
        wait_status(system, lambda s: s["tasks"]["assigned"] == 1, "the task handed out")
        system.workers[worker_id].kill()
        system.start_worker(1)  # the same id, a new process
        answer = user.wait_answer(task_id, timeout=60)
        wait_idle(system)
        time.sleep(DUPLICATE_GRACE_SECONDS)
        assert len(user.about(task_id, EVENT_AI_RESPONSE)) == 1
    assert answer["worker_id"] == worker_id
    tasks = system.status()["tasks"]
    # The new process never saw its previous life's delivery: no second LLM call either.
    assert tasks["requeued"] == 1 and tasks["duplicates"] == 0


def test_a_rate_limited_question_is_answered_by_a_retry_on_another_worker(
        system_factory: SystemFactory) -> None:
    with StandIn("openai") as llm:
        llm.behaviour["pool-key"] = [429, "ok"]
        system = system_factory(workers=2, simulated_seconds=0, env={
            "LLM_PROVIDER": "openai", "OPENAI_API_KEYS": "pool-key",
            "LLM_BASE_URL": llm.base_url, "RETRY_BACKOFF_SECONDS": "0.5"})
        with ChatClient(system.url) as user:
            task_id = user.ask("Try again, please")["task_id"]
            answer = user.wait_answer(task_id)
            [retrying] = user.about(task_id, EVENT_TASK_RETRYING)
    assert answer["response"] == "stand-in answer: Try again, please"
    assert (retrying["attempt"], retrying["max_attempts"]) == (1, 3)
    assert "429" in retrying["error"] or "rate" in retrying["error"].lower()
    assert len(llm.seen) == 2
    assert system.status()["tasks"]["retried"] == 1
