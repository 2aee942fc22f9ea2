"""The whole system as child processes: Mosquitto, the master and N workers, on the ports
and with the settings of a ``LocalConfig``; started, restarted one child at a time, stopped."""

from __future__ import annotations

import os
import secrets
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ai_system.local.api import http_json, online_workers
from ai_system.local.broker import MASTER_ACCOUNT, WORKER_ACCOUNT, Mosquitto
from ai_system.local.ports import check_port_free, free_port
from ai_system.local.processes import (
    LineSink,
    ManagedProcess,
    StartupError,
    find_program,
    wait_until,
)


@dataclass
class LocalConfig:
    workers: int = 3
    web_port: int = 8888
    grpc_port: int = 50051
    mqtt_port: int = 1883
    web_host: str = "127.0.0.1"
    simulated_seconds: float | None = None  # None: the environment's value, else 10
    # The master's journal (STATE_DIR); None: a folder that goes with the system.
    state_dir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # added to every child's environment
    # The worker program and its arguments; empty: ``ai-worker``. Any worker written against
    # protos/README.md that reads the same settings fits (the Node.js one, a student's).
    worker_command: tuple[str, ...] = ()
    worker_prefix: str = "python-worker-local"  # worker ids are <prefix>-<index>


class LocalSystem:
    """Mosquitto, the master and ``config.workers`` workers as child processes.

    Use as a context manager, or call ``start()`` and ``stop()``. ``sink`` receives every
    output line of every child (the launcher prints them; tests may leave it None and read
    ``process.output()`` instead).
    """

    def __init__(self, config: LocalConfig, sink: LineSink | None = None,
                 base_env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._sink = sink
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._tmp = tempfile.TemporaryDirectory(prefix="ai-system-local-")
        self.workdir = Path(self._tmp.name)
        accounts = {MASTER_ACCOUNT: secrets.token_urlsafe(24),
                    WORKER_ACCOUNT: secrets.token_urlsafe(24)}
        self.broker = Mosquitto(config.mqtt_port, self.workdir, sink, accounts)
        self.state_dir = Path(config.state_dir or self.workdir / "state")
        # Prometheus metrics of each child (master, then worker ids), on loopback.
        self.metrics_ports: dict[str, int] = {}
        self.master: ManagedProcess | None = None
        self.workers: dict[str, ManagedProcess] = {}
        self._worker_index: dict[str, int] = {}

    # -- addresses -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.web_host in ("0.0.0.0", "") else self.config.web_host
        return f"http://{host}:{self.config.web_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.config.grpc_port}"

    def status(self) -> dict[str, Any]:
        """GET /api/status ({} while the master does not answer)."""
        code, body = http_json(f"{self.url}/api/status")
        return body if code == 200 and isinstance(body, dict) else {}

    def healthz(self) -> dict[str, Any]:
        code, body = http_json(f"{self.url}/healthz")
        return body if code == 200 and isinstance(body, dict) else {}

    def processes(self) -> list[ManagedProcess]:
        found = [self.broker.process, self.master, *self.workers.values()]
        return [proc for proc in found if proc is not None]

    # -- environment -----------------------------------------------------------------------
    def _common_env(self, account: str) -> dict[str, str]:
        env = {**self._base_env, **self.config.env}
        env.update(
            PYTHONUNBUFFERED="1",
            MQTT_HOST="127.0.0.1",
            MQTT_PORT=str(self.config.mqtt_port),
            MQTT_USERNAME=account,
            MQTT_PASSWORD_FILE=str(self.broker.password_file(account)),
            METRICS_HOST="127.0.0.1",
        )
        if self.config.simulated_seconds is not None:
            env["SIMULATED_WORK_SECONDS"] = str(self.config.simulated_seconds)
        return env

    def worker_id(self, index: int) -> str:
        return f"{self.config.worker_prefix}-{index}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> LocalSystem:
        cfg = self.config
        if len({cfg.mqtt_port, cfg.web_port, cfg.grpc_port}) != 3:
            raise StartupError("the MQTT, web and gRPC ports must differ")
        for port, what in ((cfg.mqtt_port, "MQTT"), (cfg.web_port, "web chat"),
                           (cfg.grpc_port, "gRPC")):
            check_port_free(port, what)
        try:
            self.broker.start()
            self.start_master()
            for index in range(1, cfg.workers + 1):
                self.start_worker(index)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_master(self, wait: bool = False, timeout: float = 60.0) -> ManagedProcess:
        env = self._common_env(MASTER_ACCOUNT)
        env.update(
            WEB_HOST=self.config.web_host,
            WEB_PORT=str(self.config.web_port),
            GRPC_PORT=str(self.config.grpc_port),
            GRPC_ADVERTISED_ENDPOINT=self.grpc_target,
            STATE_DIR=str(self.state_dir),
            METRICS_PORT=str(self._metrics_port("master")),
        )
        self.master = ManagedProcess("master", [find_program("ai-master")], env,
                                     self._sink).start()
        if wait:
            wait_until(lambda: bool(self.healthz().get("mqtt_connected")), timeout,
                       "the master's /healthz with the broker connected", [self.master])
        return self.master

    def start_worker(self, index: int, env: Mapping[str, str] | None = None,
                     program: Sequence[str] | None = None,
                     worker_id: str | None = None) -> ManagedProcess:
        """Start worker ``<worker_prefix>-<index>`` (again, if it was stopped); ``env``
        adds to or overrides its settings. ``program`` runs another worker than the
        system's (``worker_command``) with the same settings, under ``worker_id`` if given."""
        worker_id = worker_id or self.worker_id(index)
        child_env = self._common_env(WORKER_ACCOUNT)
        child_env.update(
            WORKER_ID=worker_id,
            HEALTH_FILE=str(self.workdir / f"{worker_id}.healthy"),
            GRPC_ENDPOINTS=self.grpc_target,
            METRICS_PORT=str(self._metrics_port(worker_id)),
        )
        child_env.update(env or {})
        argv = list(program or self.config.worker_command) or [find_program("ai-worker")]
        proc = ManagedProcess(f"worker-{index}", argv, child_env, self._sink).start()
        self.workers[worker_id] = proc
        self._worker_index[worker_id] = index
        return proc

    def restart(self, proc: ManagedProcess) -> ManagedProcess:
        """Start a stopped child again, as it was started: the broker on its port, the
        master on its journal, a worker under its id (a new instance: the master gives its
        task to another worker)."""
        if proc is self.broker.process:
            self.broker.start()
            assert self.broker.process is not None
            return self.broker.process
        if proc is self.master:
            return self.start_master()
        worker_id = next(wid for wid, running in self.workers.items() if running is proc)
        return self.start_worker(self._worker_index[worker_id], worker_id=worker_id)

    def _metrics_port(self, name: str) -> int:
        """The child's metrics port, the same across its restarts."""
        if name not in self.metrics_ports:
            self.metrics_ports[name] = free_port()
        return self.metrics_ports[name]

    def metrics(self, name: str = "master") -> str:
        """The child's Prometheus exposition ("" while it does not answer)."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.metrics_ports[name]}/metrics", timeout=2) as page:
                return str(page.read().decode())
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /healthz answers and every running worker shows online in /api/status."""
        assert self.master is not None
        wait_until(lambda: bool(self.healthz().get("mqtt_connected")), timeout,
                   "the master's /healthz with the broker connected", self.processes())
        expected = {wid for wid, proc in self.workers.items() if proc.alive()}
        wait_until(lambda: expected <= online_workers(self.status()).keys(), timeout,
                   f"{len(expected)} workers to register", self.processes())

    def stop(self) -> None:
        """Workers first (they report offline), then the master, then the broker."""
        for proc in self.workers.values():
            proc.terminate()  # all at once; each one's stop() below then only waits
        for proc in self.workers.values():
            proc.stop()
        if self.master is not None:
            self.master.stop()
        self.broker.stop()
        self._tmp.cleanup()

    def __enter__(self) -> LocalSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
