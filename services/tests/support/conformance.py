"""Any worker, given as a command, among a real Mosquitto, a real master and a recording gRPC
callback: what tests/conformance/ checks against protos/README.md.

``WORKER_CMD`` is the command that starts the worker (default: this project's ``ai-worker``);
``WORKER_HEALTH_CMD`` its health check, if it has one (default: the Python worker's, when
``WORKER_CMD`` is not set). The worker gets its settings as environment variables, the names
of services/README.md: MQTT_HOST, MQTT_PORT, MQTT_USERNAME, MQTT_PASSWORD (and
MQTT_PASSWORD_FILE), WORKER_ID, NODE_NAME, GRPC_ENDPOINTS, SIMULATED_WORK_SECONDS,
HEARTBEAT_SECONDS, HEALTH_FILE, LLM_PROVIDER, LLM_BASE_URL and <PROVIDER>_API_KEYS.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_system.local.api import online_workers
from ai_system.local.broker import MASTER_ACCOUNT, WORKER_ACCOUNT
from ai_system.local.processes import ManagedProcess, find_program, wait_until
from ai_system.local.system import LocalConfig, LocalSystem
from ai_system.protocol import ChatMessage, TaskMessage, Topics, WorkerStatus
from support.mqtt import MqttProbe, probe_as
from support.ports import free_port
from support.system import hermetic_env, save_logs, wait_status
from support.worker import FakeMaster

TOPICS = Topics("upb")
# Short: the suite runs twice in `make test`. Long enough to be seen busy.
SIMULATED_SECONDS = 0.2
WAIT = 20.0


def worker_commands(env: dict[str, str] | None = None) -> tuple[list[str], list[str] | None]:
    """(the worker's command, its health check's or None) from WORKER_CMD, WORKER_HEALTH_CMD."""
    env = dict(os.environ) if env is None else env
    raw = env.get("WORKER_CMD", "").strip()
    health = env.get("WORKER_HEALTH_CMD", "").strip()
    if not raw:
        return [find_program("ai-worker")], (
            shlex.split(health) if health else [sys.executable, "-m", "ai_system.worker.health"])
    return shlex.split(raw), shlex.split(health) if health else None


class Worker:
    """One process of the worker under test and what it said on the bus."""

    def __init__(self, lab: Lab, index: int, settings: dict[str, str],
                 process: ManagedProcess) -> None:
        self.lab = lab
        self.index = index
        self.settings = settings  # what it was started with, for a restart
        self.worker_id = lab.system.worker_id(index)
        self.process = process

    def output(self) -> str:
        return self.process.output()

    def registrations(self) -> list[dict[str, Any]]:
        return self.lab.registrations(self.worker_id)

    def statuses(self) -> list[WorkerStatus]:
        found = [WorkerStatus.from_json(p) for p in self.lab.probe.payloads(TOPICS.status)]
        return [s for s in found if s.worker_id == self.worker_id]

    def reported(self, status: str, task_id: str | None) -> bool:
        return (status, task_id) in [(s.status, s.task_id) for s in self.statuses()]

    def logs(self) -> list[dict[str, Any]]:
        found = [json.loads(p) for p in self.lab.probe.payloads(TOPICS.logs)]
        return [r for r in found if self.worker_id in str(r.get("source", ""))]

    def wait_for(self, condition: Callable[[], bool], what: str, alive: bool = True) -> None:
        """Poll ``condition``; fail early if the worker dies (unless ``alive`` is False)."""
        wait_until(condition, WAIT, what, [self.process] if alive else [])

    def master_view(self) -> dict[str, Any] | None:
        """The worker as the master's /api/status shows it (None: not listed)."""
        for worker in self.lab.system.status().get("workers", []):
            if worker["worker_id"] == self.worker_id:
                return dict(worker)
        return None

    def send_task(self, task_id: str, attempt: int = 1, query: str = "What is MQTT?",
                  api_key: str = "", endpoint: str = "",
                  history: tuple[ChatMessage, ...] = ()) -> TaskMessage:
        """A task published on its topic as the master would, its result due at the lab's
        recording callback unless ``endpoint`` says otherwise."""
        task = TaskMessage(worker_id=self.worker_id, session_id=f"s-{task_id}", query=query,
                           api_key=api_key, task_id=task_id, attempt=attempt,
                           grpc_endpoint=endpoint or self.lab.recorder.endpoint,
                           result_token=f"token-{task_id}-{attempt}", history=history)
        self.publish_raw(task.to_json())
        return task

    def publish_raw(self, payload: bytes | str) -> None:
        self.lab.probe.publish(TOPICS.tasks(self.worker_id), payload)

    def health_check(self) -> int:
        """The exit status of its health check command (the caller skips without one)."""
        assert self.lab.health_command is not None
        env = {**self.process.env}
        return subprocess.run(self.lab.health_command, env=env, check=False,
                              capture_output=True, timeout=30).returncode


