"""The original assignment's workers and master, as published, against ours.

The original contract, as the seeds give it: gRPC package ``worker`` (service path
``/worker.WorkerCallback/SendResult``), a TaskResult of eight fields that echoes the user's
``api_key``, tasks without ``task_id``, and a worker on paho-mqtt 1.x defaults (MQTT 3.1.1,
clean session, QoS 0, client id = worker id) that registers with four fields and reports
busy/idle without a task id. The only change a student's worker needs for our secured lab is
an MQTT account; the operator accepts results without a token (ACCEPT_UNTOKENED_RESULTS).
"""

from __future__ import annotations

import importlib
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from types import ModuleType
from typing import Any

import grpc
import paho.mqtt.client as mqtt
import pytest
from grpc_tools import protoc
from paho.mqtt.enums import CallbackAPIVersion
from support.chat import ChatClient
from support.ports import free_port
from support.system import GO_WORKER, SystemFactory, wait_status

from ai_system.local.api import online_workers
from ai_system.local.broker import WORKER_ACCOUNT
from ai_system.local.processes import wait_until
from ai_system.local.system import LocalSystem
from ai_system.protocol import Topics

pytestmark = [
    pytest.mark.integration,
    # The original worker is written against paho-mqtt 1.x's callbacks, on purpose.
    pytest.mark.filterwarnings("ignore:Callback API version 1 is deprecated"),
]

TOPICS = Topics()
ORIGINAL_PROTO = """
syntax = "proto3";
package worker;
service WorkerCallback { rpc SendResult(TaskResult) returns (ResultAck); }
message TaskResult { string worker_id = 1; string session_id = 2; string original_query = 3;
  string ai_response = 4; string api_key = 5; int64 processing_time_ms = 6;
  int64 query_timestamp = 7; int64 completion_timestamp = 8; }
message ResultAck { bool success = 1; string message = 2; }
"""


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, ModuleType]]:
    """The original contract's generated stubs: (messages, services)."""
    folder = tmp_path_factory.mktemp("original-proto")
    (folder / "worker.proto").write_text(ORIGINAL_PROTO)
    assert protoc.main(["protoc", f"-I{folder}", f"--python_out={folder}",
                        f"--grpc_python_out={folder}", str(folder / "worker.proto")]) == 0
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("worker_pb2"), importlib.import_module("worker_pb2_grpc")
    finally:
        sys.path.remove(str(folder))


class OriginalWorker:
    """The original assignment's Python worker, with an MQTT account added."""

    def __init__(self, system: LocalSystem, pb: ModuleType, pb_grpc: ModuleType,
                 work_seconds: float = 0.5) -> None:
        self.worker_id = f"python-worker-{socket.gethostname()}-{secrets.token_hex(4)}"
        self._pb, self._pb_grpc, self._work = pb, pb_grpc, work_seconds
        self.client = mqtt.Client(CallbackAPIVersion.VERSION1, client_id=self.worker_id,
                                  clean_session=True, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(WORKER_ACCOUNT, system.broker.accounts[WORKER_ACCOUNT])
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.acks: list[Any] = []
        self.client.connect("127.0.0.1", system.config.mqtt_port)
        self.client.loop_start()

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(data))

    def _status(self, status: str) -> None:
        self._publish(TOPICS.status, {"worker_id": self.worker_id, "status": status,
                                      "timestamp": int(time.time() * 1000)})

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(TOPICS.tasks(self.worker_id), qos=0)
        self._publish(TOPICS.register, {"worker_id": self.worker_id, "language": "Python",
                                        "status": "idle", "timestamp": int(time.time() * 1000)})

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: Any) -> None:
        task = json.loads(message.payload)
        threading.Thread(target=self._process, args=(task,), daemon=True).start()

    def _process(self, task: dict[str, Any]) -> None:
        self._status("busy")
        started = int(time.time() * 1000)
        time.sleep(self._work)  # the original sleeps 10 s
        result = self._pb.TaskResult(
            worker_id=self.worker_id, session_id=task["session_id"],
            original_query=task["query"], ai_response=f"Original worker says: {task['query']}",
            api_key=task.get("api_key", ""), processing_time_ms=int(time.time() * 1000) - started,
            query_timestamp=task["timestamp"], completion_timestamp=int(time.time() * 1000))
        with grpc.insecure_channel(task["grpc_endpoint"]) as channel:
            self.acks.append(self._pb_grpc.WorkerCallbackStub(channel).SendResult(result,
                                                                                  timeout=10))
        self._status("idle")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_the_original_worker_answers_through_our_master_and_its_echoed_key_goes_nowhere(
        system_factory: SystemFactory, original: tuple[ModuleType, ModuleType]) -> None:
    system = system_factory(workers=0, env={"ACCEPT_UNTOKENED_RESULTS": "true"})
    worker = OriginalWorker(system, *original)
    marker = f"AIza-original-echo-{secrets.token_hex(6)}"
    try:
        wait_status(system, lambda s: worker.worker_id in online_workers(s), "it registers")
        with ChatClient(system.url) as user:
            answer = user.wait_answer(user.ask("Hello, original worker",
                                               api_key=marker)["task_id"])
        # The user may see the answer before the worker has read the master's reply.
        wait_until(lambda: bool(worker.acks), 10, "the master's reply to the original worker")
    finally:
        worker.close()
    assert answer["response"] == "Original worker says: Hello, original worker"
    assert answer["worker_id"] == worker.worker_id
    assert [(ack.success, ack.message) for ack in worker.acks] == [(True, "result delivered")]
    assert system.status()["tasks"]["untokened_results"] == 1
    assert system.master is not None and marker not in system.master.output()
    assert not any(marker.encode() in path.read_bytes()
                   for path in system.state_dir.iterdir() if path.is_file())


