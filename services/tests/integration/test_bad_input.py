"""Bad input from the network is logged and dropped; the master keeps serving."""

from __future__ import annotations

import grpc
import pytest
from support.chat import ChatClient
from support.mqtt import probe_as
from support.system import wait_idle

from ai_system.local.system import LocalSystem
from ai_system.protocol import Topics
from ai_system.rpc import worker_callback_pb2, worker_callback_pb2_grpc

pytestmark = pytest.mark.integration

TOPICS = Topics()


def test_malformed_mqtt_payloads_do_not_stop_the_master_or_the_workers(
        shared_system: LocalSystem) -> None:
    wait_idle(shared_system)
    worker_id = next(iter(shared_system.workers))
    garbage = [
        (TOPICS.register, b"this is not json"),
        (TOPICS.register, b"[1, 2, 3]"),
        (TOPICS.register, b'{"language": "python"}'),  # no worker_id
        (TOPICS.register, b'{"worker_id": 7}'),
        (TOPICS.status, b"\xff\xfe\x00"),
        (TOPICS.status, b'{"worker_id": "%s"}' % worker_id.encode()),  # no status
        (TOPICS.status, b'{"worker_id": "%s", "status": "dancing"}' % worker_id.encode()),
        (TOPICS.status, b'{"worker_id": "ghost-worker", "status": "idle"}'),  # never registered
        (TOPICS.tasks(worker_id), b"{not json"),
        (TOPICS.tasks(worker_id), b'{"worker_id": "%s"}' % worker_id.encode()),  # no query
    ]
    probe = probe_as(shared_system)
    try:
        for topic, payload in garbage:
            probe.publish(topic, payload)
    finally:
        probe.close()

    # Both components still work: every worker answers a question.
    with ChatClient(shared_system.url) as user:
        acks = [user.ask(f"Still there? ({n})") for n in range(2)]
        answers = [user.wait_answer(ack["task_id"]) for ack in acks]
    assert {a["worker_id"] for a in answers} == set(shared_system.workers)
    status = wait_idle(shared_system)
    assert "ghost-worker" not in {w["worker_id"] for w in status["workers"]}
    assert shared_system.master is not None and shared_system.master.alive()
    assert "ghost-worker" in shared_system.master.output()  # logged, then dropped


def test_a_result_for_an_unknown_task_is_refused(shared_system: LocalSystem) -> None:
    result = worker_callback_pb2.TaskResult(
        worker_id=next(iter(shared_system.workers)), session_id="no-such-session",
        original_query="?", ai_response="an answer nobody asked for", task_id="no-such-task",
        provider="offline", model="offline-echo", attempt=1)
    with grpc.insecure_channel(shared_system.grpc_target) as channel:
        ack = worker_callback_pb2_grpc.WorkerCallbackStub(channel).SendResult(result, timeout=10)
    assert ack.success is False
    assert ack.message
    assert shared_system.status()["tasks"]["unknown_results"] >= 1