@dataclass
class Lab:
    """A broker and a master (``ai_system.local.system.LocalSystem`` without workers), a
    probe with the master's account on the workers' topics, and a recording gRPC callback
    that every worker started here may send results to (it is in their GRPC_ENDPOINTS)."""

    system: LocalSystem
    probe: MqttProbe
    recorder: FakeMaster
    command: list[str]
    health_command: list[str] | None
    name: str
    _indexes: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    running: list[Worker] = field(default_factory=list)

    @classmethod
    def start(cls, name: str = "") -> Lab:
        command, health = worker_commands()
        config = LocalConfig(workers=0, web_port=free_port(), grpc_port=free_port(),
                             mqtt_port=free_port(), simulated_seconds=SIMULATED_SECONDS,
                             worker_command=tuple(command), worker_prefix="conformance-worker")
        system = LocalSystem(config, base_env=hermetic_env()).start()
        recorder = FakeMaster(free_port()).start()
        probe = probe_as(system, MASTER_ACCOUNT, [TOPICS.register, TOPICS.status, TOPICS.logs],
                         client_id="conformance-probe")
        return cls(system, probe, recorder, command, health, name or lab_name(command))

    def start_worker(self, extra_endpoints: tuple[str, ...] = (), **env: str) -> Worker:
        """A new worker (a new id each time), once the master lists it online."""
        settings = {
            "GRPC_ENDPOINTS": ",".join((self.system.grpc_target, self.recorder.endpoint,
                                        *extra_endpoints)),
            # Not only the _FILE: a student's worker may read the plain variable only.
            "MQTT_PASSWORD": self.system.broker.accounts[WORKER_ACCOUNT],
            "NODE_NAME": "conformance-node",
            "HEARTBEAT_SECONDS": "2",
            "GRPC_TIMEOUT_SECONDS": "2",
            **env,
        }
        return self._launch(next(self._indexes), settings)

    def restart(self, worker: Worker) -> Worker:
        """The same worker id and settings in a new process (``worker`` has stopped)."""
        return self._launch(worker.index, worker.settings)

    def _launch(self, index: int, settings: dict[str, str]) -> Worker:
        known = len(self.registrations(self.system.worker_id(index)))
        worker = Worker(self, index, settings, self.system.start_worker(index, settings))
        self.running.append(worker)
        worker.wait_for(lambda: len(worker.registrations()) > known,
                        f"{worker.worker_id} to register")
        wait_status(self.system, lambda s: worker.worker_id in online_workers(s),
                    f"the master to list {worker.worker_id} online")
        return worker

    def registrations(self, worker_id: str) -> list[dict[str, Any]]:
        """Every registration heard from ``worker_id`` (any of its processes), in order."""
        found = [json.loads(p) for p in self.probe.payloads(TOPICS.register)]
        return [r for r in found if r.get("worker_id") == worker_id]

    def stop_workers(self) -> None:
        """Every worker started here: SIGTERM, and SIGKILL if it lingers."""
        while self.running:
            self.running.pop().process.stop()

    def stop(self) -> None:
        self.stop_workers()
        save_logs(self.system, f"conformance-{self.name}")
        self.probe.close()
        self.recorder.stop()
        self.system.stop()


def provider_env(dialect: str, base_url: str, keys: str) -> dict[str, str]:
    """The settings that point a worker at a stand-in of ``dialect`` (openai or gemini)."""
    variable = "OPENAI_API_KEYS" if dialect == "openai" else "GEMINI_API_KEYS"
    return {"LLM_PROVIDER": dialect, variable: keys, "LLM_BASE_URL": base_url}


def lab_name(command: list[str]) -> str:
    """A short name for the logs' folder: ``ai-worker``, ``node-main``, ``java-worker``..."""
    return "-".join(Path(part).stem for part in command[:2])
