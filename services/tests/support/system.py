"""Whole systems for tests, and waiting on them through their /api/status (no fixed sleeps)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ai_system.local.api import online_workers
from ai_system.local.system import LocalConfig, LocalSystem
from support.ports import free_port

# The Go worker's binary (`make worker-go`); it runs with the Python worker's settings.
GO_WORKER = Path(__file__).resolve().parents[2] / "worker-go" / "ai-worker-go"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

# Short enough for a quick suite, long enough that a second question finds the worker busy.
SIMULATED_SECONDS = 1.0

SystemFactory = Callable[..., LocalSystem]


# Every setting of config.py (README.md's table): the caller's values must not reach tests.
_SETTINGS = re.compile(
    r"^(MQTT_|WEB_|GRPC_|LLM_|LOG_LEVEL|MAX_|TASK_TIMEOUT|PENDING_RESULTS|WORKER_ID|NODE_NAME"
    r"|USER_KEY_PROVIDER|KEY_COOLDOWN|SIMULATED_WORK|HEARTBEAT|HEALTH_FILE|STATE_DIR|SESSION_"
    r"|ADDRESS_|RETRY_BACKOFF|BROKER_GRACE|ASSIGN_ACK|ACCEPT_UNTOKENED|OPERATOR_TOKEN|METRICS_"
    r"|PUBLISH_TASK_STATUS|STREAM_ANSWERS|OFFLINE_WORD)|_API_KEYS(_FILE)?$")


def hermetic_env() -> dict[str, str]:
    """The caller's environment without any setting, so no worker calls a real LLM."""
    env = {name: value for name, value in os.environ.items() if not _SETTINGS.search(name)}
    # Offline answers stream at once: the streaming path runs, without its pace.
    env.update(LLM_PROVIDER="offline", LOG_LEVEL="INFO", OFFLINE_WORD_SECONDS="0")
    return env


def make_system(workers: int = 2, simulated_seconds: float = SIMULATED_SECONDS,
                env: dict[str, str] | None = None) -> LocalSystem:
    """A started system on free ports (the caller stops it)."""
    config = LocalConfig(
        workers=workers, web_port=free_port(), grpc_port=free_port(), mqtt_port=free_port(),
        simulated_seconds=simulated_seconds, env=env or {})
    return LocalSystem(config, base_env=hermetic_env()).start()


def save_logs(system: LocalSystem, name: str) -> Path:
    """Each child's output in test-artifacts/logs/<name>/ (for a failed test, or always)."""
    folder = ARTIFACTS / "logs" / re.sub(r"[^\w.-]+", "_", name)
    folder.mkdir(parents=True, exist_ok=True)
    for proc in system.processes():
        (folder / f"{proc.name}.log").write_text(proc.output() + "\n")
    return folder


Status = dict[str, Any]


def wait_status(system: LocalSystem, condition: Callable[[Status], bool], what: str,
                timeout: float = 30.0) -> Status:
    """Poll /api/status until ``condition`` holds; fail with the last status seen."""
    deadline = time.monotonic() + timeout
    status: Status = {}
    while time.monotonic() < deadline:
        status = system.status()
        if status and condition(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                         f"last /api/status: {status}")


def all_idle(status: Status) -> bool:
    workers = online_workers(status).values()
    return status.get("queue_depth") == 0 and bool(workers) and all(
        worker.get("state") == "idle" for worker in workers)


def wait_idle(system: LocalSystem, timeout: float = 60.0) -> Status:
    """Until every online worker is idle and nothing is queued (a test's clean start)."""
    return wait_status(system, all_idle, "all workers idle and an empty queue", timeout)
