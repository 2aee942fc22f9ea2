"""protos/mqtt.schema.json describes what protocol.py sends, and refuses what departs from it."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from support.contract import SCHEMA, problems, topic_of

from ai_system.protocol import (
    LogRecord,
    MasterStatus,
    Message,
    TaskMessage,
    Topics,
    WorkerRegistration,
    WorkerStatus,
)


def test_the_schema_is_a_valid_json_schema_and_its_examples_conform() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    for name, topic in SCHEMA["x-topics"].items():
        definition = SCHEMA["$defs"][topic["message"].rsplit("/", 1)[1]]
        assert definition["examples"], name
        for example in definition["examples"]:
            assert problems(name, example) == [], (name, example)


def test_its_topics_are_the_ones_the_services_use() -> None:
    topics = Topics("lab")
    assert (topic_of("register", "lab"), topic_of("status", "lab"), topic_of("logs", "lab"),
            topic_of("master_status", "lab")) == (
        topics.register, topics.status, topics.logs, topics.master_status)
    assert topic_of("tasks", "lab", "w1") == topics.tasks("w1")
    assert topic_of("tasks", "lab") == topics.all_tasks


@pytest.mark.parametrize(("name", "message"), [
    ("register", WorkerRegistration(worker_id="w1", language="python", hostname="h", node="n",
                                    provider="offline", instance_id="i",
                                    user_key_provider="gemini")),
    ("status", WorkerStatus(worker_id="w1", status="busy", task_id="t1")),
    ("status", WorkerStatus(worker_id="w1", status="idle")),
    ("tasks", TaskMessage(worker_id="w1", session_id="s", query="q", api_key="k",
                          grpc_endpoint="master:50051", task_id="t1", attempt=2,
                          result_token="tok", history=(
                              {"role": "user", "content": "a"},
                              {"role": "assistant", "content": "b"}))),
    ("master_status", MasterStatus(status="online")),
    ("logs", LogRecord(source="master", message="started", level="WARNING")),
])
def test_every_message_the_services_send_conforms(name: str, message: Message) -> None:
    assert problems(name, message.to_json()) == []


@pytest.mark.parametrize(("name", "payload", "where"), [
    ("tasks", {"worker_id": "w", "session_id": "s", "grpc_endpoint": "m"}, "query"),
    ("tasks", {"worker_id": "w", "session_id": "s", "query": "q", "grpc_endpoint": "m",
               "attempt": "2"}, "attempt"),
    ("tasks", {"worker_id": "w", "session_id": "s", "query": "q", "grpc_endpoint": "m",
               "history": [{"role": "system", "content": "c"}]}, "history/0/role"),
    ("status", {"worker_id": "w", "status": "sleeping"}, "status"),
    ("status", {"worker_id": "w", "status": "idle", "task_id": 3}, "task_id"),
    ("register", {"worker_id": "w/#"}, "worker_id"),
    ("register", {"worker_id": "w", "timestamp": "now"}, "timestamp"),
    ("logs", {"source": "w", "level": "WARN"}, "level"),
    ("master_status", {"status": "maybe"}, "status"),
])
def test_a_message_departing_from_the_schema_fails(name: str, payload: dict[str, object],
                                                    where: str) -> None:
    found = problems(name, payload)
    assert found and any(problem.startswith(where) or where in problem for problem in found), found
