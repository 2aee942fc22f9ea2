"""The ``ai-worker`` process end to end: real Mosquitto, a real gRPC server standing in for
the master, tasks published with paho. (The whole system is tested in integration/.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from support.llm_stand_in import StandIn
from support.mqtt import MqttProbe

from ai_system.local import ManagedProcess, Mosquitto, find_program, free_port, wait_until
from ai_system.protocol import MasterStatus, TaskMessage, Topics, WorkerStatus
from ai_system.rpc import worker_callback_pb2_grpc
from ai_system.rpc.worker_callback_pb2 import ResultAck, TaskResult

pytestmark = pytest.mark.integration

TOPICS = Topics("upb")
WORKER_ID = "w-proc-test"
WAIT = 20.0


class FakeMaster(worker_callback_pb2_grpc.WorkerCallbackServicer):
    """The master's gRPC side: records every result, answers with ``success``."""

    def __init__(self, port: int, success: bool = True) -> None:
        self.port = port
        self.success = success
        self.results: list[TaskResult] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        worker_callback_pb2_grpc.add_WorkerCallbackServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"127.0.0.1:{port}")

    def SendResult(self, request: TaskResult, context: grpc.ServicerContext) -> ResultAck:
        with self._lock:
            self.results.append(request)
        return ResultAck(success=self.success, message="" if self.success else "unknown task")

    def start(self) -> FakeMaster:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def results_for(self, task_id: str) -> list[TaskResult]:
        with self._lock:
            return [result for result in self.results if result.task_id == task_id]

    def wait_result(self, task_id: str) -> TaskResult:
        wait_until(lambda: bool(self.results_for(task_id)), WAIT, f"the result of {task_id}")
        return self.results_for(task_id)[0]


