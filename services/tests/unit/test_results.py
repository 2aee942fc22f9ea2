"""The master's service behind a real gRPC server, called with the generated stub.

Tasks are published and events emitted into recorders instead of MQTT and Socket.IO
(the integration tests run those for real); the outbox and ticker threads are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.ports import free_port
from support.recorder import Recorder

from ai_system.config import MasterSettings
from ai_system.master.journal import open_journal
from ai_system.master.questions import QueryRejectedError
from ai_system.master.results import serve
from ai_system.master.service import MasterService
from ai_system.master.session_tokens import SessionTokens
from ai_system.protocol import (
    EVENT_TASK_ERROR,
    TaskMessage,
    WorkerRegistration,
    WorkerStatus,
)
from ai_system.rpc import worker_callback_pb2 as pb
from ai_system.rpc import worker_callback_pb2_grpc as pb_grpc

SESSION = "0d9d6f3e-4f6c-4a55-8d0e-1f2a3b4c5d6e"
WAIT_SECONDS = 10.0  # a failure bound only


def hand_out_one_question(service: MasterService, published: Recorder) -> str:
    """A connected session asks; the one registered worker gets the task."""
    service.connect("sid-1", SESSION)
    service.on_register(WorkerRegistration(worker_id="w1"))
    task_id = service.submit("sid-1", "question")
    published.wait_for(lambda calls: len(calls) == 1)
    return task_id


def token_of(published: Recorder, task_id: str) -> str:
    """The result token the master handed out with ``task_id``."""
    tasks = [TaskMessage.from_json(payload) for _, payload in published.calls]
    return next(task.result_token for task in tasks if task.task_id == task_id)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[
        tuple[MasterService, Recorder, Recorder, pb_grpc.WorkerCallbackStub]]:
    port = free_port()
    settings = MasterSettings.from_env({
        "GRPC_PORT": str(port), "GRPC_ADVERTISED_ENDPOINT": f"127.0.0.1:{port}",
        "MAX_QUERY_CHARS": "20"})
    # A real journal: every question waits for its record before it is acknowledged.
    service = MasterService(settings, SessionTokens(b"test"), open_journal(str(tmp_path)))
    published, emitted = Recorder(), Recorder()
    service.start(published, emitted)
    server = serve(service, port)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield service, published, emitted, pb_grpc.WorkerCallbackStub(channel)
    finally:
        channel.close()
        server.stop(0)
        service.stop()


def test_a_result_for_an_unknown_task_gets_success_false(system: Any) -> None:
    _, _, _, stub = system
    ack = stub.SendResult(pb.TaskResult(task_id="no-such-task", worker_id="w1"), timeout=5)
    assert (ack.success, ack.message) == (False, "unknown task")


def test_a_question_travels_to_a_worker_and_its_answer_to_the_session(system: Any) -> None:
    service, published, emitted, stub = system
    service.connect("sid-1", SESSION)
    service.on_register(WorkerRegistration(worker_id="w1", node="node-1"))
    task_id = service.submit("sid-1", "  hello  ", "user-key", "r1")
    published.wait_for(lambda calls: len(calls) == 1)
    worker_id, payload = published.calls[0]
    task = TaskMessage.from_json(payload)
    assert (worker_id, task.task_id, task.query, task.api_key, task.session_id) == (
        "w1", task_id, "hello", "user-key", SESSION)

    result = pb.TaskResult(task_id=task_id, worker_id="w1", session_id=SESSION,
                           ai_response="hi!", provider="offline", model="offline-echo",
                           processing_time_ms=12, attempt=1, result_token=task.result_token)
    ack = stub.SendResult(result, timeout=5)
    assert (ack.success, ack.message) == (True, "result delivered")
    emitted.wait_for(lambda calls: any(call[0] == "ai-response" for call in calls))
    _, data, room = emitted.calls[-1]
    assert room == SESSION
    assert data["response"] == "hi!" and data["node"] == "node-1"
    assert data["request_id"] == "r1" and data["processing_time_ms"] == 12
    assert stub.SendResult(result, timeout=5).message == "duplicate ignored"


def test_an_answer_for_an_absent_session_is_kept_for_its_reconnect(system: Any) -> None:
    service, published, emitted, stub = system
    task_id = hand_out_one_question(service, published)
    service.disconnect("sid-1")
    stub.SendResult(pb.TaskResult(task_id=task_id, worker_id="w1", ai_response="later",
                                  result_token=token_of(published, task_id)), timeout=5)
    # The outbox is ordered: once a later task is published, the answer was handled.
    service.connect("sid-3", "another-session-id")
    service.on_register(WorkerRegistration(worker_id="w2"))
    service.submit("sid-3", "next")
    published.wait_for(lambda calls: len(calls) == 2)
    kept = service.connect("sid-2", SESSION)
    assert [(event, data["response"]) for event, data in kept] == [("ai-response", "later")]
    assert emitted.calls == []


def test_bad_questions_are_rejected_and_counted(system: Any) -> None:
    service, published, _, _ = system
    service.connect("sid-1", SESSION)
    for query in ("", "   ", None, 42, "x" * 21):
        with pytest.raises(QueryRejectedError) as rejected:
            service.submit("sid-1", query, None, "r1")
        assert rejected.value.request_id == "r1"  # so the browser can match the error
    with pytest.raises(QueryRejectedError, match="API key"):
        service.submit("sid-1", "fine", "k" * 600)
    with pytest.raises(QueryRejectedError, match="request_id"):
        service.submit("sid-1", "fine", None, "r" * 129)
    with pytest.raises(QueryRejectedError, match="session"):
        service.submit("unknown-sid", "fine")
    assert service.snapshot()["tasks"]["rejected"] == 8
    assert published.calls == []


def test_an_offline_worker_s_task_reaches_another_worker(system: Any) -> None:
    service, published, _, _ = system
    service.connect("sid-1", SESSION)
    service.on_register(WorkerRegistration(worker_id="w1"))
    service.on_register(WorkerRegistration(worker_id="w2"))
    service.submit("sid-1", "question")
    published.wait_for(lambda calls: len(calls) == 1)
    first = published.calls[0][0]
    service.on_status(WorkerStatus(worker_id=first, status="offline"))
    published.wait_for(lambda calls: len(calls) == 2)
    second, payload = published.calls[1]
    assert second != first and TaskMessage.from_json(payload).attempt == 2


def test_a_worker_id_that_cannot_name_a_topic_is_not_registered(system: Any) -> None:
    service, _, _, _ = system
    for worker_id in ("w+1", "w#", "a\0b"):
        service.on_register(WorkerRegistration(worker_id=worker_id))
    service.on_register(WorkerRegistration(worker_id="w/1"))  # odd but publishable
    assert [w["worker_id"] for w in service.snapshot()["workers"]] == ["w/1"]


def test_an_answer_emitted_to_a_connection_is_replayed_on_a_quick_reconnect(system: Any) -> None:
    """The connection may have been dead already, unnoticed until Engine.IO's ping timeout."""
    service, published, emitted, stub = system
    task_id = hand_out_one_question(service, published)
    stub.SendResult(pb.TaskResult(task_id=task_id, worker_id="w1", ai_response="hi",
                                  result_token=token_of(published, task_id)), timeout=5)
    emitted.wait_for(lambda calls: len(calls) == 1)
    service.disconnect("sid-1")
    kept = service.connect("sid-2", SESSION)
    assert [(event, data["task_id"]) for event, data in kept] == [("ai-response", task_id)]


