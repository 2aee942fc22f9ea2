"""The local launcher's restart policy: start a dead child again, give up on a broken one."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from ai_system.local import supervisor
from ai_system.local.processes import StartupError
from ai_system.local.supervisor import RestartPolicy, supervise


def test_a_child_is_restarted_until_it_dies_too_often_within_the_window() -> None:
    policy = RestartPolicy(max_restarts=3, window=60.0)
    assert [policy.allow("worker-1", t) for t in (0.0, 1.0, 2.0, 3.0)] == [
        True, True, True, False]
    assert policy.allow("worker-2", 3.0)  # each child counts its own
    assert policy.allow("worker-1", 61.0)  # the first restart has left the window


def test_a_child_that_dies_now_and_then_is_always_restarted() -> None:
    policy = RestartPolicy(max_restarts=2, window=10.0)
    assert all(policy.allow("master", t) for t in range(0, 200, 6))


class _Child:
    """What ``supervise`` reads of a child process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.returncode: int | None = 1
        self.running = False

    def alive(self) -> bool:
        return self.running

    def tail(self) -> str:
        return "Traceback: the last words"


class _System:
    """A system of one dead child whose restarts run ``on_restart``."""

    def __init__(self, on_restart: Callable[[_Child], None]) -> None:
        self.child = _Child("worker-1")
        self.restarts = 0
        self._on_restart = on_restart

    def processes(self) -> list[_Child]:
        return [self.child]

    def restart(self, proc: _Child) -> _Child:
        self.restarts += 1
        self._on_restart(proc)
        return proc


@pytest.fixture(autouse=True)
def no_restart_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_DELAY_SECONDS", 0.0)


def test_a_dead_child_is_started_again_until_the_launcher_is_asked_to_stop(
        capsys: pytest.CaptureFixture[str]) -> None:
    stopping = threading.Event()

    def comes_back(child: _Child) -> None:
        child.running = True
        stopping.set()

    system = _System(comes_back)
    assert supervise(system, stopping) == 0  # type: ignore[arg-type]
    assert system.restarts == 1
    assert "worker-1 stopped (exit 1); starting it again" in capsys.readouterr().err


def test_a_failed_restart_is_reported_and_tried_again(capsys: pytest.CaptureFixture[str]) -> None:
    stopping = threading.Event()

    def fails_once(child: _Child) -> None:
        if system.restarts == 1:
            raise StartupError("port 1883 (MQTT) is already in use")
        child.running = True
        stopping.set()

    system = _System(fails_once)
    assert supervise(system, stopping) == 0  # type: ignore[arg-type]
    assert system.restarts == 2
    assert ("could not start worker-1 again: port 1883 (MQTT) is already in use"
            in capsys.readouterr().err)


def test_a_child_that_keeps_dying_stops_the_launcher_with_its_last_lines(
        capsys: pytest.CaptureFixture[str]) -> None:
    system = _System(lambda child: None)
    assert supervise(system, threading.Event()) == 1  # type: ignore[arg-type]
    assert system.restarts == supervisor.MAX_RESTARTS
    err = capsys.readouterr().err
    assert f"worker-1 stopped {supervisor.MAX_RESTARTS + 1} times within a minute" in err
    assert err.endswith("Traceback: the last words\n")