class Harness:
    """A broker, a fake master, a probe on the worker topics, and the worker process."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker = Mosquitto(free_port(), workdir)
        self.broker.start()
        self.master = FakeMaster(free_port()).start()
        self.probe = MqttProbe(self.broker.port, [TOPICS.register, TOPICS.status, TOPICS.logs])
        self.health_file = workdir / "worker.healthy"
        self.worker: ManagedProcess | None = None

    def start_worker(self, **env: str) -> ManagedProcess:
        base = {name: value for name, value in os.environ.items()
                if not re.search(r"_API_KEYS?(_FILE)?$|^LLM_|^MQTT_|^GRPC_", name)}
        base.update(
            PYTHONUNBUFFERED="1", WORKER_ID=WORKER_ID, NODE_NAME="node-test",
            MQTT_HOST="127.0.0.1", MQTT_PORT=str(self.broker.port), LLM_PROVIDER="offline",
            SIMULATED_WORK_SECONDS="0", HEARTBEAT_SECONDS="1", GRPC_TIMEOUT_SECONDS="2",
            HEALTH_FILE=str(self.health_file), MQTT_LOG_LEVEL="INFO")
        base.update(env)
        self.worker = ManagedProcess("worker", [find_program("ai-worker")], base).start()
        self.wait_for(lambda: self.registrations() >= 1, "the worker to register")
        return self.worker

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        watch = [self.worker] if self.worker is not None else []
        wait_until(condition, WAIT, what, watch)

    def registrations(self) -> int:
        return sum(json.loads(p)["worker_id"] == WORKER_ID
                   for p in self.probe.payloads(TOPICS.register))

    def statuses(self) -> list[WorkerStatus]:
        return [WorkerStatus.from_json(p) for p in self.probe.payloads(TOPICS.status)]

    def logs(self) -> str:
        return "\n".join(p.decode() for p in self.probe.payloads(TOPICS.logs))

    def send_task(self, task_id: str, attempt: int = 1, query: str = "What is MQTT?",
                  api_key: str = "", endpoint: str = "") -> TaskMessage:
        task = TaskMessage(worker_id=WORKER_ID, session_id=f"s-{task_id}", query=query,
                           api_key=api_key, task_id=task_id, attempt=attempt,
                           grpc_endpoint=endpoint or f"127.0.0.1:{self.master.port}")
        self.probe.publish(TOPICS.tasks(WORKER_ID), task.to_json())
        return task

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.probe.close()
        self.master.stop()
        self.broker.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def test_registers_answers_a_task_and_reports_busy_then_idle(harness: Harness) -> None:
    harness.start_worker()
    registration = json.loads(harness.probe.payloads(TOPICS.register)[0])
    assert registration["language"] == "python"
    assert (registration["node"], registration["provider"]) == ("node-test", "offline")
    task = harness.send_task("t1")
    result = harness.master.wait_result("t1")
    assert result.worker_id == WORKER_ID
    assert (result.session_id, result.original_query) == ("s-t1", "What is MQTT?")
    assert "offline" in result.ai_response and "What is MQTT?" in result.ai_response
    assert (result.provider, result.model, result.error) == ("offline", "offline-echo", "")
    assert (result.attempt, result.query_timestamp) == (1, task.timestamp)
    assert result.processing_time_ms >= result.provider_time_ms >= 0
    assert result.completion_timestamp >= task.timestamp
    harness.wait_for(lambda: ("idle", "t1") in [(s.status, s.task_id)
                                                for s in harness.statuses()],
                     "idle with the last task id")
    assert ("busy", "t1") in [(s.status, s.task_id) for s in harness.statuses()]
    health = subprocess.run(
        [sys.executable, "-m", "ai_system.worker.health"], check=False,
        env={**os.environ, "HEALTH_FILE": str(harness.health_file), "HEARTBEAT_SECONDS": "1"})
    assert health.returncode == 0


def test_bad_and_repeated_tasks_are_dropped_and_the_worker_carries_on(harness: Harness) -> None:
    worker = harness.start_worker()
    topic = TOPICS.tasks(WORKER_ID)
    for payload in (b"not json", b"[1, 2]", b'{"worker_id": "w-proc-test"}',
                    json.dumps({"worker_id": "someone-else", "session_id": "s", "query": "q",
                                "grpc_endpoint": "127.0.0.1:1", "task_id": "stray"})):
        harness.probe.publish(topic, payload)
    harness.send_task("dup")
    harness.send_task("dup")  # what a QoS 1 redelivery looks like
    harness.send_task("dup", attempt=2)  # a requeued task is new work
    harness.send_task("last")
    harness.master.wait_result("last")
    assert [r.attempt for r in harness.master.results_for("dup")] == [1, 2]
    assert harness.master.results_for("stray") == []
    assert worker.alive()
    output = worker.output()
    assert "dropped a malformed task: payload is not JSON" in output
    assert "dropped a malformed task: missing field 'session_id'" in output
    assert "dropped task stray addressed to worker 'someone-else'" in output
    assert "dropped a redelivery of task dup (attempt 1)" in output


def test_registers_again_when_the_master_comes_online(harness: Harness) -> None:
    harness.start_worker()
    before = harness.registrations()
    harness.probe.publish(TOPICS.master_status, MasterStatus("online").to_json())
    harness.wait_for(lambda: harness.registrations() > before, "a new registration")


def test_result_waits_for_a_master_that_is_down_for_a_while(harness: Harness) -> None:
    worker = harness.start_worker()
    late = FakeMaster(free_port())
    harness.send_task("late", endpoint=f"127.0.0.1:{late.port}")
    harness.wait_for(lambda: "retrying the result of task late" in worker.output(),
                     "the worker to retry")
    late.start()
    try:
        assert late.wait_result("late").ai_response
    finally:
        late.stop()


def test_a_result_the_master_refuses_is_not_sent_again(harness: Harness) -> None:
    # Even without per-task statuses, an undelivered result is reported: idle with its task.
    worker = harness.start_worker(PUBLISH_TASK_STATUS="false")
    harness.master.success = False
    harness.send_task("unknown")
    harness.wait_for(lambda: ("idle", "unknown") in [(s.status, s.task_id)
                                                     for s in harness.statuses()],
                     "idle naming the undelivered task")
    assert "master refused the result of task unknown" in worker.output()
    harness.master.success = True
    harness.send_task("after")
    harness.master.wait_result("after")
    assert len(harness.master.results_for("unknown")) == 1


def test_sigterm_mid_task_reports_offline_and_exits_cleanly(harness: Harness) -> None:
    worker = harness.start_worker(SIMULATED_WORK_SECONDS="600")
    harness.send_task("long")
    harness.wait_for(lambda: ("busy", "long") in [(s.status, s.task_id)
                                                  for s in harness.statuses()], "busy")
    assert harness.health_file.exists()
    assert worker.stop(grace=15) == 0
    offline = [s for s in harness.statuses() if s.status == "offline"]
    assert [(s.worker_id, s.task_id) for s in offline] == [(WORKER_ID, "long")]
    assert harness.master.results_for("long") == []
    assert not harness.health_file.exists()


def test_a_user_key_reaches_the_provider_and_never_the_logs(harness: Harness) -> None:
    with StandIn("openai") as llm:
        worker = harness.start_worker(USER_KEY_PROVIDER="openai", LLM_BASE_URL=llm.base_url,
                                      LOG_LEVEL="DEBUG", MQTT_LOG_LEVEL="DEBUG")
        harness.send_task("keyed", api_key="sk-user-secret-123")
        result = harness.master.wait_result("keyed")
        assert result.ai_response == "stand-in answer: What is MQTT?"
        assert (result.provider, result.model) == ("openai", "gpt-4o-mini")
        assert llm.keys_seen == ["sk-user-secret-123"]
        llm.behaviour["sk-bad-secret-456"] = 401
        harness.send_task("rejected", api_key="sk-bad-secret-456")
        rejected = harness.master.wait_result("rejected")
    assert rejected.ai_response == ""
    assert rejected.error == "openai rejected the API key (HTTP 401); check the key."
    assert worker.alive()
    for text in (worker.output(), harness.logs(), str(harness.master.results)):
        assert "sk-user-secret-123" not in text and "sk-bad-secret-456" not in text
