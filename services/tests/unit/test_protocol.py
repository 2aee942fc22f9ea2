"""protocol.py: topics, and every payload validated on the way in and round-tripped."""

from __future__ import annotations

import json

import pytest

from ai_system.protocol import (
    LogRecord,
    MasterStatus,
    ProtocolError,
    TaskMessage,
    Topics,
    WorkerRegistration,
    WorkerStatus,
)


def test_topics_follow_the_prefix() -> None:
    topics = Topics("lab")
    assert topics.register == "lab/workers/register"
    assert topics.status == "lab/workers/status"
    assert topics.tasks("w-1") == "lab/workers/w-1/tasks"
    assert topics.all_tasks == "lab/workers/+/tasks"
    assert topics.logs == "lab/logs"
    assert topics.master_status == "lab/master/status"
    assert Topics().register == "upb/workers/register"


@pytest.mark.parametrize("message", [
    WorkerRegistration(worker_id="w1", language="go", hostname="h", node="n",
                       provider="gemini", status="busy", timestamp=5),
    WorkerStatus(worker_id="w1", status="idle", task_id="t1", timestamp=5),
    WorkerStatus(worker_id="w1", status="offline", task_id=None, timestamp=5),
    TaskMessage(worker_id="w1", session_id="s", query="q", api_key="k", grpc_endpoint="m:1",
                timestamp=5, task_id="t", attempt=2),
    MasterStatus(status="online", timestamp=5),
    LogRecord(source="master", message="hello", level="WARNING", timestamp=5),
])
def test_every_payload_round_trips_through_compact_json(message: object) -> None:
    encoded = message.to_json()  # type: ignore[attr-defined]
    assert b" " not in encoded.replace(b"hello", b"")
    assert type(message).from_json(encoded) == message  # type: ignore[attr-defined]


def test_the_original_assignments_task_fields_keep_their_names() -> None:
    data = json.loads(TaskMessage(worker_id="w", session_id="s", query="q", api_key="k",
                                  grpc_endpoint="master:50051", timestamp=1).to_json())
    assert {"worker_id", "session_id", "query", "api_key", "grpc_endpoint",
            "timestamp"} <= set(data)


def test_a_registration_with_only_the_worker_id_gets_defaults() -> None:
    reg = WorkerRegistration.from_json(b'{"worker_id": "java-worker-1"}')
    assert (reg.worker_id, reg.language, reg.status) == ("java-worker-1", "unknown", "idle")
    assert reg.timestamp > 0


def test_tasks_from_a_master_without_task_ids_are_told_apart_by_session_and_time() -> None:
    def original(query: str, timestamp: int) -> TaskMessage:
        return TaskMessage.from_json(json.dumps({
            "worker_id": "w", "session_id": "s-1", "query": query, "api_key": "",
            "grpc_endpoint": "master:50051", "timestamp": timestamp}))

    first, second = original("q1", 1000), original("q2", 2000)
    assert (first.task_id, first.attempt) == ("s-1@1000", 1)
    assert second.task_id != first.task_id  # a session's second question is not a repeat
    assert original("q1", 1000).task_id == first.task_id  # a redelivery is


def test_the_api_key_stays_out_of_the_repr() -> None:
    task = TaskMessage(worker_id="w", session_id="s", query="q", api_key="sk-secret")
    assert "sk-secret" not in repr(task)


@pytest.mark.parametrize(("kind", "payload", "complaint"), [
    (WorkerStatus, b"not json", "not JSON"),
    (WorkerStatus, b"\xff\xfe", "not JSON"),
    (WorkerStatus, b"[1, 2]", "JSON object"),
    (WorkerStatus, b'{"status": "idle"}', "worker_id"),
    (WorkerStatus, b'{"worker_id": "", "status": "idle"}', "worker_id"),
    (WorkerStatus, b'{"worker_id": 7, "status": "idle"}', "worker_id"),
    (WorkerStatus, b'{"worker_id": "w"}', "status"),
    (WorkerStatus, b'{"worker_id": "w", "status": "sleeping"}', "status"),
    (WorkerStatus, b'{"worker_id": "w", "status": "idle", "task_id": 3}', "task_id"),
    (WorkerStatus, b'{"worker_id": "w", "status": "idle", "timestamp": "now"}', "timestamp"),
    (WorkerStatus, b'{"worker_id": "w", "status": "idle", "timestamp": true}', "timestamp"),
    (WorkerRegistration, b'{"worker_id": "w", "status": "dancing"}', "status"),
    (WorkerRegistration, b'{"worker_id": "w", "language": 3}', "language"),
    (TaskMessage, b'{"worker_id": "w", "session_id": "s", "grpc_endpoint": "m"}', "query"),
    (TaskMessage, b'{"worker_id": "w", "session_id": "s", "query": "q"}', "grpc_endpoint"),
    (TaskMessage, b'{"worker_id": "w", "session_id": "s", "query": "q", "grpc_endpoint": "m",'
                  b' "history": {"role": "user"}}', "history"),
    (TaskMessage, b'{"worker_id": "w", "session_id": "s", "query": "q", "grpc_endpoint": "m",'
                  b' "history": [{"role": "system", "content": "c"}]}', "history"),
    (TaskMessage, b'{"worker_id": "w", "session_id": "s", "query": "q", "grpc_endpoint": "m",'
                  b' "history": [{"role": "user", "content": 3}]}', "history"),
    (MasterStatus, b'{"status": "maybe"}', "status"),
    (LogRecord, b'{"message": "m"}', "source"),
])
def test_bad_payloads_are_refused_with_a_message_naming_the_problem(
        kind: type, payload: bytes, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        kind.from_json(payload)


def test_a_task_carries_its_conversation_and_a_task_without_one_has_none() -> None:
    history = [{"role": "user", "content": "My name is Ana."},
               {"role": "assistant", "content": "Hello Ana."}]
    task = TaskMessage.from_json(json.dumps({
        "worker_id": "w", "session_id": "s", "query": "What is my name?",
        "grpc_endpoint": "m", "history": history}))
    assert list(task.history) == history
    assert "Ana" not in repr(task)  # users' words stay out of the logs
    assert TaskMessage.from_json(task.to_json()) == task
    original = TaskMessage.from_json(b'{"worker_id": "w", "session_id": "s", "query": "q",'
                                     b' "grpc_endpoint": "m"}')
    assert original.history == ()


def test_an_empty_task_id_in_a_status_means_none() -> None:
    status = WorkerStatus.from_json(b'{"worker_id": "w", "status": "idle", "task_id": ""}')
    assert status.task_id is None


def test_unknown_log_levels_become_info_and_extra_fields_are_ignored() -> None:
    record = LogRecord.from_json(b'{"source": "go-worker", "level": "trace", "extra": 1}')
    assert (record.level, record.message) == ("INFO", "")
