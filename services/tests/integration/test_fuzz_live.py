"""Fuzzed input against the running system: it logs and drops, refuses clearly, stays up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.chat import ChatClient
from support.fuzz import json_values, objects, payloads
from support.mqtt import MqttProbe, probe_as
from support.system import make_system, save_logs, wait_status

from ai_system.local.system import LocalSystem
from ai_system.protocol import EVENT_TASK_ERROR, Topics

# The last test reads what the fuzzing left in the system's logs: the module's tests must run
# in one process, in order (make test-integration runs pytest-xdist with --dist loadscope).
pytestmark = pytest.mark.integration

TOPICS = Topics()
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzzed_system() -> Iterator[LocalSystem]:
    """A system of its own: fuzzed registrations leave ghost workers behind."""
    system = make_system(workers=2, simulated_seconds=0.2)
    yield system
    save_logs(system, "fuzzed-system")
    system.stop()


@pytest.fixture(scope="module")
def master_probe(fuzzed_system: LocalSystem) -> Iterator[MqttProbe]:
    probe = probe_as(fuzzed_system)
    yield probe
    probe.close()


@pytest.fixture(scope="module")
def user(fuzzed_system: LocalSystem) -> Iterator[ChatClient]:
    with ChatClient(fuzzed_system.url) as client:
        yield client


@FUZZ
@given(payload=payloads, topic=st.sampled_from(["register", "status", "tasks", "master"]))
def test_fuzzed_mqtt_payloads_are_dropped_and_the_system_stays_up(
        fuzzed_system: LocalSystem, master_probe: MqttProbe, payload: bytes, topic: str) -> None:
    worker = next(iter(fuzzed_system.workers))
    target = {"register": TOPICS.register, "status": TOPICS.status,
              "tasks": TOPICS.tasks(worker), "master": TOPICS.master_status}[topic]
    master_probe.publish(target, payload)
    assert all(proc.alive() for proc in fuzzed_system.processes())


@FUZZ
@given(data=json_values | objects)
def test_fuzzed_user_queries_get_an_answer_or_a_clear_refusal(
        user: ChatClient, data: object) -> None:
    ack = user.sio.call("user-query", data, timeout=15)
    assert isinstance(ack, dict) and (set(ack) == {"task_id"} or set(ack) == {"error"}), ack
    if "error" in ack:
        assert ack["error"].endswith(".")


def test_after_the_fuzzing_every_worker_still_answers(fuzzed_system: LocalSystem,
                                                      user: ChatClient) -> None:
    real = set(fuzzed_system.workers)
    # What the fuzzing queued settles (ghosts that registered hold theirs to the deadline).
    wait_status(fuzzed_system, lambda s: all(
        w["state"] == "idle" for w in s["workers"] if w["worker_id"] in real), "the workers idle",
        timeout=120)
    with ChatClient(fuzzed_system.url) as fresh:
        ack = fresh.ask("Still well?")
        assert "task_id" in ack, ack
    assert all(proc.alive() for proc in fuzzed_system.processes())
    assert all(e.data.get("error") for e in user.events(EVENT_TASK_ERROR))
    assert fuzzed_system.master is not None
    assert "malformed message" in fuzzed_system.master.output()