def test_without_the_operators_consent_an_untokened_result_is_refused(
        system_factory: SystemFactory, original: tuple[ModuleType, ModuleType]) -> None:
    system = system_factory(workers=0)
    worker = OriginalWorker(system, *original)
    try:
        wait_status(system, lambda s: worker.worker_id in online_workers(s), "it registers")
        with ChatClient(system.url) as user:
            user.ask("Will you take my answer?")
            wait_until(lambda: bool(worker.acks), 15, "the worker's result call")
    finally:
        worker.close()
    assert (worker.acks[0].success, worker.acks[0].message) == (
        False, "result token does not match the task")


class _OriginalMaster:
    """A minimal stand-in of the original Node.js master: the worker.WorkerCallback gRPC
    service only, tasks without task_id, no master/status, status of strangers ignored."""

    def __init__(self, pb: ModuleType, pb_grpc: ModuleType) -> None:
        self.results: list[Any] = []
        master = self

        class Servicer(pb_grpc.WorkerCallbackServicer):  # type: ignore[name-defined,misc]
            def SendResult(self, request: Any, context: grpc.ServicerContext) -> Any:
                master.results.append(request)
                return pb.ResultAck(success=True, message="ok")

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        pb_grpc.add_WorkerCallbackServicer_to_server(Servicer(), self.server)
        self.port = free_port()
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()


@pytest.mark.parametrize("kind", ["python", "go"])
def test_our_worker_answers_an_original_master(
        system_factory: SystemFactory, original: tuple[ModuleType, ModuleType],
        kind: str) -> None:
    if kind == "go" and not GO_WORKER.is_file():
        pytest.skip("run `make worker-go` first")
    system = system_factory(workers=0)  # only its broker; the master is the original one
    stand_in = _OriginalMaster(*original)
    endpoint = f"127.0.0.1:{stand_in.port}"
    registered: list[dict[str, Any]] = []
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="original-master")
    probe.username_pw_set("master", system.broker.accounts["master"])
    probe.on_message = lambda _c, _u, m: registered.append(json.loads(m.payload))
    probe.connect("127.0.0.1", system.config.mqtt_port)
    probe.subscribe(TOPICS.register)
    probe.loop_start()
    try:
        worker_id = system.worker_id(1) if kind == "python" else "go-worker-local-1"
        worker = system.start_worker(
            1, env={"GRPC_ENDPOINTS": endpoint, "HEARTBEAT_SECONDS": "1"}, worker_id=worker_id,
            program=[str(GO_WORKER)] if kind == "go" else None)
        # It registered on connect; with no master/status to answer, it registers again
        # with its heartbeat, so a master started after it learns of it.
        wait_until(lambda: sum(r["worker_id"] == worker_id for r in registered) >= 2, 15,
                   "a registration with the heartbeat")
        task = {"worker_id": worker_id, "session_id": "original-session", "query": "Hi!",
                "api_key": "", "grpc_endpoint": endpoint, "timestamp": int(time.time() * 1000)}
        probe.publish(TOPICS.tasks(worker_id), json.dumps(task), qos=1)
        wait_until(lambda: bool(stand_in.results), 30, "the result at the original master")
    finally:
        probe.loop_stop()
        stand_in.server.stop(0)
    result = stand_in.results[0]
    assert (result.worker_id, result.session_id, result.original_query) == (
        worker_id, "original-session", "Hi!")
    assert result.ai_response.startswith("[offline answer")
    assert result.api_key == ""
    assert "worker.WorkerCallback" in worker.output()
