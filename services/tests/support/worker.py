"""One ``ai-worker`` process among real peers: Mosquitto, a gRPC server standing in for the
master, and a paho probe that publishes tasks and records what the worker says."""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any, Protocol

import grpc

from ai_system.local.broker import Mosquitto
from ai_system.local.ports import port_open
from ai_system.local.processes import ManagedProcess, find_program, wait_until
from ai_system.protocol import TaskMessage, Topics, WorkerStatus
from ai_system.rpc import worker_callback_pb2_grpc
from ai_system.rpc.worker_callback_pb2 import ResultAck, TaskResult
from support.mqtt import MqttProbe
from support.ports import free_port
from support.tls import ServerCert

TOPICS = Topics("upb")
WORKER_ID = "w-proc-test"
WAIT = 20.0


# The original assignment's service name; its TaskResult has our field numbers 1-8.
ORIGINAL_SERVICE = "worker.WorkerCallback"


class FakeMaster(worker_callback_pb2_grpc.WorkerCallbackServicer):
    """The master's gRPC side: records every result, answers with ``success``.

    With ``tls``, it serves only over TLS with that certificate. With ``original``, it serves
    only the original assignment's ``worker.WorkerCallback/SendResult``, as the original
    master did (ours then answers UNIMPLEMENTED). It never implements SendChunk.
    """

    def __init__(self, port: int, success: bool = True, tls: ServerCert | None = None,
                 original: bool = False) -> None:
        self.port = port
        self.endpoint = f"127.0.0.1:{port}"
        self.success = success
        self.results: list[TaskResult] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        if original:
            self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
                ORIGINAL_SERVICE, {"SendResult": grpc.unary_unary_rpc_method_handler(
                    self.SendResult, request_deserializer=TaskResult.FromString,
                    response_serializer=ResultAck.SerializeToString)})])
        else:
            worker_callback_pb2_grpc.add_WorkerCallbackServicer_to_server(self, self._server)
        if tls is None:
            self._server.add_insecure_port(self.endpoint)
        else:
            credentials = grpc.ssl_server_credentials([(tls.key_pem, tls.cert_pem)])
            self._server.add_secure_port(self.endpoint, credentials)

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


class Broker(Protocol):
    port: int

    def stop(self) -> None: ...


class TlsMosquitto:
    """Mosquitto with a plain listener on ``port`` (for the probe) and TLS on ``tls_port``."""

    def __init__(self, port: int, tls_port: int, workdir: Path, cert: ServerCert) -> None:
        self.port, self.tls_port = port, tls_port
        conf = workdir / "mosquitto-tls.conf"
        # Started as root, Mosquitto would switch to its own user, who cannot read our key.
        user = pwd.getpwuid(os.getuid()).pw_name
        conf.write_text(
            f"user {user}\n"
            "per_listener_settings false\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"listener {port} 127.0.0.1\n"
            f"listener {tls_port} 127.0.0.1\n"
            f"certfile {cert.cert_file}\n"
            f"keyfile {cert.key_file}\n")
        binary = find_program("mosquitto", ["/usr/sbin", "/usr/local/sbin"])
        self.process = ManagedProcess("mosquitto", [binary, "-c", str(conf)], os.environ).start()
        wait_until(lambda: port_open(port) and port_open(tls_port), 10,
                   "Mosquitto's listeners", [self.process])

    def stop(self) -> None:
        self.process.stop()


class Harness:
    """A broker, a fake master, a probe on the worker topics, and the worker process."""

    def __init__(self, workdir: Path, broker: Broker | None = None,
                 master: FakeMaster | None = None, command: list[str] | None = None) -> None:
        self.workdir = workdir
        self.command = command  # the worker program and its arguments; None: ai-worker
        if broker is None:
            plain = Mosquitto(free_port(), workdir)
            plain.start()
            broker = plain
        self.broker = broker
        self.master = master or FakeMaster(free_port()).start()
        self.probe = MqttProbe(self.broker.port, [TOPICS.register, TOPICS.status, TOPICS.logs])
        self.health_file = workdir / "worker.healthy"
        self.worker: ManagedProcess | None = None

    def start_worker(self, wait: bool = True, **env: str) -> ManagedProcess:
        """The worker, once it registered (with a new instance id) unless ``wait`` is False."""
        base = {name: value for name, value in os.environ.items()
                if not re.search(r"_API_KEYS?(_FILE)?$|^LLM_|^MQTT_|^GRPC_|^TASK_TIMEOUT",
                                 name)}
        base.update(
            PYTHONUNBUFFERED="1", WORKER_ID=WORKER_ID, NODE_NAME="node-test",
            MQTT_HOST="127.0.0.1", MQTT_PORT=str(self.broker.port), LLM_PROVIDER="offline",
            SIMULATED_WORK_SECONDS="0", HEARTBEAT_SECONDS="1", GRPC_TIMEOUT_SECONDS="2",
            GRPC_ENDPOINTS=self.master.endpoint, HEALTH_FILE=str(self.health_file),
            MQTT_LOG_LEVEL="INFO", METRICS_PORT=str(free_port()))
        base.update(env)
        known = set(self.instances())
        argv = self.command or [find_program("ai-worker")]
        self.worker = ManagedProcess("worker", argv, base).start()
        if wait:
            self.wait_for(lambda: bool(set(self.instances()) - known),
                          "the worker to register")
        return self.worker

    def wait_for(self, condition: Callable[[], bool], what: str, watch_worker: bool = True) -> None:
        """Poll ``condition``; fail early if the worker dies (unless it is meant to)."""
        watch = [self.worker] if self.worker is not None and watch_worker else []
        wait_until(condition, WAIT, what, watch)

    def registrations(self) -> list[dict[str, Any]]:
        found = [json.loads(p) for p in self.probe.payloads(TOPICS.register)]
        return [r for r in found if r["worker_id"] == WORKER_ID]

    def instances(self) -> list[str]:
        """The instance ids the worker registered with, in order, each once."""
        return list(dict.fromkeys(r["instance_id"] for r in self.registrations()))

    def statuses(self) -> list[WorkerStatus]:
        return [WorkerStatus.from_json(p) for p in self.probe.payloads(TOPICS.status)]

    def reported(self, status: str, task_id: str | None) -> bool:
        return (status, task_id) in [(s.status, s.task_id) for s in self.statuses()]

    def logs(self) -> str:
        return "\n".join(p.decode() for p in self.probe.payloads(TOPICS.logs))

    def send_task(self, task_id: str, attempt: int = 1, query: str = "What is MQTT?",
                  api_key: str = "", endpoint: str = "") -> TaskMessage:
        task = TaskMessage(worker_id=WORKER_ID, session_id=f"s-{task_id}", query=query,
                           api_key=api_key, task_id=task_id, attempt=attempt,
                           grpc_endpoint=endpoint or self.master.endpoint,
                           result_token=f"token-{task_id}-{attempt}")
        self.probe.publish(TOPICS.tasks(WORKER_ID), task.to_json())
        return task

    def health_check(self) -> int:
        """The exit status of the container's health check, ``python -m ...worker.health``."""
        env = {**os.environ, "HEALTH_FILE": str(self.health_file), "HEARTBEAT_SECONDS": "1"}
        return subprocess.run([sys.executable, "-m", "ai_system.worker.health"], check=False,
                              env=env, capture_output=True).returncode

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.probe.close()
        self.master.stop()
        self.broker.stop()