def test_the_tick_requeues_a_task_past_its_deadline() -> None:
    """An injected clock instead of waiting: the ticker's work, called directly."""
    now = [1000.0]
    settings = MasterSettings.from_env({"TASK_TIMEOUT_SECONDS": "30"})
    service = MasterService(settings, SessionTokens(b"test"), clock=lambda: now[0])
    published, emitted = Recorder(), Recorder()
    service.start(published, emitted)
    try:
        hand_out_one_question(service, published)
        service.on_register(WorkerRegistration(worker_id="w2"))
        now[0] += 29
        service.tick()
        now[0] += 1
        service.tick()
        published.wait_for(lambda calls: len(calls) == 2)
        worker_id, payload = published.calls[1]
        assert (worker_id, TaskMessage.from_json(payload).attempt) == ("w2", 2)
        assert service.snapshot()["tasks"]["requeued"] == 1
    finally:
        service.stop()


def test_a_rejection_is_told_to_the_asking_connection_as_a_task_error() -> None:
    event, payload = QueryRejectedError("The question is empty.", "r1").event()
    assert event == EVENT_TASK_ERROR
    assert payload == {"task_id": None, "error": "The question is empty.", "request_id": "r1"}
    _, payload = QueryRejectedError("Too fast.").event()
    assert "request_id" not in payload
