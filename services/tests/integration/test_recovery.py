"""At-least-once delivery through a worker crash, and recovery from a broker restart."""

from __future__ import annotations

import json
import time

import pytest
from support.chat import ChatClient
from support.mqtt import MqttProbe, probe_as
from support.system import SystemFactory, wait_idle, wait_status

from ai_system.local.api import online_workers
from ai_system.protocol import EVENT_AI_RESPONSE, EVENT_SESSION, EVENT_TASK_ERROR, Topics

pytestmark = pytest.mark.integration

# Time for a late duplicate to show up: longer than a worker's whole turn-around here.
DUPLICATE_GRACE_SECONDS = 2.0


def test_a_task_whose_worker_is_killed_is_finished_by_another_worker_once(
        system_factory: SystemFactory) -> None:
    system = system_factory(workers=2, simulated_seconds=3)
    status_topic = Topics().status
    probe = probe_as(system, topics=[status_topic])
    try:
        with ChatClient(system.url) as user:
            task_id = user.ask("Who will finish this one?")["task_id"]
            # The worker itself says it is working on the task: kill it mid-task.
            victim = wait_for_busy(probe, status_topic, task_id)
            system.workers[victim].kill()

            answer = user.wait_answer(task_id, timeout=60)
            assert answer["worker_id"] != victim
            wait_idle(system)
            time.sleep(DUPLICATE_GRACE_SECONDS)
            assert len(user.about(task_id, EVENT_AI_RESPONSE)) == 1
            assert not user.about(task_id, EVENT_TASK_ERROR)
    finally:
        probe.close()
    status = system.status()
    assert victim not in online_workers(status)
    assert status["tasks"]["requeued"] >= 1


def wait_for_busy(probe: MqttProbe, topic: str, task_id: str, timeout: float = 30.0) -> str:
    """The worker that reports being busy on ``task_id``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for payload in probe.payloads(topic):
            data = json.loads(payload)
            if (data.get("status"), data.get("task_id")) == ("busy", task_id):
                return str(data["worker_id"])
        time.sleep(0.05)
    raise AssertionError(f"no worker reported busy with {task_id}: "
                         f"{probe.payloads(topic)}")


def test_the_system_recovers_after_the_broker_restarts(system_factory: SystemFactory) -> None:
    system = system_factory(workers=2, simulated_seconds=0.5)
    system.broker.kill()
    wait_status(system, lambda s: s["mqtt_connected"] is False,
                "the master to notice the broker is gone")
    restarted_ms = time.time() * 1000
    system.broker.start()

    # Everyone reconnects by themselves; each worker registers again with the new broker.
    wait_status(system, lambda s: s["mqtt_connected"] and all(
        online_workers(s).get(worker_id, {}).get("last_seen", 0) >= restarted_ms
        for worker_id in system.workers), "the master and both workers to be back", 60)
    with ChatClient(system.url) as user:
        acks = [user.ask(f"Are you back? ({n})") for n in range(2)]
        answers = [user.wait_answer(ack["task_id"], timeout=60) for ack in acks]
    assert {answer["worker_id"] for answer in answers} == set(system.workers)


def test_a_restarted_master_rediscovers_its_workers(system_factory: SystemFactory) -> None:
    system = system_factory(workers=2, simulated_seconds=0)
    assert system.master is not None
    with ChatClient(system.url) as before:
        old_instance = before.events(EVENT_SESSION)[-1].data["instance_id"]
    system.master.kill()
    system.start_master(wait=True)

    # The new master knows nobody until the workers see it online and register again.
    wait_status(system, lambda s: online_workers(s).keys() == set(system.workers),
                "both workers to register with the new master")
    with ChatClient(system.url) as user:
        acks = [user.ask(f"Do you know me? ({n})") for n in range(2)]
        answers = [user.wait_answer(ack["task_id"]) for ack in acks]
    assert {answer["worker_id"] for answer in answers} == set(system.workers)
    # The same journal: open pages know their questions were kept.
    assert user.events(EVENT_SESSION)[-1].data["instance_id"] == old_instance
