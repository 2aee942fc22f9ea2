"""``ai-system-local`` (behind ``make run``) as a user meets it: start, Ctrl-C, failures."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator

import pytest
from support.ports import free_port
from support.system import hermetic_env

from ai_system.local import ManagedProcess, http_json, port_open, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def ports() -> dict[str, int]:
    return {"mqtt": free_port(), "web": free_port(), "grpc": free_port()}


def launcher(ports: dict[str, int], *extra: str, **env: str) -> ManagedProcess:
    argv = [sys.executable, "-m", "ai_system.local", "--mqtt-port", str(ports["mqtt"]),
            "--web-port", str(ports["web"]), "--grpc-port", str(ports["grpc"]), *extra]
    return ManagedProcess("ai-system-local", argv, {**hermetic_env(), **env}).start()


@pytest.fixture
def started() -> Iterator[list[ManagedProcess]]:
    """Launchers started by a test; stopped (with their children) if still running."""
    procs: list[ManagedProcess] = []
    yield procs
    for proc in procs:
        proc.stop()


def assert_all_closed(ports: dict[str, int]) -> None:
    still_open = {name: port for name, port in ports.items() if port_open(port)}
    assert not still_open, f"something still listens after the launcher exited: {still_open}"


def test_it_starts_everything_prints_the_url_and_stops_on_ctrl_c(
        ports: dict[str, int], started: list[ManagedProcess]) -> None:
    proc = launcher(ports, "--workers", "2", "--simulated-seconds", "0")
    started.append(proc)
    url = f"http://127.0.0.1:{ports['web']}/"
    wait_until(lambda: f"Chat: {url}" in proc.output(), 60, "the chat URL", [proc])
    code, status = http_json(url + "api/status")
    assert code == 200
    assert {w["worker_id"] for w in status["workers"]} == {
        "python-worker-local-1", "python-worker-local-2"}
    # The children's lines reach the terminal, prefixed with their names.
    assert "master |" in proc.output() and "worker-2 |" in proc.output()

    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert_all_closed(ports)


def test_a_port_in_use_is_reported_and_nothing_starts(ports: dict[str, int],
                                                       started: list[ManagedProcess]) -> None:
    with socket.create_server(("127.0.0.1", ports["web"])):
        proc = launcher(ports)
        started.append(proc)
        assert proc.wait(timeout=30) == 1
    assert f"port {ports['web']} (web chat) is already in use" in proc.output()
    assert_all_closed({"mqtt": ports["mqtt"], "grpc": ports["grpc"]})


def test_a_child_dying_at_start_up_is_reported_and_the_rest_stopped(
        ports: dict[str, int], started: list[ManagedProcess]) -> None:
    proc = launcher(ports, "--workers", "1", LLM_PROVIDER="no-such-provider")
    started.append(proc)
    assert proc.wait(timeout=60) == 1
    output = proc.output()
    assert "worker-1 exited with code 2" in output
    assert "LLM_PROVIDER must be one of" in output
    assert_all_closed(ports)
