"""The local launcher's child processes: their output, their stop, and waiting on them."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from ai_system.local.processes import ManagedProcess, StartupError, find_program, wait_until


def python(name: str, code: str, sink: list[tuple[str, str]] | None = None) -> ManagedProcess:
    forward = None if sink is None else lambda proc, line: sink.append((proc, line))
    return ManagedProcess(name, [sys.executable, "-c", code], os.environ, forward).start()


def test_a_childs_lines_are_kept_and_forwarded_under_its_name() -> None:
    seen: list[tuple[str, str]] = []
    proc = python("echo", "import sys; print('one'); print('two', file=sys.stderr)", seen)
    assert proc.wait(10) == 0
    assert (proc.output(), proc.tail(1)) == ("one\ntwo", "two")
    assert seen == [("echo", "one"), ("echo", "two")]
    assert not proc.alive() and proc.returncode == 0


def test_a_program_that_cannot_run_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="cannot start ghost"):
        ManagedProcess("ghost", [str(tmp_path / "missing")], os.environ).start()


def test_stop_asks_first_and_kills_a_child_that_does_not_listen() -> None:
    polite = python("polite", "import time; print('ready', flush=True); time.sleep(60)")
    deaf = python("deaf", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "print('ready', flush=True); time.sleep(60)")
    # Only once it printed is its SIGTERM handler (or the default) in place.
    wait_until(lambda: polite.output() == deaf.output() == "ready", 10, "both children",
               [polite, deaf])
    assert polite.stop(grace=10) == -signal.SIGTERM
    assert deaf.stop(grace=0.3) == -signal.SIGKILL
    assert ManagedProcess("never", ["true"], {}).stop() is None


def test_waiting_gives_up_early_with_the_last_lines_of_a_child_that_died() -> None:
    proc = python("crasher", "print('boom'); raise SystemExit(3)")
    proc.wait(10)
    with pytest.raises(StartupError, match=r"(?s)crasher exited with code 3 while waiting for "
                                           r"Godot; its last output:\nboom"):
        wait_until(lambda: False, 30, "Godot", [proc])


def test_waiting_ends_when_the_condition_holds_or_times_out() -> None:
    calls = iter([False, False, True])
    wait_until(lambda: next(calls), 10, "the third call", interval=0.01)
    with pytest.raises(StartupError, match="timed out after 0 s waiting for Godot"):
        wait_until(lambda: False, 0.05, "Godot", interval=0.01)


def test_a_program_is_found_beside_this_python_first_and_else_named_where_looked() -> None:
    here = Path(sys.executable)
    assert find_program(here.name) == str(here)
    with pytest.raises(StartupError, match=r"no-such-program is not installed .* in /nowhere"):
        find_program("no-such-program", ["/nowhere"])
