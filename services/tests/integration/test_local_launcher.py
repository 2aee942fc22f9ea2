"""``ai-system-local`` (behind ``make run``) as a user meets it: start, Ctrl-C, failures."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.chat import ChatClient
from support.ports import free_port
from support.system import hermetic_env

from ai_system.local.api import http_json
from ai_system.local.ports import port_open
from ai_system.local.processes import ManagedProcess, wait_until

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


def child_with(parent: int, variable: str) -> int:
    """The pid of ``parent``'s child whose environment holds ``variable`` (NAME=value)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and variable.encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no child of {parent} with {variable}")


def test_the_banner_says_where_the_dashboard_its_token_and_the_metrics_are(
        ports: dict[str, int], started: list[ManagedProcess], tmp_path: Path) -> None:
    proc = launcher(ports, "--workers", "1", "--simulated-seconds", "0",
                    "--state-dir", str(tmp_path))
    started.append(proc)
    url = f"http://127.0.0.1:{ports['web']}"
    wait_until(lambda: "Metrics:" in proc.output(), 60, "the banner", [proc])
    banner = proc.output()
    assert f"Dashboard: {url}/dashboard (its token is in {tmp_path}/operator.token)" in banner
    assert (tmp_path / "operator.token").read_text().strip()
    metrics = re.findall(r"(master|python-worker-local-1) (http://127\.0\.0\.1:\d+/metrics)",
                         banner)
    assert {name for name, _ in metrics} == {"master", "python-worker-local-1"}
    for _, address in metrics:
        with urllib.request.urlopen(address, timeout=5) as page:
            assert b"# TYPE" in page.read()


def test_a_killed_worker_is_started_again_and_its_question_answered(
        ports: dict[str, int], started: list[ManagedProcess]) -> None:
    proc = launcher(ports, "--workers", "2", "--simulated-seconds", "3")
    started.append(proc)
    url = f"http://127.0.0.1:{ports['web']}"
    wait_until(lambda: "Chat:" in proc.output(), 60, "the chat URL", [proc])
    with ChatClient(url) as user:
        task_id = user.ask("Who answers when my worker dies?")["task_id"]
        busy: list[str] = []

        def one_busy() -> bool:
            _, status = http_json(url + "/api/status")
            busy[:] = [w["worker_id"] for w in status.get("workers", [])
                       if w["state"] == "busy"]
            return len(busy) == 1

        wait_until(one_busy, 30, "a worker busy on the question", [proc])
        assert proc.pid is not None
        os.kill(child_with(proc.pid, f"WORKER_ID={busy[0]}"), signal.SIGKILL)
        answer = user.wait_answer(task_id)
    assert "Who answers when my worker dies?" in answer["response"]
    wait_until(lambda: "starting it again" in proc.output(), 30, "the restart message", [proc])
    assert proc.alive()
    wait_until(lambda: sum(w["state"] != "offline" for w in
                           http_json(url + "/api/status")[1].get("workers", [])) == 2,
               30, "both workers online again", [proc])
