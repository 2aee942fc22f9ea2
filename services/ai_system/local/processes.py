"""Child processes: start one, keep and forward its output, wait on it, stop it."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

LineSink = Callable[[str, str], None]
"""Receives ``(process name, line)`` for every line a child writes."""

STOP_GRACE_SECONDS = 10.0


class StartupError(RuntimeError):
    """The system could not start: a port is taken, a program is missing or a child died."""


class ManagedProcess:
    """A child process whose output (stdout and stderr, merged) is kept and forwarded.

    Children run in their own session so a Ctrl-C in the terminal reaches only the
    launcher, which then stops them in order (workers first, the broker last).
    """

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str],
                 sink: LineSink | None = None, keep_lines: int = 20_000) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self._sink = sink
        self._lines: collections.deque[str] = collections.deque(maxlen=keep_lines)
        self._lines_lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> ManagedProcess:
        try:
            self._proc = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                start_new_session=True)
        except OSError as exc:
            raise StartupError(
                f"cannot start {self.name} ({self.argv[0]}): {exc.strerror}") from None
        self._reader = threading.Thread(target=self._read, name=f"log-{self.name}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.rstrip("\n")
            with self._lines_lock:
                self._lines.append(line)
            if self._sink is not None:
                self._sink(self.name, line)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        """Everything the child wrote so far (the last ``keep_lines`` lines)."""
        with self._lines_lock:
            return "\n".join(self._lines)

    def tail(self, lines: int = 15) -> str:
        with self._lines_lock:
            return "\n".join(list(self._lines)[-lines:])

    def wait(self, timeout: float) -> int:
        """Until the child exits by itself; its exit code (TimeoutExpired past ``timeout``)."""
        assert self._proc is not None
        code = self._proc.wait(timeout)
        self._join_reader()
        return code

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash looks like to the rest of the system."""
        if self.alive():
            assert self._proc is not None
            self._proc.kill()
            self._proc.wait()
        self._join_reader()

    def terminate(self) -> None:
        """SIGTERM without waiting (``stop`` waits)."""
        if self.alive():
            assert self._proc is not None
            self._proc.terminate()

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        if self._proc is None:
            return None
        self.terminate()
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._join_reader()
        return self._proc.returncode

    def _join_reader(self) -> None:
        # The pipe closes when the child (and anything it forked) exits.
        if self._reader is not None:
            self._reader.join(timeout=5)


def find_program(name: str, extra_dirs: Iterable[str] = ()) -> str:
    """``name`` beside this Python (the same virtualenv), on PATH, or in ``extra_dirs``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(extra_dirs))
    if not found:
        raise StartupError(f"{name} is not installed (looked beside {sys.executable}, on PATH "
                           f"and in {', '.join(extra_dirs) or 'no other place'})")
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               watch: Iterable[ManagedProcess] = (), interval: float = 0.1) -> None:
    """Poll ``condition``; fail early, with its last output, if a watched child dies."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in watch:
            if not proc.alive():
                raise StartupError(
                    f"{proc.name} exited with code {proc.returncode} while waiting for {what}; "
                    f"its last output:\n{proc.tail()}")
        if condition():
            return
        if time.monotonic() > deadline:
            raise StartupError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
